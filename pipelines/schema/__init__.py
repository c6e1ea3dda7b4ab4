"""The record schema: one description of every column the crawler writes.

Everything else is generated from ``COLUMNS``: the JSON Schema
(``pipelines/schema/article.schema.json``, which validates the per-run JSONL feed and the
JSONL exports), the Arrow schema of the Parquet exports, the CSV cells and the data
dictionary (``pipelines/schema/DATA.md``). ``python -m pipelines.schema`` rewrites the two
files; ``python -m pipelines.schema --check`` says whether they are current.

Where a column appears: ``record`` columns are in every output (the feed, the exports, the
change feed); ``feed`` only in the per-run feed and the change feed; ``export`` in the
database exports (snapshot and change feed); ``changes`` in the change feed only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pyarrow as pa


Kind = Literal[
    "string", "bool", "int", "date", "local_time", "utc_time", "string_list", "object_list"
]
Scope = Literal["record", "feed", "export", "changes"]

SCHEMA_DIR = Path(__file__).resolve().parent
JSON_SCHEMA_PATH = SCHEMA_DIR / "article.schema.json"
DATA_DICTIONARY_PATH = SCHEMA_DIR / "DATA.md"

URL_PATTERN = r"^https?://[^\s]+$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
ISO_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$"
# The Parquet column that keeps a local_time column's string, offset and all.
LOCAL_SUFFIX = "_local"


@dataclass(frozen=True, slots=True)
class Member:
    """One key of the objects in an ``object_list`` column."""

    name: str
    nullable: bool
    description: str
    url: bool = False
    pattern: str | None = None


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind
    nullable: bool
    description: str
    example: Any
    scope: Scope = "record"
    pattern: str | None = None
    url: bool = False  # a URL (or, for string_list, a list of URLs)
    members: tuple[Member, ...] = ()  # object_list only
    unique: bool = False  # string_list only: no repeated items
    choices: tuple[str, ...] = ()  # string: the allowed values


def _problems_member_code() -> Member:
    return Member(
        "code",
        False,
        "short slug (docs/record.md: problem codes); the list grows",
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
    )


COLUMNS: tuple[Column, ...] = (
    Column(
        "id",
        "string",
        False,
        "stable id: the first 20 hex digits of SHA-256 of the article's key, its display-page URL",
        "0f1e2d3c4b5a69788796",
        pattern=r"^[0-9a-f]{20}$",
    ),
    Column(
        "site",
        "string",
        False,
        "the site's key: its profile's name, or for a portal without a profile its host as a slug",
        "hepza",
        pattern=r"^[a-z0-9][a-z0-9-]*$",
    ),
    Column(
        "url",
        "string",
        False,
        "the article's canonical URL",
        "https://hepza.hochiminhcity.gov.vn/w/hoi-nghi-so-ket",
        url=True,
    ),
    Column(
        "alternate_urls",
        "string_list",
        False,
        "the other URLs met for the article (locale prefixes, Asset Publisher views)",
        ["https://hepza.hochiminhcity.gov.vn/vi/w/hoi-nghi-so-ket"],
        url=True,
        unique=True,
    ),
    Column("title", "string", True, "the headline", "Hội nghị sơ kết công tác Đảng bộ"),
    Column("summary", "string", True, "the lead paragraph or description", "Sáng ngày 18/01…"),
    Column(
        "summary_truncated",
        "bool",
        False,
        "the summary is still the page's cut version",
        False,
    ),
    Column(
        "body_text",
        "string",
        True,
        "the article's paragraphs separated by blank lines",
        "Đoạn một.\n\nĐoạn hai.",
    ),
    Column(
        "body_html",
        "string",
        True,
        "the body's HTML, sanitized (no scripts, styles, iframes or event handlers)",
        "<p>Đoạn một.</p>",
    ),
    Column("author", "string", True, "the byline", "Phòng Quản lý Doanh nghiệp"),
    Column(
        "published_at",
        "local_time",
        True,
        "publication time, ISO 8601 with the site's UTC offset",
        "2023-01-18T17:48:00+07:00",
    ),
    Column(
        "published_at_raw",
        "string",
        True,
        "the date string as the page showed it",
        "18/01/2023 17:48",
    ),
    Column(
        "published_at_source",
        "string",
        True,
        "where published_at came from (json_ld, meta, display_date, listing, ...)",
        "display_date",
    ),
    Column(
        "published_at_precision",
        "string",
        True,
        "what published_at states: minute (the page gave the time of day) or day (a date "
        "only, such as the Asset Publisher's 18/01/2023: published_at is that day's midnight "
        "in the site's zone, to be refined by a page that gives the time)",
        "minute",
        choices=("minute", "day"),
    ),
    Column(
        "modified_at",
        "local_time",
        True,
        "last modification time, ISO 8601 with offset",
        "2023-01-19T08:00:00+07:00",
    ),
    Column(
        "event_date",
        "date",
        True,
        'the day of the event the lead opens with ("Ngày 12/10, ...", "Sáng 17/5, ...", '
        '"On October 12, ..."); a day without a year is the latest such day on or before the '
        "display day; null when the lead opens with no day (docs/record.md: event_date)",
        "2022-10-12",
        pattern=DATE_PATTERN,
    ),
    Column(
        "event_date_source",
        "string",
        True,
        "where event_date came from; null when there is none",
        "lead",
        choices=("lead",),
    ),
    Column(
        "language",
        "string",
        True,
        "the page's locale",
        "vi-VN",
        pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$",
    ),
    Column("category", "string", True, "the listing or section the article belongs to", "Tin tức"),
    Column("tags", "string_list", False, "the page's keywords", ["đầu tư", "KCX"]),
    Column(
        "images",
        "object_list",
        False,
        "the body's images",
        [{"url": "https://hepza.hochiminhcity.gov.vn/documents/a.jpg", "caption": "Toàn cảnh"}],
        members=(
            Member("url", False, "absolute image URL", url=True),
            Member("caption", True, "the caption, if any"),
        ),
    ),
    Column(
        "attachments",
        "object_list",
        False,
        "documents the article links to (PDF, Word, ...)",
        [{"url": "https://hepza.hochiminhcity.gov.vn/documents/qd.pdf", "title": "Quyết định"}],
        members=(
            Member("url", False, "absolute document URL", url=True),
            Member("title", True, "the link's text, if any"),
        ),
    ),
    Column(
        "related_urls",
        "string_list",
        False,
        "the related articles' URLs",
        ["https://hepza.hochiminhcity.gov.vn/w/tin-lien-quan"],
        url=True,
    ),
    Column(
        "content_hash",
        "string",
        False,
        "SHA-256 of the content fields; a new value means a real edit",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        pattern=r"^[0-9a-f]{16,128}$",
    ),
    Column(
        "crawled_at",
        "local_time",
        True,
        "when the page was fetched, ISO 8601 with offset",
        "2024-05-02T09:15:30+07:00",
    ),
    Column("source", "string", True, "the host the record came from", "hepza.hochiminhcity.gov.vn"),
    Column(
        "parser_version",
        "string",
        True,
        "the extraction rules' version (PARSER_VERSION) and the code's fingerprint that produced "
        "the record: filter by it to find what an older rule extracted",
        "1+3f2a9c0d1b7e",
    ),
    Column(
        "problems",
        "object_list",
        False,
        "what the pipelines could not be sure of (docs/record.md: problem codes)",
        [{"field": "author", "code": "missing_author", "message": "no byline"}],
        members=(
            Member("field", True, "the field concerned"),
            _problems_member_code(),
            Member("message", False, "what was found"),
        ),
    ),
    Column(
        "archive_record",
        "string",
        True,
        "where the page this record was extracted from is archived: the WARC file (relative "
        "to ARCHIVE_DIR) and the byte offset of the record holding its payload "
        "(docs/archive.md); null when the run did not archive",
        "hepza-20240502T021530123456Z-4242-00000.warc.gz:183402",
        pattern=r"^[^\s:]+\.warc\.gz:\d+$",
    ),
    Column(
        "first_seen",
        "utc_time",
        False,
        "when the crawler first stored the article (UTC)",
        "2024-05-02T02:15:31.125000+00:00",
        scope="export",
    ),
    Column(
        "last_seen",
        "utc_time",
        False,
        "when the crawler last met the article (UTC)",
        "2024-06-01T02:10:04.500000+00:00",
        scope="export",
    ),
    Column(
        "published_at_quality",
        "string",
        True,
        "bulk: at least PUBLISHED_AT_BULK_THRESHOLD of the site's stored articles share this "
        "display day and hour (a migration stamped them, published_at is not when they were "
        "published); ok otherwise; null without published_at. Kept current as articles arrive",
        "bulk",
        scope="export",
        choices=("ok", "bulk"),
    ),
    Column(
        "best_date",
        "date",
        True,
        "the day to count the article on: event_date where published_at_quality is bulk and "
        "event_date is known, otherwise published_at's day (the site's calendar); null without "
        "either",
        "2022-10-12",
        scope="export",
        pattern=DATE_PATTERN,
    ),
    Column(
        "change",
        "string",
        False,
        "what the run found the article to be against the database (the change feed: new or "
        "changed since the cut-off)",
        "new",
        scope="feed",
        choices=("new", "changed", "unchanged"),
    ),
    Column(
        "version",
        "int",
        False,
        "the article's version number: 1 for its first sighting, +1 for each edit",
        2,
        scope="changes",
    ),
    Column(
        "changed_fields",
        "string_list",
        False,
        "the fields whose values differ from the newest version before the cut-off ([] for "
        "a new article)",
        ["title", "body_text", "body_html"],
        scope="changes",
    ),
)

BY_NAME: dict[str, Column] = {column.name: column for column in COLUMNS}
RECORD_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.scope == "record")
# scrapy export: the record, then when the crawler first and last met it
EXPORT_COLUMNS: tuple[str, ...] = (
    *RECORD_COLUMNS,
    *(c.name for c in COLUMNS if c.scope == "export"),
)
# scrapy export --changed-since: the export's columns, then what changed
CHANGE_COLUMNS: tuple[str, ...] = (
    *EXPORT_COLUMNS,
    "change",
    *(c.name for c in COLUMNS if c.scope == "changes"),
)

# --- JSON Schema ------------------------------------------------------------------------------


def _json_type(base: str, nullable: bool) -> str | list[str]:
    return [base, "null"] if nullable else base


def _string_schema(
    nullable: bool, *, url: bool = False, pattern: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"type": _json_type("string", nullable)}
    if url:
        out["format"] = "uri"
        out["pattern"] = URL_PATTERN
    elif pattern:
        out["pattern"] = pattern
    return out


def _column_json_schema(column: Column) -> dict[str, Any]:
    out: dict[str, Any]
    if column.kind == "string":
        out = _string_schema(column.nullable, url=column.url, pattern=column.pattern)
        if column.choices:
            out["enum"] = [*column.choices, *([None] if column.nullable else [])]
    elif column.kind == "date":
        out = {"type": _json_type("string", column.nullable), "format": "date"}
        out["pattern"] = DATE_PATTERN
    elif column.kind in ("local_time", "utc_time"):
        out = {"type": _json_type("string", column.nullable), "format": "date-time"}
        out["pattern"] = ISO_PATTERN
    elif column.kind == "bool":
        out = {"type": _json_type("boolean", column.nullable)}
    elif column.kind == "int":
        out = {"type": _json_type("integer", column.nullable), "minimum": 1}
    elif column.kind == "string_list":
        out = {
            "type": _json_type("array", column.nullable),
            "items": _string_schema(False, url=column.url),
        }
        if column.unique:
            out["uniqueItems"] = True
    else:
        properties: dict[str, Any] = {}
        for member in column.members:
            properties[member.name] = _string_schema(
                member.nullable, url=member.url, pattern=member.pattern
            )
            properties[member.name]["description"] = member.description
        out = {
            "type": _json_type("array", column.nullable),
            "items": {
                "type": "object",
                "required": [m.name for m in column.members if not m.nullable],
                "additionalProperties": False,
                "properties": properties,
            },
        }
    out["description"] = _scoped_description(column)
    return out


def _scoped_description(column: Column) -> str:
    where = {
        "record": "",
        "feed": "per-run feed and change feed only: ",
        "export": "database exports only: ",
        "changes": "change feed only: ",
    }[column.scope]
    return where + column.description


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a JSONL line: the feed's, an export's, or the change feed's."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/hepza-crawler/hepza-crawler/pipelines/schema/article.schema.json",
        "title": "Liferay news article",
        "description": (
            "One article as JSONL writes it: the per-run feed (which adds change), `scrapy "
            "export` (which adds first_seen, last_seen, published_at_quality and best_date) and "
            "`scrapy export --changed-since` (which adds those, then change, version and "
            "changed_fields). Generated "
            "from pipelines/schema/__init__.py; see DATA.md beside it."
        ),
        "type": "object",
        "required": list(RECORD_COLUMNS),
        "additionalProperties": False,
        "properties": {column.name: _column_json_schema(column) for column in COLUMNS},
    }


def json_schema_text() -> str:
    return json.dumps(json_schema(), ensure_ascii=False, indent=2) + "\n"


# --- Arrow / Parquet --------------------------------------------------------------------------


def _arrow_fields(column: Column) -> list[pa.Field]:
    # pyarrow costs every command that imports the schema a seventh of a second: only Parquet
    # pays it.
    import pyarrow as pa  # noqa: PLC0415

    timestamp = pa.timestamp("us", tz="UTC")
    if column.kind == "string":
        return [pa.field(column.name, pa.string(), nullable=column.nullable)]
    if column.kind == "bool":
        return [pa.field(column.name, pa.bool_(), nullable=column.nullable)]
    if column.kind == "int":
        return [pa.field(column.name, pa.int64(), nullable=column.nullable)]
    if column.kind == "utc_time":
        return [pa.field(column.name, timestamp, nullable=column.nullable)]
    if column.kind == "date":
        return [pa.field(column.name, pa.date32(), nullable=column.nullable)]
    if column.kind == "local_time":
        return [
            pa.field(column.name, timestamp, nullable=column.nullable),
            pa.field(column.name + LOCAL_SUFFIX, pa.string(), nullable=column.nullable),
        ]
    if column.kind == "string_list":
        return [pa.field(column.name, pa.list_(pa.string()), nullable=column.nullable)]
    struct = pa.struct([pa.field(m.name, pa.string(), nullable=m.nullable) for m in column.members])
    return [pa.field(column.name, pa.list_(struct), nullable=column.nullable)]


def arrow_schema(names: tuple[str, ...]) -> pa.Schema:
    """The Parquet schema of the given columns (a local_time column brings its ``_local``)."""
    import pyarrow as pa  # noqa: PLC0415

    return pa.schema([f for name in names for f in _arrow_fields(BY_NAME[name])])


def _instant(value: str | datetime | None) -> datetime | None:
    """The UTC instant of a time; None when it is not one with an offset (a row stored by
    an older crawler): its ``_local`` column keeps the string as it is."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


def iso_day(value: str | date | None) -> date | None:
    """A record's ISO day (event_date) as a date; None when it is not one."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def to_arrow_row(row: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """A row of Python values (ISO strings for local times) as the Arrow schema wants it."""
    out: dict[str, Any] = {}
    for name in names:
        value = row[name]
        kind = BY_NAME[name].kind
        if kind == "local_time":
            out[name] = _instant(value)
            out[name + LOCAL_SUFFIX] = value
        elif kind == "utc_time":
            out[name] = _instant(value)
        elif kind == "date":
            out[name] = iso_day(value)
        else:
            out[name] = value
    return out


def from_arrow_row(row: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The JSONL record back from a Parquet row (``Table.to_pylist()``)."""
    out: dict[str, Any] = {}
    for name in names:
        kind = BY_NAME[name].kind
        if kind == "local_time":
            out[name] = row[name + LOCAL_SUFFIX]
        elif kind in ("utc_time", "date"):
            out[name] = row[name].isoformat() if row[name] is not None else None
        else:
            out[name] = row[name]
    return out


# --- CSV ----------------------------------------------------------------------------------------

# A spreadsheet opening the CSV runs a cell that begins with one of these as a formula
# (OWASP, "CSV Injection"): such a text cell is written with a single quote in front.
FORMULA_TRIGGERS = "=+-@\t\r"
FORMULA_GUARD = "'"
# Quotes already in front of a trigger get one more, so that reading strips exactly the one
# added and a title that really begins with "'=" comes back as it was.
_GUARDED = re.compile(f"^{FORMULA_GUARD}*[{re.escape(FORMULA_TRIGGERS)}]")


def neutralize_formula(text: str) -> str:
    """``text`` as a CSV cell no spreadsheet evaluates: a single quote in front when it
    begins (after any quotes) with ``= + - @``, a tab or a carriage return."""
    return FORMULA_GUARD + text if _GUARDED.match(text) else text


def restore_formula(cell: str) -> str:
    """The text :func:`neutralize_formula` was given."""
    if cell.startswith(FORMULA_GUARD) and _GUARDED.match(cell[1:]):
        return cell[1:]
    return cell


def to_csv_cell(name: str, value: Any) -> str:
    kind = BY_NAME[name].kind
    if value is None:
        return ""
    if kind in ("bool", "string_list", "object_list"):
        return json.dumps(value, ensure_ascii=False)
    if kind == "int":
        # a number is not text: -3 stays -3 and reads back as a number
        return str(value)
    if kind in ("utc_time", "date") and isinstance(value, (datetime, date)):
        value = value.isoformat()
    return neutralize_formula(str(value))


def from_csv_cell(name: str, cell: str) -> Any:
    kind = BY_NAME[name].kind
    if kind in ("bool", "string_list", "object_list"):
        return json.loads(cell)
    if kind == "int":
        return int(cell) if cell else None
    return restore_formula(cell) if cell != "" else None


# --- data dictionary ------------------------------------------------------------------------

_TYPE_NAMES: dict[Kind, str] = {
    "string": "string",
    "bool": "boolean",
    "int": "integer",
    "date": "date (no time)",
    "local_time": "timestamp with the site's offset",
    "utc_time": "timestamp (UTC)",
    "string_list": "list of strings",
    "object_list": "list of objects",
}
_JSONL: dict[Kind, str] = {
    "string": "string",
    "bool": "`true`/`false`",
    "int": "number",
    "date": "`YYYY-MM-DD` string",
    "local_time": "ISO 8601 string with the site's offset",
    "utc_time": "ISO 8601 string, `+00:00`",
    "string_list": "array of strings",
    "object_list": "array of objects",
}
_CSV: dict[Kind, str] = {
    "string": "text (formula-guarded)",
    "bool": "`true`/`false`",
    "int": "digits",
    "date": "`YYYY-MM-DD` text",
    "local_time": "ISO 8601 text with the site's offset (formula-guarded)",
    "utc_time": "ISO 8601 text, `+00:00` (formula-guarded)",
    "string_list": "JSON array text",
    "object_list": "JSON array text",
}
_SCOPES: dict[Scope, str] = {
    "record": "all",
    "feed": "feed, changes",
    "export": "export, changes",
    "changes": "changes",
}


def _parquet_type(column: Column) -> str:
    fields = _arrow_fields(column)
    text = "; ".join(
        f"`{f.type}`" if f.name == column.name else f"`{f.name}`: `{f.type}`" for f in fields
    )
    if column.kind == "local_time":
        text += (
            " (the instant in UTC, null when the string is not a time with an offset;"
            " `_local` keeps the string as JSONL writes it)"
        )
    return text


def _example(column: Column) -> str:
    text = json.dumps(column.example, ensure_ascii=False)
    return "`" + text.replace("|", "\\|") + "`"


def _meaning(column: Column) -> str:
    text = column.description
    if column.choices:
        text += " (" + ", ".join(f"`{c}`" for c in column.choices) + ")"
    if column.members:
        keys = ", ".join(
            f"`{m.name}`{'' if not m.nullable else ' (or null)'}: {m.description}"
            for m in column.members
        )
        text += f"; each object: {keys}"
    return text.replace("|", "\\|").replace("\n", " ")


def data_dictionary() -> str:
    """The text of DATA.md."""
    lines = [
        "# Data dictionary",
        "",
        "<!-- generated by `python -m pipelines.schema` from pipelines/schema/__init__.py:"
        " do not edit -->",
        "",
        "Every column the crawler writes, where it appears and how each format writes it. The",
        "JSON Schema of a JSONL line is `article.schema.json` beside this file; the Parquet",
        "schema is `pipelines.schema.arrow_schema`. Both, this page and the CSV cells come from",
        "one description, `pipelines/schema/__init__.py`.",
        "",
        "Where a column appears (**in**):",
        "",
        "- **feed**: the per-run JSONL feed `scrapy crawl` writes (every article the run parsed);",
        "- **export**: `scrapy export --format jsonl|csv|parquet`, the snapshot of the database;",
        "- **changes**: `scrapy export --changed-since <ISO timestamp | day | run id>`, the",
        "  articles new or changed since then (same formats);",
        "- **all**: every one of them.",
        "",
        "Columns come in the order below (the feed: the record, then `change`; an export: the",
        "record, then `first_seen`, `last_seen`, `published_at_quality`, `best_date`; the",
        "change feed: an export's columns, then",
        "`change`, `version`, `changed_fields`). A null is JSON `null` in JSONL, an empty cell",
        "in CSV and a Parquet null.",
        "",
        "How the formats differ:",
        "",
        "- **JSONL**: UTF-8, one object per line, Vietnamese unescaped; times are ISO 8601",
        "  strings (the site's offset as the page gave it; `first_seen`/`last_seen` in UTC).",
        "- **CSV**: UTF-8 with a header row; text as it is (an empty cell is null), booleans",
        "  `true`/`false`, lists and objects as JSON text, times as in JSONL. Text is",
        "  formula-guarded (OWASP, CSV Injection): a text cell that begins with `=`, `+`, `-`,",
        "  `@`, a tab or a carriage return, after any single quotes, gets one more single quote",
        "  in front, so a spreadsheet shows it instead of running it; numbers (`version`) are",
        "  never quoted. `crawler.commands.export.parse_csv_row` removes that quote; JSONL and",
        "  Parquet keep the text exactly.",
        "- **Parquet**: typed columns. Every time is `timestamp[us, tz=UTC]`; a time that",
        "  carries the site's offset (`published_at`, `modified_at`, `crawled_at`) has a",
        "  second column `<name>_local` right after it, the ISO string with the offset exactly",
        "  as JSONL writes it. Lists of objects are lists of structs, list of strings",
        "  `list<string>`, booleans `bool`, `version` `int64`, days (`event_date`,",
        "  `best_date`) `date32`.",
        "",
        "| field | in | type | null | example | JSONL | CSV | Parquet | meaning |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for column in COLUMNS:
        lines.append(
            "| "
            + " | ".join(
                [
                    f"`{column.name}`",
                    _SCOPES[column.scope],
                    _TYPE_NAMES[column.kind],
                    "yes" if column.nullable else "no",
                    _example(column),
                    _JSONL[column.kind],
                    _CSV[column.kind],
                    _parquet_type(column),
                    _meaning(column),
                ]
            )
            + " |"
        )
    lines.append("")
    return "\n".join(lines)


def generated_files() -> dict[Path, str]:
    """Each generated file and the text the schema gives it."""
    return {JSON_SCHEMA_PATH: json_schema_text(), DATA_DICTIONARY_PATH: data_dictionary()}
