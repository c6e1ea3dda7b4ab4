"""Runs ``scrapy crawl hepza`` against a copy of the site in a subprocess (a Twisted reactor
cannot restart, so every end-to-end crawl gets its own process). Used by the end-to-end tests,
``make demo`` and the benchmarks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Politeness lifted for a replica on 127.0.0.1: stated here so every caller says the same.
FAST_SETTINGS = {
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "False",
    "CONCURRENT_REQUESTS": "16",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "RETRY_BACKOFF_BASE": "0.05",
    "PROGRESS_INTERVAL": "0",
}


@dataclass
class CrawlResult:
    returncode: int
    workdir: Path
    log: str
    feed_path: Path
    database_url: str

    @property
    def report(self) -> dict[str, Any]:
        return json.loads((self.workdir / "reports" / "latest.json").read_text(encoding="utf-8"))

    def feed(self) -> list[dict[str, Any]]:
        if not self.feed_path.exists():
            return []
        lines = self.feed_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def rejects(self) -> list[dict[str, Any]]:
        path = self.workdir / "rejects.jsonl"
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


def crawl_command(
    base_url: str,
    workdir: Path,
    *,
    database_url: str | None = None,
    spider_args: dict[str, str] | None = None,
    settings: dict[str, str] | None = None,
    feed_name: str = "feed.jsonl",
    fast: bool = True,
    spider: str = "hepza",
) -> tuple[list[str], str, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    database_url = database_url or f"sqlite:///{workdir / 'hepza.sqlite3'}"
    feed_path = workdir / feed_name
    merged = {
        **(FAST_SETTINGS if fast else {}),
        "DATABASE_URL": database_url,
        "REPORTS_DIR": str(workdir / "reports"),
        "REJECTS_PATH": str(workdir / "rejects.jsonl"),
        "ARCHIVE_DIR": str(workdir / "archive"),
        "LOG_FILE": str(workdir / "crawl.log"),
        "LOG_FILE_APPEND": "False",
        # Every output place in the workdir: Scrapy merges FEEDS into the -O feed below, so
        # the project's default feed (output/feeds/) would otherwise be written as well.
        "FEEDS": "{}",
        **(settings or {}),
    }
    cmd = [sys.executable, "-m", "scrapy", "crawl", spider, "-a", f"base_url={base_url}"]
    for name, value in (spider_args or {}).items():
        cmd += ["-a", f"{name}={value}"]
    for name, value in merged.items():
        cmd += ["-s", f"{name}={value}"]
    cmd += ["-O", f"{feed_path}:jsonlines"]
    return cmd, database_url, feed_path


def run_crawl(
    base_url: str,
    workdir: Path,
    *,
    timeout: float = 600,
    env: dict[str, str] | None = None,
    **kwargs: Any,
) -> CrawlResult:
    cmd, database_url, feed_path = crawl_command(base_url, workdir, **kwargs)
    proc = subprocess.run(
        cmd,
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    log_path = workdir / "crawl.log"
    log = log_path.read_text(encoding="utf-8") if log_path.exists() else ""
    return CrawlResult(
        returncode=proc.returncode,
        workdir=workdir,
        log=log + proc.stdout + proc.stderr,
        feed_path=feed_path,
        database_url=database_url,
    )


def run_scrapy(
    cwd: Path, *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``scrapy <args>`` as a user runs it, from ``cwd`` (outside the project is fine: the
    project's settings module is named), with its output captured (``env``: added to the
    environment)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "SCRAPY_SETTINGS_MODULE": "crawler.settings",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "scrapy", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cluster_settings(
    redis_url: str, database_url: str, profiles: Path, workdir: Path, *, prefix: str
) -> dict[str, str]:
    """The settings of a replica cluster crawl (``scrapy cluster ...``): politeness lifted, the
    site profiles of the test, every output place in ``workdir``."""
    return {
        **FAST_SETTINGS,
        "CLUSTER_REDIS_URL": redis_url,
        "CLUSTER_KEY_PREFIX": prefix,
        "DATABASE_URL": database_url,
        "SITE_PROFILES_DIR": str(profiles),
        "OUTPUT_DIR": str(workdir / "out"),
        "REPORTS_DIR": str(workdir / "reports"),
        "REJECTS_PATH": str(workdir / "rejects.jsonl"),
    }


def cluster_command(
    action: str, settings: dict[str, str], *args: str, log: Path | None = None
) -> list[str]:
    """``scrapy cluster <action> <args>`` with ``settings`` as ``-s`` options (and its log in
    ``log``)."""
    if log is not None:
        settings = {**settings, "LOG_FILE": str(log), "LOG_FILE_APPEND": "False"}
    cmd = [sys.executable, "-m", "scrapy", "cluster", action, *args]
    for name, value in settings.items():
        cmd += ["-s", f"{name}={value}"]
    return cmd


def start_cluster_crawl(cmd: list[str]) -> str:
    """Runs ``cmd`` (a ``scrapy cluster start``, :func:`cluster_command`) from the project root,
    asserts it succeeded, and returns the crawl id it printed."""
    started = subprocess.run(
        cmd,
        cwd=PROJECT_ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert started.returncode == 0, started.stderr[-3000:]
    return started.stdout.strip()


def database_rows(
    database_url: str, query: str, params: dict[str, Any] | None = None, *, table: str = ""
) -> list[tuple[Any, ...]]:
    """The rows of ``query`` on the database at ``database_url`` (SQLite or PostgreSQL); none
    while ``table`` does not exist yet (a crawl that has not stored anything)."""
    import sqlalchemy  # noqa: PLC0415 (the crawl helpers above do not need it)

    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.connect() as conn:
            if table and not sqlalchemy.inspect(conn).has_table(table):
                return []
            return [tuple(row) for row in conn.execute(sqlalchemy.text(query), params or {})]
    finally:
        engine.dispose()
