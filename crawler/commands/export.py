"""``scrapy export``: a full snapshot of the stored articles as JSONL, CSV or Parquet.

Columns, in this order: ``EXPORT_FIELDS`` (crawler/items.py), then ``first_seen`` and
``last_seen`` (UTC, when the crawler first and last met the article). Rows are ordered by
publication instant, then id; articles without a publication date come last. Every site in the
database, or one (``--site NAME``; a name the database does not hold is refused, naming those
it holds).

- JSONL: one UTF-8 JSON object per line, Vietnamese unescaped.
- CSV: text columns as they are (an empty cell is null), ``summary_truncated`` as
  ``true``/``false``, list and object columns as JSON text; :func:`parse_csv_row` reverses it.
- Parquet: strings, a bool, ``list<string>`` for URL/tag lists, JSON text for lists of objects
  (images, attachments, problems), ``timestamp[us, tz=UTC]`` for first_seen/last_seen.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError
from sqlalchemy import Engine, inspect, make_url, select
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from crawler.config import ConfigError
from crawler.items import EXPORT_FIELDS
from crawler.paths import DEFAULT_OUTPUT_DIR, PLACES_BY_SETTING, resolve_output_paths
from crawler.sites.profile import find_profile, profile_dirs
from pipelines.storage.models import Article
from pipelines.storage.secrets import install_redaction, redact_url
from pipelines.storage.store import ArticleStore, StorageError, create_db_engine

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

EXPORT_COLUMNS: tuple[str, ...] = (*EXPORT_FIELDS, "first_seen", "last_seen")
FORMATS = {"jsonl": "jsonl", "csv": "csv", "parquet": "parquet"}
STRING_LIST_COLUMNS = frozenset({"alternate_urls", "tags", "related_urls"})
OBJECT_LIST_COLUMNS = frozenset({"images", "attachments", "problems"})
BOOL_COLUMNS = frozenset({"summary_truncated"})
TIME_COLUMNS = frozenset({"first_seen", "last_seen"})
NOT_NULL_COLUMNS = BOOL_COLUMNS | TIME_COLUMNS | STRING_LIST_COLUMNS | {"id", "site", "url"}
CHUNK_ROWS = 1000
# the default file name of an export of every site
ALL_SITES_NAME = "articles"

PARQUET_SCHEMA = pa.schema(
    [
        pa.field(
            name,
            pa.list_(pa.string())
            if name in STRING_LIST_COLUMNS
            else pa.bool_()
            if name in BOOL_COLUMNS
            else pa.timestamp("us", tz="UTC")
            if name in TIME_COLUMNS
            else pa.string(),
            nullable=name not in NOT_NULL_COLUMNS,
        )
        for name in EXPORT_COLUMNS
    ]
)


def since_instant(since: date, site_timezone: str) -> datetime:
    """Start of the given day on the site's clock, as UTC."""
    return datetime.combine(since, time(0), tzinfo=ZoneInfo(site_timezone)).astimezone(UTC)


def iter_articles(
    engine: Engine, since: datetime | None = None, site: str | None = None
) -> Iterator[dict[str, Any]]:
    """Rows as Python values (lists, bools, aware datetimes), in export order."""
    columns = [Article.__table__.c[name] for name in EXPORT_COLUMNS]
    query = select(*columns).order_by(Article.published_at_utc.asc().nulls_last(), Article.id)
    if since is not None:
        query = query.where(Article.published_at_utc >= since)
    if site is not None:
        query = query.where(Article.site == site)
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=CHUNK_ROWS).execute(query)
        for row in result.mappings():
            yield dict(row)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def to_jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {
        name: (row[name].isoformat() if name in TIME_COLUMNS else row[name])
        for name in EXPORT_COLUMNS
    }


def to_csv_row(row: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in EXPORT_COLUMNS:
        value = row[name]
        if name in TIME_COLUMNS:
            out[name] = value.isoformat()
        elif name in STRING_LIST_COLUMNS | OBJECT_LIST_COLUMNS or name in BOOL_COLUMNS:
            out[name] = _json(value)
        else:
            out[name] = "" if value is None else value
    return out


def parse_csv_row(row: dict[str, str]) -> dict[str, Any]:
    """The exported record back from one CSV row (``csv.DictReader``)."""
    out: dict[str, Any] = {}
    for name in EXPORT_COLUMNS:
        value = row[name]
        if name in STRING_LIST_COLUMNS | OBJECT_LIST_COLUMNS or name in BOOL_COLUMNS:
            out[name] = json.loads(value)
        else:
            out[name] = value if value != "" else None
    return out


def to_parquet_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        name: (_json(row[name]) if name in OBJECT_LIST_COLUMNS else row[name])
        for name in EXPORT_COLUMNS
    }


def stored_sites(engine: Engine) -> list[str]:
    """The sites the database holds articles of, sorted."""
    with engine.connect() as conn:
        return list(conn.scalars(select(Article.site).distinct().order_by(Article.site)))


def write_export(
    engine: Engine,
    fmt: str,
    output: Path,
    since: datetime | None = None,
    site: str | None = None,
) -> int:
    """Write the snapshot atomically (temporary file, then rename); returns the row count."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial")
    rows = iter_articles(engine, since, site)
    count = 0
    try:
        if fmt == "jsonl":
            with partial.open("w", encoding="utf-8", newline="\n") as fh:
                for row in rows:
                    fh.write(_json(to_jsonable(row)) + "\n")
                    count += 1
        elif fmt == "csv":
            with partial.open("w", encoding="utf-8", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=EXPORT_COLUMNS)
                writer.writeheader()
                for row in rows:
                    writer.writerow(to_csv_row(row))
                    count += 1
        else:
            with pq.ParquetWriter(partial, PARQUET_SCHEMA) as writer:
                chunk: list[dict[str, Any]] = []
                for row in rows:
                    chunk.append(to_parquet_row(row))
                    if len(chunk) >= CHUNK_ROWS:
                        writer.write_table(pa.Table.from_pylist(chunk, schema=PARQUET_SCHEMA))
                        count += len(chunk)
                        chunk = []
                # An empty snapshot still gets a file with the schema.
                writer.write_table(pa.Table.from_pylist(chunk, schema=PARQUET_SCHEMA))
                count += len(chunk)
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return count


def default_output(
    fmt: str,
    now: datetime | None = None,
    exports_dir: str | Path | None = None,
    site: str | None = None,
) -> Path:
    """``<EXPORTS_DIR>/<site>-<time>.<fmt>``, or ``articles-<time>`` for every site."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    directory = Path(exports_dir or PLACES_BY_SETTING["EXPORTS_DIR"].under(DEFAULT_OUTPUT_DIR))
    return directory / f"{site or ALL_SITES_NAME}-{stamp}.{fmt}"


def missing_database(database_url: str) -> str | None:
    """Why ``database_url`` holds no crawl to export (None when it does).

    An export reads; it must not create an empty database at a mistyped path and report
    "0 articles" as if the crawl had found none.
    """
    try:
        url = make_url(database_url)
    except ArgumentError:
        return f"DATABASE_URL is not a database URL: {redact_url(database_url)}"
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database).expanduser()
            if not path.is_file():
                return f"no database at {path}"
    try:
        engine = create_db_engine(database_url)
    except (SQLAlchemyError, ImportError):
        return None  # ArticleStore reports it with the driver's reason
    try:
        has_articles = inspect(engine).has_table(Article.__tablename__)
    except SQLAlchemyError:
        return None  # unreachable: ArticleStore reports it with the driver's reason
    finally:
        engine.dispose()
    if not has_articles:
        return f"no articles table in the database at {redact_url(database_url)}"
    return None


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False
    default_settings = {"LOG_LEVEL": "WARNING"}  # noqa: RUF012

    def syntax(self) -> str:
        return "--format jsonl|csv|parquet [--site NAME] [--since YYYY-MM-DD] [--output PATH]"

    def short_desc(self) -> str:
        return "Write a full snapshot of the stored articles from the database"

    def long_desc(self) -> str:
        return (
            "Write every stored article, one row each, ordered by publication date then id. "
            "--site keeps one site's articles (its profile name); "
            "--since keeps articles published on or after that day (site timezone). "
            "The database is DATABASE_URL (-s DATABASE_URL=...); one that does not exist or "
            "holds no articles table is refused (exit status 2). The default output is under "
            "OUTPUT_DIR/exports (-s OUTPUT_DIR=... or -s EXPORTS_DIR=...)."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("-f", "--format", dest="format", choices=sorted(FORMATS), required=True)
        parser.add_argument("--site", metavar="NAME", default=None)
        parser.add_argument("--since", metavar="YYYY-MM-DD", default=None)
        parser.add_argument("-o", "--output", metavar="PATH", default=None)

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        assert self.settings is not None
        resolve_output_paths(self.settings)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        if args:
            raise UsageError(f"unexpected arguments: {' '.join(args)}")
        since = None
        if opts.since:
            try:
                day = date.fromisoformat(opts.since)
            except ValueError:
                raise UsageError(f"--since wants YYYY-MM-DD, got {opts.since!r}") from None
            since = since_instant(day, self._timezone(opts.site))
        database_url = self.settings.get("DATABASE_URL")
        if not database_url:
            raise UsageError("DATABASE_URL is empty")
        install_redaction(url=database_url)
        missing = missing_database(database_url)
        if missing:
            print(f"export: {missing}", file=sys.stderr)
            self.exitcode = 2
            return
        output = (
            Path(opts.output)
            if opts.output
            else default_output(
                opts.format, exports_dir=self.settings.get("EXPORTS_DIR"), site=opts.site
            )
        )
        try:
            store = ArticleStore(database_url)
            try:
                with store.guard("export"):
                    unknown = self._unknown_site(store.engine, opts.site)
                    if unknown:
                        print(f"export: {unknown}", file=sys.stderr)
                        self.exitcode = 2
                        return
                    count = write_export(store.engine, opts.format, output, since, opts.site)
            finally:
                store.close()
        except StorageError as exc:
            print(f"export failed: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        print(f"exported {count} articles to {output}")

    def _timezone(self, site: str | None) -> str:
        """The zone of ``--since``: the site's profile's, else SITE_TIMEZONE."""
        assert self.settings is not None
        if site is not None:
            try:
                return find_profile(site, profile_dirs(self.settings)).timezone
            except ConfigError:
                pass  # a site crawled without a profile (generic spider)
        return str(self.settings.get("SITE_TIMEZONE", "Asia/Ho_Chi_Minh"))

    @staticmethod
    def _unknown_site(engine: Engine, site: str | None) -> str | None:
        # An export of a mistyped site must not look like a site with no articles.
        if site is None:
            return None
        sites = stored_sites(engine)
        if site in sites:
            return None
        held = ", ".join(sites) if sites else "none"
        return f"--site {site!r}: the database holds no articles of that site (sites: {held})"
