"""Limits that match a large portal, loud when hit (issue 24, item 7), end to end: a sitemap
that cannot be read fails the run with its reason (before, a refused sitemap left the run
"succeeded" while the edits only its lastmod signalled went unseen), and a first crawl stopped
by MAX_REQUESTS says so and is finished by the runs that follow, each fetching only what is not
stored yet."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.crawl_runner import run_crawl
from tests.hostile_server import Answer, HostileServer
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig, ReplicaSite
from tests.test_e2e import truth_of
from tests.test_limits_e2e import run_stats, stored_urls

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = pytest.mark.e2e

ARTICLES = 30
CRAWL_TIMEOUT = 240
# The replica's sitemap of every article holds about 1.5 KB an article (45 KB for 30): its
# index and its page sitemaps are under 2 KB each.
SMALL_SITEMAP_MAXSIZE = "10000"


def failure_message(result_stats: dict[str, object], code: str) -> str:
    return str(result_stats.get(f"run/failure_message/{code}", ""))


def test_a_sitemap_over_sitemap_maxsize_fails_the_rerun_and_read_whole_shows_the_edit(
    tmp_path: Path,
) -> None:
    base = ReplicaConfig(articles=ARTICLES)
    # The oldest article: never among the re-checked newest, its edit shows only in the
    # sitemap's lastmod.
    oldest = ReplicaSite(base).newest_first[-1]
    with ReplicaServer(base) as server:
        first = run_crawl(server.url, tmp_path, timeout=CRAWL_TIMEOUT)
        port = int(server.url.rsplit(":", 1)[1])
    assert first.returncode == 0, first.log[-3000:]
    edited = ReplicaConfig(articles=ARTICLES, edited=(oldest,))
    with ReplicaServer(edited, port=port) as server:
        capped = run_crawl(
            server.url,
            tmp_path,
            feed_name="capped.jsonl",
            settings={"SITEMAP_MAXSIZE": SMALL_SITEMAP_MAXSIZE},
            timeout=CRAWL_TIMEOUT,
        )
        # read before the next run replaces the latest report
        capped_stats, capped_report = run_stats(capped), capped.report
        whole = run_crawl(server.url, tmp_path, feed_name="whole.jsonl", timeout=CRAWL_TIMEOUT)
        edited_url = next(u for u, a in truth_of(edited, server.url).items() if a["edited"])
    assert capped.returncode == 1, capped.log[-3000:]
    assert capped_report["outcome"] == "failed"
    assert capped_report["counts"]["stored_changed"] == 0
    message = failure_message(capped_stats, "sitemap_unread")
    assert message.startswith("sitemap not read: ")
    assert "over the 10,000-byte limit: raise SITEMAP_MAXSIZE" in message
    assert capped_stats["fetch/too_large"] == 1
    assert any("sitemap not read" in f for f in capped_report["failures"])
    # With the default limit the same sitemap is read, and the edit it signals is stored.
    assert whole.returncode == 0, whole.log[-3000:]
    assert whole.report["outcome"] == "succeeded"
    assert whole.report["counts"]["stored_changed"] == 1
    assert [r["url"] for r in whole.feed() if r["change"] == "changed"] == [edited_url]


def _child_sitemaps_answer(status: int) -> Callable[[str, str, Callable[[], Answer]], Answer]:
    def answer(target: str, _base: str, replica: Callable[[], Answer]) -> Answer:
        if target.startswith("/sitemap.xml?"):
            return Answer(status, [("Content-Type", "text/plain")], b"unavailable")
        return replica()

    return answer


def test_a_sitemap_answering_503_fails_the_run_naming_the_status(tmp_path: Path) -> None:
    config = ReplicaConfig(articles=12)
    with HostileServer(config, _child_sitemaps_answer(503)) as server:
        result = run_crawl(
            server.url, tmp_path, settings={"RETRY_TIMES": "1"}, timeout=CRAWL_TIMEOUT
        )
        truth = sorted(truth_of(config, server.url))
    assert result.returncode == 1, result.log[-3000:]
    assert result.report["outcome"] == "failed"
    assert "(HTTP 503)" in failure_message(run_stats(result), "sitemap_unread")
    # navigation still finds every article: the failure is what the sitemaps could not say
    assert stored_urls(result) == truth


def test_a_sitemap_the_portal_does_not_have_fails_nothing(tmp_path: Path) -> None:
    config = ReplicaConfig(articles=12)
    with HostileServer(config, _child_sitemaps_answer(404)) as server:
        result = run_crawl(server.url, tmp_path, timeout=CRAWL_TIMEOUT)
        truth = sorted(truth_of(config, server.url))
    assert result.returncode == 0, result.log[-3000:]
    assert "run/failure/sitemap_unread" not in run_stats(result)
    assert stored_urls(result) == truth


def test_a_first_crawl_stopped_at_max_requests_is_finished_by_the_next_runs(
    tmp_path: Path,
) -> None:
    config = ReplicaConfig(articles=ARTICLES)
    max_requests = 40
    runs = []
    with ReplicaServer(config) as server:
        truth = sorted(truth_of(config, server.url))
        for n in range(6):
            result = run_crawl(
                server.url,
                tmp_path,
                feed_name=f"run-{n}.jsonl",
                settings={"MAX_REQUESTS": str(max_requests)},
                timeout=CRAWL_TIMEOUT,
            )
            # each run's report read now: the next run replaces the latest
            runs.append((result, run_stats(result), result.report))
            if result.returncode == 0:
                break
    capped = [stats for result, stats, _ in runs if result.returncode != 0]
    assert capped, "the first crawl was expected to reach MAX_REQUESTS"
    for stats in capped:
        message = failure_message(stats, "limit_reached")
        assert f"MAX_REQUESTS ({max_requests} requests)" in message
        assert "the next incremental run continues with those not stored yet" in message
    last, _, last_report = runs[-1]
    assert last.returncode == 0, last.log[-3000:]
    assert last_report["outcome"] == "succeeded"
    assert stored_urls(last) == truth
    # each article was new once: no run stored again what an earlier one had stored
    assert sum(report["counts"].get("stored_new", 0) for _, _, report in runs) == len(truth)
