"""The origin fence without a network: scheme, host and port, redirects included."""

from __future__ import annotations

import logging

import pytest
from scrapy import Request, Spider
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.http import Response
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from crawler.middlewares.fence import OffOriginRequest, OriginFence, origin_of

ORIGIN = "http://127.0.0.1:8080"


class SiteSpider(Spider):
    name = "site"
    origin = ORIGIN


def make_fence() -> OriginFence:
    crawler = get_crawler(SiteSpider)
    crawler.stats = MemoryStatsCollector(crawler)
    crawler.spider = SiteSpider.from_crawler(crawler)
    return OriginFence.from_crawler(crawler)


@pytest.mark.parametrize(
    "url",
    [
        f"{ORIGIN}/w/bai-viet",
        "HTTP://127.0.0.1:8080/robots.txt",
        f"{ORIGIN}/tin-tuc?p_p_id=x&_x_cur=2",
    ],
)
def test_requests_inside_the_origin_pass(url: str) -> None:
    assert make_fence().process_request(Request(url)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8081/w/bai-viet",  # same host, another port
        "https://127.0.0.1:8080/w/bai-viet",  # another scheme
        "http://localhost:8080/w/bai-viet",  # another host name
        "http://127.0.0.1/w/bai-viet",  # the default port is another port
    ],
)
def test_requests_outside_the_origin_are_refused_and_counted(url: str) -> None:
    fence = make_fence()
    with pytest.raises(OffOriginRequest):
        fence.process_request(Request(url))
    assert fence.crawler.stats is not None
    assert fence.crawler.stats.get_value("fence/refused") == 1


def test_dont_filter_does_not_open_the_fence() -> None:
    with pytest.raises(OffOriginRequest):
        make_fence().process_request(Request("http://127.0.0.1:9/", dont_filter=True))


def test_a_redirect_to_another_port_is_refused_with_a_warning_naming_both(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fence = make_fence()
    assert fence.crawler.spider is not None
    redirect = RedirectMiddleware.from_crawler(fence.crawler)
    original = Request(f"{ORIGIN}/w/bai-da-chuyen")
    response = Response(
        original.url, status=302, headers={"Location": "http://127.0.0.1:9999/w/bai-viet"}
    )
    redirected = redirect.process_response(original, response)
    assert isinstance(redirected, Request)
    caplog.set_level(logging.WARNING)
    with pytest.raises(OffOriginRequest):
        fence.process_request(redirected)
    (message,) = [r.getMessage() for r in caplog.records if r.name == "crawler.middlewares.fence"]
    assert "http://127.0.0.1:9999/w/bai-viet" in message
    assert ORIGIN in message
    assert f"redirected from {ORIGIN}/w/bai-da-chuyen" in message


def test_default_ports_are_the_same_origin_written_or_not() -> None:
    assert origin_of("https://hepza.example/") == origin_of("https://HEPZA.example:443/x")
    assert origin_of("http://hepza.example/") != origin_of("https://hepza.example/")


def test_a_spider_without_an_origin_is_not_fenced() -> None:
    crawler = get_crawler(Spider, {})
    crawler.spider = Spider(name="plain")
    assert OriginFence.from_crawler(crawler).process_request(Request("http://any.example/")) is None
