"""End-to-end faults of a cluster crawl (issue 13, "Faults"): two replica portals crawled by two
`scrapy cluster work` processes on a Redis server of the test's own, while Redis is restarted,
Redis is killed for good, or PostgreSQL stops for a few seconds."""

from __future__ import annotations

import json
import subprocess
import time
import unicodedata
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

import pytest
import sqlalchemy

from tests.crawl_runner import (
    PROJECT_ROOT,
    cluster_command,
    cluster_settings,
    database_rows,
    start_cluster_crawl,
)
from tests.postgres import PostgresServer
from tests.replica.portal import make_site
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.redis_server import RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

PORTALS = {"alpha-en": "classic-en", "beta-vi": "classic-vi"}
ARTICLES = 12
# Each replica answer takes this long: the crawl lasts a few seconds, long enough to hit it.
ANSWER_SECONDS = 0.15
WORKER_TIMEOUT = 90
PREFIX = "faults"


@dataclass
class Cluster:
    workdir: Path
    redis_url: str
    database_url: str
    profiles: Path
    truth: dict[str, set[str]]  # site -> the slugs of its articles (NFC)
    settings: dict[str, str] = field(default_factory=dict)

    def command(self, *args: str, log: str | None = None) -> list[str]:
        settings = cluster_settings(
            self.redis_url, self.database_url, self.profiles, self.workdir, prefix=PREFIX
        )
        # Articles stored two at a time: the first stored ones (wait_until_stored) come while
        # the sites are still crawled. With the default batch (50) a site's 12 articles were
        # stored at its close, and a worker that closes without the engine's heartbeat tail
        # could finish its whole crawl before the fault.
        settings |= {"CLUSTER_LEASE_SECONDS": "20", "STORAGE_BATCH_SIZE": "2", **self.settings}
        return cluster_command(
            args[0], settings, *args[1:], log=self.workdir / log if log else None
        )

    def start(self) -> str:
        return start_cluster_crawl(
            self.command("start", *(f"--site={site}" for site in PORTALS), "--full")
        )

    def worker(self, n: int) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command("work", log=f"worker-{n}.log"),
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self, worker: subprocess.Popen[str], n: int) -> tuple[int, str, str]:
        """The worker's exit status, stderr and log once it ended."""
        try:
            _, err = worker.communicate(timeout=WORKER_TIMEOUT)
        except subprocess.TimeoutExpired:
            worker.kill()
            _, err = worker.communicate()
        log_path = self.workdir / f"worker-{n}.log"
        log = log_path.read_text(encoding="utf-8") if log_path.exists() else ""
        return worker.returncode, err, log

    def rows(self, query: str) -> list[tuple[object, ...]]:
        table = query.split(" FROM ")[1].split(maxsplit=1)[0]
        return database_rows(self.database_url, query, table=table)

    def stored(self) -> dict[str, list[str]]:
        stored: dict[str, list[str]] = {}
        for site, url in self.rows("SELECT site, url FROM articles"):
            slug = unicodedata.normalize("NFC", unquote(str(url).rsplit("/", 1)[1]))
            stored.setdefault(str(site), []).append(slug)
        return {site: sorted(slugs) for site, slugs in stored.items()}

    def stored_count(self) -> int:
        try:
            return sum(map(len, self.stored().values()))
        except sqlalchemy.exc.OperationalError:  # the database is still being created
            return 0


@dataclass
class Portals:
    profiles: Path
    truth: dict[str, set[str]]


def serve_portals(stack: ExitStack, tmp_path: Path) -> Portals:
    """Both replica portals served (slow answers), and a profile for each."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    truth: dict[str, set[str]] = {}
    for site, portal_name in PORTALS.items():
        config = ReplicaConfig(portal=portal_name, articles=ARTICLES, answer_seconds=ANSWER_SECONDS)
        server = stack.enter_context(ReplicaServer(config))
        portal = make_site(server.config).truth()
        truth[site] = {unicodedata.normalize("NFC", unquote(a["slug"])) for a in portal["articles"]}
        (profiles / f"{site}.toml").write_text(
            f'name = "{site}"\nbase_url = "{server.url}"\n'
            f'timezone = "{portal["portal"]["timezone"]}"\n'
            f'default_locale = "{portal["portal"]["default_locale"]}"\n',
            encoding="utf-8",
        )
    return Portals(profiles, truth)


@contextmanager
def make_cluster(tmp_path: Path, redis_url: str, database_url: str) -> Iterator[Cluster]:
    with ExitStack() as stack:
        portals = serve_portals(stack, tmp_path)
        yield Cluster(tmp_path, redis_url, database_url, portals.profiles, portals.truth)


@pytest.fixture
def cluster(tmp_path: Path, own_redis_server: RedisServer) -> Iterator[Cluster]:
    """A SQLite database and the test's own Redis server."""
    with make_cluster(
        tmp_path, own_redis_server.url, f"sqlite:///{tmp_path / 'cluster.sqlite3'}"
    ) as served:
        yield served


def crawling(cluster: Cluster, n: int) -> bool:
    """Whether worker ``n`` opened every site (its spiders say what they crawl once their
    store is open)."""
    log = cluster.workdir / f"worker-{n}.log"
    text = log.read_text(encoding="utf-8") if log.exists() else ""
    return text.count("] INFO: crawling http") >= len(PORTALS)


def wait_until_stored(cluster: Cluster, count: int, workers: list[subprocess.Popen[str]]) -> None:
    """Until every worker crawls every site and ``count`` articles are stored, while every
    worker still runs: the fault comes mid-crawl."""
    deadline = time.monotonic() + WORKER_TIMEOUT
    while cluster.stored_count() < count or not all(
        crawling(cluster, n) for n in range(1, len(workers) + 1)
    ):
        assert all(w.poll() is None for w in workers), "a worker ended before the fault"
        assert time.monotonic() < deadline, "no articles stored"
        time.sleep(0.1)


def assert_every_article_stored_once(cluster: Cluster, crawl_id: str) -> None:
    stored = cluster.stored()
    for site, slugs in cluster.truth.items():
        missing = sorted(slugs - set(stored.get(site, [])))
        twice = sorted({s for s in stored.get(site, []) if stored[site].count(s) > 1})
        assert (missing, twice) == ([], []), f"{site}: missing {missing}, stored twice {twice}"
    assert stored == {site: sorted(slugs) for site, slugs in cluster.truth.items()}
    assert cluster.rows("SELECT run_id, outcome FROM crawl_runs") == [(crawl_id, "succeeded")]


def test_a_crawl_resumes_and_completes_after_redis_restarts(
    cluster: Cluster, own_redis_server: RedisServer
) -> None:
    crawl_id = cluster.start()
    workers = [cluster.worker(n) for n in (1, 2)]
    wait_until_stored(cluster, 3, workers)
    own_redis_server.restart()
    ended = [cluster.finish(worker, n) for n, worker in enumerate(workers, start=1)]
    for code, err, log in ended:
        assert code == 0, (err + log)[-4000:]
    assert_every_article_stored_once(cluster, crawl_id)


def test_workers_fail_the_run_as_redis_unavailable_when_redis_does_not_come_back(
    cluster: Cluster, own_redis_server: RedisServer
) -> None:
    cluster.settings["CLUSTER_REDIS_RETRY_SECONDS"] = "2"
    crawl_id = cluster.start()
    workers = [cluster.worker(n) for n in (1, 2)]
    wait_until_stored(cluster, 3, workers)
    own_redis_server.kill()
    for n, worker in enumerate(workers, start=1):
        code, err, log = cluster.finish(worker, n)
        assert code == 1, (err + log)[-4000:]
        assert "Traceback" not in err, err[-4000:]
        why = [line for line in err.splitlines() if "redis_unavailable" in line]
        assert len(why) == 1, err[-4000:]
        assert f"Redis at {own_redis_server.url} is unavailable" in why[0]
        assert f"crawl {crawl_id} recorded as failed in crawl_runs" in why[0]
    # The cluster's one run row says failed, and why: it does not stay "running".
    [(outcome, report_text)] = cluster.rows(
        f"SELECT outcome, report FROM crawl_runs WHERE run_id = '{crawl_id}'"
    )
    assert outcome == "failed"
    report = json.loads(str(report_text)) if isinstance(report_text, str) else report_text
    assert isinstance(report, dict)
    assert report["outcome"] == "failed"
    assert report["finish_reason"] == "redis_unavailable"
    assert "Redis was lost mid-crawl" in report["failures"][0]
    written = json.loads((cluster.workdir / "reports" / f"{crawl_id}.json").read_text())
    assert written["outcome"] == "failed"


@pytest.mark.postgres
def test_a_crawl_completes_storing_every_article_once_when_postgres_stops_for_a_while(
    tmp_path: Path, own_redis_server: RedisServer, own_postgres_server: PostgresServer
) -> None:
    database_url = own_postgres_server.url(own_postgres_server.create_database())
    with make_cluster(tmp_path, own_redis_server.url, database_url) as cluster:
        cluster.settings["STORAGE_RETRY_SECONDS"] = "60"
        crawl_id = cluster.start()
        workers = [cluster.worker(n) for n in (1, 2)]
        wait_until_stored(cluster, 3, workers)
        own_postgres_server.pause()
        time.sleep(3)
        own_postgres_server.resume()
        for n, worker in enumerate(workers, start=1):
            code, err, log = cluster.finish(worker, n)
            assert code == 0, (err + log)[-4000:]
        assert_every_article_stored_once(cluster, crawl_id)


def test_a_waiting_worker_works_on_the_crawl_started_after_it(cluster: Cluster) -> None:
    worker = subprocess.Popen(
        [*cluster.command("work", log="worker-1.log"), "--wait", "120"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert worker.stderr is not None
    # It waits for a crawl before one is started.
    assert worker.stderr.readline() == (
        "scrapy cluster work: no cluster crawl has been started; waiting up to 120 s\n"
    )
    crawl_id = cluster.start()
    code, err, log = cluster.finish(worker, 1)
    assert code == 0, (err + log)[-4000:]
    assert_every_article_stored_once(cluster, crawl_id)
