"""``scrapy export``: a full snapshot of the stored articles as JSONL, CSV or Parquet, or with
``--changed-since`` the articles new or changed since a time or a run (the change feed).

Columns and how each format writes them come from the record schema (``pipelines/schema``,
whose ``DATA.md`` documents every one): the snapshot's are ``EXPORT_COLUMNS`` (the record, then
``first_seen``, ``last_seen``, ``published_at_quality`` and ``best_date``), the change feed's
``CHANGE_COLUMNS`` (those, then ``change``, ``version``, ``changed_fields``). Rows are ordered
by publication instant, then id; articles without a publication date come last. Every site in
the database, or one (``--site NAME``; a name the database does not hold is refused, naming
those it holds). ``--since`` filters on the display date (``published_at``), or with ``--by
event`` on the event day (``event_date``).

- JSONL: one UTF-8 JSON object per line, Vietnamese unescaped (the JSON Schema's shape).
- CSV: text columns as they are (an empty cell is null), booleans ``true``/``false``, list and
  object columns as JSON text; a text cell a spreadsheet would run as a formula (``=``, ``+``,
  ``-``, ``@``, tab, CR first) gets a single quote in front; :func:`parse_csv_row` reverses it.
- Parquet: every day (``event_date``, ``best_date``) ``date32``, every time
  ``timestamp[us, tz=UTC]``, a time with the site's offset followed by its
  ``<name>_local`` string; lists of objects (images, attachments, problems) as lists of structs.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import UsageError

from crawler.domain.errors import ConfigError
from crawler.ops.database_command import DatabaseCommand, check_day_in_range, since_instant
from crawler.setup.paths import DEFAULT_OUTPUT_DIR, PLACES_BY_SETTING
from pipelines.schema import (
    CHANGE_COLUMNS,
    EXPORT_COLUMNS,
    arrow_schema,
    from_csv_cell,
)
from pipelines.storage.change_feed import (
    ChangeCutoff,
    article_changes,
    changed_rows,
    changed_since,
    history_columns,
    versions_histories,
    wide_window,
)
from pipelines.storage.export_jobs import MAX_DEFAULT_JOBS, default_jobs

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Connection, Engine

# SQLAlchemy, the models and the storage are imported in the functions that use them: Scrapy
# imports every command module at any `scrapy` start-up (`scrapy search --help` among them).

FORMATS = {"jsonl": "jsonl", "csv": "csv", "parquet": "parquet"}
CHUNK_ROWS = 1000
# an export's file buffer: a batch's lines (a few MB) go to the file in one write anyway
WRITE_BUFFER = 1 << 20
# the default file name of an export of every site
ALL_SITES_NAME = "articles"
# the default file name's marker of a change feed: <site>-changes-<time>.<ext>
CHANGES_NAME = "changes"

# Built on first use: pyarrow is a seventh of a second of every command's start-up otherwise.
_LAZY_SCHEMAS = {"PARQUET_SCHEMA": EXPORT_COLUMNS, "CHANGES_PARQUET_SCHEMA": CHANGE_COLUMNS}


def __getattr__(name: str) -> Any:
    if name in _LAZY_SCHEMAS:
        schema = arrow_schema(_LAZY_SCHEMAS[name])
        globals()[name] = schema
        return schema
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _jobs(value: str) -> int:
    """``--jobs``: a whole number of processes, at least 1."""
    try:
        jobs = int(value)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of processes (1 or more)")
    return jobs


def parse_changed_since(value: str, site_timezone: str) -> datetime | None:
    """An ISO timestamp with offset (or ``Z``), or a day (its start on the site's clock), as
    UTC; None when ``value`` is neither. A time without an offset is refused: it would be a
    guess between the site's clock and UTC."""
    text = value.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        if len(text) == 10:
            return since_instant(day, site_timezone, "--changed-since")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    check_day_in_range(moment.date(), "--changed-since", value)
    return moment.astimezone(UTC)


def resolve_cutoff(engine: Engine, value: str, site_timezone: str) -> ChangeCutoff | None:
    """``--changed-since``: a run id of the database, else a timestamp; None when neither."""
    from sqlalchemy import select  # noqa: PLC0415

    from pipelines.storage.models import CrawlRun  # noqa: PLC0415

    with engine.connect() as conn:
        started = conn.scalar(select(CrawlRun.started_at).where(CrawlRun.run_id == value.strip()))
    if started is not None:
        return ChangeCutoff(started, value.strip())
    instant = parse_changed_since(value, site_timezone)
    return ChangeCutoff(instant) if instant is not None else None


def iter_articles(
    engine: Engine,
    since: datetime | None = None,
    site: str | None = None,
    cutoff: ChangeCutoff | None = None,
    event_since: date | None = None,
) -> Iterator[dict[str, Any]]:
    """Rows as Python values (lists, bools, aware datetimes, dates), in export order; with a
    cut-off, only the articles new or changed since then, each with its change, version and
    changed fields. ``since``: published (display date) at or after that instant;
    ``event_since``: an event day on or after that day (articles without one are left out).

    The change feed reads the versions of ``CHUNK_ROWS`` articles at a time, as their rows
    stream: its memory is one chunk's, whatever the window (an older version carries its full
    bodies)."""
    from pipelines.storage.export_rows import snapshot_select  # noqa: PLC0415
    from pipelines.storage.models import Article  # noqa: PLC0415
    from pipelines.storage.quality import best_date_of  # noqa: PLC0415

    table = Article.__table__.c
    # best_date is derived from the row (pipelines/storage/quality.best_date_of)
    columns = [table[name] for name in EXPORT_COLUMNS if name in table]
    as_of = datetime.now(UTC)
    if cutoff is not None:
        columns += history_columns(cutoff, as_of)
    query = snapshot_select(columns, since, site, event_since)
    if cutoff is not None:
        query = query.where(changed_since(cutoff, site, as_of))
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=CHUNK_ROWS).execute(query)
        for chunk in result.mappings().partitions():
            rows = [dict(mapping) for mapping in chunk]
            for row in rows:
                row["best_date"] = best_date_of(row)
            if cutoff is not None:
                histories = [
                    (row.pop("_versions"), row.pop("_newest"), row.pop("_before")) for row in rows
                ]
                bodies = [(row["body_text"], row["body_html"]) for row in rows]
                for row, change in zip(rows, article_changes(conn, histories, bodies), strict=True):
                    row["change"] = change.change
                    row["version"] = change.version
                    row["changed_fields"] = change.changed_fields
            yield from rows


def to_jsonable(row: dict[str, Any], columns: tuple[str, ...] = EXPORT_COLUMNS) -> dict[str, Any]:
    return {
        name: (row[name].isoformat() if isinstance(row[name], (datetime, date)) else row[name])
        for name in columns
    }


def parse_csv_row(row: dict[str, str], columns: tuple[str, ...] = EXPORT_COLUMNS) -> dict[str, Any]:
    """The exported record back from one CSV row (``csv.DictReader``)."""
    return {name: from_csv_cell(name, row[name]) for name in columns}


def stored_sites(engine: Engine) -> list[str]:
    """The sites the database holds articles of, sorted."""
    from sqlalchemy import String, column, select, table  # noqa: PLC0415

    from pipelines.storage.engine import ARTICLES_TABLE  # noqa: PLC0415

    # Core, not the Article model: a search or a change feed does not import the ORM.
    site = column("site", String)
    with engine.connect() as conn:
        query = select(site).select_from(table(ARTICLES_TABLE)).distinct().order_by(site)
        return list(conn.scalars(query))


def holds_site(engine: Engine, site: str) -> bool:
    """Whether the database holds an article of ``site``: one index look-up, where listing
    every site reads the whole site index (a tenth of a second at a million articles)."""
    from sqlalchemy import String, column, select, table  # noqa: PLC0415

    from pipelines.storage.engine import ARTICLES_TABLE  # noqa: PLC0415

    stored = column("site", String)
    query = select(stored).select_from(table(ARTICLES_TABLE)).where(stored == site).limit(1)
    with engine.connect() as conn:
        return conn.scalar(query) is not None


def write_export(
    engine: Engine,
    fmt: str,
    output: Path,
    since: datetime | None = None,
    site: str | None = None,
    *,
    cutoff: ChangeCutoff | None = None,
    event_since: date | None = None,
    jobs: int = 1,
) -> int:
    """Write the snapshot (or, with a cut-off, the change feed) atomically (temporary file,
    then rename); returns the row count. ``jobs`` > 1: the rows are read and encoded by that
    many worker processes on the parent's snapshot (pipelines/storage/export_jobs.py), the
    same file; where SQLite could not give them that snapshot, by this process alone."""
    from pipelines.schema.writers import (  # noqa: PLC0415
        write_csv_bytes,
        write_jsonl_bytes,
        write_parquet,
    )
    from pipelines.storage.export_jobs import SnapshotMoved  # noqa: PLC0415
    from pipelines.storage.export_rows import prefetched  # noqa: PLC0415

    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    columns = EXPORT_COLUMNS if cutoff is None else CHANGE_COLUMNS
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial")
    if jobs > 1:
        filters = ExportFilters(since, site, event_since, cutoff, datetime.now(UTC))
        try:
            count = _write_parallel(engine, fmt, partial, columns, filters=filters, jobs=jobs)
            os.replace(partial, output)
            return count
        except SnapshotMoved:
            pass  # a crawl committed as the workers started: this process alone, below
        finally:
            partial.unlink(missing_ok=True)
    # the rows are read in a thread of their own while the writer encodes (export_rows)
    batches = prefetched(
        _export_batches(
            engine,
            columns,
            since=since,
            site=site,
            cutoff=cutoff,
            event_since=event_since,
            # every writer takes the large texts as UTF-8 bytes
            raw_text=True,
        )
    )
    try:
        if fmt == "jsonl":
            with partial.open("wb", buffering=WRITE_BUFFER) as fh:
                count = write_jsonl_bytes(fh, columns, batches)
        elif fmt == "csv":
            with partial.open("wb", buffering=WRITE_BUFFER) as fh:
                count = write_csv_bytes(fh, columns, batches)
        else:
            count = write_parquet(partial, columns, batches, arrow_schema(columns))
        os.replace(partial, output)
    finally:
        batches.close()  # a writer's error stops the reading at once
        partial.unlink(missing_ok=True)
    return count


@dataclass(frozen=True, slots=True)
class ExportFilters:
    """What an export keeps (the options of :func:`write_export`) and the instant its change
    feed reads versions up to."""

    since: datetime | None
    site: str | None
    event_since: date | None
    cutoff: ChangeCutoff | None
    as_of: datetime


def _write_parallel(
    engine: Engine,
    fmt: str,
    partial: Path,
    columns: tuple[str, ...],
    *,
    filters: ExportFilters,
    jobs: int,
) -> int:
    """:func:`write_export`'s file written from ``jobs`` worker processes' payloads: the
    parent reads the ids in export order and writes, each worker reads its ids' rows and
    encodes them (:func:`_unit_payload`)."""
    from functools import partial as bind  # noqa: PLC0415

    from pipelines.schema.writers import (  # noqa: PLC0415
        csv_chunks,
        write_chunks,
        write_parquet_tables,
    )
    from pipelines.storage.export_jobs import parallel_payloads  # noqa: PLC0415

    payloads = parallel_payloads(
        engine, bind(_unit_ids, filters), bind(_unit_payload, fmt, columns, filters), jobs
    )
    try:
        if fmt == "parquet":
            import pyarrow as pa  # noqa: PLC0415

            tables = (pa.ipc.open_stream(payload).read_all() for _, payload in payloads)
            return write_parquet_tables(partial, columns, tables, arrow_schema(columns))
        # a CSV's header row (a chunk of no rows) is the parent's, the workers' payloads follow
        header = [next(csv_chunks(columns, []))] if fmt == "csv" else []
        with partial.open("wb", buffering=WRITE_BUFFER) as fh:
            return write_chunks(fh, chain(header, payloads))
    finally:
        payloads.close()  # a writer's error stops the workers at once


def snapshot_ids_query(filters: ExportFilters, *, wide: bool = False) -> Any:
    """The ids of the export's rows in export order (for a change feed, of the articles with
    a version in its window: ``wide``, see :func:`changed_since`)."""
    from pipelines.storage.export_rows import snapshot_select  # noqa: PLC0415
    from pipelines.storage.models import Article  # noqa: PLC0415

    query = snapshot_select(
        [Article.__table__.c.id], filters.since, filters.site, filters.event_since
    )
    if filters.cutoff is None:
        return query
    return query.where(changed_since(filters.cutoff, filters.site, filters.as_of, wide=wide))


def _unit_ids(filters: ExportFilters, conn: Connection) -> Iterator[list[str]]:
    """The ids of the export's rows in export order, ``UNIT_ROWS`` at a time (the index of
    the order, no row read)."""
    from pipelines.storage.export_jobs import UNIT_ROWS  # noqa: PLC0415

    wide = filters.cutoff is not None and wide_window(
        conn, filters.cutoff, filters.site, filters.as_of
    )
    query = snapshot_ids_query(filters, wide=wide)
    result = conn.execution_options(yield_per=UNIT_ROWS).execute(query)
    for part in result.partitions():
        yield [article_id for (article_id,) in part]


def _unit_payload(
    fmt: str, columns: tuple[str, ...], filters: ExportFilters, conn: Connection, ids: list[str]
) -> tuple[int, bytes]:
    """A worker's unit: the rows of these ids (with their changes, for a change feed), in the
    ids' order, encoded as ``fmt`` (JSON lines, CSV rows without the header, or an Arrow IPC
    stream of the batch's table); with the row count."""
    from pipelines.schema.writers import arrow_table, csv_chunks, jsonl_chunks  # noqa: PLC0415
    from pipelines.storage.export_rows import rows_by_id  # noqa: PLC0415

    if filters.cutoff is None:
        found = rows_by_id(conn, ids, raw_text=True)
        rows = [found[article_id] for article_id in ids if article_id in found]
    else:
        rows = changed_rows(
            conn, versions_histories(conn, ids, filters.cutoff, filters.as_of), raw_text=True
        )
    if fmt == "parquet":
        import pyarrow as pa  # noqa: PLC0415

        table = arrow_table(columns, rows, arrow_schema(columns))
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as stream:
            stream.write_table(table)
        return len(rows), sink.getvalue().to_pybytes()
    chunks = jsonl_chunks(columns, [rows]) if fmt == "jsonl" else csv_chunks(columns, [rows])
    payload = [data for count, data in chunks if count]  # a CSV's header is the parent's
    return len(rows), b"".join(payload)


def _export_batches(
    engine: Engine,
    columns: tuple[str, ...],
    *,
    since: datetime | None,
    site: str | None,
    cutoff: ChangeCutoff | None,
    event_since: date | None,
    raw_text: bool = False,
) -> Iterator[list[tuple[Any, ...]]]:
    """The rows to write, in batches of tuples in ``columns`` order, read column-wise
    (pipelines/storage/export_rows.py); the change feed's rows are the snapshot's rows of the
    articles with a version in the window, each followed by its change, version and changed
    fields (:func:`history_columns`, :func:`article_changes`), a batch at a time: its memory
    is one batch's."""
    from pipelines.storage.export_rows import snapshot_batches  # noqa: PLC0415

    with engine.connect() as conn:
        if cutoff is None:
            yield from snapshot_batches(conn, since, site, event_since, raw_text=raw_text)
            return
        from pipelines.storage.export_rows import snapshot_select  # noqa: PLC0415
        from pipelines.storage.models import Article  # noqa: PLC0415

        as_of = datetime.now(UTC)
        # The feed's ids in export order with their histories first, then each batch's rows by
        # id: ordering whole rows made SQLite sort every row of the feed in a temporary b-tree
        # (its articles are looked up by id, outside the order's index) before writing one.
        ids = snapshot_select(
            [Article.__table__.c.id, *history_columns(cutoff, as_of)], since, site, event_since
        ).where(changed_since(cutoff, site, as_of, wide=wide_window(conn, cutoff, site, as_of)))
        result = conn.execution_options(yield_per=CHUNK_ROWS).execute(ids)
        for part in result.partitions():
            yield changed_rows(conn, [(entry[0], tuple(entry[1:])) for entry in part], raw_text)


def add_by_option(parser: argparse.ArgumentParser) -> None:
    """``--by display|event``: which date ``--since`` filters on."""
    parser.add_argument(
        "--by",
        choices=("display", "event"),
        default="display",
        help=(
            "which date --since filters on: display (published_at, the page's date, the "
            "default) or event (event_date, the day the lead opens with)"
        ),
    )


def default_output(
    fmt: str,
    now: datetime | None = None,
    exports_dir: str | Path | None = None,
    site: str | None = None,
    changes: bool = False,
) -> Path:
    """``<EXPORTS_DIR>/<site>-<time>.<fmt>``, or ``articles-<time>`` for every site; a change
    feed's is ``<site>-changes-<time>.<fmt>``."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    directory = Path(exports_dir or PLACES_BY_SETTING["EXPORTS_DIR"].under(DEFAULT_OUTPUT_DIR))
    name = site or ALL_SITES_NAME
    if changes:
        name = f"{name}-{CHANGES_NAME}"
    return directory / f"{name}-{stamp}.{fmt}"


class Command(DatabaseCommand):
    name = "export"

    def syntax(self) -> str:
        return (
            "--format jsonl|csv|parquet [--site NAME] [--since YYYY-MM-DD [--by display|event]] "
            "[--changed-since TIMESTAMP|RUN_ID] [--output PATH]"
        )

    def short_desc(self) -> str:
        return "Write the stored articles (or those changed since a time or run) from the database"

    def long_desc(self) -> str:
        return (
            "Write every stored article, one row each, ordered by publication date then id. "
            "--site keeps one site's articles (its profile name); "
            "--since keeps articles whose display date (published_at, what the page says) "
            "is on or after that day (site timezone); with --by event, those whose event day "
            "(event_date, the day the lead opens with) is, which leaves out articles without "
            "one. "
            "--changed-since writes only the articles new or changed since an ISO timestamp "
            "with offset (2024-05-02T09:00:00+07:00), a day (its start on the site's clock) "
            "or a run id of the database (what came after that run), each with its change "
            "(new/changed), version and changed_fields. "
            "The database is DATABASE_URL (-s DATABASE_URL=...); one that does not exist or "
            "holds no articles table is refused (exit status 2). The default output is under "
            "OUTPUT_DIR/exports (-s OUTPUT_DIR=... or -s EXPORTS_DIR=...)."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("-f", "--format", dest="format", choices=sorted(FORMATS), required=True)
        parser.add_argument("--site", metavar="NAME", default=None)
        parser.add_argument("--since", metavar="YYYY-MM-DD", default=None)
        add_by_option(parser)
        parser.add_argument(
            "--changed-since", dest="changed_since", metavar="TIMESTAMP|RUN_ID", default=None
        )
        parser.add_argument("-o", "--output", metavar="PATH", default=None)
        parser.add_argument(
            "-j",
            "--jobs",
            type=_jobs,
            default=None,
            metavar="N",
            help=(
                "worker processes that read and encode the rows, all on one snapshot of the "
                "database (default: the cores this process may use, at most "
                f"{MAX_DEFAULT_JOBS}; 1: this process alone). The file is the same either way"
            ),
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        if args:
            raise UsageError(f"unexpected arguments: {' '.join(args)}")
        since, event_since = self.since_options(opts)
        database_url = self.database_url()
        if database_url is None:
            return
        output = (
            Path(opts.output)
            if opts.output
            else default_output(
                opts.format,
                exports_dir=self.settings.get("EXPORTS_DIR"),
                site=opts.site,
                changes=opts.changed_since is not None,
            )
        )
        cutoff: ChangeCutoff | None = None
        from pipelines.storage.engine import StorageError  # noqa: PLC0415

        try:
            store = self.open_database(database_url)
            try:
                with store.guard("export"):
                    unknown = self._unknown_site(store.engine, opts.site)
                    if unknown:
                        self.refuse(unknown)
                        return
                    if opts.changed_since is not None:
                        try:
                            cutoff = resolve_cutoff(
                                store.engine, opts.changed_since, self.site_timezone(opts.site)
                            )
                        except ConfigError as exc:  # a day or time out of range
                            self.refuse(str(exc))
                            return
                        if cutoff is None:
                            self.refuse(
                                f"--changed-since {opts.changed_since!r} is neither an ISO "
                                "timestamp with offset (2024-05-02T09:00:00+07:00), a day "
                                "(2024-05-02) nor a run id of the database"
                            )
                            return
                    count = write_export(
                        store.engine,
                        opts.format,
                        output,
                        since,
                        opts.site,
                        cutoff=cutoff,
                        event_since=event_since,
                        jobs=opts.jobs if opts.jobs is not None else default_jobs(),
                    )
            finally:
                store.close()
        except StorageError as exc:
            print(f"export failed: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        if cutoff is not None:
            print(f"exported {count} articles new or changed since {cutoff.describe()} to {output}")
            return
        print(f"exported {count} articles to {output}")

    def since_options(self, opts: argparse.Namespace) -> tuple[datetime | None, date | None]:
        """``--since`` as (display instant, None), or with ``--by event`` as (None, day)."""
        if opts.by == "display" or not opts.since:
            if opts.by == "event" and not opts.since:
                self.refuse("--by event needs --since YYYY-MM-DD")
                raise SystemExit(self.exitcode)
            return self.since_option(opts.since, opts.site), None
        # The instant check says what is wrong with a bad day, once for both dates.
        self.since_option(opts.since, opts.site)
        return None, date.fromisoformat(opts.since)

    @staticmethod
    def _unknown_site(engine: Engine, site: str | None) -> str | None:
        # An export of a mistyped site must not look like a site with no articles.
        if site is None or holds_site(engine, site):
            return None
        sites = stored_sites(engine)
        if site in sites:
            return None
        held = ", ".join(sites) if sites else "none"
        return f"--site {site!r}: the database holds no articles of that site (sites: {held})"
