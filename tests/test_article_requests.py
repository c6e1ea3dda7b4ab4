"""What a queued article request carries, and that its page makes the same record without it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from scrapy import Request
from scrapy.http import HtmlResponse, XmlResponse
from scrapy.utils.request import request_from_dict

from crawler.crawl.crawl_state import CrawlState
from crawler.domain.items import ArticleItem, ListingHint
from crawler.spiders.hepza import HepzaSpider
from tests.unit_spider import sitemap_stage_spider

HOST = "http://127.0.0.1:8000"
PAGE = (Path(__file__).parent / "fixtures" / "pages" / "article-cldr20-vi.html").read_bytes()
LASTMOD = "2024-06-01T00:00:00+0000"


def _spider() -> HepzaSpider:
    return sitemap_stage_spider(HOST, CrawlState(known={}))


def _sitemap_request(spider: HepzaSpider, slug: str) -> Request:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{HOST}/w/{slug}</loc><lastmod>{LASTMOD}</lastmod></url></urlset>"
    )
    response = XmlResponse(f"{HOST}/sitemap.xml", body=body.encode())
    (request,) = [
        out
        for out in spider.parse_sitemap(response)
        if isinstance(out, Request) and out.callback == spider.parse_article
    ]
    return request


def _record(spider: HepzaSpider, response: HtmlResponse, **cb_kwargs: Any) -> dict[str, Any]:
    (item,) = [
        out for out in spider.parse_article(response, **cb_kwargs) if isinstance(out, ArticleItem)
    ]
    return asdict(item)


def test_a_sitemap_article_request_carries_no_cb_kwargs_and_survives_a_jobdir() -> None:
    spider = _spider()
    request = _sitemap_request(spider, "moi")
    assert request.url == f"{HOST}/w/moi"
    assert request._cb_kwargs is None
    restored = request_from_dict(request.to_dict(spider=spider), spider=spider)
    assert (restored.url, restored.callback, restored.cb_kwargs) == (
        request.url,
        spider.parse_article,
        {},
    )


def test_its_page_makes_the_record_the_explicit_key_and_met_url_made() -> None:
    derived, explicit = _spider(), _spider()
    request = _sitemap_request(derived, "moi")
    _sitemap_request(explicit, "moi")
    response = HtmlResponse(request.url, body=PAGE, request=request)
    record = _record(derived, response)
    assert record == _record(explicit, response, key=request.url, met_url=request.url)
    assert record["date_candidates"][-1]["raw"] == LASTMOD  # the lastmod found by its key


def test_after_a_redirect_the_first_url_requested_is_its_key_and_a_url_met() -> None:
    derived, explicit = _spider(), _spider()
    request = _sitemap_request(derived, "moi")
    _sitemap_request(explicit, "moi")
    moved = request.replace(url=f"{HOST}/w/moi-2")
    moved.meta["redirect_urls"] = [request.url]
    response = HtmlResponse(moved.url, body=PAGE, request=moved)
    record = _record(derived, response)
    assert record == _record(explicit, response, key=request.url, met_url=request.url)
    assert {request.url, moved.url} <= set(record["alternate_urls"])
    assert record["date_candidates"][-1]["raw"] == LASTMOD


def test_an_article_request_with_a_listing_hint_or_another_met_url_keeps_them() -> None:
    spider = _spider()
    url = f"{HOST}/w/moi"
    hint = ListingHint(name="Tin tức")
    assert spider._article_request(url, url, hint).cb_kwargs == {
        "key": url,
        "hint": hint,
        "via_preferred": False,
        "met_url": url,
    }
    followed = spider._article_request(url, url, via_preferred=True, met_url=f"{HOST}/en/w/moi")
    assert followed.cb_kwargs["met_url"] == f"{HOST}/en/w/moi"
    assert followed.cb_kwargs["via_preferred"] is True
