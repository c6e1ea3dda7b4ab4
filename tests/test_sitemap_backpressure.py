"""Reading a sitemap pauses while the scheduler holds more than SITEMAP_MAX_QUEUED requests
(crawler/crawl/backpressure.py), and never where pausing could keep the crawl from ending."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from scrapy import Request
from scrapy.http import XmlResponse
from scrapy.utils.test import get_crawler

from crawler.crawl.backpressure import engine_closing, queue_full, wait_for_queue_room
from crawler.crawl.crawl_state import CrawlState
from crawler.settings import EXTENSIONS
from crawler.spiders.hepza import HepzaSpider
from tests.crawl_runner import run_crawl
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig
from tests.test_limits_e2e import run_stats, stored_urls, truth_urls
from tests.unit_spider import sitemap_stage_spider

if TYPE_CHECKING:
    from pathlib import Path

ARTICLES = 300
PROBE = {**EXTENSIONS, "tests.queue_probe.QueueProbe": 900}


def _engine(
    queued: int | None,
    *,
    running: bool = True,
    closing: bool = False,
    scraper_full: bool = False,
) -> Any:
    scheduler = [None] * queued if queued is not None else object()
    return SimpleNamespace(
        running=running,
        _slot=SimpleNamespace(closing=object() if closing else None),
        scraper=SimpleNamespace(slot=SimpleNamespace(needs_backout=lambda: scraper_full)),
        scheduler=scheduler,
    )


def test_queue_is_full_only_above_the_limit() -> None:
    assert queue_full(_engine(11), 10)
    assert not queue_full(_engine(10), 10)


def test_queue_is_never_full_without_a_limit() -> None:
    assert not queue_full(_engine(5000), 0)


@pytest.mark.parametrize(
    "state",
    [{"running": False}, {"closing": True}, {"scraper_full": True}],
    ids=["engine stopped", "engine closing", "scraper over its active size"],
)
def test_a_full_queue_is_not_waited_on_when_waiting_could_keep_the_crawl_from_ending(
    state: dict[str, bool],
) -> None:
    assert not queue_full(_engine(5000, **state), 10)


def test_a_scheduler_without_a_length_is_not_waited_on() -> None:
    assert not queue_full(_engine(None), 10)


@pytest.mark.parametrize(
    ("state", "closing"),
    [({}, False), ({"running": False}, True), ({"closing": True}, True)],
    ids=["crawling", "engine stopped", "spider closing"],
)
def test_the_engine_is_closing_once_stopped_or_closing_its_spider(
    state: dict[str, bool], closing: bool
) -> None:
    assert engine_closing(_engine(0, **state)) is closing


def test_no_engine_is_not_a_closing_one() -> None:
    assert not engine_closing(None)


SITEMAP_URL = "http://127.0.0.1:8000/sitemap.xml"


def _sitemap_response(entries: int) -> XmlResponse:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<url><loc>http://127.0.0.1:8000/w/a{i}</loc></url>" for i in range(entries))
        + "</urlset>"
    ).encode()
    return XmlResponse(SITEMAP_URL, body=body, request=Request(SITEMAP_URL))


def _read(spider: HepzaSpider, response: XmlResponse, close_after: int | None) -> list[Any]:
    """What read_sitemap yields; the engine starts closing its spider after ``close_after``
    outputs (never with None)."""
    engine = _engine(0)
    spider.crawler.engine = engine

    async def read() -> list[Any]:
        out = []
        async for output in spider.read_sitemap(response):
            out.append(output)
            if close_after is not None and len(out) >= close_after:
                engine._slot.closing = object()
        return out

    return asyncio.run(read())


def test_a_sitemap_is_read_whole_while_the_crawl_runs() -> None:
    spider = sitemap_stage_spider("http://127.0.0.1:8000", CrawlState())
    requests = [o for o in _read(spider, _sitemap_response(300), None) if isinstance(o, Request)]
    assert len([r for r in requests if "/w/a" in r.url]) == 300


def test_a_closing_crawl_stops_reading_its_sitemap() -> None:
    # SIGTERM, MAX_RUN_SECONDS or a CloseSpider: what the sitemap still lists is not queued.
    spider = sitemap_stage_spider("http://127.0.0.1:8000", CrawlState())
    outputs = _read(spider, _sitemap_response(300), close_after=20)
    assert len(outputs) == 20
    assert spider.crawler.stats.get_value("crawl/sitemaps_stopped") == 1


def test_waiting_ends_when_the_queue_drains() -> None:
    engine = _engine(50)

    async def drain() -> float:
        async def take() -> None:
            while engine.scheduler:
                await asyncio.sleep(0.01)
                engine.scheduler.pop()

        taking = asyncio.ensure_future(take())
        waited = await wait_for_queue_room(engine, 10)
        remaining = len(engine.scheduler)
        await taking
        assert remaining <= 10
        return waited

    assert asyncio.run(drain()) > 0


def _spider(settings: dict[str, str]) -> HepzaSpider:
    limits = {"MAX_LISTING_PAGES": "10", "MAX_LINK_DEPTH": "10", "MAX_LINKS_PER_PAGE": "10"}
    crawler = get_crawler(
        HepzaSpider, settings_dict={**limits, "SITEMAP_MAX_QUEUED": "50", **settings}
    )
    return HepzaSpider.from_crawler(crawler, base_url="http://127.0.0.1:8000")


def test_a_crawl_pauses_its_sitemaps_at_the_limit_set() -> None:
    assert _spider({}).sitemap_max_queued == 50


@pytest.mark.redis
def test_a_cluster_worker_never_pauses_its_sitemaps(redis_url: str) -> None:
    # its queue is in Redis, not in its memory
    spider = _spider(
        {
            "CLUSTER_REDIS_URL": redis_url,
            "CLUSTER_CRAWL_ID": "c1",
            "ADDONS": {"crawler.cluster.addon.ClusterAddon": 0},
        }
    )
    assert spider.sitemap_max_queued == 0


def _crawl(tmp_path: Path, limit: int) -> tuple[Any, dict[str, Any], list[str]]:
    config = ReplicaConfig(articles=ARTICLES)
    with ReplicaServer(config) as server:
        result = run_crawl(
            server.url,
            tmp_path,
            settings={"SITEMAP_MAX_QUEUED": str(limit), "EXTENSIONS": json.dumps(PROBE)},
            timeout=300,
        )
        truth = truth_urls(config, server.url)
    return result, run_stats(result), truth


@pytest.mark.e2e
def test_a_crawl_with_a_queue_limit_holds_few_requests_and_stores_every_article(
    tmp_path: Path,
) -> None:
    limit = 40
    result, stats, truth = _crawl(tmp_path, limit)
    assert result.returncode == 0, result.log[-3000:]
    assert stored_urls(result) == truth
    assert stats["crawl/sitemap_paused_ms"] > 0
    # the limit, plus what each sitemap's callback yielded before it looked again (Scrapy
    # takes up to CONCURRENT_ITEMS outputs at once) and what other callbacks queued meanwhile;
    # without a limit, most of the sitemap waits at once (the test below)
    assert stats["probe/max_queued"] <= 2 * limit


@pytest.mark.e2e
def test_a_crawl_without_a_queue_limit_queues_the_sitemap_at_once(tmp_path: Path) -> None:
    result, stats, truth = _crawl(tmp_path, 0)
    assert result.returncode == 0, result.log[-3000:]
    assert stored_urls(result) == truth
    assert "crawl/sitemap_paused_ms" not in stats
    assert stats["probe/max_queued"] > ARTICLES // 2
