"""The crawl bounds without a network: listing walks, link depth and fan-out, run-wide caps."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from scrapy import Request, Spider
from scrapy.exceptions import DownloadCancelledError, NotConfigured
from scrapy.http import HtmlResponse, Response
from scrapy.settings import Settings
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from crawler import settings as project
from crawler.crawl.limits import LIMIT_SETTINGS, CrawlBounds, CrawlLimits, entries_fingerprint
from crawler.domain.outcome import recorded_failures
from crawler.middlewares.run_limits import RunLimitReached, RunLimits
from crawler.setup.config import ConfigError
from crawler.spiders.hepza import HepzaSpider
from crawler.spiders.liferay import sitemap_failure

BASE = "https://hepza.example"
WALK = f"{BASE}/tin-tuc"


class DummySpider(Spider):
    name = "test"


def make_bounds(**limits: int) -> tuple[CrawlBounds, MemoryStatsCollector]:
    stats = MemoryStatsCollector(get_crawler(DummySpider))
    return CrawlBounds(CrawlLimits(**limits), stats), stats


def entries(*numbers: int) -> list[str]:
    return [f"{BASE}/w/bai-{n}" for n in numbers]


# --- listing walks --------------------------------------------------------------------------


def test_walk_goes_on_while_pages_bring_new_entries() -> None:
    bounds, _ = make_bounds()
    assert bounds.listing_page(WALK, entries(1, 2)) is None
    assert bounds.listing_page(WALK, entries(3, 4)) is None


def test_walk_ends_on_an_empty_page() -> None:
    bounds, stats = make_bounds()
    bounds.listing_page(WALK, entries(1, 2))
    assert bounds.listing_page(WALK, []) == "empty"
    assert stats.get_value("crawl/listing_walk_ended/empty") == 1


def test_walk_ends_on_a_page_repeating_an_earlier_one_in_any_order() -> None:
    bounds, stats = make_bounds()
    bounds.listing_page(WALK, entries(1, 2, 3))
    bounds.listing_page(WALK, entries(4, 5, 6))
    assert bounds.listing_page(WALK, entries(3, 1, 2)) == "repeated"
    assert stats.get_value("crawl/listing_walk_ended/repeated") == 1


def test_the_same_entries_in_another_listing_do_not_end_its_walk() -> None:
    bounds, _ = make_bounds()
    bounds.listing_page(WALK, entries(1, 2))
    assert bounds.listing_page(f"{BASE}/thong-bao", entries(1, 2)) is None


def test_fingerprint_ignores_order_and_repeats_but_not_content() -> None:
    assert entries_fingerprint(entries(1, 2)) == entries_fingerprint(entries(2, 1, 2))
    assert entries_fingerprint(entries(1, 2)) != entries_fingerprint(entries(1, 3))


def test_walk_admits_at_most_max_listing_pages_counting_its_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bounds, stats = make_bounds(max_listing_pages=3)
    caplog.set_level(logging.WARNING)
    admitted = [bounds.admit_listing_page(WALK, f"{WALK}?cur={n}") for n in range(2, 7)]
    assert admitted == [True, True, False, False, False]
    assert stats.get_value("limits/listing_pages") == 3
    warnings = [r.getMessage() for r in caplog.records if "MAX_LISTING_PAGES" in r.getMessage()]
    assert len(warnings) == 1
    assert f"{WALK}?cur=4" in warnings[0]


def test_each_walk_has_its_own_page_budget() -> None:
    bounds, _ = make_bounds(max_listing_pages=2)
    assert bounds.admit_listing_page(WALK, f"{WALK}?cur=2")
    assert not bounds.admit_listing_page(WALK, f"{WALK}?cur=3")
    assert bounds.admit_listing_page(f"{BASE}/thong-bao", f"{BASE}/thong-bao?cur=2")


# --- link depth and fan-out ---------------------------------------------------------------------


def test_links_within_depth_and_fan_out_are_all_admitted() -> None:
    bounds, stats = make_bounds(max_link_depth=2, max_links_per_page=3)
    links = [f"{BASE}/p{n}" for n in range(3)]
    assert bounds.admit_links(links, 2, BASE) == links
    assert stats.get_stats() == {}


def test_links_past_max_link_depth_are_held_back(caplog: pytest.LogCaptureFixture) -> None:
    bounds, stats = make_bounds(max_link_depth=2)
    caplog.set_level(logging.WARNING)
    assert bounds.admit_links([f"{BASE}/a", f"{BASE}/b"], 3, f"{BASE}/deep") == []
    assert bounds.admit_links([f"{BASE}/c"], 3, f"{BASE}/deeper") == []
    assert stats.get_value("limits/link_depth") == 3
    warnings = [r.getMessage() for r in caplog.records if "MAX_LINK_DEPTH" in r.getMessage()]
    assert len(warnings) == 1
    assert f"{BASE}/deep" in warnings[0]


def test_a_page_gives_at_most_max_links_per_page_in_page_order() -> None:
    bounds, stats = make_bounds(max_links_per_page=5)
    links = [f"{BASE}/muc-{n}" for n in range(2000)]
    assert bounds.admit_links(links, 1, f"{BASE}/danh-ba") == links[:5]
    assert stats.get_value("limits/links_per_page") == 1995


@pytest.mark.parametrize("name", ["MAX_LISTING_PAGES", "MAX_LINK_DEPTH", "MAX_LINKS_PER_PAGE"])
@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_a_bad_limit_setting_is_a_clear_error(name: str, value: str) -> None:
    settings = Settings({"MAX_LISTING_PAGES": 5, "MAX_LINK_DEPTH": 5, "MAX_LINKS_PER_PAGE": 5})
    settings.set(name, value)
    with pytest.raises(
        ConfigError, match=f"{name}='{value}' .*expected a whole number of at least 1"
    ):
        CrawlLimits.from_settings(settings)


# --- the spider's pager walk ------------------------------------------------------------------


def listing_html(entry_numbers: list[int], cur: int) -> str:
    items = "".join(
        f'<div class="asset-abstract"><h3 class="asset-title"><a href="/w/bai-{n}">Bài {n}</a>'
        "</h3></div>"
        for n in entry_numbers
    )
    pager = (
        '<ul class="lfr-pagination-buttons pager">'
        f'<li><a href="/tin-tuc?p_p_id=ap&_ap_cur={cur + 1}">Tiếp</a></li></ul>'
    )
    return f'<html><body><div class="portlet-asset-publisher">{items}{pager}</div></body></html>'


def make_spider(**settings: Any) -> HepzaSpider:
    defaults = {
        name: getattr(project, name)
        for name in ("SITE_TIMEZONE", "RECHECK_RECENT", *LIMIT_SETTINGS)
    }
    crawler = get_crawler(HepzaSpider, {**defaults, **settings})
    crawler.stats = MemoryStatsCollector(crawler)
    spider = HepzaSpider.from_crawler(crawler, base_url=BASE)
    # no sitemaps in these tests: navigation (and the listing walks) may start at once
    assert spider.frontier.start_navigation()
    return spider


def walk_requests(spider: HepzaSpider, url: str, entry_numbers: list[int]) -> list[Request]:
    cur = int(url.rsplit("=", 1)[1]) if "cur=" in url else 1
    response = HtmlResponse(url, body=listing_html(entry_numbers, cur).encode(), encoding="utf-8")
    walk = None if cur == 1 else f"{BASE}/tin-tuc"
    out = spider.parse_page(response, depth=1, walk=walk)
    return [r for r in out if isinstance(r, Request) and r.callback == spider.parse_page]


def test_spider_follows_the_next_page_of_a_page_with_new_entries() -> None:
    spider = make_spider()
    (request,) = walk_requests(spider, f"{BASE}/tin-tuc", [1, 2])
    assert "_ap_cur=2" in request.url
    assert request.cb_kwargs == {"depth": 1, "walk": f"{BASE}/tin-tuc"}


@pytest.mark.parametrize(("page_entries", "reason"), [([], "empty"), ([2, 1], "repeated")])
def test_spider_ends_the_walk_on_an_empty_or_repeated_page_that_offers_a_next(
    page_entries: list[int], reason: str
) -> None:
    spider = make_spider()
    walk_requests(spider, f"{BASE}/tin-tuc", [1, 2])
    url = f"{BASE}/tin-tuc?p_p_id=ap&_ap_cur=2"
    assert walk_requests(spider, url, page_entries) == []
    assert spider.crawler.stats is not None
    assert spider.crawler.stats.get_value(f"crawl/listing_walk_ended/{reason}") == 1


def test_spider_walk_stops_at_max_listing_pages() -> None:
    spider = make_spider(MAX_LISTING_PAGES=3)
    followed = walk_requests(spider, f"{BASE}/tin-tuc", [1])
    pages = 1
    while followed:
        (request,) = followed
        pages += 1
        followed = walk_requests(spider, request.url, [pages * 10, pages * 10 + 1])
    assert pages == 3
    assert spider.crawler.stats is not None
    assert spider.crawler.stats.get_value("limits/listing_pages") == 1


# --- run-wide caps ------------------------------------------------------------------------------


def make_run_limits(**settings: Any) -> RunLimits:
    crawler = get_crawler(DummySpider, settings)
    crawler.stats = MemoryStatsCollector(crawler)
    return RunLimits.from_crawler(crawler)


def test_run_limits_refuse_requests_past_max_requests_and_fail_the_run() -> None:
    middleware = make_run_limits(MAX_REQUESTS=3, MAX_RUN_SECONDS=0)
    for n in range(3):
        middleware.process_request(Request(f"{BASE}/p{n}"))
    for n in range(3, 5):
        with pytest.raises(RunLimitReached):
            middleware.process_request(Request(f"{BASE}/p{n}"))
    stats = middleware.crawler.stats
    assert stats is not None
    assert stats.get_value("limits/requests_refused") == 2
    assert stats.get_value("limits/run_limit") == "MAX_REQUESTS"
    (reason,) = recorded_failures(stats.get_stats())
    assert "MAX_REQUESTS (3 requests)" in reason


def test_run_time_cap_fails_the_run_naming_max_run_seconds() -> None:
    middleware = make_run_limits(MAX_REQUESTS=0, MAX_RUN_SECONDS=5)
    middleware._time_is_up()
    with pytest.raises(RunLimitReached):
        middleware.process_request(Request(f"{BASE}/late"))
    stats = middleware.crawler.stats
    assert stats is not None
    (reason,) = recorded_failures(stats.get_stats())
    assert "MAX_RUN_SECONDS (5 s)" in reason


def test_run_limits_off_when_both_caps_are_zero() -> None:
    with pytest.raises(NotConfigured):
        make_run_limits(MAX_REQUESTS=0, MAX_RUN_SECONDS=0)


@pytest.mark.parametrize("name", ["MAX_REQUESTS", "MAX_RUN_SECONDS"])
def test_a_bad_run_cap_is_a_clear_error(name: str) -> None:
    with pytest.raises(ConfigError, match=f"{name}='lots' is not .*expected .* of at least 0"):
        make_run_limits(**{"MAX_REQUESTS": 10, "MAX_RUN_SECONDS": 10, name: "lots"})


# --- a sitemap not read -------------------------------------------------------------------------


def _sitemap_failure(exc: Exception, *, closing: bool = False) -> str | None:
    return sitemap_failure(Failure(exc), closing=closing)


def _http_error(status: int) -> Exception:
    return HttpError(Response(f"{BASE}/sitemap.xml", status=status), "ignored")


def test_a_sitemap_the_portal_does_not_have_or_a_stopped_crawl_fails_nothing() -> None:
    assert _sitemap_failure(_http_error(404)) is None
    assert _sitemap_failure(_http_error(410)) is None
    assert _sitemap_failure(RunLimitReached("MAX_REQUESTS reached")) is None
    assert _sitemap_failure(DownloadCancelledError("stopping"), closing=True) is None


def test_a_sitemap_not_read_names_why() -> None:
    assert _sitemap_failure(_http_error(503)) == "HTTP 503"
    refused = DownloadCancelledError(
        "Expected to receive 76830 bytes which is larger than download max size (10000) in "
        f"request <GET {BASE}/sitemap.xml>."
    )
    assert _sitemap_failure(refused) == (
        "76,830 bytes, over the 10,000-byte limit: raise SITEMAP_MAXSIZE"
    )
    assert _sitemap_failure(DownloadCancelledError("cut")) == (
        "cut past SITEMAP_MAXSIZE: raise SITEMAP_MAXSIZE"
    )
    assert _sitemap_failure(TimeoutError("took too long")) == "TimeoutError: took too long"
