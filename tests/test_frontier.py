"""The frontier's decisions, without Scrapy: every question the spider asks it."""

from __future__ import annotations

import ast
import gc
import itertools
import json
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crawler.crawl.frontier as frontier_module
from crawler.crawl.crawl_state import CrawlState
from crawler.crawl.frontier import (
    ALIAS,
    FETCH,
    HELD,
    IGNORE,
    SKIP_KNOWN,
    SKIP_LINK,
    STATE_VERSION,
    Frontier,
    FrontierState,
    MemoryFrontierState,
)
from crawler.crawl.redelivery import redelivery
from crawler.domain.dates import DateParseError, parse_machine_date
from crawler.domain.items import ListingHint
from crawler.domain.urls import article_address, is_article_url, normalize_url, url_identity
from pipelines.storage.store import KnownArticle

HOST = "https://hepza.example.gov.vn"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
A = f"{HOST}/w/tin-a"


def frontier(
    *known: KnownArticle,
    full: bool = False,
    since: date | None = None,
    state: FrontierState | None = None,
) -> Frontier:
    f = Frontier(HOST, TZ, full=full, since=since, state=state)
    f.use_index(CrawlState(known={k.url: k for k in known}))
    return f


def stored(
    url: str, modified: datetime | None = None, published: datetime | None = None
) -> KnownArticle:
    return KnownArticle(id="x" * 20, url=url, modified_at=modified, published_at=published)


StateFactory = Callable[[], FrontierState]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def new_state(request: pytest.FixtureRequest) -> Iterator[StateFactory]:
    """The frontier's decisions hold with its state in memory and in Redis (cluster mode)."""
    if request.param == "memory":
        yield MemoryFrontierState
        return
    import redis  # noqa: PLC0415 (the cluster extra: only the Redis cases need it)

    from crawler.cluster.frontier_state import RedisFrontierState  # noqa: PLC0415 (idem)

    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    prefixes = (f"test:{n}:frontier" for n in itertools.count())
    try:
        yield lambda: RedisFrontierState(client, next(prefixes))
    finally:
        client.close()


# --- URL identity ---------------------------------------------------------------------------


def test_first_url_of_an_article_is_fetched_under_its_canonical_key(
    new_state: StateFactory,
) -> None:
    decision = frontier(state=new_state()).article(f"{HOST}/en/w/Tin-A")
    assert (decision.action, decision.url, decision.key) == (FETCH, f"{HOST}/en/w/Tin-A", A)


def test_an_index_still_being_read_is_waited_for_by_the_first_decision_that_needs_it() -> None:
    reading: Future[CrawlState] = Future()
    f = Frontier(HOST, TZ)
    f.use_index(reading)
    # deciding a page or remembering a URL needs no index
    assert f.page(f"{HOST}/tin-tuc").action == FETCH
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(f.article, A, lastmod="2024-05-02T00:00:00+0000")
        reading.set_result(CrawlState(known={A: stored(A, datetime(2024, 5, 2, tzinfo=UTC))}))
        assert waiting.result().action == SKIP_KNOWN


def test_an_index_that_could_not_be_read_fails_every_decision_that_needs_it() -> None:
    reading: Future[CrawlState] = Future()
    reading.set_exception(RuntimeError("cannot read the article index from sqlite:///x.db"))
    f = Frontier(HOST, TZ)
    f.use_index(reading)
    for url in (A, f"{HOST}/w/tin-b"):
        with pytest.raises(RuntimeError, match="cannot read the article index"):
            f.article(url)


def test_the_same_url_met_again_is_ignored(new_state: StateFactory) -> None:
    f = frontier(state=new_state())
    f.article(A)
    assert f.article(A).action == IGNORE
    assert f.article(f"{A};jsessionid=ABC").action == IGNORE  # the same URL once normalized


def test_another_url_of_a_scheduled_article_is_held_for_its_record(new_state: StateFactory) -> None:
    f = frontier(state=new_state())
    f.article(A)
    decision = f.article(f"{HOST}/en/w/tin-a")
    assert (decision.action, decision.alias) == (HELD, False)
    assert f.parsed(A) == [f"{HOST}/en/w/tin-a"]
    assert f.parsed(A) == []  # handed over once


def test_another_url_of_a_parsed_article_is_an_alias_to_record_now(new_state: StateFactory) -> None:
    f = frontier(state=new_state())
    f.article(A)
    f.parsed(A)
    decision = f.article(f"{HOST}/tin-tuc/-/asset_publisher/x1/content/tin-a")
    assert (decision.action, decision.key, decision.alias) == (ALIAS, A, True)


def test_off_origin_urls_are_ignored(new_state: StateFactory) -> None:
    f = frontier(state=new_state())
    assert f.article("https://other.example/w/tin-a").action == IGNORE
    assert f.article(f"{HOST}:8443/w/tin-a").action == IGNORE
    assert f.page("http://hepza.example.gov.vn/tin-tuc").action == IGNORE


def test_a_page_is_followed_once_and_never_pages_are_skipped_links(new_state: StateFactory) -> None:
    f = frontier(state=new_state())
    assert f.page(f"{HOST}/tin-tuc").action == FETCH
    assert f.page(f"{HOST}/tin-tuc").action == IGNORE
    assert f.page(f"{HOST}/documents/1/a.pdf").action == SKIP_LINK
    assert f.page(f"{HOST}/c/portal/login?p_p_lifecycle=1").action == SKIP_LINK


def test_is_new_page_does_not_mark_the_page_seen(new_state: StateFactory) -> None:
    f = frontier(state=new_state())
    assert f.is_new_page(f"{HOST}/tin-tuc")
    assert f.is_new_page(f"{HOST}/tin-tuc")
    f.mark_seen(f"{HOST}/en/tin-tuc")
    assert not f.is_new_page(f"{HOST}/en/tin-tuc")
    assert not f.is_new_page(f"{HOST}/search?q=x")


def test_preferred_url_is_the_first_candidate_that_is_this_article_on_the_origin() -> None:
    f = frontier()
    assert f.preferred_url([None, "https://other.example/w/tin-a", f"{HOST}/w/tin-a"], A) == A
    assert f.preferred_url([f"{HOST}/w/tin-b"], A) is None


# --- incremental decisions ------------------------------------------------------------------


def test_incremental_fetches_an_unknown_article_and_skips_a_stored_one(
    new_state: StateFactory,
) -> None:
    f = frontier(stored(A, modified=datetime(2023, 1, 18, tzinfo=UTC)), state=new_state())
    assert f.article(f"{HOST}/w/tin-b").action == FETCH
    decision = f.article(A)
    assert (decision.action, decision.alias) == (SKIP_KNOWN, False)


def test_a_skipped_stored_article_met_under_a_new_url_records_that_url_as_alias(
    new_state: StateFactory,
) -> None:
    f = frontier(stored(A), state=new_state())
    decision = f.article(f"{HOST}/en/w/tin-a")
    assert (decision.action, decision.key, decision.alias) == (SKIP_KNOWN, A, True)


def test_incremental_fetches_a_stored_article_whose_lastmod_is_newer(
    new_state: StateFactory,
) -> None:
    modified = datetime(2023, 1, 18, 10, 0, 0, tzinfo=UTC)
    f = frontier(stored(A, modified=modified), state=new_state())
    assert not f.wanted(A, lastmod="2023-01-18T10:00:01Z")  # rounding to the second
    assert f.wanted(A, lastmod="2023-01-18T10:00:02Z")
    assert not f.wanted(A, lastmod="not a date")


def test_the_same_question_asked_again_after_a_new_index_is_answered_from_that_index() -> None:
    lastmod = "2023-01-18T10:00:00Z"
    f = frontier()
    # asked twice in a row (an article's locale entries): the same answer
    assert f.wanted(A, lastmod=lastmod) is f.wanted(A, lastmod=lastmod) is True
    f.use_index(CrawlState(known={A: stored(A, modified=datetime(2023, 1, 18, 10, tzinfo=UTC))}))
    assert not f.wanted(A, lastmod=lastmod)
    assert f.wanted(A, lastmod="2023-01-18T10:00:02Z")


def test_incremental_fetches_a_stored_article_without_modified_at_only_with_a_lastmod(
    new_state: StateFactory,
) -> None:
    f = frontier(stored(A), state=new_state())
    assert not f.wanted(A)
    assert f.wanted(A, lastmod="2023-01-18T10:00:00Z")


def test_full_mode_fetches_every_article(new_state: StateFactory) -> None:
    f = frontier(
        stored(A, modified=datetime(2023, 1, 18, tzinfo=UTC)), full=True, state=new_state()
    )
    assert f.mode == "full"
    assert f.article(A).action == FETCH


def test_since_mode_decides_by_the_listing_day_then_the_stored_publication_day(
    new_state: StateFactory,
) -> None:
    published = datetime(2023, 1, 17, 20, 0, tzinfo=UTC)  # 18 Jan in Ho Chi Minh City
    f = frontier(stored(A, published=published), since=date(2023, 1, 18), state=new_state())
    assert f.mode == "since 2023-01-18"
    assert f.wanted(A)
    assert not f.wanted(A, ListingHint("Tin", "vi-VN", "17/01/2023"))
    assert f.wanted(f"{HOST}/w/tin-b", ListingHint("Tin", "vi-VN", "18/01/2023"))
    assert f.wanted(f"{HOST}/w/tin-c")  # not stored, no listing date


def test_rechecks_schedule_the_newest_stored_articles_not_scheduled_yet(
    new_state: StateFactory,
) -> None:
    f = Frontier(HOST, TZ, state=new_state())
    b = f"{HOST}/w/tin-b"
    f.use_index(CrawlState(known={}, recent_urls=[A, b, f"{HOST}/w/tin-c"]))
    f.article(b)
    assert [d.url for d in f.rechecks(2)] == [A]
    assert [d.url for d in f.rechecks(5)] == [f"{HOST}/w/tin-c"]


def test_rechecks_are_fetched_once(new_state: StateFactory) -> None:
    f = Frontier(HOST, TZ, state=new_state())
    f.use_index(CrawlState(known={}, recent_urls=[A]))
    assert [d.action for d in f.rechecks(1)] == [FETCH]
    assert f.rechecks(1) == []
    assert f.article(A).action == IGNORE


# --- lastmods and discovery order -----------------------------------------------------------


def test_the_first_lastmod_met_for_an_article_is_kept(new_state: StateFactory) -> None:
    f = frontier(state=new_state())
    f.note_lastmod(A, "2023-01-18T10:00:00Z")
    f.note_lastmod(A, "2020-01-01T00:00:00Z")
    assert f.lastmod(A) == "2023-01-18T10:00:00Z"
    assert f.lastmod(f"{HOST}/w/tin-b") is None


def test_navigation_starts_once_after_every_sitemap_is_read(new_state: StateFactory) -> None:
    f = frontier(state=new_state())
    f.sitemap_requested(f"{HOST}/sitemap.xml")
    f.sitemap_requested(f"{HOST}/sitemap_1.xml")
    f.defer_page(f"{HOST}/tin-tuc")
    f.defer_article(A)
    f.sitemap_done(f"{HOST}/sitemap.xml")
    assert not f.start_navigation()
    f.sitemap_done(f"{HOST}/sitemap_1.xml")
    assert f.start_navigation()
    assert f.navigation_started
    assert not f.start_navigation()
    assert f.take_deferred() == ([f"{HOST}/tin-tuc"], [A])
    assert f.take_deferred() == ([], [])


def test_a_sitemap_requested_twice_is_read_once_before_navigation_starts(
    new_state: StateFactory,
) -> None:
    # A callback run again (a killed cluster worker's) requests its sitemaps a second time.
    f = frontier(state=new_state())
    f.sitemap_requested(f"{HOST}/sitemap.xml")
    f.sitemap_requested(f"{HOST}/sitemap.xml")
    f.sitemap_requested(f"{HOST}/sitemap_1.xml")
    f.sitemap_done(f"{HOST}/sitemap_1.xml")
    assert not f.start_navigation()
    f.sitemap_done(f"{HOST}/sitemap.xml")
    assert f.start_navigation()


def test_a_sitemap_read_twice_leaves_another_pending(new_state: StateFactory) -> None:
    f = frontier(state=new_state())
    f.sitemap_requested(f"{HOST}/sitemap.xml")
    f.sitemap_requested(f"{HOST}/sitemap_1.xml")
    f.sitemap_done(f"{HOST}/sitemap.xml")
    f.sitemap_done(f"{HOST}/sitemap.xml")
    assert not f.start_navigation()
    f.sitemap_done(f"{HOST}/sitemap_1.xml")
    assert f.start_navigation()


@pytest.mark.parametrize(
    ("again", "kept"),
    [(False, False), (True, True)],
    ids=["not kept: its decision is made", "kept for a callback run again"],
)
def test_an_article_met_before_is_kept_for_navigation_only_by_a_callback_run_again(
    new_state: StateFactory, again: bool, kept: bool
) -> None:
    f = frontier(state=new_state())
    f.sitemap_requested(f"{HOST}/sitemap.xml")
    assert f.article(A).action == FETCH
    b = f"{HOST}/w/tin-b"
    # met already, here in another spelling of the same URL
    met = A.replace("hepza.", "HEPZA.") + "#top"
    with redelivery(again):
        assert f.defer_article(met)
    with redelivery(again):
        assert f.defer_article(b)
    f.sitemap_done(f"{HOST}/sitemap.xml")
    assert f.start_navigation()
    assert f.take_deferred() == ([], [met, b] if kept else [b])


def test_deferred_urls_taken_are_given_again_to_a_callback_run_again(
    new_state: StateFactory,
) -> None:
    f = frontier(state=new_state())
    f.defer_page(f"{HOST}/tin-tuc")
    f.defer_article(A)
    assert f.start_navigation()
    assert f.take_deferred() == ([f"{HOST}/tin-tuc"], [A])
    assert f.take_deferred() == ([], [])
    with redelivery():
        assert f.take_deferred() == ([f"{HOST}/tin-tuc"], [A])
    with redelivery():
        assert f.take_deferred() == ([f"{HOST}/tin-tuc"], [A])


def test_deferred_urls_taken_first_by_a_callback_run_again_are_given_once(
    new_state: StateFactory,
) -> None:
    f = frontier(state=new_state())
    f.defer_page(f"{HOST}/tin-tuc")
    assert f.start_navigation()
    with redelivery():
        assert f.take_deferred() == ([f"{HOST}/tin-tuc"], [])
    assert f.take_deferred() == ([], [])


def test_rechecks_asked_again_fetch_those_not_parsed_yet_again(new_state: StateFactory) -> None:
    f = Frontier(HOST, TZ, state=new_state())
    b = f"{HOST}/w/tin-b"
    f.use_index(CrawlState(known={}, recent_urls=[A, b, f"{HOST}/en/w/tin-c"]))
    f.article(f"{HOST}/w/tin-c")  # scheduled under another URL than the recent one
    assert [d.url for d in f.rechecks(3)] == [A, b]
    assert f.rechecks(3) == []
    f.parsed(b)
    with redelivery():
        assert [(d.action, d.url) for d in f.rechecks(3)] == [(FETCH, A)]
    assert f.rechecks(3) == []


def _held_bytes(frontier_of: Callable[[], Frontier]) -> int:
    """Memory a frontier holds (the URL helpers' caches emptied, so only its own state)."""
    gc.collect()
    tracemalloc.start()
    try:
        kept = frontier_of()
        for cached in (normalize_url, is_article_url, url_identity, article_address):
            cached.cache_clear()
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kept is not None
    return held


def test_urls_met_for_a_parsed_article_are_not_kept_as_strings() -> None:
    count = 500
    # Asset Publisher URLs: long (a portlet's redirect parameter), another URL of the article.
    tail = "?_com_liferay_asset_publisher_web_portlet_AssetPublisherPortlet_INSTANCE_x_redirect="
    long_urls = [
        f"{HOST}/tin-tuc/-/asset_publisher/x/content/tin-{i}{tail}{'%2F' * 100}"
        for i in range(count)
    ]

    def met_once() -> Frontier:
        f = frontier()
        for i in range(count):
            f.article(f"{HOST}/w/tin-{i}")
            f.parsed(f"{HOST}/w/tin-{i}")
        return f

    def met_three_times() -> Frontier:
        f = frontier()
        for i in range(count):
            f.article(f"{HOST}/w/tin-{i}")
            f.article(f"{HOST}/en/w/tin-{i}")
            f.article(long_urls[i])
            assert len(f.parsed(f"{HOST}/w/tin-{i}")) == 2
        return f

    extra_per_url = (_held_bytes(met_three_times) - _held_bytes(met_once)) / (2 * count)
    url_length = sum(map(len, long_urls)) / count
    assert url_length > 400
    # What stays of a URL met (so that it is not followed again) is a 16-byte digest in a set:
    # far less than the string itself.
    assert extra_per_url < url_length / 2, f"{extra_per_url:.0f} bytes per URL met"


# --- state ----------------------------------------------------------------------------------


def test_a_fetched_article_url_is_one_string_shared_by_its_decision_and_its_key() -> None:
    # The request's ``met_url`` is the decision's URL: a queued article request then keeps no
    # copy of the URL beside the one the frontier holds (its key, when the URL is the key).
    f = frontier()
    met = "".join([HOST, "/w/tin-a"])  # a new string, as a sitemap entry's URL is
    decision = f.article(met)
    assert decision.url == met and decision.url is decision.key
    other = f.article(f"{HOST}/en/w/tin-b")
    assert other.url == f"{HOST}/en/w/tin-b" and other.url is not other.key
    f.use_index(CrawlState(known={}, recent_urls=["".join([HOST, "/w/tin-c"])]))
    (recheck,) = f.rechecks(1)
    assert recheck.url is recheck.key


def test_state_round_trips_through_json_with_each_url_once() -> None:
    f = frontier()
    b = f"{HOST}/w/tin-b"
    f.note_lastmod(A, "2023-01-18T10:00:00Z")
    f.article(A)
    f.article(f"{HOST}/en/w/tin-b")
    f.article(b)  # held for b
    f.parsed(A)
    state = json.loads(json.dumps(f.to_state()))
    assert state == {
        "version": STATE_VERSION,
        "articles": {
            A: {"url": "", "parsed": True, "lastmod": "2023-01-18T10:00:00Z"},
            b: {"url": f"{HOST}/en/w/tin-b", "held": [b]},
        },
    }
    again = Frontier.from_state(state, HOST, TZ)
    assert again.to_state() == state


def test_a_resumed_frontier_does_not_schedule_queued_articles_again() -> None:
    first = frontier()
    first.article(A)
    resumed = Frontier.from_state(first.to_state(), HOST, TZ)
    resumed.use_index(CrawlState())
    assert resumed.article(A).action == IGNORE
    assert resumed.article(f"{HOST}/en/w/tin-a").action == HELD
    assert resumed.parsed(A) == [f"{HOST}/en/w/tin-a"]
    assert resumed.rechecks(5) == []


def test_a_resumed_frontier_still_reads_every_page_again() -> None:
    first = frontier()
    first.page(f"{HOST}/sitemap.xml")
    resumed = Frontier.from_state(first.to_state(), HOST, TZ)
    assert resumed.page(f"{HOST}/sitemap.xml").action == FETCH


def test_a_state_of_another_version_is_refused_with_its_version() -> None:
    with pytest.raises(ValueError, match="version 99"):
        Frontier.from_state({"version": 99, "articles": {}}, HOST, TZ)


def test_the_frontier_module_imports_no_scrapy() -> None:
    tree = ast.parse(Path(str(frontier_module.__file__)).read_text(encoding="utf-8"))
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
    assert imported
    assert not [name for name in imported if name.split(".")[0] in {"scrapy", "twisted"}]


@pytest.mark.parametrize(
    "url",
    [
        A,
        f"{HOST}",
        f"{HOST}?x=1",
        f"{HOST}#top",
        "HTTPS://HEPZA.example.gov.vn/w/a",
        "http://hepza.example.gov.vn/w/a",
        "https://hepza.example.gov.vn:443/w/a",
        "https://other.example/w/a?next=https://hepza.example.gov.vn/",
        "/w/a?next=https://hepza.example.gov.vn/",
        "https://u@hepza.example.gov.vn/w/a",
        "mailto:someone@hepza.example.gov.vn",
        "",
    ],
)
def test_allowed_answers_as_the_origin_of_urlsplit(url: str) -> None:
    parts = urlsplit(url)
    expected = f"{parts.scheme}://{parts.netloc}".lower() == HOST
    assert frontier().allowed(url) is expected


@settings(max_examples=1500)
@given(
    day=st.tuples(
        st.integers(1990, 2100), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25)
    ),
    minute=st.integers(0, 61),
    second=st.integers(0, 61),
    offset=st.sampled_from(
        [
            "Z",
            "z",
            "+0000",
            "+00:00",
            "-0000",
            "+0700",
            "+07:00",
            "-05:30",
            "+2359",
            "+2400",
            "+0760",
            "+07",
            "",
            " +0700",
            "+07:00:00",
        ]
    ),
    sep=st.sampled_from(["T", " ", "t"]),
)
def test_sitemap_lastmod_is_read_as_the_date_parser_reads_it(
    day: tuple[int, int, int, int], minute: int, second: int, offset: str, sep: str
) -> None:
    year, month, dom, hour = day
    raw = f"{year:04d}-{month:02d}-{dom:02d}{sep}{hour:02d}:{minute:02d}:{second:02d}{offset}"
    try:
        expected: datetime | None = parse_machine_date(raw, TZ).value
    except DateParseError:
        expected = None
    assert frontier()._lastmod_time(raw) == expected
