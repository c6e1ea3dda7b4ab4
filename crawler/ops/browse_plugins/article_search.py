"""Datasette plugin of ``make browse``: the articles' search box (``?_search=``) fast at a million.

Datasette's own search filter (``fts_table`` in a table's metadata) asks for
``pk in (select rowid from fts where fts match ...)``: SQLite then fetches every match by rowid
and sorts them all for the first page, counts them again and runs each facet over them. With
half of a million articles matching a common phrase ("dau tu") that is seconds per query and
the page failed (Datasette's sql_time_limit_ms). This plugin serves the tables whose metadata
names it (``"plugins": {"article-search": {"fts_table": ..., "fts_pk": ...}}``) instead:

- the matches are counted by the search index alone (50 ms at 500,000);
- above MATCHES_COUNTED (``counted_matches`` in the configuration) a search page is
  redirected to itself with ``_nocount=index&_nofacet=index``: the page says how many
  articles the index matched instead of counting rows, and offers no facet (each would be a
  query over every match). ``&_nocount=&_nofacet=`` asks for them anyway;
- above MATCHES_COUNTED, when the page is sorted by an indexed column (the default: newest
  first), the filter is ``+pk in (...)``: the unary plus keeps SQLite from looking the matches
  up by rowid, so it walks the sort's index and stops at the page's last row.

Every article holding the words is still found: only how SQLite reaches them changes.
"""

from __future__ import annotations

import sqlite3
from functools import wraps
from typing import Any
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.filters import FilterArguments
from datasette.utils import escape_sqlite, tilde_decode
from datasette.utils.asgi import BadRequest, Response

PLUGIN = "article-search"
# Up to this many matches Datasette counts and facets them as usual (at 100,000 articles a
# page over 50,000 matches took 0.8 s; 10,000 keep the page a fraction of a second).
MATCHES_COUNTED = 10_000
PAGE_FORMATS = ("", "json")
# What the redirect sets _nocount and _nofacet to: told from a user's own _nocount=1.
BY_INDEX = "index"
SKIPS = ("_nocount", "_nofacet")


def _config(datasette: Any, database: str, table: str) -> dict[str, Any] | None:
    config = datasette.plugin_config(PLUGIN, database=database, table=table, fallback=False)
    return config if isinstance(config, dict) and config.get("fts_table") else None


def _raw(config: dict[str, Any], args: dict[str, str]) -> bool:
    mode = args.get("_searchmode") or config.get("searchmode")
    return mode == "raw"


def _match(raw: bool, param: str) -> str:
    return f":{param}" if raw else f"escape_fts(:{param})"


async def count_matches(
    db: Any, config: dict[str, Any], search: str, raw: bool, limit: int | None = None
) -> int | None:
    """How many rows of the search index match ``search`` (at most ``limit``: the index stops
    there); None when SQLite refuses the query (Datasette's own query then says why) or it ran
    out of time."""
    fts = escape_sqlite(config["fts_table"])
    sql = f"select rowid from {fts} where {fts} match {_match(raw, 'search')}"
    if limit is not None:
        sql += f" limit {int(limit)}"
    try:
        rows = await db.execute(f"select count(*) from ({sql})", {"search": search})
    except (QueryInterrupted, sqlite3.Error):
        return None
    return int(rows.first()[0])


def counted(config: dict[str, Any]) -> int:
    """Up to how many matches a page counts and facets them (the metadata may say)."""
    return int(config.get("counted_matches", MATCHES_COUNTED))


async def sorted_by_index(db: Any, config: dict[str, Any], table: str, sort: str | None) -> bool:
    """Whether ``sort`` leads an index of the rows' table: SQLite can then walk it in order."""
    if not sort:
        return False
    rows_table = config.get("rows_table", table)
    leading = await db.execute(
        "select info.name from pragma_index_list(:table) as list, "
        "pragma_index_info(list.name) as info where info.seqno = 0",
        {"table": rows_table},
    )
    return sort in {row[0] for row in leading}


def _sort(args: dict[str, str], metadata: dict[str, Any]) -> str | None:
    if args.get("_sort") or args.get("_sort_desc"):
        return args.get("_sort") or args.get("_sort_desc")
    return metadata.get("sort") or metadata.get("sort_desc")


@hookimpl(trylast=True)  # called last: its supports_search is the one the page gets
def filters_from_request(request: Any, database: str, table: str, datasette: Any) -> Any:
    config = _config(datasette, database, table)
    if config is None:
        return None

    async def inner() -> FilterArguments:
        args = {key: request.args[key] for key in request.args}
        searches = {
            key: value
            for key, value in args.items()
            if key.startswith("_search") and key != "_searchmode" and value
        }
        context: dict[str, Any] = {"supports_search": True}
        if not searches:
            return FilterArguments([], extra_context=context)
        db = datasette.get_database(database)
        fts = escape_sqlite(config["fts_table"])
        pk = escape_sqlite(config.get("fts_pk", "rowid"))
        raw = _raw(config, args)
        clauses, params, described = [], {}, []
        for i, (key, text) in enumerate(searches.items()):
            param = "search" if key == "_search" else f"search_{i}"
            column = key.removeprefix("_search_") if key != "_search" else None
            if column is not None and column not in await db.table_columns(config["fts_table"]):
                raise BadRequest("Cannot search by that column")
            target = fts if column is None else escape_sqlite(column)
            skipped = [
                word
                for word, arg in (("counted", "_nocount"), ("faceted", "_nofacet"))
                if request.args.get(arg)
            ]
            # the exact number only where the page shows it instead of its own count
            limit = None if skipped else counted(config) + 1
            matches = await count_matches(db, config, text, raw, limit) if column is None else None
            walk = (
                matches is not None
                and matches > counted(config)
                and len(searches) == 1
                and await sorted_by_index(
                    db, config, table, _sort(args, datasette.table_metadata(database, table))
                )
            )
            clauses.append(
                f"{'+' if walk else ''}{pk} in "
                f"(select rowid from {fts} where {target} match {_match(raw, param)})"
            )
            params[param] = text
            what = (
                f'search matches "{text}"'
                if column is None
                else f'search column "{column}" matches "{text}"'
            )
            if matches is not None and skipped:
                what += f" ({matches:,} articles by the search index, not {' or '.join(skipped)})"
            described.append(what)
            context["search"] = text
        return FilterArguments(clauses, params, described, context)

    return inner


async def redirect_target(datasette: Any, scope: dict[str, Any]) -> str | None:
    """Where a search page of a configured table is sent, or None to serve it as asked.

    A search past the configured count gets ``_nocount=index&_nofacet=index`` (the index
    counted it instead); a page carrying those but whose search is now under the count or
    gone (a new search, or the box emptied, from that page: its form keeps them as hidden
    fields) loses them. Values other than ``index`` are the user's own and are left alone, as
    is a page after the first (it keeps what the first asked for)."""
    parts = scope.get("path", "").strip("/").split("/")
    if len(parts) != 2:
        return None
    table, _, fmt = parts[1].partition(".")
    database, table = tilde_decode(parts[0]), tilde_decode(table)
    if fmt not in PAGE_FORMATS:
        return None
    config = _config(datasette, database, table)
    if config is None:
        return None
    pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    args = dict(pairs)
    ours = [args.get(key) for key in SKIPS]
    if "_next" in args or any(value not in (None, BY_INDEX) for value in ours):
        return None
    if args.get("_shape") in ("array", "object"):  # Datasette counts and facets neither
        return None
    skipping = all(value == BY_INDEX for value in ours)
    search = args.get("_search")
    if search:
        try:
            db = datasette.get_database(database)
        except KeyError:
            return None
        limit = counted(config)
        matches = await count_matches(db, config, search, _raw(config, args), limit + 1)
        if matches is None:
            return None
        skip = matches > limit
    else:
        skip = False
    if skip == skipping and (skip or not any(ours)):
        return None
    kept = [(key, value) for key, value in pairs if key not in SKIPS]
    if skip:
        kept += [(key, BY_INDEX) for key in SKIPS]
    # raw_path keeps the path as sent (some clients leave the query string on it)
    path = scope.get("raw_path", b"").decode("latin-1").partition("?")[0] or scope["path"]
    return f"{path}?{urlencode(kept)}" if kept else path


@hookimpl
def asgi_wrapper(datasette: Any) -> Any:
    def wrap(app: Any) -> Any:
        @wraps(app)
        async def search_pages(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope.get("type") == "http" and scope.get("method") in ("GET", "HEAD"):
                target = await redirect_target(datasette, scope)
                if target is not None:
                    await Response.redirect(target).asgi_send(send)
                    return
            await app(scope, receive, send)

        return search_pages

    return wrap
