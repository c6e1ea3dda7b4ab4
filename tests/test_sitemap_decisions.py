"""The spider's reading of a sitemap on a re-run: what it requests, skips and counts."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future, InvalidStateError
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from scrapy import Request
from scrapy.http import XmlResponse

from crawler.crawl.crawl_state import CrawlState
from crawler.domain.items import ArticleUrlItem
from crawler.domain.urls import article_id
from crawler.spiders.hepza import HepzaSpider
from pipelines.storage.store import KnownArticle
from tests.unit_spider import sitemap_stage_spider

HOST = "http://127.0.0.1:8000"
STORED_AT = datetime(2024, 5, 2, 2, 15, 30, tzinfo=UTC)


def _pair(slug: str, lastmod: str) -> str:
    """One <url> per locale, each repeating the same alternates (as Liferay writes them)."""
    vi, en = f"{HOST}/w/{slug}", f"{HOST}/en/w/{slug}"
    links = (
        f'<xhtml:link href="{en}" hreflang="en-US" rel="alternate"/>'
        f'<xhtml:link href="{vi}" hreflang="vi-VN" rel="alternate"/>'
        f'<xhtml:link href="{vi}" hreflang="x-default" rel="alternate"/>'
    )
    return "".join(
        f"<url><loc>{loc}</loc><lastmod>{lastmod}</lastmod>{links}</url>" for loc in (en, vi)
    )


def _sitemap(*pairs: str) -> XmlResponse:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/'
        'sitemap/0.9" xmlns:xhtml="http://www.w3.org/1999/xhtml">' + "".join(pairs) + "</urlset>"
    )
    return XmlResponse(f"{HOST}/sitemap.xml", body=body.encode())


def _spider(*stored: tuple[str, list[str]]) -> HepzaSpider:
    known: dict[str, KnownArticle] = {}
    for url, aliases in stored:
        article = KnownArticle(article_id(url), url, STORED_AT, STORED_AT)
        for met in (url, *aliases):
            known[met] = article
    state = CrawlState(known=known, recent_urls=[u for u, _ in stored])
    return sitemap_stage_spider(HOST, state)


def _article_outputs(spider: HepzaSpider, response: XmlResponse) -> list[Any]:
    return [
        out
        for out in spider.parse_sitemap(response)
        if isinstance(out, ArticleUrlItem)
        or (isinstance(out, Request) and out.callback == spider.parse_article)
    ]


def test_a_stored_article_listed_in_two_locales_is_skipped_under_each_url_once() -> None:
    vi, en = f"{HOST}/w/cu", f"{HOST}/en/w/cu"
    spider = _spider((vi, [en]))
    outputs = _article_outputs(spider, _sitemap(_pair("cu", "2024-05-02T02:15:30+0000")))
    assert outputs == []
    assert spider.crawler.stats.get_value("crawl/skipped_known") == 2


def test_an_alias_the_database_lacks_is_recorded_once_for_a_stored_article() -> None:
    spider = _spider((f"{HOST}/w/cu", []))
    outputs = _article_outputs(spider, _sitemap(_pair("cu", "2024-05-02T02:15:30+0000")))
    assert [(o.url, o.canonical_url) for o in outputs] == [(f"{HOST}/en/w/cu", f"{HOST}/w/cu")]
    assert spider.crawler.stats.get_value("crawl/skipped_known") == 2


def test_new_and_edited_articles_are_requested_once_under_their_default_locale_page() -> None:
    spider = _spider((f"{HOST}/w/cu", [f"{HOST}/en/w/cu"]))
    response = _sitemap(
        _pair("moi", "2024-06-01T00:00:00+0000"), _pair("cu", "2024-06-01T00:00:00+0000")
    )
    outputs = _article_outputs(spider, response)
    assert [o.url for o in outputs] == [f"{HOST}/w/moi", f"{HOST}/w/cu"]
    assert spider.crawler.stats.get_value("crawl/skipped_known") is None
    assert spider.frontier.lastmod(f"{HOST}/w/cu") == "2024-06-01T00:00:00+0000"


def test_a_sitemap_callback_waits_for_an_index_still_being_read_without_blocking() -> None:
    spider = _spider()
    # No crawl runs here: an engine that is not running has no queue to wait on.
    spider.crawler.engine = SimpleNamespace(running=False)  # type: ignore[assignment]
    reading: Future[CrawlState] = Future()
    spider.frontier.use_index(reading)
    read = CrawlState(known={}, recent_urls=[])

    def finish_read() -> None:
        with contextlib.suppress(InvalidStateError):
            reading.set_result(read)

    # Were the callback to block on the read, this ends it (and the test fails, not hangs).
    safety = threading.Timer(5, finish_read)
    safety.start()
    response = _sitemap(_pair("moi", "2024-06-01T00:00:00+0000"))
    requests = spider._sitemap_requests([f"{HOST}/sitemap.xml"])
    callback = next(iter(requests)).callback
    assert callback == spider.read_sitemap

    async def read_while_waiting() -> tuple[list[Any], bool]:
        outputs: list[Any] = []

        async def consume() -> None:
            outputs.extend([out async for out in callback(response)])

        task = asyncio.create_task(consume())
        # The loop keeps running (other responses arrive) while the callback waits.
        await asyncio.sleep(0.01)
        waited = not task.done() and outputs == []
        finish_read()
        await task
        return outputs, waited

    outputs, waited = asyncio.run(read_while_waiting())
    safety.cancel()
    assert waited
    articles = [o for o in outputs if isinstance(o, Request) and o.callback == spider.parse_article]
    assert [o.url for o in articles] == [f"{HOST}/w/moi"]
