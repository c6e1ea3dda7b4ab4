"""A feed never lists as ``new`` what the database does not hold, one run of a site at a time
on one database, an incremental run's feed says it is not the whole site, and a plain crawl
warns about nothing it does not use. Real ``scrapy crawl`` subprocesses on the replica."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import TYPE_CHECKING, Any

import pytest

from crawler.crawl.feeds import partial_path
from tests.crawl_runner import PROJECT_ROOT, CrawlResult, crawl_command, database_rows, run_crawl
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

# Slow enough to be caught mid-crawl, in batches small enough to commit early.
MID_CRAWL = {"STORAGE_BATCH_SIZE": "10", "DOWNLOAD_DELAY": "0.02"}


def stored_ids(database_url: str) -> set[str]:
    return {
        row[0] for row in database_rows(database_url, "SELECT id FROM articles", table="articles")
    }


def wait_for_stored(database_url: str, count: int, proc: subprocess.Popen[Any]) -> int:
    deadline = time.monotonic() + 120
    stored = 0
    while stored < count:
        assert proc.poll() is None, "the crawl ended before it was caught mid-run"
        assert time.monotonic() < deadline, f"only {stored} articles stored after 120 s"
        time.sleep(0.2)
        stored = len(stored_ids(database_url))
    return stored


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def test_a_killed_run_publishes_no_feed_and_the_next_run_lists_as_new_only_what_it_stored(
    tmp_path: Path,
) -> None:
    with ReplicaServer(ReplicaConfig(articles=200)) as server:
        cmd, database_url, feed = crawl_command(server.url, tmp_path, settings=MID_CRAWL)
        killed = subprocess.Popen(
            cmd, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_for_stored(database_url, 20, killed)
        finally:
            os.kill(killed.pid, signal.SIGKILL)
            killed.wait()
        before = stored_ids(database_url)
        after = run_crawl(server.url, tmp_path, feed_name="after-kill.jsonl")
    # The killed run's feed never took its name: what it holds is only a partial file.
    assert not feed.exists()
    assert partial_path(feed).is_file()
    assert after.returncode == 0, after.log[-3000:]
    assert "marked abandoned" in after.log
    records = after.feed()
    new = {r["id"] for r in records if r["change"] == "new"}
    held = stored_ids(database_url)
    assert new and new <= held
    assert not new & before  # stored by the killed run: not new again
    assert {r["id"] for r in records} | before == held


def test_a_second_crawl_of_the_same_site_and_database_is_refused_in_one_line_before_any_request(
    tmp_path: Path,
) -> None:
    # The second crawl aims at a replica of its own: any request it made would show there.
    with (
        ReplicaServer(ReplicaConfig(articles=200)) as server,
        ReplicaServer(ReplicaConfig(articles=10)) as other,
    ):
        cmd, database_url, _ = crawl_command(server.url, tmp_path / "a", settings=MID_CRAWL)
        first = subprocess.Popen(
            cmd, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_for_stored(database_url, 10, first)
            second, _, second_feed = crawl_command(
                other.url, tmp_path / "b", database_url=database_url
            )
            refused = subprocess.run(
                second,
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert first.poll() is None  # refused while the first run holds the site
            second_requests = list(other.requests)
        finally:
            first.send_signal(signal.SIGTERM)
            first.wait(timeout=120)
        first_run = json.loads((tmp_path / "a" / "reports" / "latest.json").read_text("utf-8"))
    assert refused.returncode == 1, refused.stderr[-3000:]
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert lines[0].startswith("scrapy crawl hepza: error: another run of site hepza holds")
    assert f"run {first_run['run_id']}, pid {first.pid}" in lines[0]
    assert second_requests == []
    assert not (tmp_path / "b" / "crawl.log").exists() or "Crawled" not in (
        tmp_path / "b" / "crawl.log"
    ).read_text("utf-8")
    assert not second_feed.exists() and not partial_path(second_feed).exists()
    # The refused run recorded nothing: the first is the only run.
    runs = database_rows(database_url, "SELECT run_id FROM crawl_runs")
    assert runs == [(first_run["run_id"],)]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CrawlResult, ...]]:
    """A first run of the replica, then an incremental one, into one database."""
    workdir = tmp_path_factory.mktemp("two-runs")
    with ReplicaServer(ReplicaConfig(articles=30)) as server:
        first = run_crawl(server.url, workdir, feed_name="first.jsonl")
        second = run_crawl(server.url, workdir, feed_name="second.jsonl")
    yield first, second


def test_an_incremental_run_says_its_feed_holds_fewer_articles_than_the_site(
    two_runs: tuple[CrawlResult, ...],
) -> None:
    first, second = two_runs
    assert first.returncode == 0, first.log[-3000:]
    assert second.returncode == 0, second.log[-3000:]
    total = len(stored_ids(second.database_url))
    assert len(first.feed()) == total
    assert "lists only the new, changed and re-checked" not in first.log
    held = len(second.feed())
    assert 0 < held < total
    lines = [line for line in second.log.splitlines() if "this incremental run lists" in line]
    assert len(lines) == 1
    assert "INFO" in lines[0]
    assert f"{second.feed_path} holds {held} of the {total} articles of hepza" in lines[0]
    assert "-a full=1" in lines[0] and "scrapy export --site hepza" in lines[0]


def test_a_plain_replica_crawl_logs_no_disabled_component_warning(
    two_runs: tuple[CrawlResult, ...],
) -> None:
    for result in two_runs:
        disabled = [line for line in result.log.splitlines() if "WARNING: Disabled" in line]
        assert disabled == []
