"""Full-text search over the stored articles (the index is revision 0004's, kept by the database).

A query is words, all of which an article must hold (in its title, summary, body, category or
tags), with or without their diacritics: "dau tu", "đầu tư" and "Đầu Tư" find the same articles.
Results are ranked best first by a ``score`` that is higher for a better match (SQLite: minus
``bm25``; PostgreSQL: ``ts_rank``; the two scales differ), the title weighing most, then
summary, category and tags, then the body. Only the newest ``RANK_WINDOW`` matches are ranked
(SQLite: the articles stored last, FTS5's rowid order; PostgreSQL: published last, then
undated ones first), or ``limit`` if larger: a word in half of a million articles costs a
thousand scores, not half a million (docs/analysts.md). Every result holds every word.

A query is bounded: at most ``MAX_QUERY_CHARS`` characters and ``MAX_QUERY_TERMS`` distinct
words (a repeated word is looked for once), and a search that runs longer than its timeout is
stopped on the server (PostgreSQL: the transaction's ``statement_timeout``; SQLite: a progress
handler). On PostgreSQL the server also checks every second that the client is still there,
so a search whose client was killed does not run on.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import date, datetime

    from sqlalchemy import Connection, Engine

# The index objects are not ORM models: schema comparisons leave them out (PostgreSQL's stored
# search_document column and SQLite's expression index of the browse view's month among them).
SEARCH_OBJECTS = frozenset(
    {
        "articles_fts",
        "articles_browse",
        "ix_articles_search_document",
        "search_document",
        "ix_articles_published_month",
    }
)
# FTS5 keeps an index in shadow tables named after it.
SEARCH_SHADOW_PREFIX = "articles_fts_"
DEFAULT_LIMIT = 20
# How many matches are ranked: the newest ones (SQLite: stored last; PostgreSQL: published
# last). Ranking every match of a common word cost seconds per 100k articles; a larger
# --limit ranks as many as it asks for.
RANK_WINDOW = 1000
SNIPPET_WORDS = 16
MARK_START, MARK_END, ELLIPSIS = "[", "]", "…"
# bm25 weights of articles_fts's columns: title, summary, body_text, category, tags.
SQLITE_WEIGHTS = (10.0, 4.0, 1.0, 4.0, 4.0)
WORD = re.compile(r"\w+")
# A query's cost grows with its words on every matching article (1,000 copies of one word
# took 11.6 s on PostgreSQL): far beyond what anyone types.
MAX_QUERY_CHARS = 500
MAX_QUERY_TERMS = 32
DEFAULT_TIMEOUT_SECONDS = 30.0
# How often PostgreSQL looks whether the client of a running search is still connected.
CLIENT_CHECK_MS = 1000
# SQLite: the progress handler's period, in virtual machine instructions (about a millisecond).
SQLITE_PROGRESS_STEPS = 10_000
# PostgreSQL's query_canceled (a statement timeout, or a cancel request)
QUERY_CANCELED = "57014"


class QueryError(ValueError):
    """A query that is not searched (bad usage)."""


class EmptyQueryError(QueryError):
    """A query without a single word to look for."""


class QueryTooLargeError(QueryError):
    """A query longer than ``MAX_QUERY_CHARS`` or with more than ``MAX_QUERY_TERMS`` words."""


class SearchTimeoutError(RuntimeError):
    """A search stopped by its timeout."""


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: str
    site: str
    published_at: str | None
    # the day the lead opens with (YYYY-MM-DD), where from, and whether published_at is a
    # migration's (bulk) or not (ok)
    event_date: str | None
    event_date_source: str | None
    published_at_quality: str | None
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
    """The distinct words of ``query``, folded, in their order; a query without any, longer
    than ``MAX_QUERY_CHARS`` or with more than ``MAX_QUERY_TERMS`` words is refused."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryTooLargeError(
            f"search query is {len(query)} characters long: at most {MAX_QUERY_CHARS} are searched"
        )
    found = WORD.findall(fold(query))
    if not found:
        raise EmptyQueryError(f"search query {query!r} has no word to look for")
    # The index folds case: "Đầu" and "đầu" are one term.
    words: list[str] = []
    seen: set[str] = set()
    for word in found:
        if word.casefold() not in seen:
            seen.add(word.casefold())
            words.append(word)
    if len(words) > MAX_QUERY_TERMS:
        raise QueryTooLargeError(
            f"search query has {len(words)} different words: at most {MAX_QUERY_TERMS} are searched"
        )
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
    event_since: date | None = None,
    limit: int = DEFAULT_LIMIT,
    timeout: float | None = DEFAULT_TIMEOUT_SECONDS,
) -> list[SearchHit]:
    """The articles matching every word of ``query``, best first.

    ``site`` keeps one site's articles; ``since`` those published (display date) at or after
    that instant; ``event_since`` those whose event day is on or after that day.
    A search running longer than ``timeout`` seconds (None: no bound) is stopped on the
    database and raises :class:`SearchTimeoutError`.
    """
    # SQLAlchemy is imported by the functions that query: `scrapy search --help` (this module's
    # bounds in its text) starts without it.
    from sqlalchemy import Date, bindparam  # noqa: PLC0415

    from pipelines.storage.columns import UTCDateTime  # noqa: PLC0415

    if limit < 1:
        raise ValueError(f"search limit must be at least 1, got {limit}")
    if timeout is not None and timeout <= 0:
        raise ValueError(f"search timeout must be positive, got {timeout}")
    words = query_words(query)
    filters = ""
    params: dict[str, Any] = {"limit": limit, "window": max(RANK_WINDOW, limit)}
    if site is not None:
        filters += " AND a.site = :site"
        params["site"] = site
    if since is not None:
        filters += " AND a.published_at_utc >= :since"
        params["since"] = since
    if event_since is not None:
        filters += " AND a.event_date >= :event_since"
        params["event_since"] = event_since
    if engine.dialect.name == "postgresql":
        statement = _postgresql_query(filters)
        params["query"] = " ".join(words)
    else:
        statement = _sqlite_query(filters)
        params["match"] = fts5_match(words)
    if since is not None:
        statement = statement.bindparams(bindparam("since", type_=UTCDateTime()))
    if event_since is not None:
        statement = statement.bindparams(bindparam("event_since", type_=Date()))
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = _run_postgresql(conn, statement, params, timeout)
        else:
            rows = _run_sqlite(conn, statement, params, timeout)
    return [
        SearchHit(
            id=row.id,
            site=row.site,
            published_at=row.published_at,
            # SQLite hands the day back as its text, PostgreSQL as a date
            event_date=str(row.event_date) if row.event_date is not None else None,
            event_date_source=row.event_date_source,
            published_at_quality=row.published_at_quality,
            title=row.title,
            url=row.url,
            snippet=" ".join((row.snippet or "").split()),
            score=float(row.score),
        )
        for row in rows
    ]


def _timed_out(timeout: float | None) -> SearchTimeoutError:
    return SearchTimeoutError(f"search stopped after its timeout of {timeout:g} s")


def _run_postgresql(
    conn: Connection, statement: Any, params: dict[str, Any], timeout: float | None
) -> list[Any]:
    from sqlalchemy import text  # noqa: PLC0415
    from sqlalchemy.exc import OperationalError  # noqa: PLC0415

    with conn.begin():
        # SET LOCAL: both end with the search's transaction, whatever the pool does next.
        if timeout is not None:
            conn.execute(
                text("SELECT set_config('statement_timeout', :ms, true)"),
                {"ms": str(max(1, round(timeout * 1000)))},
            )
        conn.execute(
            text("SELECT set_config('client_connection_check_interval', :ms, true)"),
            {"ms": str(CLIENT_CHECK_MS)},
        )
        try:
            return list(conn.execute(statement, params).all())
        except OperationalError as exc:
            if timeout is not None and getattr(exc.orig, "sqlstate", None) == QUERY_CANCELED:
                raise _timed_out(timeout) from None
            raise


def _run_sqlite(
    conn: Connection, statement: Any, params: dict[str, Any], timeout: float | None
) -> list[Any]:
    from sqlalchemy.exc import OperationalError  # noqa: PLC0415

    if timeout is None:
        return list(conn.execute(statement, params).all())
    deadline = time.monotonic() + timeout

    def past_deadline() -> int:
        # non-zero: SQLite interrupts the statement
        return int(time.monotonic() > deadline)

    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.set_progress_handler(past_deadline, SQLITE_PROGRESS_STEPS)
    try:
        return list(conn.execute(statement, params).all())
    except OperationalError as exc:
        if "interrupted" in str(exc.orig) and time.monotonic() > deadline:
            raise _timed_out(timeout) from None
        raise
    finally:
        raw.set_progress_handler(None, 0)


def _sqlite_query(filters: str) -> Any:
    from sqlalchemy import text  # noqa: PLC0415

    weights = ", ".join(str(weight) for weight in SQLITE_WEIGHTS)
    # FTS5 hands its matches newest rowid first without sorting, and computes bm25 only for
    # the rows it returns: the window costs RANK_WINDOW scores, not one per match. The
    # snippets are made for the page only (one per row of the outer query).
    join = "JOIN articles AS a ON a.rowid = f.rowid " if filters else ""
    return text(
        "WITH ranked AS ("
        f"SELECT f.rowid AS rowid, -bm25(articles_fts, {weights}) AS score "
        f"FROM articles_fts AS f {join}"
        f"WHERE articles_fts MATCH :match{filters} "
        "ORDER BY f.rowid DESC LIMIT :window), "
        "page AS (SELECT ranked.rowid, ranked.score, a.published_at_utc FROM ranked "
        "JOIN articles AS a ON a.rowid = ranked.rowid "
        "ORDER BY ranked.score DESC, a.published_at_utc DESC, a.id LIMIT :limit) "
        "SELECT a.id, a.site, a.published_at, a.event_date, a.event_date_source, "
        "a.published_at_quality, a.title, a.url, "
        f"snippet(articles_fts, -1, '{MARK_START}', '{MARK_END}', '{ELLIPSIS}', "
        f"{SNIPPET_WORDS}) AS snippet, page.score AS score "
        "FROM page JOIN articles_fts ON articles_fts.rowid = page.rowid "
        "JOIN articles AS a ON a.rowid = page.rowid "
        "WHERE articles_fts MATCH :match "
        "ORDER BY page.score DESC, a.published_at_utc DESC, a.id"
    )


def _postgresql_query(filters: str) -> Any:
    from sqlalchemy import text  # noqa: PLC0415

    headline_options = (
        f"StartSel={MARK_START}, StopSel={MARK_END}, FragmentDelimiter={ELLIPSIS}, "
        f"MaxFragments=2, MaxWords={SNIPPET_WORDS}, MinWords=5"
    )
    # search_document is revision 0011's stored tsvector: a match is checked and ranked
    # without parsing the article again. The query is written out where it is used (not a CTE)
    # so that the planner estimates its matches from the column's statistics: the newest
    # RANK_WINDOW matches are read from the publication index for a common word, from the GIN
    # index for a rare one. Only the window is ranked, and only the page gets a headline (which
    # parses the text).
    query = "plainto_tsquery('search_folded', :query)"
    return text(
        "WITH window_ AS (SELECT a.id, a.published_at_utc FROM articles AS a "
        f"WHERE a.search_document @@ {query}{filters} "
        "ORDER BY a.published_at_utc DESC, a.id DESC LIMIT :window), "
        "page AS (SELECT w.id, w.published_at_utc, "
        f"ts_rank(a.search_document, {query}) AS score "
        "FROM window_ AS w JOIN articles AS a ON a.id = w.id "
        "ORDER BY score DESC, w.published_at_utc DESC, w.id LIMIT :limit) "
        "SELECT a.id, a.site, a.published_at, a.event_date, a.event_date_source, "
        "a.published_at_quality, a.title, a.url, "
        "ts_headline('search_folded', "
        "search_words(concat_ws(' ', a.title, a.summary, a.body_text)), "
        f"{query}, '{headline_options}') AS snippet, page.score AS score "
        "FROM page JOIN articles AS a ON a.id = page.id "
        "ORDER BY page.score DESC, page.published_at_utc DESC, page.id"
    )
