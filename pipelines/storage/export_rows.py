"""The exports' and the change feed's rows, read fast: the articles table in batches of tuples.

``scrapy export`` (crawler/commands/export.py) writes every stored article; at a million rows
what costs is the work per row, not the database. So the rows come through SQLAlchemy Core (no
ORM objects), ``BATCH_ROWS`` at a time (a server-side cursor on PostgreSQL), and the columns
whose per-value conversion is Python code are read raw and converted column by column over a
batch: the JSON columns as their text (decoded with the C scanner), the UTC times with the
driver's own parse. Each row is a tuple of the values :func:`crawler.commands.export.
iter_articles` gives (lists, bools, aware UTC datetimes, dates), in ``EXPORT_COLUMNS`` order,
``best_date`` last; with ``raw_text``, the ``RAW_TEXT_COLUMNS`` as their UTF-8 bytes on SQLite.
:func:`prefetched` reads the batches ahead of the writer, in a thread of their own.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from json.decoder import JSONDecoder
from queue import Empty, Full, Queue
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import DateTime, LargeBinary, Text, cast, func, select, type_coerce

from pipelines.schema import BY_NAME, EXPORT_COLUMNS
from pipelines.storage.models import Article
from pipelines.storage.quality import best_date

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator, Sequence
    from datetime import date

    from sqlalchemy import ColumnElement, Connection, Select

T = TypeVar("T")
# Batches read ahead of the writer (prefetched): each is about a megabyte or two of text.
PREFETCH_BATCHES = 2
# How often a waiting reader or writer looks whether the other side stopped, in seconds
_POLL_S = 0.1
# Rows per batch: the memory of an export is about one batch (a row is a few KB of text);
# larger batches cost memory and save no time (one Parquet row group each, as before).
BATCH_ROWS = 1000
# The large texts, which the export's writers (pipelines/schema/writers.py) take as their
# UTF-8 bytes, as SQLite gives them: decoding them was a third of an export's reading.
RAW_TEXT_COLUMNS = frozenset({"summary", "body_text", "body_html"})
JSON_KINDS = frozenset({"string_list", "object_list"})
# Read from the table; best_date is derived from the row (pipelines/storage/quality.best_date).
TABLE_COLUMNS: tuple[str, ...] = tuple(name for name in EXPORT_COLUMNS if name != "best_date")

# the C scanner json.loads runs (JSONDecoder sets it in __init__; typeshed does not say so)
_scan = JSONDecoder().scan_once  # type: ignore[attr-defined]
# what a stored naive UTC time is read with (utc_column); a NULL's stand-in while parsing
_UTC_OFFSET = "+00:00"
_EPOCH = "1970-01-01 00:00:00"


def decode_json(text: Any) -> Any:
    """``json.loads(text)`` (what SQLAlchemy's JSON type returns), a third of its cost: the C
    scanner straight away, ``json.loads`` for whatever it does not take whole (whitespace
    around the value, an error to raise as json.loads raises it)."""
    if text is None:
        return None
    if text == "[]":
        # most list columns are empty
        return []
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


def decode_json_column(texts: Sequence[Any]) -> list[Any]:
    """:func:`decode_json` of every text of a column; the empty lists (most of the list
    columns' values) and NULLs without a call each."""
    return [[] if text == "[]" else None if text is None else decode_json(text) for text in texts]


def utc_column(values: Sequence[Any]) -> list[datetime | None]:
    """:func:`utc` of every value of a column. SQLite's texts of naive UTC times (the SQLite
    dialect's DateTime storage, ``2024-05-02 09:00:00.000000``, which SQLAlchemy parses with
    ``datetime.fromisoformat``) are parsed with their offset added: a few C calls for the
    whole column instead of two Python calls per value."""
    kinds = set(map(type, values))
    if not values or kinds - {str, type(None)}:
        if all(value is None or value.tzinfo is UTC for value in values):
            # aware UTC times already (a PostgreSQL session in UTC: export_jobs)
            return list(values)
        return list(map(utc, values))
    texts = values if type(None) not in kinds else [_EPOCH if v is None else v for v in values]
    parts = ((_UTC_OFFSET + "\x00").join(texts) + _UTC_OFFSET).split("\x00")
    try:
        if len(parts) != len(texts):
            raise ValueError("a NUL in a stored time")
        times: list[datetime | None] = list(map(datetime.fromisoformat, parts))
    except ValueError:
        # a time stored otherwise (with an offset): as SQLAlchemy reads it, value by value
        return [None if text is None else utc(datetime.fromisoformat(text)) for text in values]
    if texts is values:
        return times
    return [None if value is None else time for value, time in zip(values, times, strict=True)]


def utc(value: datetime | None) -> datetime | None:
    """models.UTCDateTime's result from the dialect's DateTime's: SQLite hands back naive UTC,
    PostgreSQL an aware time."""
    # models.UTCDateTime's result: SQLite hands back naive UTC, PostgreSQL an aware time
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _read_column(name: str, raw: bool = False, sqlite: bool = False) -> Any:
    column = Article.__table__.c[name]
    kind = BY_NAME[name].kind
    if raw and name in RAW_TEXT_COLUMNS and sqlite:
        # SQLite's own bytes of the text (UTF-8): no decoding to str and encoding back
        return cast(column, LargeBinary).label(name)
    if raw and name in RAW_TEXT_COLUMNS:
        # PostgreSQL's UTF-8 of the text, as bytea (the driver's C unescapes it)
        return type_coerce(func.convert_to(column, "UTF8"), LargeBinary).label(name)
    if kind in JSON_KINDS:
        # the text as stored: PostgreSQL's driver would decode it one Python call per value
        return cast(column, Text).label(name)
    if kind == "utc_time" and sqlite:
        # the stored text, parsed a column at a time (utc_column)
        return type_coerce(column, Text).label(name)
    if kind == "utc_time":
        # the dialect's DateTime (C-level parse on SQLite) without UTCDateTime's Python wrapper
        return type_coerce(column, DateTime(timezone=True)).label(name)
    return column


def snapshot_select(
    columns: Sequence[ColumnElement[Any]],
    since: datetime | None = None,
    site: str | None = None,
    event_since: date | None = None,
) -> Select[Any]:
    """``columns`` of the snapshot's articles in export order (publication instant, undated
    last, then id): published at or after ``since``, with an event day on or after
    ``event_since``, of ``site``, each filter where given."""
    query = select(*columns).order_by(Article.published_at_utc.asc().nulls_last(), Article.id)
    if since is not None:
        query = query.where(Article.published_at_utc >= since)
    if event_since is not None:
        query = query.where(Article.event_date >= event_since)
    if site is not None:
        query = query.where(Article.site == site)
    return query


def snapshot_batches(
    conn: Connection,
    since: datetime | None = None,
    site: str | None = None,
    event_since: date | None = None,
    *,
    raw_text: bool = False,
) -> Iterator[list[tuple[Any, ...]]]:
    """The snapshot's rows in export order (publication instant, undated last, then id), as
    batches of tuples in ``EXPORT_COLUMNS`` order; the filters of ``iter_articles``.
    ``raw_text``: the ``RAW_TEXT_COLUMNS`` as their UTF-8 bytes where the database gives them
    so (SQLite)."""
    query = snapshot_select(_columns(conn, raw_text), since, site, event_since)
    result = conn.execution_options(yield_per=BATCH_ROWS).execute(query)
    for batch in result.partitions():
        yield _converted(batch)


def rows_by_id(
    conn: Connection, article_ids: Sequence[str], *, raw_text: bool = False
) -> dict[str, tuple[Any, ...]]:
    """The export rows (as :func:`snapshot_batches` gives them) of these articles, by id; an
    id the table does not hold is not in it."""
    query = select(*_columns(conn, raw_text)).where(one_of(conn, Article.id, article_ids))
    key = TABLE_COLUMNS.index("id")
    return {row[key]: row for row in _converted(conn.execute(query).all())}


def one_of(conn: Connection, column: Any, values: Sequence[Any]) -> Any:
    """``column IN values``, the values as one parameter: a thousand parameters of an IN list
    cost SQLAlchemy (and psycopg) a few milliseconds to render and parse, a tenth of an export
    worker's time. PostgreSQL: ``= ANY`` of an array; SQLite (3.38 and later, JSON built in):
    ``IN`` the values of a JSON array (``json_each``); otherwise the IN list."""
    from sqlalchemy import any_, bindparam, func, literal_column, select  # noqa: PLC0415

    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY  # noqa: PLC0415

        joined = ",".join(map(str, values))
        if joined.count(",") == len(values) - 1:
            # one text split by the server: psycopg dumps a list of a thousand strings in
            # Python, a tenth of an export worker's time
            split = func.string_to_array(bindparam(None, joined, type_=Text), ",")
            return column == any_(cast(split, ARRAY(column.type)))
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    if conn.dialect.name == "sqlite" and sqlite3.sqlite_version_info >= (3, 38):
        each = func.json_each(bindparam(None, json.dumps(list(values))))
        return column.in_(select(literal_column("value")).select_from(each))
    return column.in_(values)


def _columns(conn: Connection, raw_text: bool) -> list[Any]:
    sqlite = conn.dialect.name == "sqlite"
    return [_read_column(name, raw_text, sqlite) for name in TABLE_COLUMNS]


# what the reading converts column by column: (index, function) of each JSON and UTC column
_CONVERTERS = [
    (index, decode_json_column if BY_NAME[name].kind in JSON_KINDS else utc_column)
    for index, name in enumerate(TABLE_COLUMNS)
    if BY_NAME[name].kind in JSON_KINDS or BY_NAME[name].kind == "utc_time"
]
_EVENT = TABLE_COLUMNS.index("event_date")
_QUALITY = TABLE_COLUMNS.index("published_at_quality")
_PUBLISHED = TABLE_COLUMNS.index("published_at")


def _converted(batch: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """A batch of raw rows as export rows: JSON decoded, times UTC, ``best_date`` added."""
    if not batch:
        return []
    columns: list[Any] = list(zip(*batch, strict=True))
    for index, convert in _CONVERTERS:
        columns[index] = convert(columns[index])
    columns.append(list(map(best_date, columns[_EVENT], columns[_QUALITY], columns[_PUBLISHED])))
    return list(zip(*columns, strict=True))


def prefetched(batches: Iterator[T], depth: int = PREFETCH_BATCHES) -> Generator[T, None, None]:
    """``batches``, read in a thread of their own up to ``depth`` ahead: the database's work
    (SQLite reading its pages, a PostgreSQL server's query and the socket, none of which holds
    the GIL) goes on while the writer encodes the batch before. The reading's error is raised
    here; a writer that stops early stops the reading (the batches' generator is closed in its
    own thread, which ends its connection)."""
    queue: Queue[tuple[bool, Any]] = Queue(maxsize=depth)
    stop = threading.Event()

    def hand(item: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=_POLL_S)
            except Full:
                continue
            return True
        return False

    def read() -> None:
        try:
            for batch in batches:
                if not hand((False, batch)):
                    return
        except BaseException as exc:  # raised in the writer's thread
            hand((True, exc))
            return
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()
        hand((True, None))

    reader = threading.Thread(target=read, name="export-reader", daemon=True)
    reader.start()
    try:
        while True:
            try:
                done, item = queue.get(timeout=_POLL_S)
            except Empty:
                if not reader.is_alive() and queue.empty():
                    raise RuntimeError("the export's reader ended without a word") from None
                continue
            if done:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        reader.join()
