"""End-to-end: a cluster crawl of replica portals by `scrapy cluster work` processes sharing
one Redis server and one database (crawler/cluster/, crawler/commands/cluster.py); one of them
SIGKILLed mid-crawl, with PostgreSQL as the sink."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import unicodedata
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

import pytest
import redis

from tests.conftest import running_redis
from tests.crawl_runner import (
    PROJECT_ROOT,
    cluster_command,
    cluster_settings,
    database_rows,
    start_cluster_crawl,
)
from tests.politeness import allowed_in_window, max_in_flight, max_in_window
from tests.replica.portal import make_site
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

PORTALS = {"alpha-en": "classic-en", "beta-vi": "classic-vi"}
# Three replica portals (two servers of one portal kind are two hosts, two sites).
THREE_PORTALS = {**PORTALS, "gamma-en": "classic-en"}
WORKER_TIMEOUT = 600
# The cluster's politeness in the fault test: per host, 2 requests in flight, starts 0.1 s apart.
HOST_CONCURRENCY = 2
HOST_DELAY = 0.1
# Arrivals lag the limiter's grants (tests/test_host_limit_e2e.py measured under 0.1 s).
ARRIVAL_JITTER = 0.35
RATE_WINDOW = 2.0


@dataclass
class Cluster:
    workdir: Path
    redis_url: str
    database_url: str
    profiles: Path
    # site -> the slugs of its articles (NFC)
    truth: dict[str, set[str]]
    servers: dict[str, ReplicaServer]
    lease_seconds: str = "20"
    extra_settings: dict[str, str] = field(default_factory=dict)

    def command(self, *args: str, log: str | None = None) -> list[str]:
        settings = cluster_settings(
            self.redis_url, self.database_url, self.profiles, self.workdir, prefix="e2e"
        )
        settings |= {"CLUSTER_LEASE_SECONDS": self.lease_seconds, **self.extra_settings}
        return cluster_command(
            args[0], settings, *args[1:], log=self.workdir / log if log else None
        )


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
def serve_cluster(
    tmp_path: Path,
    redis_url: str,
    answer_seconds: float = 0.0,
    portals: dict[str, str] = PORTALS,
    record_timing: bool = False,
    database_url: str | None = None,
) -> Iterator[Cluster]:
    """The replica portals served (site -> portal kind), and a profile for each in a profile
    directory of the test."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    truth: dict[str, set[str]] = {}
    with ExitStack() as stack:
        servers = {
            site: stack.enter_context(
                ReplicaServer(
                    ReplicaConfig(
                        portal=kind,
                        articles=25,
                        answer_seconds=answer_seconds,
                        record_timing=record_timing,
                    )
                )
            )
            for site, kind in portals.items()
        }
        for site, server in servers.items():
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
            tmp_path,
            redis_url,
            database_url or f"sqlite:///{tmp_path / 'cluster.sqlite3'}",
            profiles,
            truth,
            servers,
        )


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str) -> Iterator[Cluster]:
    with serve_cluster(tmp_path, redis_url) as served:
        yield served


def start_crawl(cluster: Cluster) -> str:
    sites = [arg for site in cluster.truth for arg in ("--site", site)]
    return start_cluster_crawl(cluster.command("start", *sites, "--full"))


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


def _rows(cluster: Cluster, table: str, query: str) -> list[tuple[str, str]]:
    """``query``'s rows; none while ``table`` does not exist yet (SQLite or PostgreSQL)."""
    return [(str(a), str(b)) for a, b in database_rows(cluster.database_url, query, table=table)]


def stored_slugs(cluster: Cluster) -> dict[str, list[str]]:
    rows = _rows(cluster, "articles", "SELECT site, url FROM articles")
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
    runs = _rows(cluster, "crawl_runs", "SELECT run_id, outcome FROM crawl_runs")
    assert runs == [(crawl_id, "succeeded")]
    client = redis.Redis.from_url(cluster.redis_url)
    assert client.hget(f"e2e:crawl:{crawl_id}:meta", "status") == b"done"
    for site in cluster.truth:
        assert client.exists(f"e2e:crawl:{crawl_id}:site:{site}:done")
        assert client.zcard(f"e2e:crawl:{crawl_id}:site:{site}:queue") == 0
        assert client.zcard(f"e2e:crawl:{crawl_id}:site:{site}:leases") == 0


def test_two_workers_crawl_two_portals_storing_every_article_once(cluster: Cluster) -> None:
    crawl_id = start_crawl(cluster)
    workers = [start_worker(cluster, n) for n in (1, 2)]
    for n, worker in enumerate(workers, start=1):
        assert_worker_succeeded(cluster, worker, n)
    assert_crawl_complete(cluster, crawl_id)


@pytest.mark.postgres
def test_three_workers_one_sigkilled_mid_crawl_store_every_article_once_politely(
    tmp_path: Path, redis_url: str, postgres_url: str
) -> None:
    portals = THREE_PORTALS
    with serve_cluster(
        tmp_path,
        redis_url,
        answer_seconds=0.2,
        portals=portals,
        record_timing=True,
        database_url=postgres_url,
    ) as cluster:
        cluster.lease_seconds = "4"
        cluster.extra_settings = {
            "CLUSTER_HOST_CONCURRENCY": str(HOST_CONCURRENCY),
            "CLUSTER_HOST_DELAY": str(HOST_DELAY),
            "CLUSTER_HOST_SLOT_SECONDS": "4",
            # a few requests per worker and site at once: the work spreads over the workers
            "CONCURRENT_REQUESTS": "4",
        }
        crawl_id = start_crawl(cluster)
        client = redis.Redis.from_url(cluster.redis_url)
        site_keys = [f"e2e:crawl:{crawl_id}:site:{site}" for site in portals]
        # The victim first, so that it has work (an idle worker looks at the queue only on
        # Scrapy's 5 s heartbeat, and two busy workers may leave it none); the others once it
        # holds leases.
        victim = start_worker(cluster, 1)
        # lease tokens start with their worker's id, {hostname}-{pid}
        owner = f"{socket.gethostname()}-{victim.pid}/".encode()

        def victim_leases() -> set[bytes]:
            tokens = (client.zrange(f"{key}:leases", 0, -1) for key in site_keys)
            return {token for chunk in tokens for token in chunk if token.startswith(owner)}

        deadline = time.monotonic() + WORKER_TIMEOUT
        while not victim_leases():
            assert victim.poll() is None and time.monotonic() < deadline, "worker 1 ended first"
            time.sleep(0.05)
        workers = {n: start_worker(cluster, n) for n in (2, 3)}
        # SIGKILLed mid-crawl: articles stored, requests leased to it
        while sum(map(len, stored_slugs(cluster).values())) < 5 or not victim_leases():
            assert victim.poll() is None and time.monotonic() < deadline, "worker 1 ended first"
            time.sleep(0.05)
        victim.kill()
        victim.wait(timeout=30)
        assert victim.returncode == -signal.SIGKILL
        assert victim_leases()
        logs = [assert_worker_succeeded(cluster, worker, n) for n, worker in workers.items()]
        assert any(
            "expired leases (a worker stopped answering) put back in the queue" in log
            for log in logs
        )
        assert victim_leases() == set()
        assert_crawl_complete(cluster, crawl_id)
        allowed = allowed_in_window(RATE_WINDOW, HOST_DELAY, ARRIVAL_JITTER)
        for site, server in cluster.servers.items():
            timings = list(server.timings)
            assert max_in_flight(timings) <= HOST_CONCURRENCY, site
            assert max_in_window(timings, RATE_WINDOW) <= allowed, site


def test_a_password_protected_redis_serves_the_crawl_and_its_password_is_never_printed(
    tmp_path: Path,
) -> None:
    password = "cluster-s3cret"
    with (
        running_redis(password=password) as server,
        serve_cluster(tmp_path, server.url, portals={"alpha-en": "classic-en"}) as cluster,
    ):
        cluster.extra_settings = {"LOG_LEVEL": "DEBUG"}
        crawl_id = start_crawl(cluster)
        worker = start_worker(cluster, 1)
        _, err = worker.communicate(timeout=WORKER_TIMEOUT)
        log = (cluster.workdir / "worker-1.log").read_text(encoding="utf-8")
        assert worker.returncode == 0, (err + log)[-4000:]
        status = _run(cluster.command("status"))
        for text in (log, err, status.stdout, status.stderr, crawl_id):
            assert password not in text
        assert_crawl_complete(cluster, crawl_id)
