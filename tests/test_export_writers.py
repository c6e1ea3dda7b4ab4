"""The exports' column-wise writers write exactly what the record schema's per-row functions
give (pipelines/schema/writers.py against to_csv_cell, to_arrow_row and json.dumps), and the
fast reading decodes JSON as json.loads does (pipelines/storage/export_rows.py)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.schema import BY_NAME, CHANGE_COLUMNS, EXPORT_COLUMNS, to_arrow_row, to_csv_cell
from pipelines.schema.writers import (
    _ENCODE,
    arrow_columns,
    csv_lines,
    write_csv,
    write_jsonl,
)
from pipelines.storage.export_rows import decode_json

# Text a spreadsheet or a CSV reader trips on: formula triggers, quotes, separators, line ends.
TRICKY = st.text(alphabet=st.sampled_from(list("ab đ'\"=+-@\t\r\n,;\\\x00\x0b\u2028")), max_size=8)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TRICKY,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY, inner, max_size=3),
    max_leaves=8,
)
OBJECTS = st.dictionaries(TRICKY, TRICKY | st.none(), max_size=2)
INSTANTS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


def _value(kind: str, nullable: bool) -> st.SearchStrategy[Any]:
    by_kind: dict[str, st.SearchStrategy[Any]] = {
        "string": TRICKY,
        "local_time": TRICKY
        | INSTANTS.map(lambda t: t.astimezone(timezone(timedelta(hours=7))).isoformat()),
        "bool": st.booleans(),
        "int": st.integers(),
        "date": st.dates(),
        "utc_time": INSTANTS,
        "string_list": st.lists(TRICKY, max_size=3),
        "object_list": st.lists(
            st.dictionaries(TRICKY, TRICKY | st.none(), max_size=2), max_size=2
        ),
    }
    values = by_kind[kind]
    return values | st.none() if nullable else values


def _rows(columns: tuple[str, ...]) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    row = st.tuples(*(_value(BY_NAME[name].kind, BY_NAME[name].nullable) for name in columns))
    return st.lists(row, max_size=4)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (datetime, date)) else value


@given(rows=st.lists(st.lists(TRICKY, min_size=2, max_size=5), max_size=5))
def test_csv_lines_are_what_the_csv_module_writes(rows):
    written = io.StringIO()
    csv.writer(written).writerows(rows)
    assert csv_lines(rows) == written.getvalue()


@given(value=JSON_VALUES)
def test_the_built_encoder_writes_what_json_dumps_writes(value):
    assert _ENCODE(value) == json.dumps(value, ensure_ascii=False)


@given(value=JSON_VALUES, before=st.sampled_from(["", " ", "\n"]), after=st.sampled_from(["", " "]))
def test_decode_json_reads_what_json_loads_reads(value, before, after):
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        assert decode_json(before + text + after) == json.loads(text)


@pytest.mark.parametrize("text", ["", "[1,", "[] []", "nul"])
def test_decode_json_refuses_what_json_loads_refuses(text):
    with pytest.raises(json.JSONDecodeError):
        decode_json(text)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), changes=st.booleans())
def test_each_format_writes_what_the_per_row_functions_give(data, changes):
    columns = CHANGE_COLUMNS if changes else EXPORT_COLUMNS
    rows = data.draw(_rows(columns))
    records = [dict(zip(columns, row, strict=True)) for row in rows]
    batches = [rows[:2], [], rows[2:]]

    jsonl = io.StringIO()
    assert write_jsonl(jsonl, columns, batches) == len(rows)
    expected_jsonl = "".join(
        json.dumps({name: _jsonable(record[name]) for name in columns}, ensure_ascii=False) + "\n"
        for record in records
    )
    assert jsonl.getvalue() == expected_jsonl

    written_csv = io.StringIO()
    assert write_csv(written_csv, columns, batches) == len(rows)
    expected_csv = io.StringIO()
    writer = csv.DictWriter(expected_csv, fieldnames=columns)
    writer.writeheader()
    for record in records:
        writer.writerow({name: to_csv_cell(name, record[name]) for name in columns})
    assert written_csv.getvalue() == expected_csv.getvalue()

    arrow = arrow_columns(columns, rows)
    expected_rows = [to_arrow_row(record, columns) for record in records]
    if expected_rows:
        assert list(arrow) == list(expected_rows[0])
    for name, values in arrow.items():
        assert values == [row[name] for row in expected_rows]
