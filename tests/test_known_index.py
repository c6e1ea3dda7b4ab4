"""The compact index of a site's stored articles an incremental crawl decides against
(crawler/crawl/crawl_state.py): it answers as the dict of every URL it replaced, in a few bytes
an article."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crawler.crawl.crawl_state import CrawlState, KnownIndex, index_known
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
    assert one.id == article_id(f"{ORIGIN}/w/mot")
    assert one.published_at == datetime(2024, 5, 1, 3, tzinfo=UTC)
    assert one.modified_at == one.published_at
    assert index.get(f"{ORIGIN}/en/w/mot") == one
    assert index.get(f"{ORIGIN}/w/mot;jsessionid=X") == one
    two = index.get(f"{ORIGIN}/w/hai")
    assert two is not None and two.id == "2" * 20 and two.published_at is None
    assert index.get("http://h/w/hai") == two
    three = index.get(f"{ORIGIN}/w/bai-ba")
    assert three is not None and three.id == "3" * 20
    assert asset in index
    assert f"{ORIGIN}/w/bon" not in index
    assert index.get(f"{ORIGIN}/w/bon") is None
    assert CrawlState(known=index).article_count == 3


def test_an_articles_own_url_wins_over_another_articles_alias_of_it() -> None:
    rows = [
        row(f"{ORIGIN}/w/a", f"{ORIGIN}/w/b", ident="a" * 20),
        row(f"{ORIGIN}/w/b", ident="b" * 20),
    ]
    index, _ = index_known(rows, ORIGIN, 0)
    found = index.get(f"{ORIGIN}/w/b")
    assert found is not None and found.id == "b" * 20


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


def test_the_index_holds_twelve_bytes_a_url_and_forty_four_an_article() -> None:
    # A dict of every URL held about 250 bytes an entry (700 MB for 749k URLs).
    rows = [
        row(
            f"{ORIGIN}/w/bai-{n}",
            f"{ORIGIN}/en/w/bai-{n}",
            ident=f"{n:020d}",
            published="2024-05-01T10:00:00+07:00",
        )
        for n in range(20_000)
    ]
    index, _ = index_known(rows, ORIGIN, 5)
    assert len(index) == 40_000
    assert index.article_count == 20_000
    assert index.nbytes == 40_000 * 12 + 20_000 * (20 + 8 + 8)
    found = index.get(f"{ORIGIN}/en/w/bai-7777")
    assert found is not None and found.id == f"{7777:020d}"
