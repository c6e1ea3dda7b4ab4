"""Redirects that lost a page without a word (crawler/middlewares/redirect.py): off the origin,
and loops, each refused aloud, counted, and handed to the request's errback."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from scrapy import Request
from scrapy.http import Response
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from crawler.crawl.crawl_state import CrawlState
from crawler.middlewares.fence import WARNINGS_PER_ORIGIN, OffOriginRequest, OriginFence
from crawler.middlewares.redirect import RedirectLoop, RedirectMiddleware
from tests.test_fence import ORIGIN, SiteSpider
from tests.unit_spider import sitemap_stage_spider


def make_redirect(**settings: Any) -> RedirectMiddleware:
    crawler = get_crawler(SiteSpider, settings_dict=settings)
    crawler.stats = MemoryStatsCollector(crawler)
    crawler.spider = SiteSpider.from_crawler(crawler)
    crawler._apply_settings()
    middleware = RedirectMiddleware.from_crawler(crawler)
    middleware.fence = OriginFence.from_crawler(crawler)
    return middleware


def follow(middleware: RedirectMiddleware, request: Request, location: str) -> Request:
    response = Response(request.url, status=302, headers={"Location": location}, request=request)
    redirected = middleware.process_response(request, response)
    assert isinstance(redirected, Request)
    return redirected


def stat(middleware: RedirectMiddleware, name: str) -> Any:
    assert middleware.crawler.stats is not None
    return middleware.crawler.stats.get_value(name)


def test_a_redirect_inside_the_origin_is_followed() -> None:
    middleware = make_redirect()
    redirected = follow(middleware, Request(f"{ORIGIN}/w/cu"), "/w/moi")
    assert redirected.url == f"{ORIGIN}/w/moi"
    assert stat(middleware, "fetch/redirect_loop") is None


@pytest.mark.parametrize(
    "location",
    ["http://localhost:8080/w/moi", "https://other.example/w/moi", "http://127.0.0.1:9/w/moi"],
    ids=["another host name", "another site", "another port"],
)
def test_a_redirect_off_the_origin_is_refused_counted_and_named(
    location: str, caplog: pytest.LogCaptureFixture
) -> None:
    middleware = make_redirect()
    request = Request(f"{ORIGIN}/w/bai-da-chuyen")
    with caplog.at_level(logging.WARNING), pytest.raises(OffOriginRequest):
        follow(middleware, request, location)
    assert stat(middleware, "fence/refused") == 1
    assert stat(middleware, "fence/redirect_refused") == 1
    assert f"{location} (redirected from {ORIGIN}/w/bai-da-chuyen)" in caplog.text


def test_refusals_are_named_a_few_per_origin_then_summed_up_at_the_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    middleware = make_redirect()
    with caplog.at_level(logging.WARNING):
        for i in range(40):
            with pytest.raises(OffOriginRequest):
                follow(middleware, Request(f"{ORIGIN}/w/a{i}"), f"https://other.example/w/a{i}")
        assert middleware.fence is not None
        middleware.fence.spider_closed()
    lines = [r.getMessage() for r in caplog.records]
    assert len([m for m in lines if m.startswith("refused a request")]) == WARNINGS_PER_ORIGIN
    assert "refused 40 requests to https://other.example in all (fence/refused)" in lines
    assert len(lines) == WARNINGS_PER_ORIGIN + 2
    assert stat(middleware, "fence/refused") == 40


def test_a_redirect_back_into_its_own_chain_is_a_named_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # /w/a -> /w/a?x=1 -> /w/a: the duplicate filter used to drop the last one unsaid.
    middleware = make_redirect()
    first = Request(f"{ORIGIN}/w/a")
    second = follow(middleware, first, "/w/a?x=1")
    with caplog.at_level(logging.WARNING), pytest.raises(RedirectLoop):
        follow(middleware, second, "/w/a")
    assert stat(middleware, "fetch/redirect_loop") == 1
    assert f"{ORIGIN}/w/a -> {ORIGIN}/w/a?x=1 -> {ORIGIN}/w/a" in caplog.text


def test_a_redirect_chain_that_never_ends_is_a_named_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # /w/a?x=1 -> /w/a?x=2 -> ...: each a new URL, until REDIRECT_MAX_TIMES.
    middleware = make_redirect(REDIRECT_MAX_TIMES=5)
    request = Request(f"{ORIGIN}/w/a")
    with caplog.at_level(logging.WARNING), pytest.raises(RedirectLoop):
        for i in range(1, 10):
            request = follow(middleware, request, f"/w/a?x={i}")
    assert stat(middleware, "fetch/redirect_loop") == 1
    assert "more than REDIRECT_MAX_TIMES (5)" in caplog.text


def _failure(exc: Exception, request: Request) -> Failure:
    failure = Failure(exc)
    failure.request = request  # type: ignore[attr-defined]
    return failure


@pytest.mark.parametrize("exc", [OffOriginRequest("x"), RedirectLoop("x")])
def test_an_article_lost_to_a_redirect_is_a_failed_request(exc: Exception) -> None:
    spider = sitemap_stage_spider(ORIGIN, CrawlState())
    request = Request(f"{ORIGIN}/w/a", callback=spider.parse_article)
    spider.on_error(_failure(exc, request))
    assert spider.crawler.stats.get_value("fetch/failed") == 1


def test_a_menu_page_redirected_off_the_origin_is_not_a_failed_request() -> None:
    spider = sitemap_stage_spider(ORIGIN, CrawlState())
    request = Request(f"{ORIGIN}/cong-thong-tin", callback=spider.parse_page)
    spider.on_error(_failure(OffOriginRequest("x"), request))
    assert spider.crawler.stats.get_value("fetch/failed") is None
    assert spider.crawler.stats.get_value("fetch/off_origin") == 1


def test_a_menu_page_caught_in_a_redirect_loop_is_a_failed_request() -> None:
    spider = sitemap_stage_spider(ORIGIN, CrawlState())
    request = Request(f"{ORIGIN}/tin-tuc", callback=spider.parse_page)
    spider.on_error(_failure(RedirectLoop("x"), request))
    assert spider.crawler.stats.get_value("fetch/failed") == 1
