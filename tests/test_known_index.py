"""What an unchanged re-run holds, flat in the size of the site: the compact index of the stored
articles it decides against (crawler/crawl/crawl_state.py), which answers as the dict of every URL
it replaced in a few bytes an article; the digests of the URLs it met (crawler/crawl/seen.py);
no sitemap lastmod of an article it skips."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from crawler.crawl.crawl_state import CrawlState, KnownIndex, index_known
from crawler.crawl.frontier import FETCH, IGNORE, SKIP_KNOWN, Frontier, MemoryFrontierState
from crawler.crawl.seen import MERGE_AT, DigestSet, SeenUrls, digest_key, url_digest
from crawler.domain.urls import article_id
from pipelines.storage.compact import KeyMap
from pipelines.storage.store import KnownRow

ORIGIN = "https://h"
MAY = datetime(2024, 5, 1, tzinfo=UTC)


def row(
    url: str, alias: str | None = None, *, ident: str = "", published: str | None = None
) -> KnownRow:
    modified = published
    return KnownRow(ident or article_id(url), url, modified, published, alias)


def test_every_url_of_a_stored_article_finds_its_id_and_dates() -> None:
    asset = f"{ORIGIN}/web/guest/tin-tuc/-/asset_publisher/AbC123/content/bai-ba"
    rows = [
        row(f"{ORIGIN}/w/mot", f"{ORIGIN}/en/w/mot", published="2024-05-01T10:00:00+07:00"),
        row(
            f"{ORIGIN}/w/mot", f"{ORIGIN}/w/mot;jsessionid=X", published="2024-05-01T10:00:00+07:00"
        ),
        # stored before the portal moved to https: known under this crawl's spelling too
        row("http://h/w/hai", ident="2" * 20),
        # an Asset Publisher address (a portal without display pages): known by its key too
        row(asset, ident="3" * 20, published="2023-01-02T00:00:00+00:00"),
    ]
    index, _ = index_known(rows, ORIGIN, 0)
    one = index.get(f"{ORIGIN}/w/mot")
    assert one is not None
    assert one.published_at == datetime(2024, 5, 1, 3, tzinfo=UTC)
    assert one.modified_at == one.published_at
    assert index.get(f"{ORIGIN}/en/w/mot") == one
    assert index.get(f"{ORIGIN}/w/mot;jsessionid=X") == one
    two = index.get(f"{ORIGIN}/w/hai")
    assert two is not None and two.published_at is None
    assert index.get("http://h/w/hai") == two
    three = index.get(f"{ORIGIN}/w/bai-ba")
    assert three is not None and three.published_at == datetime(2023, 1, 2, tzinfo=UTC)
    assert asset in index
    assert f"{ORIGIN}/w/bon" not in index
    assert index.get(f"{ORIGIN}/w/bon") is None
    assert CrawlState(known=index).article_count == 3


def test_an_articles_own_url_wins_over_another_articles_alias_of_it() -> None:
    rows = [
        row(
            f"{ORIGIN}/w/a", f"{ORIGIN}/w/b", ident="a" * 20, published="2024-01-01T00:00:00+00:00"
        ),
        row(f"{ORIGIN}/w/b", ident="b" * 20, published="2024-02-02T00:00:00+00:00"),
    ]
    index, _ = index_known(rows, ORIGIN, 0)
    found = index.get(f"{ORIGIN}/w/b")
    assert found is not None and found.published_at == datetime(2024, 2, 2, tzinfo=UTC)


def test_recent_urls_are_the_newest_published_under_the_crawls_spelling() -> None:
    rows = [
        row(f"{ORIGIN}/w/n{n}", published=(MAY + timedelta(days=n)).isoformat())
        for n in (3, 1, 4, 2)
    ]
    rows.insert(2, row(f"{ORIGIN}/w/undated"))
    rows.append(row("http://h/w/n9", published=(MAY + timedelta(days=9)).isoformat()))
    _, recent = index_known(rows, ORIGIN, 3)
    assert recent == [f"{ORIGIN}/w/n9", f"{ORIGIN}/w/n4", f"{ORIGIN}/w/n3"]
    _, every = index_known(rows, ORIGIN, 10)
    assert every[-1] == f"{ORIGIN}/w/undated"
    assert len(every) == 6


def test_an_empty_index_knows_nothing() -> None:
    state = CrawlState()
    assert state.article_count == 0
    assert state.known.get(f"{ORIGIN}/w/mot") is None
    assert len(KnownIndex().freeze()) == 0


def test_a_key_added_twice_keeps_the_lowest_rank_then_the_first() -> None:
    keys = KeyMap()
    keys.add("x", 1, rank=2)
    keys.add("x", 2, rank=1)
    keys.add("x", 3, rank=1)
    keys.add("y", 4)
    keys.freeze()
    assert keys.get("x") == 2
    assert keys.get("y") == 4
    assert keys.get("z") is None
    assert len(keys) == 2


def test_the_index_holds_twelve_bytes_a_url_and_seventeen_an_article() -> None:
    # A dict of every URL held about 250 bytes an entry (700 MB for 749k URLs).
    rows = [
        row(
            f"{ORIGIN}/w/bai-{n}",
            f"{ORIGIN}/en/w/bai-{n}",
            ident=f"{n:020d}",
            published=(MAY + timedelta(minutes=n)).isoformat(),
        )
        for n in range(20_000)
    ]
    index, _ = index_known(rows, ORIGIN, 5)
    assert len(index) == 40_000
    assert index.article_count == 20_000
    # two dates of 8 bytes and the published date's precision in one byte
    assert index.nbytes == 40_000 * 12 + 20_000 * (8 + 8 + 1)
    found = index.get(f"{ORIGIN}/en/w/bai-7777")
    assert found is not None and found.published_at == MAY + timedelta(minutes=7777)
    assert found.published_at_precision is None  # the rows gave none


# --- what a re-run keeps of the sitemap URLs it skips ------------------------------------------


def test_the_seen_digests_are_found_across_merges_in_sixteen_bytes_each() -> None:
    digests = [hashlib.blake2b(str(n).encode(), digest_size=16).digest() for n in range(70_000)]
    # digests ending in NUL bytes (numpy strips them from the elements it hands back)
    digests += [b"\x07" * 15 + b"\0", b"\x07" * 14 + b"\0\0"]
    seen = DigestSet()
    assert all(seen.add(d) for d in digests)
    assert len(seen) == len(digests)
    assert seen.nbytes == MERGE_AT * 16
    assert all(d in seen for d in digests)
    assert not any(seen.add(d) for d in digests[::997])
    assert b"\x07" * 16 not in seen
    assert hashlib.blake2b(b"other", digest_size=16).digest() not in seen


def test_a_rerun_notes_the_lastmod_only_of_articles_it_may_fetch() -> None:
    rows = [
        row(f"{ORIGIN}/w/cu", published="2020-01-01T00:00:00+00:00"),
        row(f"{ORIGIN}/w/moi", published="2024-01-01T00:00:00+00:00"),
    ]
    known, recent = index_known(rows, ORIGIN, 1)
    frontier = Frontier(ORIGIN, ZoneInfo("Asia/Ho_Chi_Minh"))
    frontier.use_index(CrawlState(known=known, recent_urls=recent))
    lastmod = "2019-06-01T00:00:00+00:00"
    old = frontier.article(f"{ORIGIN}/w/cu", lastmod=lastmod)
    newest = frontier.article(f"{ORIGIN}/w/moi", lastmod=lastmod)
    fresh = frontier.article(f"{ORIGIN}/w/chua-luu", lastmod=lastmod)
    assert (old.action, newest.action, fresh.action) == (SKIP_KNOWN, SKIP_KNOWN, FETCH)
    # the old article is never fetched in this run; the newest is re-checked, the new fetched
    assert not frontier.needs_lastmod(old)
    assert frontier.needs_lastmod(newest)
    assert frontier.needs_lastmod(fresh)


def test_stored_urls_met_are_marked_in_a_byte_each_beside_the_index() -> None:
    rows = [row(f"{ORIGIN}/w/bai-{n}", f"{ORIGIN}/en/w/bai-{n}") for n in range(1000)]
    index, _ = index_known(rows, ORIGIN, 0)
    seen = SeenUrls()
    before = url_digest(f"{ORIGIN}/w/bai-1")
    assert seen.add(before)  # met before the index was read: a digest
    seen.use_known(index)
    stored = [url_digest(f"{ORIGIN}/w/bai-{n}") for n in range(1000)]
    fresh = [url_digest(f"{ORIGIN}/w/moi-{n}") for n in range(10)]
    assert [seen.add(d) for d in stored[:3]] == [True, False, True]
    assert all(seen.add(d) for d in stored[3:] + fresh)
    assert not any(seen.add(d) for d in stored + fresh)
    assert all(d in seen for d in stored + fresh)
    assert url_digest(f"{ORIGIN}/en/w/bai-1") not in seen
    assert len(seen) == 1010
    # only the URLs that are not the index's are kept as digests
    assert len(seen.digests) == 11


def test_a_url_sharing_a_stored_urls_64_bits_is_met_with_it_as_the_index_knows_it() -> None:
    # The index tells its URLs apart by the first 64 bits of their digests: a URL sharing them
    # with a stored URL is that stored URL to it (its dates), and is met with it here.
    stored = f"{ORIGIN}/w/cu"
    index, _ = index_known([row(stored)], ORIGIN, 0)
    seen = SeenUrls()
    seen.use_known(index)
    digest = url_digest(stored)
    twin = digest[:8] + bytes(b ^ 0xFF for b in digest[8:])
    assert index.position(digest_key(twin)) == index.position(digest_key(digest)) == 0
    assert seen.add(twin)
    assert not seen.add(digest)
    assert digest in seen and twin in seen
    # a URL differing in its first 64 bits is its own
    other = bytes([digest[0] ^ 1]) + digest[1:]
    assert other not in seen and seen.add(other)


def test_a_rerun_keeps_no_digest_of_the_stored_urls_its_sitemaps_list() -> None:
    rows = [row(f"{ORIGIN}/w/bai-{n}", published="2020-01-01T00:00:00+00:00") for n in range(500)]
    known, recent = index_known(rows, ORIGIN, 0)
    state = MemoryFrontierState()
    frontier = Frontier(ORIGIN, ZoneInfo("Asia/Ho_Chi_Minh"), state=state)
    frontier.use_index(CrawlState(known=known, recent_urls=recent))
    lastmod = "2019-06-01T00:00:00+00:00"
    met = [(f"{ORIGIN}/w/bai-{n}", lastmod) for n in range(500)] + [(f"{ORIGIN}/w/moi", lastmod)]
    decisions = frontier.articles(met)
    assert [d.action for d in decisions] == [SKIP_KNOWN] * 500 + [FETCH]
    assert all(d.action == IGNORE for d in frontier.articles(met))
    assert len(state._seen) == 501 and len(state._seen.digests) == 1
