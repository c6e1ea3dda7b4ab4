"""Three crawls of one portal at once keep the portal's politeness as one crawler would when
they share the per-host limiter in Redis, and break it without (tests/politeness.py measures
what the replica saw)."""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.crawl_runner import PROJECT_ROOT, crawl_command
from tests.politeness import allowed_in_window, max_in_flight, max_in_window
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig

if TYPE_CHECKING:
    from pathlib import Path

    from tests.replica.server import RequestTiming

pytestmark = pytest.mark.redis

WORKERS = 3
CONCURRENCY = 2
DELAY = 0.2
# Long enough answers that requests overlap: the concurrency limit, not the delay alone, binds.
ANSWER_SECONDS = 0.3
WINDOW = 5.0
# The replica timestamps a request when its handler thread has read it, some time after the
# limiter granted its start: connection set-up, the worker's reactor and the server's threads on
# a busy machine. Arrivals may lag their starts by up to this much (measured: under 0.1 s);
# with WINDOW and DELAY the bound is 27 arrivals in any 5 s, 26 being the most exact spacing
# allows, while the three workers without the limiter reach about 60.
ARRIVAL_JITTER = 0.35
POLITENESS = {
    "CONCURRENT_REQUESTS_PER_DOMAIN": str(CONCURRENCY),
    "DOWNLOAD_DELAY": str(DELAY),
    "AUTOTHROTTLE_ENABLED": "False",
    "RETRY_BACKOFF_BASE": "0.05",
    "PROGRESS_INTERVAL": "0",
}


def crawl_together(
    server: ReplicaServer, tmp_path: Path, settings: dict[str, str]
) -> list[tuple[int, str]]:
    """``WORKERS`` crawls of the replica at once, each with its own database; their exit
    status and log."""
    procs = []
    for number in range(WORKERS):
        workdir = tmp_path / f"worker-{number}"
        cmd, _, _ = crawl_command(
            server.url, workdir, settings={**POLITENESS, **settings}, fast=False
        )
        procs.append((workdir, subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=dict(os.environ))))
    results = []
    for workdir, proc in procs:
        returncode = proc.wait(timeout=600)
        results.append((returncode, (workdir / "crawl.log").read_text(encoding="utf-8")))
    return results


def crawl_timings(
    tmp_path: Path, settings: dict[str, str]
) -> tuple[list[RequestTiming], list[tuple[int, str]]]:
    config = ReplicaConfig(articles=5, record_timing=True, answer_seconds=ANSWER_SECONDS)
    with ReplicaServer(config) as server:
        results = crawl_together(server, tmp_path, settings)
        return list(server.timings), results


def test_three_workers_sharing_the_limiter_keep_the_portal_s_concurrency_and_rate(
    redis_url: str, tmp_path: Path
) -> None:
    timings, results = crawl_timings(tmp_path, {"CLUSTER_REDIS_URL": redis_url})
    for returncode, log in results:
        assert returncode == 0, log[-3000:]
        assert "cluster politeness: at most 2 requests in flight per host" in log
    assert any("'cluster/host_waits'" in log for _, log in results)
    assert max_in_flight(timings) <= CONCURRENCY
    assert max_in_window(timings, WINDOW) <= allowed_in_window(WINDOW, DELAY, ARRIVAL_JITTER)


def test_three_workers_without_the_limiter_exceed_the_portal_s_concurrency_and_rate(
    tmp_path: Path,
) -> None:
    timings, results = crawl_timings(tmp_path, {})
    for returncode, log in results:
        assert returncode == 0, log[-3000:]
        # off without a word: neither among the enabled middlewares nor warned about
        assert "ClusterHostLimitMiddleware" not in log
    assert max_in_flight(timings) > CONCURRENCY
    assert max_in_window(timings, WINDOW) > allowed_in_window(WINDOW, DELAY, ARRIVAL_JITTER)
