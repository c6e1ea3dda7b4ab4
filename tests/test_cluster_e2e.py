"""End-to-end: a cluster crawl of two replica portals by two `scrapy cluster work` processes
sharing one Redis server and one database (crawler/cluster/, crawler/commands/cluster.py)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import unicodedata
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

    def command(self, *args: str, log: str | None = None) -> list[str]:
        settings = {
            **FAST_SETTINGS,
            "CLUSTER_REDIS_URL": self.redis_url,
            "CLUSTER_KEY_PREFIX": "e2e",
            "CLUSTER_LEASE_SECONDS": "20",
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


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str) -> Iterator[Cluster]:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    truth: dict[str, set[str]] = {}
    with (
        ReplicaServer(ReplicaConfig(portal=PORTALS["alpha-en"], articles=25)) as alpha,
        ReplicaServer(ReplicaConfig(portal=PORTALS["beta-vi"], articles=25)) as beta,
    ):
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


def test_two_workers_crawl_two_portals_storing_every_article_once(cluster: Cluster) -> None:
    started = _run(cluster.command("start", "--site", "alpha-en", "--site", "beta-vi", "--full"))
    assert started.returncode == 0, started.stderr[-3000:]
    crawl_id = started.stdout.strip()
    workers = [
        subprocess.Popen(
            cluster.command("work", log=f"worker-{n}.log"),
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    outputs = [w.communicate(timeout=WORKER_TIMEOUT) for w in workers]
    logs = [(cluster.workdir / f"worker-{n}.log").read_text(encoding="utf-8") for n in (1, 2)]
    for worker, (_, err), log in zip(workers, outputs, logs, strict=True):
        assert worker.returncode == 0, (err + log)[-4000:]
    db = sqlite3.connect(cluster.database_url.removeprefix("sqlite:///"))
    rows = db.execute("SELECT site, url FROM articles").fetchall()
    stored: dict[str, list[str]] = {}
    for site, url in rows:
        slug = unicodedata.normalize("NFC", unquote(url.rsplit("/", 1)[1]))
        stored.setdefault(site, []).append(slug)
    assert {site: sorted(slugs) for site, slugs in stored.items()} == {
        site: sorted(slugs) for site, slugs in cluster.truth.items()
    }
    client = redis.Redis.from_url(cluster.redis_url)
    meta = client.hgetall(f"e2e:crawl:{crawl_id}:meta")
    assert meta[b"status"] == b"done"
    for site in PORTALS:
        assert client.exists(f"e2e:crawl:{crawl_id}:site:{site}:done")
        assert client.zcard(f"e2e:crawl:{crawl_id}:site:{site}:queue") == 0
        assert client.zcard(f"e2e:crawl:{crawl_id}:site:{site}:leases") == 0
