"""End-to-end: a cluster crawl of two replica portals by two `scrapy cluster work` processes
sharing one Redis server and one database (crawler/cluster/, crawler/commands/cluster.py)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

import pytest
import redis

from tests.crawl_runner import FAST_SETTINGS, PROJECT_ROOT
from tests.replica.portal import make_site
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

PORTALS = {"alpha-en": "classic-en", "beta-vi": "classic-vi"}
WORKER_TIMEOUT = 600


@dataclass
class Cluster:
    workdir: Path
    redis_url: str
    database_url: str
    profiles: Path
    # site -> the slugs of its articles (NFC)
    truth: dict[str, set[str]]
    lease_seconds: str = "20"

    def command(self, *args: str, log: str | None = None) -> list[str]:
        settings = {
            **FAST_SETTINGS,
            "CLUSTER_REDIS_URL": self.redis_url,
            "CLUSTER_KEY_PREFIX": "e2e",
            "CLUSTER_LEASE_SECONDS": self.lease_seconds,
            "DATABASE_URL": self.database_url,
            "SITE_PROFILES_DIR": str(self.profiles),
            "OUTPUT_DIR": str(self.workdir / "out"),
            "REPORTS_DIR": str(self.workdir / "reports"),
            "REJECTS_PATH": str(self.workdir / "rejects.jsonl"),
        }
        if log:
            settings |= {"LOG_FILE": str(self.workdir / log), "LOG_FILE_APPEND": "False"}
        cmd = [sys.executable, "-m", "scrapy", "cluster", *args]
        for name, value in settings.items():
            cmd += ["-s", f"{name}={value}"]
        return cmd


def _run(cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        cwd=PROJECT_ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def serve_cluster(tmp_path: Path, redis_url: str, answer_seconds: float = 0.0) -> Iterator[Cluster]:
    """Both replica portals served, and a profile for each in a profile directory of the test."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    truth: dict[str, set[str]] = {}
    configs = [
        ReplicaConfig(portal=PORTALS[site], articles=25, answer_seconds=answer_seconds)
        for site in ("alpha-en", "beta-vi")
    ]
    with ReplicaServer(configs[0]) as alpha, ReplicaServer(configs[1]) as beta:
        for site, server in (("alpha-en", alpha), ("beta-vi", beta)):
            portal = make_site(server.config).truth()
            truth[site] = {
                unicodedata.normalize("NFC", unquote(a["slug"])) for a in portal["articles"]
            }
            (profiles / f"{site}.toml").write_text(
                f'name = "{site}"\nbase_url = "{server.url}"\n'
                f'timezone = "{portal["portal"]["timezone"]}"\n'
                f'default_locale = "{portal["portal"]["default_locale"]}"\n',
                encoding="utf-8",
            )
        yield Cluster(
            tmp_path, redis_url, f"sqlite:///{tmp_path / 'cluster.sqlite3'}", profiles, truth
        )


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str) -> Iterator[Cluster]:
    with serve_cluster(tmp_path, redis_url) as served:
        yield served


def start_crawl(cluster: Cluster) -> str:
    started = _run(cluster.command("start", "--site", "alpha-en", "--site", "beta-vi", "--full"))
    assert started.returncode == 0, started.stderr[-3000:]
    return started.stdout.strip()


def start_worker(cluster: Cluster, n: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cluster.command("work", log=f"worker-{n}.log"),
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_worker_succeeded(cluster: Cluster, worker: subprocess.Popen[str], n: int) -> str:
    _, err = worker.communicate(timeout=WORKER_TIMEOUT)
    log = (cluster.workdir / f"worker-{n}.log").read_text(encoding="utf-8")
    assert worker.returncode == 0, (err + log)[-4000:]
    return log


def stored_slugs(cluster: Cluster) -> dict[str, list[str]]:
    path = Path(cluster.database_url.removeprefix("sqlite:///"))
    if not path.exists():
        return {}
    db = sqlite3.connect(path)
    try:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'articles'").fetchone():
            return {}
        rows = db.execute("SELECT site, url FROM articles").fetchall()
    finally:
        db.close()
    stored: dict[str, list[str]] = {}
    for site, url in rows:
        stored.setdefault(site, []).append(
            unicodedata.normalize("NFC", unquote(url.rsplit("/", 1)[1]))
        )
    return {site: sorted(slugs) for site, slugs in stored.items()}


def assert_crawl_complete(cluster: Cluster, crawl_id: str) -> None:
    """Every article of each portal stored exactly once under its site; one crawl_runs row, the
    crawl's, succeeded; every site done with nothing queued or leased; the crawl done."""
    stored = stored_slugs(cluster)
    for site, slugs in cluster.truth.items():
        missing = sorted(slugs - set(stored.get(site, [])))
        twice = sorted({s for s in stored.get(site, []) if stored[site].count(s) > 1})
        assert (missing, twice) == ([], []), f"{site}: missing {missing}, stored twice {twice}"
    assert stored == {site: sorted(slugs) for site, slugs in cluster.truth.items()}
    db = sqlite3.connect(cluster.database_url.removeprefix("sqlite:///"))
    try:
        runs = db.execute("SELECT run_id, outcome FROM crawl_runs").fetchall()
    finally:
        db.close()
    assert runs == [(crawl_id, "succeeded")]
    client = redis.Redis.from_url(cluster.redis_url)
    assert client.hget(f"e2e:crawl:{crawl_id}:meta", "status") == b"done"
    for site in PORTALS:
        assert client.exists(f"e2e:crawl:{crawl_id}:site:{site}:done")
        assert client.zcard(f"e2e:crawl:{crawl_id}:site:{site}:queue") == 0
        assert client.zcard(f"e2e:crawl:{crawl_id}:site:{site}:leases") == 0


def test_two_workers_crawl_two_portals_storing_every_article_once(cluster: Cluster) -> None:
    crawl_id = start_crawl(cluster)
    workers = [start_worker(cluster, n) for n in (1, 2)]
    for n, worker in enumerate(workers, start=1):
        assert_worker_succeeded(cluster, worker, n)
    assert_crawl_complete(cluster, crawl_id)


def test_a_killed_worker_s_requests_are_crawled_by_another(tmp_path: Path, redis_url: str) -> None:
    with serve_cluster(tmp_path, redis_url, answer_seconds=0.2) as cluster:
        cluster.lease_seconds = "4"
        crawl_id = start_crawl(cluster)
        client = redis.Redis.from_url(cluster.redis_url)
        leases = [f"e2e:crawl:{crawl_id}:site:{site}:leases" for site in PORTALS]
        first = start_worker(cluster, 1)
        # SIGKILLed once it stored a few articles and holds leases
        deadline = time.monotonic() + WORKER_TIMEOUT
        while sum(map(len, stored_slugs(cluster).values())) < 5 or not any(
            client.zcard(key) for key in leases
        ):
            assert first.poll() is None and time.monotonic() < deadline, "worker 1 ended first"
            time.sleep(0.1)
        first.kill()
        first.wait(timeout=30)
        held = sum(client.zcard(key) for key in leases)
        assert held > 0
        log = assert_worker_succeeded(cluster, start_worker(cluster, 2), 2)
        assert "expired leases (a worker stopped answering) put back in the queue" in log
        assert_crawl_complete(cluster, crawl_id)
