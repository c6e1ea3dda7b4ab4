"""`scrapy cluster start|work|status`: what each refuses, in one line and exit status 2, and
what start and status say (crawler/commands/cluster.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import redis

from crawler.cluster.crawl import ClusterCrawl
from tests.crawl_runner import run_scrapy

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

pytestmark = pytest.mark.redis


def cluster(tmp_path: Path, redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    settings = {
        "CLUSTER_REDIS_URL": redis_url,
        "CLUSTER_KEY_PREFIX": "cmd",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "OUTPUT_DIR": str(tmp_path / "out"),
    }
    options = [part for name, value in settings.items() for part in ("-s", f"{name}={value}")]
    return run_scrapy(tmp_path, "cluster", *args, *options)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


def test_start_prints_the_new_crawl_id_and_makes_it_current(tmp_path: Path, redis_url: str) -> None:
    result = cluster(tmp_path, redis_url, "start", "--site", "hepza", "--since", "2024-01-01")
    assert result.returncode == 0, result.stderr[-3000:]
    crawl_id = result.stdout.strip()
    crawl = ClusterCrawl.load(redis.Redis.from_url(redis_url), "cmd")
    assert (crawl.id, crawl.sites, crawl.args) == (crawl_id, ["hepza"], {"since": "2024-01-01"})


def test_status_shows_each_site_and_the_crawl(tmp_path: Path, redis_url: str) -> None:
    started = cluster(tmp_path, redis_url, "start", "--site", "hepza")
    result = cluster(tmp_path, redis_url, "status")
    assert result.returncode == 0, result.stderr[-3000:]
    code = ClusterCrawl.load(redis.Redis.from_url(redis_url), "cmd").fingerprint
    assert result.stdout.splitlines()[:2] == [
        f"crawl {started.stdout.strip()}: running, code {code}, mode incremental",
        "  site hepza: 0 queued, 0 leased, not seeded",
    ]


def test_an_unreachable_redis_is_one_line_and_exit_2(tmp_path: Path) -> None:
    line = one_error_line(cluster(tmp_path, "redis://127.0.0.1:1/0", "work"))
    assert line.startswith(
        "scrapy cluster work: error: Redis at redis://127.0.0.1:1/0 is unavailable"
    )


def test_a_worker_started_before_any_crawl_is_refused(tmp_path: Path, redis_url: str) -> None:
    line = one_error_line(cluster(tmp_path, redis_url, "work"))
    assert line == (
        "scrapy cluster work: error: no cluster crawl has been started "
        "(run 'scrapy cluster start --site NAME' first)"
    )


def test_a_worker_for_an_unknown_crawl_is_refused(tmp_path: Path, redis_url: str) -> None:
    line = one_error_line(cluster(tmp_path, redis_url, "work", "--crawl", "f" * 32))
    assert line == f"scrapy cluster work: error: crawl {'f' * 32} does not exist in Redis"


def test_a_worker_running_other_code_than_the_crawl_s_is_refused(
    tmp_path: Path, redis_url: str
) -> None:
    crawl = ClusterCrawl.create(
        redis.Redis.from_url(redis_url),
        "cmd",
        sites=["hepza"],
        args={},
        fingerprint="0123456789ab",
        database="sqlite:///x",
    )
    line = one_error_line(cluster(tmp_path, redis_url, "work"))
    assert line.startswith(
        f"scrapy cluster work: error: crawl {crawl.id} was started by crawler code 0123456789ab"
    )


def test_a_worker_for_a_finished_crawl_is_refused(tmp_path: Path, redis_url: str) -> None:
    started = cluster(tmp_path, redis_url, "start", "--site", "hepza")
    ClusterCrawl.load(redis.Redis.from_url(redis_url), "cmd").set_status("done")
    line = one_error_line(cluster(tmp_path, redis_url, "work"))
    assert line == (
        f"scrapy cluster work: error: crawl {started.stdout.strip()} is over (done): "
        "nothing to work on"
    )


def test_start_refuses_a_site_without_a_profile(tmp_path: Path, redis_url: str) -> None:
    line = one_error_line(cluster(tmp_path, redis_url, "start", "--site", "nowhere"))
    assert line.startswith("scrapy cluster start: error: --site 'nowhere' is not a site profile")


def test_start_refuses_a_malformed_day(tmp_path: Path, redis_url: str) -> None:
    line = one_error_line(
        cluster(tmp_path, redis_url, "start", "--site", "hepza", "--since", "May")
    )
    assert "since" in line and line.startswith("scrapy cluster start: error: ")


def test_start_without_a_redis_url_is_refused(tmp_path: Path) -> None:
    line = one_error_line(cluster(tmp_path, "", "start", "--site", "hepza"))
    assert line.startswith("scrapy cluster start: error: CLUSTER_REDIS_URL is empty")


def test_a_waiting_worker_with_no_crawl_is_refused_once_its_wait_is_over(
    tmp_path: Path, redis_url: str
) -> None:
    result = cluster(tmp_path, redis_url, "work", "--wait", "0.5")
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.splitlines() == [
        "scrapy cluster work: no cluster crawl has been started; waiting up to 0.5 s",
        "scrapy cluster work: error: no cluster crawl has been started (waited 0.5 s)",
    ]


def test_a_negative_wait_is_refused(tmp_path: Path, redis_url: str) -> None:
    line = one_error_line(cluster(tmp_path, redis_url, "work", "--wait", "-1"))
    assert line == "scrapy cluster work: error: --wait -1: give 0 or more seconds"
