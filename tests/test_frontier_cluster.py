"""The frontier shared by the workers of a cluster crawl: two Frontier instances on one Redis
prefix (two workers) decide as one frontier would."""

from __future__ import annotations

import contextlib
import multiprocessing
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from scrapy import Request

from crawler.cluster import frontier_state
from crawler.cluster.frontier_state import RedisFrontierState, agreed_origin
from crawler.crawl.crawl_state import CrawlState
from crawler.crawl.frontier import (
    ALIAS,
    FETCH,
    HELD,
    IGNORE,
    SKIP_KNOWN,
    Frontier,
    FrontierState,
    MemoryFrontierState,
)
from crawler.crawl.redelivery import redelivery
from crawler.spiders.hepza import HepzaSpider
from pipelines.storage.store import KnownArticle
from tests.test_sitemap_decisions import HOST as SITEMAP_HOST
from tests.test_sitemap_decisions import _pair, _sitemap
from tests.unit_spider import sitemap_stage_spider

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Barrier

pytestmark = pytest.mark.redis

HOST = "https://hepza.example.gov.vn"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PREFIX = "hepza:crawl:c1:site:hepza:frontier"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


def worker(client: redis.Redis, *known: KnownArticle, prefix: str = PREFIX) -> Frontier:
    """One worker's frontier of the site, its state shared through Redis."""
    f = Frontier(HOST, TZ, state=RedisFrontierState(client, prefix))
    f.use_index(CrawlState(known={k.url: k for k in known}))
    return f


def urls_of(slug: str) -> list[str]:
    """Three URLs of one article: its display page, its English page, an Asset Publisher view."""
    return [
        f"{HOST}/w/{slug}",
        f"{HOST}/en/w/{slug}",
        f"{HOST}/tin-tuc/-/asset_publisher/x1/content/{slug}",
    ]


def test_two_workers_meeting_urls_of_one_article_fetch_it_once(client: redis.Redis) -> None:
    one, two = worker(client), worker(client)
    first = one.article(f"{HOST}/en/w/tin-a")
    second = two.article(f"{HOST}/w/tin-a")
    assert (first.action, second.action) == (FETCH, HELD)
    assert second.key == first.key == f"{HOST}/w/tin-a"
    assert two.article(f"{HOST}/en/w/tin-a").action == IGNORE  # the URL the other fetches


def test_parsed_on_one_worker_returns_the_urls_another_worker_held(client: redis.Redis) -> None:
    one, two = worker(client), worker(client)
    key = f"{HOST}/w/tin-a"
    one.article(key)
    two.article(f"{HOST}/en/w/tin-a")
    two.article(f"{HOST}/tin-tuc/-/asset_publisher/x1/content/tin-a")
    assert one.parsed(key) == [
        f"{HOST}/en/w/tin-a",
        f"{HOST}/tin-tuc/-/asset_publisher/x1/content/tin-a",
    ]
    decision = two.article(f"{HOST}/tin-tuc/-/asset_publisher/x2/content/tin-a")
    assert (decision.action, decision.alias) == (ALIAS, True)
    assert two.parsed(key) == []


def test_a_page_met_by_two_workers_is_fetched_by_one(client: redis.Redis) -> None:
    one, two = worker(client), worker(client)
    assert one.page(f"{HOST}/tin-tuc").action == FETCH
    assert not two.is_new_page(f"{HOST}/tin-tuc")
    assert two.page(f"{HOST}/tin-tuc").action == IGNORE
    two.mark_seen(f"{HOST}/en/tin-tuc")
    assert one.page(f"{HOST}/en/tin-tuc").action == IGNORE


def test_a_lastmod_noted_by_one_worker_is_read_by_another(client: redis.Redis) -> None:
    one, two = worker(client), worker(client)
    key = f"{HOST}/w/tin-a"
    one.note_lastmod(key, "2024-06-01T00:00:00+0000")
    one.article(key, lastmod="2024-06-01T00:00:00+0000")
    two.note_lastmod(key, "2020-01-01T00:00:00+0000")
    assert two.lastmod(key) == "2024-06-01T00:00:00+0000"


def test_navigation_starts_once_on_the_worker_that_reads_the_last_sitemap(
    client: redis.Redis,
) -> None:
    one, two = worker(client), worker(client)
    one.sitemap_requested(f"{HOST}/sitemap.xml")
    one.sitemap_requested(f"{HOST}/sitemap_1.xml")
    assert one.defer_page(f"{HOST}/tin-tuc")
    two.sitemap_done(f"{HOST}/sitemap_1.xml")
    assert not two.start_navigation()
    assert one.defer_article(f"{HOST}/w/tin-a")
    one.sitemap_done(f"{HOST}/sitemap.xml")
    assert not two.navigation_started
    assert one.start_navigation()
    assert not two.start_navigation()
    assert two.navigation_started
    assert one.take_deferred() == ([f"{HOST}/tin-tuc"], [f"{HOST}/w/tin-a"])
    # Once navigation started, nothing more is kept: the worker follows it itself.
    assert not two.defer_article(f"{HOST}/w/tin-b")
    assert not two.defer_page(f"{HOST}/gioi-thieu")
    assert two.take_deferred() == ([], [])


def test_navigation_takes_thousands_of_deferred_articles_page_by_page_renamed_not_copied(
    client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(frontier_state, "TAKE_PAGE", 3)
    one = worker(client)
    one.sitemap_requested(f"{HOST}/sitemap.xml")
    # as the spider meets them: quoted (Request's URL)
    expected = [Request(f"{HOST}/w/{slug}").url for slug in ["công-ty-a", "b%2Fc", *"defgh"]]
    for url in expected:
        assert one.defer_article(url)
    one.sitemap_done(f"{HOST}/sitemap.xml")
    assert one.start_navigation()
    reads: list[tuple[object, ...]] = []
    lrange = client.lrange
    monkeypatch.setattr(client, "lrange", lambda *a: reads.append(a) or lrange(*a))
    pages, articles = one.take_deferred()
    assert (pages, articles) == ([], expected)
    assert len(reads) == 3  # 3 + 3 + 1
    assert not client.exists(f"{PREFIX}:deferred_articles")
    # the Vietnamese URL kept percent-decoded, given back exactly
    assert "công-ty-a".encode() in client.lindex(f"{PREFIX}:taken_articles", 0)
    # a callback run again takes every one again
    with redelivery(True):
        assert one.take_deferred() == ([], expected)


def test_held_urls_handed_over_are_handed_over_again_to_a_parse_run_again(
    client: redis.Redis,
) -> None:
    # The worker that parsed the article was killed before its record was stored.
    one, two = worker(client), worker(client)
    key = f"{HOST}/w/tin-a"
    one.article(key)
    one.article(f"{HOST}/en/w/tin-a")
    assert one.parsed(key) == [f"{HOST}/en/w/tin-a"]
    assert two.parsed(key) == []
    with redelivery():
        assert two.parsed(key) == [f"{HOST}/en/w/tin-a"]
    # met after the parse: an alias recorded at once, not added to the held URLs
    assert two.article(f"{HOST}/tin-tuc/-/asset_publisher/x/content/tin-a").action == ALIAS
    with redelivery():
        assert one.parsed(key) == [f"{HOST}/en/w/tin-a"]


def test_rechecks_are_scheduled_once_across_workers(client: redis.Redis) -> None:
    one, two = worker(client), worker(client)
    recent = [f"{HOST}/w/tin-a", f"{HOST}/w/tin-b", f"{HOST}/en/w/tin-b"]
    for f in (one, two):
        f.use_index(CrawlState(known={}, recent_urls=recent))
    two.article(f"{HOST}/w/tin-b")
    assert [d.url for d in one.rechecks(3)] == [f"{HOST}/w/tin-a"]
    assert two.rechecks(3) == []
    assert two.article(f"{HOST}/w/tin-a").action == IGNORE


def test_crawls_and_sites_on_other_prefixes_share_nothing(client: redis.Redis) -> None:
    one = worker(client)
    other = worker(client, prefix="hepza:crawl:c2:site:hepza:frontier")
    assert one.article(f"{HOST}/w/tin-a").action == FETCH
    assert other.article(f"{HOST}/w/tin-a").action == FETCH


def test_a_client_decoding_responses_reads_the_same_state(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        one, two = worker(client), worker(client)
        key = f"{HOST}/w/tin-a"
        one.note_lastmod(key, "2024-06-01T00:00:00+0000")
        one.article(key)
        two.article(f"{HOST}/en/w/tin-a")
        assert two.lastmod(key) == "2024-06-01T00:00:00+0000"
        assert one.parsed(key) == [f"{HOST}/en/w/tin-a"]
        one.defer_page(f"{HOST}/tin-tuc")
        assert two.start_navigation()
        assert two.take_deferred() == ([f"{HOST}/tin-tuc"], [])
    finally:
        client.close()


def _incremental_run(states: list[FrontierState]) -> list[tuple[str, str, bool]]:
    """A re-run's URLs (stored, edited, new; several URLs each) met by the workers in turn."""
    at = datetime(2024, 5, 2, 2, 15, 30, tzinfo=UTC)
    known = [
        KnownArticle("x" * 20, f"{HOST}/w/cu-{i}", modified_at=at, published_at=at)
        for i in range(6)
    ]
    frontiers = [Frontier(HOST, TZ, state=state) for state in states]
    for f in frontiers:
        f.use_index(CrawlState(known={k.url: k for k in known}))
    met: list[tuple[str, str | None]] = []
    for i in range(6):
        lastmod = "2024-05-02T02:15:30+0000" if i % 2 else "2024-06-01T00:00:00+0000"
        met += [(url, lastmod) for url in urls_of(f"cu-{i}")]
        met += [(url, None) for url in urls_of(f"moi-{i}")]
    decisions = []
    for n, (url, listed) in enumerate(met):
        f = frontiers[n % len(frontiers)]
        if listed:
            f.note_lastmod(f.key(url), listed)
        d = f.article(url, lastmod=listed)
        decisions.append((d.action, d.url, d.alias))
        if n % 5 == 4:
            frontiers[(n + 1) % len(frontiers)].parsed(d.key)
    return decisions


def test_incremental_decisions_of_two_workers_are_those_of_one_in_memory(
    client: redis.Redis,
) -> None:
    in_memory = _incremental_run([MemoryFrontierState()])
    shared = _incremental_run([RedisFrontierState(client, PREFIX) for _ in range(2)])
    assert shared == in_memory
    assert {action for action, _, _ in shared} >= {FETCH, HELD, ALIAS, SKIP_KNOWN}


def test_two_workers_reading_one_sitemap_request_each_article_once(client: redis.Redis) -> None:
    # A sitemap read twice (a killed worker's lease given to another): one request each.
    spiders: list[HepzaSpider] = []
    for _ in range(2):
        spider = sitemap_stage_spider(SITEMAP_HOST, CrawlState())
        state = RedisFrontierState(client, PREFIX)
        spider.frontier = Frontier(spider.origin, spider.tz, state=state)
        spider.frontier.use_index(CrawlState())
        spider.frontier.sitemap_requested(f"{spider.base_url}/sitemap.xml")
        spiders.append(spider)
    response = _sitemap(*(_pair(f"tin-{i}", "2024-06-01T00:00:00+0000") for i in range(20)))
    requested = [
        out.url
        for spider in spiders
        for out in spider.parse_sitemap(response)
        if isinstance(out, Request) and out.callback == spider.parse_article
    ]
    assert sorted(requested) == sorted(f"{SITEMAP_HOST}/w/tin-{i}" for i in range(20))


# --- two processes ---------------------------------------------------------------------------

ARTICLES = 300


def _hammer(url: str, reverse: bool, start: Barrier, out: Queue[list[str]]) -> None:
    """A worker process meeting every URL of every article, in the same order of articles as
    the other process but each article's URLs in the other order: they meet an article at the
    same time, each under another URL."""
    client = redis.Redis.from_url(url)
    f = worker(client)
    met = [
        u
        for i in range(ARTICLES)
        for u in (reversed(urls_of(f"tin-{i}")) if reverse else urls_of(f"tin-{i}"))
    ]
    start.wait()
    out.put([d.key for d in map(f.article, met) if d.action == FETCH])


def test_two_processes_meeting_the_same_articles_fetch_each_exactly_once(redis_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    results: Queue[list[str]] = context.Queue()
    processes = [
        context.Process(target=_hammer, args=(redis_url, reverse, start, results))
        for reverse in (False, True)
    ]
    for process in processes:
        process.start()
    fetched = [results.get(timeout=120), results.get(timeout=120)]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    counts = Counter(key for keys in fetched for key in keys)
    assert len(counts) == ARTICLES
    assert set(counts.values()) == {1}


# --- a reply lost ----------------------------------------------------------------------------


class ReplyDroppingProxy:
    """A TCP proxy to Redis that, when told, drops the connection instead of passing on the
    next reply: the command ran, its client never heard the answer (and sends it again)."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (str(parts.hostname), int(parts.port or 6379))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"
        self.drop_next_reply = threading.Event()
        self.dropped = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(
                target=self._pump, args=(downstream, upstream, False), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(upstream, downstream, True), daemon=True
            ).start()

    def _pump(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if replies and self.drop_next_reply.is_set():
                    self.drop_next_reply.clear()
                    self.dropped += 1
                    break
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.listener.close()


def test_a_call_sent_again_after_its_reply_was_lost_gets_the_answer_of_the_run(
    redis_url: str,
) -> None:
    proxy = ReplyDroppingProxy(redis_url)
    # As the cluster's client does: a dropped connection is retried.
    client = redis.Redis.from_url(proxy.url, retry=Retry(NoBackoff(), 3))
    try:
        one, other = worker(client), worker(redis.Redis.from_url(redis_url))
        one.sitemap_requested(f"{HOST}/sitemap.xml")
        # Each script loaded first (a lost NOSCRIPT error would prove nothing).
        assert one.article(f"{HOST}/w/tin-b").action == FETCH
        assert not one.start_navigation()
        proxy.drop_next_reply.set()
        decision = one.article(f"{HOST}/w/tin-a")
        proxy.drop_next_reply.set()
        one.sitemap_done(f"{HOST}/sitemap.xml")
        proxy.drop_next_reply.set()
        started = one.start_navigation()
    finally:
        client.close()
        proxy.close()
    assert proxy.dropped == 3
    assert decision.action == FETCH  # not IGNORE: the URL its own first run marked seen
    assert started  # the sitemap counted once, read once; navigation started by this call
    assert not other.start_navigation()


def test_urls_kept_under_the_site_s_origin_are_paths_and_workers_agree_on_the_origin(
    client: redis.Redis,
) -> None:
    origin = agreed_origin(client, PREFIX, HOST)
    # a second worker whose profile names another base URL keeps the first one's origin
    assert origin == HOST and agreed_origin(client, PREFIX, "https://other.test") == HOST
    state = RedisFrontierState(client, PREFIX, origin)
    f = Frontier(HOST, TZ, state=state)
    f.sitemap_requested(f"{HOST}/sitemap.xml")
    elsewhere = "https://hepza.example.gov.vn.other/w/x"
    urls = [Request(f"{HOST}/w/công-ty"), Request(f"{HOST}/w/a%2Fb"), Request(elsewhere)]
    for request in urls:
        assert f.defer_article(request.url)
    kept = client.lrange(f"{PREFIX}:deferred_articles", 0, -1)
    assert kept[0] == b"\x03/w/c\xc3\xb4ng-ty" and kept[1] == b"\x02/w/a%2Fb"
    assert kept[2] == elsewhere.encode()
    f.sitemap_done(f"{HOST}/sitemap.xml")
    assert f.start_navigation()
    assert f.take_deferred() == ([], [r.url for r in urls])
