"""Few round trips to Redis (issue 24): leases taken in batches, a callback's requests and the
leases done sent in one step, a sitemap's articles decided in one step, state freed once the
output that needed it is safe, a finished crawl's keys expiring."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from scrapy import Request
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.test import get_crawler
from scrapy_redis.dupefilter import RFPDupeFilter

from crawler.cluster import scheduler as scheduler_module
from crawler.cluster.crawl import ClusterCrawl
from crawler.cluster.queue import LEASE_META, PUSH_BATCH, LeaseQueue
from crawler.cluster.scheduler import ClusterScheduler
from crawler.crawl.frontier import FETCH, Frontier, MemoryFrontierState
from crawler.crawl.redelivery import RELEASE_META, per_response, release_when_done
from crawler.setup.fingerprint import source_fingerprint
from tests.test_cluster_queue import QueueSpider
from tests.test_frontier_cluster import HOST, PREFIX, TZ, urls_of, worker

pytestmark = pytest.mark.redis


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def crawl(client: redis.Redis) -> ClusterCrawl:
    return ClusterCrawl.create(
        client, "test", sites=["alpha"], args={}, fingerprint=source_fingerprint(), database="x"
    )


def commands(client: redis.Redis) -> int:
    return int(client.info("stats")["total_commands_processed"])


def test_a_worker_leases_a_batch_of_requests_in_one_step_in_priority_order(
    client: redis.Redis, crawl: ClusterCrawl
) -> None:
    keys = crawl.site_keys("alpha")
    queue = LeaseQueue(client, QueueSpider(), keys, 60, owner="host-1", batch=3)
    for n, priority in enumerate((0, 30, 10, 20)):
        queue.push(Request(f"http://a.test/{n}", priority=priority))
    first = queue.pop()
    assert first is not None and first.url == "http://a.test/1"
    # three leased at once; two of them wait in the worker, leased to it
    assert client.zcard(keys.leases) == 3 and client.zcard(keys.queue) == 1
    assert len(queue.buffered_tokens) == 2 and len(queue) == 3
    assert all(t.startswith("host-1/") for t in [first.meta[LEASE_META], *queue.buffered_tokens])
    # given back when the worker stops: in the queue again, not leased
    assert queue.release_buffered() == 2
    assert client.zcard(keys.leases) == 1 and client.zcard(keys.queue) == 3
    urls = [r.url for r in iter(queue.pop, None)]
    assert urls == ["http://a.test/3", "http://a.test/2", "http://a.test/0"]


def test_pushes_acks_and_freed_state_are_one_step_dropping_every_duplicate(
    client: redis.Redis, crawl: ClusterCrawl
) -> None:
    keys = crawl.site_keys("alpha")
    queue = LeaseQueue(client, QueueSpider(), keys, 60)
    queue.push(Request("http://a.test/leased"))
    leased = queue.pop()
    assert leased is not None
    client.sadd(keys.dupefilter, b"old")
    client.hset("test:held", mapping={b"d1": "u1", b"d2": "u2"})
    client.rpush("test:taken", "x")
    queue.push_and_ack([], [], [("test:none", None)])  # the script loaded: not counted below
    before = commands(client)
    pushed = queue.push_and_ack(
        [
            (Request("http://a.test/old"), b"old"),  # in the filter already
            (Request("http://a.test/new"), b"new"),
            (Request("http://a.test/new"), b"new"),  # twice in one batch
            (Request("http://a.test/home", dont_filter=True), None),
        ],
        [leased.meta[LEASE_META]],
        [("test:held", b"d1"), ("test:taken", None)],
    )
    assert commands(client) - before <= 10  # one step, a few commands for the whole batch
    assert pushed == [False, True, False, True]
    assert client.smembers(keys.dupefilter) == {b"old", b"new"}
    assert client.zcard(keys.queue) == 2
    assert client.zcard(keys.leases) == 0 and client.hlen(keys.leased) == 0
    assert client.hgetall("test:held") == {b"d2": b"u2"} and not client.exists("test:taken")


def test_a_sitemap_s_thousand_requests_go_in_steps_with_the_leases_acknowledged_last(
    client: redis.Redis, crawl: ClusterCrawl, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = crawl.site_keys("alpha")
    queue = LeaseQueue(client, QueueSpider(), keys, 60)
    queue.push(Request("http://a.test/sitemap.xml"))
    leased = queue.pop()
    assert leased is not None
    steps: list[tuple[int, int]] = []
    step = queue._push_step

    def counted(requests: list, tokens: list[str], release: object) -> list[bool]:
        steps.append((len(requests), len(tokens)))
        return step(requests, tokens, release)  # type: ignore[arg-type]

    monkeypatch.setattr(queue, "_push_step", counted)
    requests = [(Request(f"http://a.test/w/{n}"), f"fp{n}".encode()) for n in range(1000)]
    requests.append((Request("http://a.test/w/0"), b"fp0"))  # a duplicate across steps
    pushed = queue.push_and_ack(requests, [leased.meta[LEASE_META]])
    assert steps == [(PUSH_BATCH, 0)] * (1000 // PUSH_BATCH) + [(1, 1)]
    assert pushed == [True] * 1000 + [False]
    assert client.zcard(keys.queue) == 1000
    assert client.zcard(keys.leases) == 0 and client.hlen(keys.leased) == 0


def test_a_sitemap_s_articles_decided_in_one_step_are_decided_as_one_by_one(
    client: redis.Redis,
) -> None:
    met: list[tuple[str, str | None]] = []
    for n in range(40):
        for url in urls_of(f"tin-{n}")[:2]:
            met.append((url, f"2024-01-{n % 28 + 1:02d}T10:00:00+07:00"))
    met += [(f"{HOST}/w/tin-3", None), ("https://elsewhere.example/w/x", None)]
    alone = Frontier(HOST, TZ, state=MemoryFrontierState())
    expected = [alone.article(url, lastmod=lastmod) for url, lastmod in met]
    one, other = worker(client), worker(client)
    other.articles([(f"{HOST}/w/loaded", None)])  # the script loaded: not counted below
    before = commands(client)
    for url, lastmod in met[:-2]:  # as the spider does, each entry's lastmod noted first
        one.note_lastmod(one.key(url), str(lastmod))
    decided = one.articles(met)
    assert commands(client) - before <= 15  # about a dozen for the whole batch, not per URL
    assert decided == expected
    assert [d.action for d in decided[:2]] == [FETCH, "held"]
    # another worker meets them after: every one already decided
    assert {d.action for d in other.articles(met[:4])} == {"ignore"}
    assert one.lastmod(alone.key(f"{HOST}/w/tin-5")) == "2024-01-06T10:00:00+07:00"


def test_state_kept_for_a_callback_run_again_is_named_in_its_request_once_it_ran() -> None:
    class Spider:
        @per_response
        def parse(self, response: Any) -> Iterator[int]:
            release_when_done("held", b"digest")
            yield 1
            release_when_done("taken")

    request = Request("http://a.test/1")

    class Answer:
        pass

    answer = Answer()
    answer.request = request  # type: ignore[attr-defined]
    assert list(Spider().parse(answer)) == [1]
    assert request.meta[RELEASE_META] == [("held", b"digest"), ("taken", None)]
    release_when_done("outside")  # outside a callback: nothing, nowhere
    assert request.meta[RELEASE_META] == [("held", b"digest"), ("taken", None)]


def test_a_parsed_article_s_held_urls_and_lastmod_are_freed_with_the_parse_s_lease(
    client: redis.Redis, crawl: ClusterCrawl
) -> None:
    one = worker(client)
    key = one.key(urls_of("tin-a")[0])
    one.note_lastmod(key, "2024-01-02T10:00:00+07:00")
    assert [d.action for d in one.articles([(u, None) for u in urls_of("tin-a")[:2]])] == [
        FETCH,
        "held",
    ]
    request = Request(urls_of("tin-a")[0])

    class Answer:
        pass

    answer = Answer()
    answer.request = request  # type: ignore[attr-defined]

    @per_response
    def parse(_: Any, response: Any) -> list[str]:
        return one.parsed(key)

    assert parse(None, answer) == [urls_of("tin-a")[1]]
    # the held URL and the lastmod, two fields of one hash (read and freed together)
    assert client.hlen(f"{PREFIX}:held") == 2 and not client.exists(f"{PREFIX}:lastmod")
    queue = LeaseQueue(client, QueueSpider(), crawl.site_keys("alpha"), 60)
    queue.push_and_ack([], [], request.meta[RELEASE_META])
    assert client.hlen(f"{PREFIX}:held") == 0
    # the article stays parsed: another URL of it met now is an alias
    assert one.articles([(urls_of("tin-a")[2], None)])[0].action == "alias"


def test_a_finished_crawl_s_keys_expire_after_the_retention(
    client: redis.Redis, crawl: ClusterCrawl
) -> None:
    keys = crawl.site_keys("alpha")
    client.sadd(keys.dupefilter, b"x")
    client.set(keys.done, "1")
    assert crawl.expire(3600) == 3  # the meta, the filter, the done mark
    assert 3500 < client.ttl(keys.dupefilter) <= 3600
    assert 3500 < client.ttl(f"{crawl.key}:meta") <= 3600
    assert crawl.expire(0) == 3
    assert not client.exists(keys.dupefilter, keys.done, f"{crawl.key}:meta")


def test_a_page_s_links_are_checked_and_its_articles_decided_in_one_step_each(
    client: redis.Redis,
) -> None:
    one, other = worker(client), worker(client)
    pages = [f"{HOST}/tin-tuc/page-{n}" for n in range(30)] + [f"{HOST}/c/login"]
    other.page(pages[0])  # met by another worker: not new here either
    articles = [(url, None) for n in range(30) for url in urls_of(f"nav-{n}")[:1]]
    other.articles(articles[:1])  # the scripts loaded: not counted below
    alone = Frontier(HOST, TZ, state=MemoryFrontierState())
    alone.page(pages[0])
    alone.articles(articles[:1])
    before = commands(client)
    new = one.new_pages(pages)
    decided = one.articles(articles)
    assert commands(client) - before <= 10  # not one or more per link (60 links)
    assert new == alone.new_pages(pages) == [False] + [True] * 29 + [False]
    assert decided == alone.articles(articles)
    # every link met before, by this worker or another: two commands, whatever their number
    before = commands(client)
    assert {d.action for d in other.articles(articles[1:])} == {"ignore"}
    assert commands(client) - before <= 3  # (and INFO itself)


def test_an_article_s_related_articles_are_deferred_in_one_step_and_once_per_worker(
    client: redis.Redis,
) -> None:
    one = worker(client)
    met = urls_of("seen")[0]
    one.articles([(met, None)])
    one.sitemap_requested(f"{HOST}/sitemap.xml")  # navigation waits for it
    related = [met, *(urls_of(f"rel-{n}")[0] for n in range(10))]
    assert one.defer_articles(related[:2]) == [True, True]  # the script loaded
    before = commands(client)
    assert one.defer_articles(related) == [True] * 11
    assert commands(client) - before <= 5  # one step for them all (and INFO itself)
    before = commands(client)
    assert one.defer_articles(related[:5]) == [True] * 5  # deferred here before: not sent
    assert commands(client) - before == 1  # INFO itself: nothing sent
    assert sorted(client.lrange(f"{PREFIX}:deferred_articles", 0, -1)) == sorted(
        u.encode() for u in related[1:]
    )  # the met one is not deferred, each other one once
    one.sitemap_done(f"{HOST}/sitemap.xml")
    assert one.start_navigation()
    assert one.defer_articles(related) == [False] * 11  # navigation started: follow them now


def test_redis_keeps_14_byte_digests_and_fingerprints(
    client: redis.Redis, crawl: ClusterCrawl
) -> None:
    one = worker(client)
    one.articles([(u, None) for u in urls_of("tin-x")[:2]])
    one.page(f"{HOST}/tin-tuc")
    assert {len(m) for m in client.smembers(f"{PREFIX}:seen")} == {14}
    assert {len(f) for f in client.hkeys(f"{PREFIX}:url")} == {14}
    assert {len(f) for f in client.hkeys(f"{PREFIX}:held")} == {14}
    queue = LeaseQueue(client, QueueSpider(), crawl.site_keys("alpha"), 60)
    scheduler = ClusterScheduler.__new__(ClusterScheduler)
    scheduler.df = RFPDupeFilter(client, crawl.site_keys("alpha").dupefilter)
    fingerprint = scheduler._fingerprint(Request("http://a.test/x"))
    assert queue.push_and_ack([(Request("http://a.test/x"), fingerprint)], []) == [True]
    assert [len(f) for f in client.smembers(crawl.site_keys("alpha").dupefilter)] == [14]


def test_an_article_s_parse_and_the_deferral_of_its_related_articles_are_one_step(
    client: redis.Redis,
) -> None:
    one = worker(client)
    one.sitemap_requested(f"{HOST}/sitemap.xml")  # navigation waits for it
    one.articles([(urls_of("tin-p")[0], None), (urls_of("tin-p")[1], None)])
    one.parsed(one.key(urls_of("tin-q")[0]), [urls_of("rel-q")[0]])  # the script loaded
    related = [urls_of(f"rel-{n}")[0] for n in range(5)]
    before = commands(client)
    held = one.parsed(one.key(urls_of("tin-p")[0]), related)
    assert one.defer_articles(related) == [True] * 5  # answered by the parse's step
    assert commands(client) - before <= 7  # one step, not two: 8 (INFO itself counted)
    assert held == [urls_of("tin-p")[1]]
    assert client.lrange(f"{PREFIX}:deferred_articles", 0, -1) == [
        u.encode() for u in [urls_of("rel-q")[0], *related]
    ]


def test_a_drained_queue_is_not_asked_again_while_the_worker_s_pages_download(
    client: redis.Redis, crawl: ClusterCrawl, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = crawl.site_keys("alpha")
    spider = QueueSpider()
    scheduler = ClusterScheduler(get_crawler(QueueSpider), crawl, "host-1", 60)
    scheduler.spider, scheduler.stats = spider, None
    # sent by the ask that follows (no reactor runs here)
    monkeypatch.setattr(scheduler, "_send_soon", lambda: None)
    scheduler.queue = LeaseQueue(client, spider, keys, 60, owner="host-1")
    scheduler.df = RFPDupeFilter(client, keys.dupefilter)
    scheduler.queue.push(Request("http://a.test/1"))
    assert scheduler.next_request() is not None  # downloading from now on
    assert scheduler.next_request() is None  # the queue is drained: one round trip said so
    before = commands(client)
    assert scheduler.next_request() is None
    assert commands(client) - before == 1  # INFO alone: the engine's asks cost nothing
    # What this worker queues is leased at its next ask...
    scheduler.enqueue_request(Request("http://a.test/2"))
    second = scheduler.next_request()
    assert second is not None and second.url == "http://a.test/2"
    # ... another worker's, once EMPTY_QUEUE_SECONDS have passed
    assert scheduler.next_request() is None
    LeaseQueue(client, spider, keys, 60, owner="host-2").push(Request("http://a.test/3"))
    assert scheduler.next_request() is None
    monkeypatch.setattr(scheduler_module, "EMPTY_QUEUE_SECONDS", 0.0)
    third = scheduler.next_request()
    assert third is not None and third.url == "http://a.test/3"


def test_a_spider_kept_open_for_its_own_leases_has_the_engine_woken_once_they_are_done(
    client: redis.Redis, crawl: ClusterCrawl, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = crawl.site_keys("alpha")
    spider = QueueSpider()
    crawler = get_crawler(QueueSpider)
    engine = crawler.engine = object()  # type: ignore[assignment]
    scheduler = ClusterScheduler(crawler, crawl, "host-1", 60)
    scheduler.spider, scheduler.stats, scheduler.site = spider, None, "alpha"
    monkeypatch.setattr(scheduler, "_send_soon", lambda: None)
    woken: list[object] = []
    monkeypatch.setattr(scheduler_module, "wake_engine", woken.append)
    scheduler.queue = LeaseQueue(client, spider, keys, 60, owner="host-1")
    scheduler.df = RFPDupeFilter(client, keys.dupefilter)
    crawl.seeds_enqueued("alpha")
    scheduler.queue.push(Request("http://a.test/1"))
    leased = scheduler.next_request()
    assert leased is not None
    # scraped, its items not committed yet: the site has work, the spider stays open
    with pytest.raises(DontCloseSpider):
        scheduler._on_idle()
    assert woken == []
    scheduler._done(leased.meta[LEASE_META], [])  # its batch committed
    scheduler._send()
    assert woken == [engine]
    scheduler._send()
    assert len(woken) == 1  # once
