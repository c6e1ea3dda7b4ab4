"""A worker killed between deciding and enqueueing loses nothing: a callback run again for a
lease put back in the queue (crawler/cluster/queue.py marks it) requests what the first run
decided, and the cluster's duplicate filter drops what did reach the queue."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from scrapy import Request, Spider
from scrapy.http import HtmlResponse, Response, TextResponse
from scrapy.utils.test import get_crawler
from scrapy_redis.dupefilter import RFPDupeFilter

from crawler.cluster import REDELIVERED_META
from crawler.cluster.connection import redis_client
from crawler.cluster.crawl import ClusterCrawl
from crawler.cluster.frontier_state import RedisFrontierState
from crawler.cluster.host_limit import ClusterHostLimitMiddleware
from crawler.cluster.queue import LEASE_META, LeaseQueue
from crawler.crawl.crawl_state import CrawlState
from crawler.crawl.frontier import ALIAS, FETCH, HELD, IGNORE, Frontier
from crawler.crawl.redelivery import redelivery
from crawler.domain.items import ArticleItem
from crawler.setup.fingerprint import source_fingerprint
from tests.test_frontier_cluster import HOST, PREFIX, worker
from tests.test_sitemap_decisions import HOST as SITEMAP_HOST
from tests.test_sitemap_decisions import _pair, _sitemap
from tests.unit_spider import sitemap_stage_spider

if TYPE_CHECKING:
    import redis

    from crawler.spiders.hepza import HepzaSpider

pytestmark = pytest.mark.redis

ARTICLES = [f"{SITEMAP_HOST}/w/tin-{i}" for i in range(5)]
SITEMAPS = [f"{SITEMAP_HOST}/sitemap.xml", f"{SITEMAP_HOST}/sitemap-news.xml"]


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis_client(redis_url, retry_seconds=1)


def cluster_spider(
    client: redis.Redis,
    pending: tuple[str, ...] = (f"{SITEMAP_HOST}/sitemap.xml",),
    stored: CrawlState | None = None,
    host: str = SITEMAP_HOST,
) -> HepzaSpider:
    """One worker's spider of the site, its frontier in Redis, ``pending``: the sitemaps
    requested before."""
    spider = sitemap_stage_spider(host, CrawlState())
    spider.frontier = Frontier(spider.origin, spider.tz, state=RedisFrontierState(client, PREFIX))
    spider.frontier.use_index(stored or CrawlState())
    for url in pending:
        spider.frontier.sitemap_requested(url)
    return spider


def redelivered_as(response: Response, url: str, *, redelivered: bool) -> Response:
    meta = {REDELIVERED_META: True} if redelivered else {}
    return response.replace(url=url, request=Request(url, meta=meta))


def requested(outputs: list[Any]) -> list[str]:
    return [out.url for out in outputs if isinstance(out, Request)]


def sitemap_response(*, redelivered: bool) -> Response:
    response = _sitemap(
        *(_pair(url.rsplit("/", 1)[1], "2024-06-01T00:00:00+0000") for url in ARTICLES)
    )
    meta = {REDELIVERED_META: True} if redelivered else {}
    return response.replace(request=Request(response.url, meta=meta))


def article_requests(spider: HepzaSpider, outputs: list[Any]) -> list[str]:
    return sorted(
        out.url
        for out in outputs
        if isinstance(out, Request) and out.callback == spider.parse_article
    )


def test_a_sitemap_read_again_after_its_output_was_lost_requests_every_article(
    client: redis.Redis,
) -> None:
    killed = cluster_spider(client)
    # The killed worker's callback decided every article; its requests never reached the queue.
    assert (
        article_requests(killed, list(killed.parse_sitemap(sitemap_response(redelivered=False))))
        == ARTICLES
    )
    other = cluster_spider(client)
    # The cause: the same callback run again, unmarked, meets every URL as met before.
    assert (
        article_requests(other, list(other.parse_sitemap(sitemap_response(redelivered=False))))
        == []
    )
    again = list(other.parse_sitemap(sitemap_response(redelivered=True)))
    assert article_requests(other, again) == ARTICLES


def test_sitemaps_requested_by_a_killed_worker_and_again_start_navigation_once_read(
    client: redis.Redis,
) -> None:
    robots = TextResponse(
        f"{SITEMAP_HOST}/robots.txt", body="".join(f"Sitemap: {u}\n" for u in SITEMAPS).encode()
    )
    killed = cluster_spider(client, pending=())
    # Its sitemap requests never reached the queue: the pending ones, counted, are never read.
    assert requested(list(killed.parse_robots(robots))) == SITEMAPS
    other = cluster_spider(client, pending=())
    again = redelivered_as(robots, robots.url, redelivered=True)
    assert requested(list(other.parse_robots(again))) == SITEMAPS
    news = _sitemap(_pair("tin-news", "2024-06-01T00:00:00+0000"))
    list(other.parse_sitemap(redelivered_as(news, SITEMAPS[1], redelivered=False)))
    assert not other.frontier.navigation_started
    last = list(other.parse_sitemap(sitemap_response(redelivered=False)))
    assert other.frontier.navigation_started
    assert other.home_url in requested(last)


def test_a_page_deferred_before_a_killed_worker_started_navigation_is_requested_again(
    client: redis.Redis,
) -> None:
    page = f"{SITEMAP_HOST}/tin-tuc"
    pages = _sitemap(f"<url><loc>{page}</loc></url>")
    first = cluster_spider(client, pending=tuple(SITEMAPS))
    # Another sitemap's page waits for navigation, on another worker (its output kept).
    assert (
        requested(list(first.parse_sitemap(redelivered_as(pages, SITEMAPS[1], redelivered=False))))
        == []
    )
    killed = cluster_spider(client)
    assert page in requested(list(killed.parse_sitemap(sitemap_response(redelivered=False))))
    other = cluster_spider(client)
    assert page in requested(list(other.parse_sitemap(sitemap_response(redelivered=True))))


def test_rechecks_scheduled_by_a_killed_worker_are_requested_again(client: redis.Redis) -> None:
    recent = [f"{SITEMAP_HOST}/w/cu-1", f"{SITEMAP_HOST}/w/cu-2"]
    stored = CrawlState(recent_urls=recent)
    killed = cluster_spider(client, stored=stored)
    killed.recheck_recent = 2
    lost = article_requests(killed, list(killed.parse_sitemap(sitemap_response(redelivered=False))))
    assert set(recent) <= set(lost)
    other = cluster_spider(client, stored=stored)
    other.recheck_recent = 2
    again = article_requests(other, list(other.parse_sitemap(sitemap_response(redelivered=True))))
    assert set(recent) <= set(again)


ARTICLE_HOST = "http://127.0.0.1:8000"
ARTICLE_PAGE = (
    Path(__file__).parent / "fixtures" / "pages" / "article-cldr20-vi.html"
).read_bytes()


def test_an_alias_held_for_an_article_a_killed_worker_parsed_is_in_its_record_parsed_again(
    client: redis.Redis,
) -> None:
    url, alias = f"{ARTICLE_HOST}/w/moi", f"{ARTICLE_HOST}/en/w/moi"
    killed = cluster_spider(client, host=ARTICLE_HOST)
    assert killed.frontier.article(url).action == FETCH
    assert killed.frontier.article(alias).action == HELD
    request = Request(url, callback=killed.parse_article)

    def record(spider: HepzaSpider, request: Request) -> dict[str, Any]:
        response = HtmlResponse(url, body=ARTICLE_PAGE, request=request)
        (item,) = [out for out in spider.parse_article(response) if isinstance(out, ArticleItem)]
        return asdict(item)

    # Its record never reached the database.
    assert alias in record(killed, request)["alternate_urls"]
    other = cluster_spider(client, host=ARTICLE_HOST)
    assert alias not in record(other, request)["alternate_urls"]  # the cause: handed over once
    again = request.replace(meta={REDELIVERED_META: True})
    assert alias in record(other, again)["alternate_urls"]


def test_an_article_met_again_is_fetched_again_only_while_its_page_is_not_parsed(
    client: redis.Redis,
) -> None:
    one, two = worker(client), worker(client)
    key = f"{HOST}/w/tin-a"
    assert one.article(key).action == FETCH
    assert two.article(key).action == IGNORE
    with redelivery():
        assert two.article(key).action == FETCH
    two.parsed(key)
    with redelivery():
        assert two.article(key).action == IGNORE
    # another URL of the parsed article: its alias recorded again (storage keeps one)
    one.article(f"{HOST}/en/w/tin-a")
    with redelivery():
        assert two.article(f"{HOST}/en/w/tin-a").action == ALIAS


def test_a_page_met_again_is_requested_again(client: redis.Redis) -> None:
    one, two = worker(client), worker(client)
    assert one.page(f"{HOST}/tin-tuc").action == FETCH
    assert two.page(f"{HOST}/tin-tuc").action == IGNORE
    with redelivery():
        assert two.is_new_page(f"{HOST}/tin-tuc")
    with redelivery():
        assert two.page(f"{HOST}/tin-tuc").action == FETCH


class QueueSpider(Spider):
    name = "redelivery-test"


def test_a_reaped_lease_comes_back_marked_redelivered_and_a_fresh_request_does_not(
    client: redis.Redis,
) -> None:
    crawl = ClusterCrawl.create(
        client, "test", sites=["alpha"], args={}, fingerprint=source_fingerprint(), database="x"
    )
    queue = LeaseQueue(client, QueueSpider(), crawl.site_keys("alpha"), 0, owner="host-1")
    queue.push(Request("http://a.test/page", priority=5))
    first = queue.pop()
    assert first is not None and REDELIVERED_META not in first.meta
    assert first.meta[LEASE_META].startswith("host-1/")  # who holds it
    assert queue.reap() == 1
    again = queue.pop()
    assert again is not None and again.meta[REDELIVERED_META] is True
    assert (again.url, again.priority) == ("http://a.test/page", 5)
    assert again.meta[LEASE_META] != first.meta[LEASE_META]


def test_the_duplicate_filter_add_and_the_queue_push_are_one_step(client: redis.Redis) -> None:
    crawl = ClusterCrawl.create(
        client, "test", sites=["alpha"], args={}, fingerprint=source_fingerprint(), database="x"
    )
    keys = crawl.site_keys("alpha")
    queue = LeaseQueue(client, QueueSpider(), keys, 60)
    fingerprint = RFPDupeFilter(client, keys.dupefilter).request_fingerprint(
        Request("http://a.test/page")
    )
    assert queue.push_unseen(Request("http://a.test/page"), fingerprint)
    assert client.sismember(keys.dupefilter, fingerprint) and len(queue) == 1
    assert not queue.push_unseen(Request("http://a.test/page"), fingerprint)
    assert len(queue) == 1
    # dont_filter: no fingerprint, pushed even when its page is in the filter
    assert queue.push_unseen(Request("http://a.test/page", dont_filter=True), None)
    assert len(queue) == 2 and client.scard(keys.dupefilter) == 1


def test_seeds_claimed_by_a_worker_killed_before_enqueueing_them_are_claimed_again(
    client: redis.Redis,
) -> None:
    crawl = ClusterCrawl.create(
        client, "test", sites=["alpha"], args={}, fingerprint=source_fingerprint(), database="x"
    )
    assert crawl.claim_seeds("alpha", "killed", claim_seconds=0.2)
    assert not crawl.claim_seeds("alpha", "other", claim_seconds=0.2)
    assert crawl.site_has_work("alpha") and not crawl.seeds_are_enqueued("alpha")
    # the claimer never enqueues them: its claim expires, another worker claims the seeds
    deadline = time.monotonic() + 10
    while not crawl.claim_seeds("alpha", "other", claim_seconds=60):
        assert time.monotonic() < deadline, "the killed worker's claim never expired"
        time.sleep(0.05)
    crawl.seeds_enqueued("alpha")
    assert crawl.seeds_are_enqueued("alpha")
    assert client.ttl(crawl.site_keys("alpha").seeded) == -1  # enqueued: kept for the crawl
    assert not crawl.claim_seeds("alpha", "third", claim_seconds=0.2)


def test_a_held_host_slot_renewed_by_its_worker_outlives_its_lease_and_a_killed_one_s_frees(
    redis_url: str,
) -> None:
    live = host_limit_middleware(redis_url)
    killed = host_limit_middleware(redis_url)
    host = "portal.example.gov.vn"
    running, orphan = Request(f"http://{host}/w/a"), Request(f"http://{host}/w/b")
    asyncio.run(live.process_request(running))
    asyncio.run(killed.process_request(orphan))
    assert live.limiter.in_flight(host) == 2
    # the killed worker renews nothing; the live one renews its slot while its request runs
    deadline = time.monotonic() + 2 * live.slot_seconds + 10
    while live.limiter.in_flight(host) == 2:
        assert time.monotonic() < deadline, "the killed worker's slot never came back"
        live.renew_held()
        time.sleep(0.1)
    live.renew_held()
    assert live.limiter.in_flight(host) == 1
    live.process_response(running, Response(running.url, request=running))
    assert live.limiter.in_flight(host) == 0
    assert live.crawler.stats is not None
    assert live.crawler.stats.get_value("cluster/host_lease_expired") is None


def host_limit_middleware(redis_url: str) -> ClusterHostLimitMiddleware:
    crawler = get_crawler(
        settings_dict={
            "CLUSTER_REDIS_URL": redis_url,
            "CLUSTER_HOST_DELAY": "0",
            "CLUSTER_HOST_CONCURRENCY": "2",
            "CLUSTER_HOST_SLOT_SECONDS": "1",
        }
    )
    crawler.stats.open_spider()  # type: ignore[union-attr]
    return ClusterHostLimitMiddleware.from_crawler(crawler)
