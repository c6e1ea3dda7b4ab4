"""The articles' search box in Datasette (crawler/ops/browse_plugins/article_search.py) on a
small generated database whose ``counted_matches`` is lowered, so that the common phrase
("dau tu", every other article) takes the path a million articles take: the page redirected to
one that neither counts nor facets, the matches walked along the sort's index."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from crawler.ops.browse import PLUGINS_DIR, datasette_metadata
from tests.benchmarks.analysts_data import COMMON_WORD, RARE_WORD, generate_sqlite

if TYPE_CHECKING:
    from collections.abc import Iterator

pytest.importorskip("datasette")

from datasette.app import Datasette
from datasette.utils import escape_fts
from datasette.utils.asgi import Request

ARTICLES = 600
COUNTED = 50  # the common phrase matches 300: past it; the rare word matches 1: under it
TABLES = ("articles_browse", "articles")


def folded(text: str) -> str:
    """``text`` without case or diacritics, "đ" as "d", its words one space apart."""
    text = text.replace("đ", "d").replace("Đ", "D")
    bare = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return " ".join(re.findall(r"[^\W_]+", bare.lower()))


def holding(database: Path, phrase: str) -> list[str]:
    """The ids of the articles holding ``phrase``, newest first (read without the index)."""
    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "SELECT id, published_at_utc, title, summary, body_text, category, tags "
            "FROM articles ORDER BY published_at_utc DESC"
        ).fetchall()
    conn.close()
    wanted = f" {folded(phrase)} "
    return [row[0] for row in rows if wanted in f" {folded(' '.join(v or '' for v in row[2:]))} "]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Datasette, Path]]:
    database = tmp_path_factory.mktemp("browse-search") / "bench.sqlite3"
    generate_sqlite(database, ARTICLES)
    metadata = datasette_metadata(database)
    for table in TABLES:
        config = metadata["databases"][database.stem]["tables"][table]["plugins"]
        config["article-search"]["counted_matches"] = COUNTED
    yield Datasette([str(database)], metadata=metadata, plugins_dir=str(PLUGINS_DIR)), database


def get(ds: Datasette, path: str) -> Any:
    return asyncio.run(ds.client.get(path))


def page(ds: Datasette, path: str) -> dict[str, Any]:
    response = get(ds, path)
    assert response.status_code == 200, response.text[-500:]
    return dict(response.json())


def test_a_search_past_counted_matches_redirects_to_a_page_that_neither_counts_nor_facets(
    served: tuple[Datasette, Path],
) -> None:
    ds, database = served
    matches = len(holding(database, COMMON_WORD))
    assert matches > COUNTED
    for table in TABLES:
        for suffix in ("", ".json"):
            path = f"/{database.stem}/{table}{suffix}?" + urlencode({"_search": COMMON_WORD})
            response = get(ds, path)
            assert response.status_code == 302, table
            location = response.headers["location"]
            assert location == f"{path}&_nocount=index&_nofacet=index"
        data = page(ds, location)
        assert data["filtered_table_rows_count"] is None  # not counted, not a wrong number
        assert data["facet_results"] == {}
        assert len(data["rows"]) == 100
        # what the page shows where Datasette shows its count: the index's own, exact
        shown = f'search matches "{COMMON_WORD}" ({matches:,} articles by the search index, '
        assert shown + "not counted or faceted)" in data["human_description_en"]
        html = get(ds, location.replace(".json", ""))
        assert f"{matches:,} articles by the search index" in html.text
        assert 'name="_search"' in html.text  # the search box is still offered


def test_a_search_past_counted_matches_pages_through_exactly_the_matching_articles_newest_first(
    served: tuple[Datasette, Path],
) -> None:
    ds, database = served
    expected = holding(database, COMMON_WORD)
    for table in TABLES:
        query = urlencode({"_search": COMMON_WORD, "_size": "40", "_shape": "objects"})
        url: str | None = f"/{database.stem}/{table}.json?{query}&_nocount=index&_nofacet=index"
        found: list[dict[str, Any]] = []
        pages = 0
        while url:
            data = page(ds, url)
            found += data["rows"]
            pages += 1
            url = (
                data["next_url"]
                and urlsplit(data["next_url"])._replace(scheme="", netloc="").geturl()
            )
        assert pages == -(-len(expected) // 40), table  # the "more" link to the last page
        assert {row["id"] for row in found} == set(expected), table
        assert len(found) == len(expected), table  # none twice
        published = [row["published_at_utc"] for row in found]
        assert published == sorted(published, reverse=True), table


def _search_sql(ds: Datasette, database: Path, table: str, **args: str) -> tuple[str, dict]:
    """The where clause the plugin gives Datasette for ``args``, as Datasette's page query."""
    from datasette.plugins import pm  # noqa: PLC0415

    asyncio.run(ds.invoke_startup())
    request = Request.fake(f"/{database.stem}/{table}?{urlencode(args)}")
    plugin = next(p for p in pm.get_plugins() if getattr(p, "PLUGIN", None) == "article-search")
    filters = asyncio.run(plugin.filters_from_request(request, database.stem, table, ds)())
    where = " and ".join(filters.where_clauses)
    sort = args.get("_sort", "published_at_utc")
    order = "" if "_sort" in args else " desc"
    return f"select * from {table} where {where} order by {sort}{order} limit 101", filters.params


def _plan(database: Path, sql: str, params: dict[str, str]) -> str:
    with sqlite3.connect(database) as conn:
        conn.create_function("escape_fts", 1, escape_fts)
        plan = " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    conn.close()
    return plan


def test_a_search_past_counted_matches_walks_the_sort_index_instead_of_sorting_every_match(
    served: tuple[Datasette, Path],
) -> None:
    ds, database = served
    for table in TABLES:
        sql, params = _search_sql(ds, database, table, _search=COMMON_WORD)
        pk = "article_rowid" if table == "articles_browse" else "rowid"
        assert f"where +{pk} in (select rowid from articles_fts" in sql
        plan = _plan(database, sql, params)
        assert "SCAN articles USING INDEX ix_articles_published_at_utc" in plan, plan
        assert "TEMP B-TREE FOR ORDER BY" not in plan, plan


def test_a_rare_word_or_an_unindexed_sort_looks_the_matches_up_by_rowid_as_datasette_does(
    served: tuple[Datasette, Path],
) -> None:
    ds, database = served
    for args in ({"_search": RARE_WORD}, {"_search": COMMON_WORD, "_sort": "title"}):
        sql, params = _search_sql(ds, database, "articles_browse", **args)
        assert "where article_rowid in (select rowid" in sql, args
        plan = _plan(database, sql, params)
        assert "SEARCH articles USING INTEGER PRIMARY KEY (rowid=?)" in plan, (args, plan)
    query = urlencode({"_search": COMMON_WORD, "_sort": "title", "_shape": "objects"})
    data = page(ds, f"/{database.stem}/articles_browse.json?{query}&_nocount=1&_nofacet=1")
    titles = [row["title"] for row in data["rows"]]
    assert titles == sorted(titles)
    assert {row["id"] for row in data["rows"]} <= set(holding(database, COMMON_WORD))


def test_a_search_under_counted_matches_is_counted_and_faceted_as_before(
    served: tuple[Datasette, Path],
) -> None:
    ds, database = served
    expected = holding(database, RARE_WORD)
    assert 0 < len(expected) <= COUNTED
    path = f"/{database.stem}/articles_browse.json?" + urlencode({"_search": RARE_WORD})
    data = page(ds, path)  # no redirect
    assert data["filtered_table_rows_count"] == len(expected)
    assert [row[1] for row in data["rows"]] == expected
    assert set(data["facet_results"]) == {"site", "category", "author", "published_month"}
    assert "articles by the search index" not in data["human_description_en"]


def test_nocount_and_nofacet_left_empty_count_and_facet_a_search_past_counted_matches(
    served: tuple[Datasette, Path],
) -> None:
    ds, database = served
    expected = holding(database, COMMON_WORD)
    query = urlencode({"_search": COMMON_WORD, "_nocount": "", "_nofacet": ""})
    data = page(ds, f"/{database.stem}/articles_browse.json?{query}")
    assert data["filtered_table_rows_count"] == len(expected)
    assert data["facet_results"]["site"]["results"][0]["count"] == len(expected)
    # Datasette's "more" link drops the empty arguments: the next page is counted still
    following = urlsplit(data["next_url"])
    assert "_next" in parse_qs(following.query)
    data = page(ds, f"{following.path}?{following.query}")
    assert data["filtered_table_rows_count"] == len(expected)


def test_a_column_search_finds_the_articles_holding_the_word_in_that_column(
    served: tuple[Datasette, Path],
) -> None:
    ds, database = served
    with sqlite3.connect(database) as conn:
        title = conn.execute("SELECT id, title FROM articles ORDER BY rowid LIMIT 1").fetchone()
    conn.close()
    number = title[1].split(":")[0].split()[-1]  # "Tin số 0: ..." -> "0"
    path = f"/{database.stem}/articles_browse.json?" + urlencode(
        {"_search_title": f"Tin số {number}", "_shape": "objects"}
    )
    data = page(ds, path)
    assert title[0] in {row["id"] for row in data["rows"]}
    assert get(ds, f"/{database.stem}/articles_browse.json?_search_nothing=x").status_code == 400


def test_a_new_search_or_an_emptied_box_on_a_page_that_skipped_its_count_counts_and_facets_again(
    served: tuple[Datasette, Path],
) -> None:
    ds, database = served
    table = f"/{database.stem}/articles_browse"
    # the search form of a page past counted_matches keeps _nocount and _nofacet as hidden fields
    for search, kept in ((RARE_WORD, f"?_search={RARE_WORD}"), ("", "?_search=")):
        response = get(ds, f"{table}?_search={search}&_nocount=index&_nofacet=index")
        assert response.status_code == 302
        assert response.headers["location"] == table + kept
    data = page(ds, f"{table}.json?_search={RARE_WORD}")
    assert data["filtered_table_rows_count"] == len(holding(database, RARE_WORD))
    assert set(data["facet_results"]) == {"site", "category", "author", "published_month"}
    # a _nocount of the user's own is the user's: neither removed nor completed
    mine = f"{table}.json?_search={RARE_WORD}&_nocount=1"
    assert get(ds, mine).status_code == 200
    assert page(ds, mine)["filtered_table_rows_count"] is None
