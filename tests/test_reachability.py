"""ReachabilityProbe: until the site's first answer, requests wait and retry little; after it,
each request has its own timeout and retries back (end to end: test_reachability_e2e.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from scrapy import Request, Spider
from scrapy.exceptions import DownloadConnectionRefusedError, IgnoreRequest, NotConfigured
from scrapy.http import Response
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from crawler.domain.outcome import recorded_failures
from crawler.extensions import reachability
from crawler.extensions.reachability import (
    PROBE_RETRIES,
    ReachabilityProbe,
    SiteUnreachable,
    unreachable_reason,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

BASE = "http://127.0.0.1:8080"


class SiteSpider(Spider):
    name = "site"
    base_url = BASE


class Timer:
    """Stands in for the reactor's delayed call: the tests call _time_is_up themselves."""

    def __init__(self, delay: float, func: Any) -> None:
        self.delay = delay

    def cancel(self) -> None:
        self.delay = -1


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> Iterator[ReachabilityProbe]:
    monkeypatch.setattr(reachability, "call_later", Timer)
    crawler = get_crawler(
        SiteSpider, {"REACHABILITY_TIMEOUT": "15", "RETRY_TIMES": 5, "DOWNLOAD_TIMEOUT": 60}
    )
    crawler.stats = MemoryStatsCollector(crawler)
    crawler.spider = SiteSpider()
    middleware = ReachabilityProbe.from_crawler(crawler)
    yield middleware
    middleware.spider_closed()  # the deadline's timer


def sent(probe: ReachabilityProbe, url: str = f"{BASE}/robots.txt", **meta: Any) -> Request:
    """A request as it reaches the probe: DownloadTimeoutMiddleware set its timeout."""
    request = Request(url, meta={"download_timeout": 60, **meta})
    probe.process_request(request)
    return request


def failures(probe: ReachabilityProbe) -> list[str]:
    assert probe.crawler.stats is not None
    return recorded_failures(probe.crawler.stats.get_stats())


def test_before_the_first_answer_a_request_waits_at_most_the_time_left_and_retries_twice(
    probe: ReachabilityProbe,
) -> None:
    request = sent(probe)
    assert 14 < request.meta["download_timeout"] <= 15
    assert request.meta["max_retry_times"] == PROBE_RETRIES == 2


def test_a_request_that_asks_for_fewer_retries_keeps_them(probe: ReachabilityProbe) -> None:
    request = sent(probe, max_retry_times=0, download_timeout=5)
    assert (request.meta["max_retry_times"], request.meta["download_timeout"]) == (0, 5)


def test_after_the_first_answer_a_retried_request_gets_its_own_timeout_and_retries_back(
    probe: ReachabilityProbe,
) -> None:
    early = sent(probe)
    probe.process_response(Request(f"{BASE}/"), Response(f"{BASE}/", status=503))
    retried = early.copy()  # as RetryMiddleware makes it, the probe's values carried on
    probe.process_request(retried)
    assert retried.meta["download_timeout"] == 60
    assert "max_retry_times" not in retried.meta  # RETRY_TIMES again
    assert failures(probe) == []


def test_the_last_try_failing_before_any_answer_fails_the_run_as_unreachable(
    probe: ReachabilityProbe,
) -> None:
    refused = DownloadConnectionRefusedError("Connection was refused by other side")
    first = sent(probe)
    probe.process_exception(first, refused)
    assert failures(probe) == []  # RetryMiddleware tries again
    last = sent(probe, retry_times=2)
    probe.process_exception(last, refused)
    assert failures(probe) == [
        "the site 127.0.0.1:8080 could not be reached: Connection was refused by other side"
    ]
    with pytest.raises(SiteUnreachable):
        sent(probe, f"{BASE}/")


def test_no_answer_in_time_fails_the_run_with_the_timeout_named(
    probe: ReachabilityProbe,
) -> None:
    sent(probe)
    probe._time_is_up()
    assert failures(probe) == [
        "the site 127.0.0.1:8080 could not be reached: no answer within 15 s (REACHABILITY_TIMEOUT)"
    ]


def test_errors_after_the_first_answer_are_the_crawl_s_own(probe: ReachabilityProbe) -> None:
    probe.process_response(Request(f"{BASE}/robots.txt"), Response(f"{BASE}/robots.txt"))
    late = sent(probe, f"{BASE}/w/a", retry_times=5)
    probe.process_exception(late, DownloadConnectionRefusedError("refused"))
    probe._time_is_up()
    assert failures(probe) == []
    assert probe.crawler.stats is not None
    assert unreachable_reason(probe.crawler.stats.get_stats(), "x") is None


def test_a_refused_request_is_not_an_error_of_the_site(probe: ReachabilityProbe) -> None:
    request = sent(probe, retry_times=2)
    probe.process_exception(request, IgnoreRequest("forbidden by robots.txt"))
    assert failures(probe) == []


def test_a_reachability_timeout_of_0_turns_the_probe_off() -> None:
    crawler = get_crawler(SiteSpider, {"REACHABILITY_TIMEOUT": "0"})
    with pytest.raises(NotConfigured):
        ReachabilityProbe.from_crawler(crawler)


def test_the_clock_starts_at_the_first_request_and_stops_at_the_first_answer(
    probe: ReachabilityProbe,
) -> None:
    # A cluster worker may wait for its first request: that wait is not the site's.
    assert probe._timer is None
    sent(probe)
    timer = probe._timer
    assert isinstance(timer, Timer) and timer.delay == 15
    probe.process_response(Request(f"{BASE}/robots.txt"), Response(f"{BASE}/robots.txt"))
    assert timer.delay == -1 and probe._timer is None
