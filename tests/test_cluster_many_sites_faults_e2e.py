"""End-to-end: one `scrapy cluster work` process crawling several sites at once (one crawler per
site, as in the many-portals benchmark) whose Redis is killed for good. The worker must end,
with the run failed as ``redis_unavailable``, soon after the retry bound; and SIGTERM must stop
it at once while Redis is down, however long the bound.

A worker outlived its Redis by more than 20 minutes on 50 portals: every Redis connection its
crawlers had opened before the loss waited the whole retry bound once more (redis-py's pool
"connects" such a connection, a no-op that succeeded and counted as the server back), one
after the other on the reactor's one thread, and SIGTERM waited behind them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import unicodedata
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

import pytest

from tests.crawl_runner import (
    PROJECT_ROOT,
    cluster_command,
    cluster_settings,
    database_rows,
    start_cluster_crawl,
)
from tests.replica.portal import PORTALS, make_site
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.redis_server import RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

SITES = 6
ARTICLES = 20
# Each portal's politeness: requests 0.3 s apart, one at a time. The crawl of every site is
# still running when Redis is killed (a few seconds in).
HOST_DELAY = 0.3
RETRY_SECONDS = 2.0
LEASE_SECONDS = 8.0
# Redis killed, the worker ends within this. The first Redis call to fail waits the retry
# bound at most twice (redis-py retries the connect inside the retried command), 2 x 2 s;
# after it no call waits (the server is lost for the whole process); the worker's heartbeat
# (every CLUSTER_LEASE_SECONDS / 4, 2 s) closes every crawler still open; then each crawler
# closes (its share judged, the run recorded failed in SQLite) on a shared 2-core machine.
# Before the fix this took 70-90 s for 6-8 sites (3 s per connection made before the loss).
EXIT_BOUND = 6 * RETRY_SECONDS + LEASE_SECONDS / 4 + 4
# SIGTERM with Redis down and the default retry bound (60 s): the worker stops within this.
SIGTERM_BOUND = 10.0
STARTUP_TIMEOUT = 90


def _site_names() -> list[str]:
    return [f"agency-{n:02d}" for n in range(1, SITES + 1)]


class Worker:
    def __init__(self, workdir: Path, redis_url: str, retry_seconds: float) -> None:
        self.workdir = workdir
        self.database_url = f"sqlite:///{workdir / 'cluster.sqlite3'}"
        self.settings = cluster_settings(
            redis_url, self.database_url, workdir / "profiles", workdir, prefix="manyfaults"
        )
        # The profiles' politeness holds (a setting would win over a profile's).
        for name in ("DOWNLOAD_DELAY", "CONCURRENT_REQUESTS_PER_DOMAIN"):
            self.settings.pop(name, None)
        self.settings |= {
            "CLUSTER_REDIS_RETRY_SECONDS": str(retry_seconds),
            "CLUSTER_LEASE_SECONDS": str(LEASE_SECONDS),
        }
        self.log = workdir / "worker.log"
        self.process: subprocess.Popen[str] | None = None

    def start_crawl(self) -> str:
        return start_cluster_crawl(
            cluster_command("start", self.settings, *(f"--site={s}" for s in _site_names()))
        )

    def start(self) -> subprocess.Popen[str]:
        self.process = subprocess.Popen(
            cluster_command("work", self.settings, log=self.log),
            cwd=PROJECT_ROOT,
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return self.process

    def wait_until_crawling(self) -> None:
        """Until every site's crawler crawls and some articles are stored, the worker running."""
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            assert self.process.poll() is None, self.process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the worker did not crawl every site"
            text = self.log.read_text(encoding="utf-8") if self.log.exists() else ""
            if text.count("] INFO: crawling http") >= SITES:
                stored = database_rows(
                    self.database_url, "SELECT count(*) FROM articles", table="articles"
                )
                if stored and int(stored[0][0]) >= 3:
                    return
            time.sleep(0.1)

    def ended_within(self, seconds: float) -> tuple[int, str, float]:
        """The exit status and stderr, and how long it took: the worker killed (and the test
        failed) past ``seconds``."""
        assert self.process is not None
        started = time.monotonic()
        try:
            _, err = self.process.communicate(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            pytest.fail(f"the worker still ran {seconds:.0f} s after Redis was killed")
        return self.process.returncode, err, time.monotonic() - started

    def run_row(self, crawl_id: str) -> tuple[str, dict[str, object]]:
        [(outcome, report)] = database_rows(
            self.database_url,
            "SELECT outcome, report FROM crawl_runs WHERE run_id = :id",
            {"id": crawl_id},
        )
        return str(outcome), json.loads(report) if isinstance(report, str) else report


@pytest.fixture
def portals(tmp_path: Path) -> Iterator[Path]:
    """SITES replica portals, each on its own port (its own host), and a profile for each."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    kinds = sorted(PORTALS)
    with ExitStack() as stack:
        for n, site in enumerate(_site_names()):
            config = ReplicaConfig(portal=kinds[n % len(kinds)], articles=ARTICLES, seed=4000 + n)
            server = stack.enter_context(ReplicaServer(config))
            portal = make_site(config).truth()["portal"]
            (profiles / f"{site}.toml").write_text(
                f'name = "{site}"\nbase_url = "{server.url}"\n'
                f'timezone = "{portal["timezone"]}"\n'
                f'default_locale = "{portal["default_locale"]}"\n'
                f"concurrency = 1\ndownload_delay = {HOST_DELAY}\n",
                encoding="utf-8",
            )
        yield profiles


def assert_the_run_failed_for_redis(
    worker: Worker, crawl_id: str, err: str, url: str, *, signalled: bool = False
) -> None:
    """The crawl's run failed for Redis, and every site's share of this worker was judged not
    to have succeeded: failed for Redis or, when ``signalled`` (a SIGTERM that may reach a
    crawler before its Redis call has found the server gone), interrupted by the shutdown."""
    assert "Traceback" not in err, err[-4000:]
    why = [line for line in err.splitlines() if "redis_unavailable" in line]
    assert len(why) == 1, err[-4000:]
    assert f"Redis at {url} is unavailable" in why[0]
    assert f"crawl {crawl_id} recorded as failed in crawl_runs" in why[0]
    outcome, report = worker.run_row(crawl_id)
    assert (outcome, report["finish_reason"]) == ("failed", "redis_unavailable")
    log = unicodedata.normalize("NFC", unquote(worker.log.read_text(encoding="utf-8")))
    for site in _site_names():
        assert f"{site} of this worker succeeded" not in log, site
        failed = (
            f"{site} of this worker failed" in log
            and f"{site}: the crawl did not finish (reason: redis_unavailable)" in log
        )
        interrupted = (
            f"{site} of this worker interrupted" in log
            and f"{site}: the crawl did not finish (reason: shutdown)" in log
        )
        assert failed or (signalled and interrupted), site


def test_a_worker_crawling_several_sites_exits_1_soon_after_its_redis_is_killed(
    tmp_path: Path, portals: Path, own_redis_server: RedisServer
) -> None:
    worker = Worker(tmp_path, own_redis_server.url, RETRY_SECONDS)
    crawl_id = worker.start_crawl()
    worker.start()
    worker.wait_until_crawling()
    own_redis_server.kill()
    code, err, took = worker.ended_within(EXIT_BOUND)
    assert code == 1, err[-4000:]
    assert_the_run_failed_for_redis(worker, crawl_id, err, own_redis_server.url)
    assert took < EXIT_BOUND


def test_sigterm_stops_a_worker_at_once_while_its_redis_is_down(
    tmp_path: Path, portals: Path, own_redis_server: RedisServer
) -> None:
    # The default bound: without SIGTERM the worker would wait for Redis a minute or more.
    worker = Worker(tmp_path, own_redis_server.url, 60.0)
    crawl_id = worker.start_crawl()
    process = worker.start()
    worker.wait_until_crawling()
    own_redis_server.kill()
    time.sleep(1)  # the crawlers' Redis calls now wait for the server
    process.send_signal(signal.SIGTERM)
    code, err, _ = worker.ended_within(SIGTERM_BOUND)
    assert code == 1, err[-4000:]
    assert_the_run_failed_for_redis(worker, crawl_id, err, own_redis_server.url, signalled=True)
