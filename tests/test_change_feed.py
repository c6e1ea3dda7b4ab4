"""``scrapy export --changed-since``: the articles new or changed since a time or a run."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator

from crawler.commands.export import (
    CHANGES_PARQUET_SCHEMA,
    ChangeCutoff,
    iter_articles,
    parse_changed_since,
    parse_csv_row,
    resolve_cutoff,
    to_jsonable,
    write_export,
)
from pipelines.schema import (
    CHANGE_COLUMNS,
    EXPORT_COLUMNS,
    from_arrow_row,
    json_schema,
    to_csv_cell,
)
from pipelines.storage.store import ArticleStore
from tests.test_export import run_scrapy_export

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

VALIDATOR = Draft202012Validator(json_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)
ZONE = "Asia/Ho_Chi_Minh"
BASE = "https://hepza.hochiminhcity.gov.vn/w/"


def run(store: ArticleStore, run_id: str, records: list[dict[str, Any]]) -> datetime:
    started = datetime.now(UTC)
    store.start_run(run_id, started, {}, site="hepza")
    store.write_batch(records, run_id)
    store.finish_run(run_id, datetime.now(UTC), "succeeded", {}, {}, site="hepza")
    return started


@pytest.fixture
def edited_store(
    database_url: str, make_article_record: Callable[..., dict[str, Any]]
) -> Iterator[tuple[ArticleStore, datetime, datetime]]:
    """run-1 stores a, b, c; run-2 edits a's title and body, sees b unchanged, adds d."""
    store = ArticleStore(database_url)
    first = run(store, "run-1", [make_article_record(slug) for slug in ("a", "b", "c")])
    second = run(
        store,
        "run-2",
        [
            make_article_record("a", title="Tiêu đề mới", body_text="Nội dung đã sửa"),
            make_article_record("b"),
            make_article_record("d", body_text="Bài mới"),
        ],
    )
    yield store, first, second
    store.close()


def slugs_of(rows: list[dict[str, Any]]) -> dict[str, tuple[str, int, list[str]]]:
    return {
        row["url"].removeprefix(BASE): (row["change"], row["version"], row["changed_fields"])
        for row in rows
    }


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def export_rows(store: ArticleStore, cutoff: ChangeCutoff, tmp_path: Path) -> list[dict[str, Any]]:
    output = tmp_path / "changes.jsonl"
    count = write_export(store.engine, "jsonl", output, cutoff=cutoff)
    rows = read_jsonl(output)
    assert count == len(rows)
    return rows


def test_changes_since_a_run_are_exactly_the_edited_and_new_articles(edited_store, tmp_path):
    store, _, _ = edited_store
    cutoff = resolve_cutoff(store.engine, "run-1", ZONE)
    assert cutoff is not None
    assert cutoff.run_id == "run-1"
    rows = export_rows(store, cutoff, tmp_path)
    assert slugs_of(rows) == {
        "a": ("changed", 2, ["title", "body_text"]),  # body_html was kept
        "d": ("new", 1, []),
    }
    edited = next(row for row in rows if row["url"] == BASE + "a")
    assert edited["title"] == "Tiêu đề mới"
    for row in rows:
        assert list(row) == list(CHANGE_COLUMNS)
        VALIDATOR.validate(row)


def test_changes_since_the_latest_run_are_empty(edited_store, tmp_path):
    store, _, _ = edited_store
    cutoff = resolve_cutoff(store.engine, "run-2", ZONE)
    assert cutoff is not None
    assert export_rows(store, cutoff, tmp_path) == []


def test_changes_since_a_timestamp_before_everything_are_all_new(edited_store, tmp_path):
    store, first, _ = edited_store
    rows = export_rows(store, ChangeCutoff(first - timedelta(seconds=1)), tmp_path)
    assert slugs_of(rows) == {
        "a": ("new", 2, []),
        "b": ("new", 1, []),
        "c": ("new", 1, []),
        "d": ("new", 1, []),
    }


def test_changes_since_a_timestamp_between_runs_match_the_run(edited_store, tmp_path):
    store, _, second = edited_store
    rows = export_rows(store, ChangeCutoff(second), tmp_path)
    assert set(slugs_of(rows)) == {"a", "d"}


def test_changes_keep_one_site(edited_store, tmp_path, make_article_record):
    store, _, second = edited_store
    store.write_batch([make_article_record("other", site="quan-1")], "run-3")
    output = tmp_path / "hepza.jsonl"
    write_export(store.engine, "jsonl", output, site="hepza", cutoff=ChangeCutoff(second))
    assert {row["site"] for row in read_jsonl(output)} == {"hepza"}
    write_export(store.engine, "jsonl", output, cutoff=ChangeCutoff(second))
    assert {row["site"] for row in read_jsonl(output)} == {"hepza", "quan-1"}


def test_change_feed_in_csv_and_parquet_carries_version_and_changed_fields(edited_store, tmp_path):
    store, _, _ = edited_store
    cutoff = resolve_cutoff(store.engine, "run-1", ZONE)
    assert cutoff is not None
    expected = export_rows(store, cutoff, tmp_path)
    csv_path = tmp_path / "changes.csv"
    write_export(store.engine, "csv", csv_path, cutoff=cutoff)
    with csv_path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == CHANGE_COLUMNS
        assert [parse_csv_row(row, CHANGE_COLUMNS) for row in reader] == expected
    parquet_path = tmp_path / "changes.parquet"
    write_export(store.engine, "parquet", parquet_path, cutoff=cutoff)
    table = pq.read_table(parquet_path)
    assert table.schema.equals(CHANGES_PARQUET_SCHEMA)
    assert [from_arrow_row(row, CHANGE_COLUMNS) for row in table.to_pylist()] == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-02T09:00:00+07:00", datetime(2024, 5, 2, 2, 0, tzinfo=UTC)),
        ("2024-05-02T02:00:00Z", datetime(2024, 5, 2, 2, 0, tzinfo=UTC)),
        # a day starts on the site's clock
        ("2024-05-02", datetime(2024, 5, 1, 17, 0, tzinfo=UTC)),
        ("2024-05-02T09:00:00", None),  # no offset: a guess between two clocks
        ("yesterday", None),
        ("", None),
        ("02/05/2024", None),
    ],
)
def test_parse_changed_since(value, expected):
    assert parse_changed_since(value, ZONE) == expected


def test_scrapy_export_changed_since_a_run(edited_store, database_url, tmp_path):
    result = run_scrapy_export(
        tmp_path,
        "--format",
        "jsonl",
        "--changed-since",
        "run-1",
        "-s",
        f"DATABASE_URL={database_url}",
    )
    assert result.returncode == 0, result.stderr
    [written] = (tmp_path / "output" / "exports").glob("articles-changes-*Z.jsonl")
    assert "exported 2 articles new or changed since run run-1 (started " in result.stdout
    assert set(slugs_of(read_jsonl(written))) == {"a", "d"}


def test_scrapy_export_refuses_a_changed_since_that_is_neither_time_nor_run(
    edited_store, database_url, tmp_path
):
    result = run_scrapy_export(
        tmp_path,
        "--format",
        "csv",
        "--changed-since",
        "last-tuesday",
        "-s",
        f"DATABASE_URL={database_url}",
    )
    assert result.returncode == 2
    assert result.stderr == (
        "export: --changed-since 'last-tuesday' is neither an ISO timestamp with offset "
        "(2024-05-02T09:00:00+07:00), a day (2024-05-02) nor a run id of the database\n"
    )
    assert not (tmp_path / "output").exists()


def test_an_article_edited_twice_is_one_row_diffed_against_the_version_before_the_cutoff(
    edited_store, tmp_path, make_article_record
):
    store, _, _ = edited_store
    again = make_article_record(
        "a", title="Tiêu đề mới", body_text="Nội dung sửa lần hai", summary="Tóm tắt mới"
    )
    run(store, "run-3", [again])
    cutoff = resolve_cutoff(store.engine, "run-1", ZONE)
    assert cutoff is not None
    rows = export_rows(store, cutoff, tmp_path)
    assert slugs_of(rows) == {
        "a": ("changed", 3, ["title", "summary", "body_text"]),
        "d": ("new", 1, []),
    }
    cutoff = resolve_cutoff(store.engine, "run-2", ZONE)
    assert cutoff is not None
    assert slugs_of(export_rows(store, cutoff, tmp_path)) == {
        "a": ("changed", 3, ["summary", "body_text"])
    }


# Text every writer escapes or quotes: quotes, backslash, line ends, tab, a control character
# json writes as \u0001, a comma, a formula lead (PostgreSQL stores no NUL: the writers' test
# has them).
TRICKY_TEXT = 'Dòng "một", \\ hai\r\nba\tbốn\x01 năm sáu'


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("changes", [False, True])
def test_exports_are_byte_for_byte_the_per_row_format_of_iter_articles(
    edited_store, tmp_path, make_article_record, fmt, changes
):
    """The column-wise reading and writing (large texts as UTF-8 bytes, batches read ahead)
    write exactly what the documented per-row format gives for iter_articles' rows."""
    store, first, _ = edited_store
    store.write_batch(
        [
            make_article_record(
                "tricky", body_text=TRICKY_TEXT, summary="=1+2", body_html=f"<p>{TRICKY_TEXT}</p>"
            ),
            make_article_record("plain-summary", summary='-5, quoted "x"', body_text="\x0b"),
        ],
        "run-3",
    )
    cutoff = ChangeCutoff(first - timedelta(seconds=1)) if changes else None
    columns = CHANGE_COLUMNS if changes else EXPORT_COLUMNS
    rows = list(iter_articles(store.engine, cutoff=cutoff))
    assert len(rows) == 6
    output = tmp_path / f"out.{fmt}"
    assert write_export(store.engine, fmt, output, cutoff=cutoff) == len(rows)
    if fmt == "jsonl":
        expected = "".join(
            json.dumps(to_jsonable(row, columns), ensure_ascii=False) + "\n" for row in rows
        )
    else:
        written = io.StringIO()
        writer = csv.DictWriter(written, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({name: to_csv_cell(name, row[name]) for name in columns})
        expected = written.getvalue()
    assert output.read_bytes() == expected.encode("utf-8")
