"""Full-text search over the stored articles (the index is revision 0004's, kept by the database).

A query is words, all of which an article must hold (in its title, summary, body, category or
tags), with or without their diacritics: "dau tu", "đầu tư" and "Đầu Tư" find the same articles.
Results are ranked best first by a ``score`` that is higher for a better match (SQLite: minus
``bm25``; PostgreSQL: ``ts_rank``; the two scales differ), the title weighing most, then
summary, category and tags, then the body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, text

from pipelines.storage.models import UTCDateTime

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy import Engine

# The index objects are not ORM models: schema comparisons leave them out.
SEARCH_OBJECTS = frozenset({"articles_fts", "articles_browse", "ix_articles_search_document"})
# FTS5 keeps an index in shadow tables named after it.
SEARCH_SHADOW_PREFIX = "articles_fts_"
DEFAULT_LIMIT = 20
SNIPPET_WORDS = 16
MARK_START, MARK_END, ELLIPSIS = "[", "]", "…"
# bm25 weights of articles_fts's columns: title, summary, body_text, category, tags.
SQLITE_WEIGHTS = (10.0, 4.0, 1.0, 4.0, 4.0)
WORD = re.compile(r"\w+")


class EmptyQueryError(ValueError):
    """A query without a single word to look for."""


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: str
    site: str
    published_at: str | None
    title: str | None
    url: str
    snippet: str
    score: float


def is_search_object(name: str | None) -> bool:
    """Whether ``name`` is one of the search index's tables or indexes."""
    return bool(name) and (name in SEARCH_OBJECTS or str(name).startswith(SEARCH_SHADOW_PREFIX))


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's ``include_name`` hook: the search index is the migrations', not the models'."""
    return not is_search_object(name)


def fold(value: str) -> str:
    """The index's folding of "đ"/"Đ", which no Unicode decomposition turns into "d"/"D"."""
    return value.replace("đ", "d").replace("Đ", "D")


def query_words(query: str) -> list[str]:
    """The words of ``query``, folded; a query without any is refused."""
    words = WORD.findall(fold(query))
    if not words:
        raise EmptyQueryError(f"search query {query!r} has no word to look for")
    return words


def fts5_match(words: list[str]) -> str:
    # Every word quoted: FTS5 operators (AND, NEAR, column:, *) typed by a user stay words.
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


def search_articles(
    engine: Engine,
    query: str,
    *,
    site: str | None = None,
    since: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[SearchHit]:
    """The articles matching every word of ``query``, best first.

    ``site`` keeps one site's articles; ``since`` those published at or after that instant.
    """
    if limit < 1:
        raise ValueError(f"search limit must be at least 1, got {limit}")
    words = query_words(query)
    filters = ""
    params: dict[str, Any] = {"limit": limit}
    if site is not None:
        filters += " AND a.site = :site"
        params["site"] = site
    if since is not None:
        filters += " AND a.published_at_utc >= :since"
        params["since"] = since
    if engine.dialect.name == "postgresql":
        statement = _postgresql_query(filters)
        params["query"] = " ".join(words)
    else:
        statement = _sqlite_query(filters)
        params["match"] = fts5_match(words)
    if since is not None:
        statement = statement.bindparams(bindparam("since", type_=UTCDateTime()))
    with engine.connect() as conn:
        rows = conn.execute(statement, params).all()
    return [
        SearchHit(
            id=row.id,
            site=row.site,
            published_at=row.published_at,
            title=row.title,
            url=row.url,
            snippet=" ".join((row.snippet or "").split()),
            score=float(row.score),
        )
        for row in rows
    ]


def _sqlite_query(filters: str) -> Any:
    weights = ", ".join(str(weight) for weight in SQLITE_WEIGHTS)
    return text(
        "SELECT a.id, a.site, a.published_at, a.title, a.url, "
        f"snippet(articles_fts, -1, '{MARK_START}', '{MARK_END}', '{ELLIPSIS}', "
        f"{SNIPPET_WORDS}) AS snippet, "
        # bm25 is lower for a better match.
        f"-bm25(articles_fts, {weights}) AS score "
        "FROM articles_fts JOIN articles AS a ON a.rowid = articles_fts.rowid "
        f"WHERE articles_fts MATCH :match{filters} "
        "ORDER BY score DESC, a.published_at_utc DESC, a.id LIMIT :limit"
    )


def _postgresql_query(filters: str) -> Any:
    headline_options = (
        f"StartSel={MARK_START}, StopSel={MARK_END}, FragmentDelimiter={ELLIPSIS}, "
        f"MaxFragments=2, MaxWords={SNIPPET_WORDS}, MinWords=5"
    )
    document = "articles_search_document(a.title, a.summary, a.body_text, a.category, a.tags)"
    return text(
        "WITH q AS (SELECT plainto_tsquery('search_folded', :query) AS query) "
        "SELECT a.id, a.site, a.published_at, a.title, a.url, "
        "ts_headline('search_folded', "
        "search_words(concat_ws(' ', a.title, a.summary, a.body_text)), "
        f"q.query, '{headline_options}') AS snippet, "
        f"ts_rank({document}, q.query) AS score "
        f"FROM articles AS a, q WHERE {document} @@ q.query{filters} "
        "ORDER BY score DESC, a.published_at_utc DESC, a.id LIMIT :limit"
    )
