"""The exports' column-wise writers write exactly what the record schema's per-row functions
give (pipelines/schema/writers.py against to_csv_cell, to_arrow_row and json.dumps), and the
fast reading decodes JSON as json.loads does (pipelines/storage/export_rows.py)."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import UTC, date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.schema import (
    BY_NAME,
    CHANGE_COLUMNS,
    EXPORT_COLUMNS,
    arrow_schema,
    to_arrow_row,
    to_csv_cell,
)
from pipelines.schema.writers import (
    _ENCODE,
    arrow_columns,
    csv_field,
    csv_field_utf8,
    csv_lines,
    json_utf8,
    json_utf8_column,
    write_csv_bytes,
    write_jsonl_bytes,
)
from pipelines.storage.export_rows import (
    RAW_TEXT_COLUMNS,
    decode_json,
    decode_json_column,
    prefetched,
    utc,
    utc_column,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

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
        # a stored integer is a 64-bit one (what Arrow's int64 takes)
        "int": st.integers(min_value=-(2**63), max_value=2**63 - 1),
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

    jsonl = io.BytesIO()
    assert write_jsonl_bytes(jsonl, columns, batches) == len(rows)
    expected_jsonl = "".join(
        json.dumps({name: _jsonable(record[name]) for name in columns}, ensure_ascii=False) + "\n"
        for record in records
    )
    assert jsonl.getvalue().decode("utf-8") == expected_jsonl

    written_csv = io.BytesIO()
    assert write_csv_bytes(written_csv, columns, batches) == len(rows)
    expected_csv = io.StringIO()
    writer = csv.DictWriter(expected_csv, fieldnames=columns)
    writer.writeheader()
    for record in records:
        writer.writerow({name: to_csv_cell(name, record[name]) for name in columns})
    assert written_csv.getvalue().decode("utf-8") == expected_csv.getvalue()

    arrow = arrow_columns(columns, rows)
    expected_rows = [to_arrow_row(record, columns) for record in records]
    if expected_rows:
        assert list(arrow) == list(expected_rows[0])
    for name, values in arrow.items():
        assert values == [row[name] for row in expected_rows]


@given(text=TRICKY | st.text(max_size=12))
def test_json_utf8_of_text_bytes_is_json_dumps_in_utf8(text):
    expected = json.dumps(text, ensure_ascii=False).encode("utf-8")
    assert json_utf8(text.encode("utf-8")) == expected
    assert json_utf8(text) == expected


@given(text=TRICKY | st.text(max_size=12))
def test_csv_field_utf8_of_text_bytes_is_the_quoted_cell_in_utf8(text):
    expected = csv_field(to_csv_cell("body_text", text)).encode("utf-8")
    assert csv_field_utf8(text.encode("utf-8")) == expected
    assert csv_field_utf8(None) == b""


def _stored(moment: datetime) -> str:
    # how the SQLite dialect's DateTime stores a time (its default storage format)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}"
    )


@given(
    times=st.lists(
        st.none() | st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
        max_size=6,
    )
)
def test_utc_column_of_stored_texts_is_what_sqlalchemy_and_utc_read(times):
    texts = [None if moment is None else _stored(moment) for moment in times]
    expected = [None if text is None else utc(datetime.fromisoformat(text)) for text in texts]
    got = utc_column(texts)
    assert got == expected
    assert [None if t is None else t.isoformat() for t in got] == [
        None if t is None else t.isoformat() for t in expected
    ]


def test_utc_column_reads_a_time_stored_with_an_offset_as_utc():
    texts = ["2024-05-02 09:00:00.000000", "2024-05-02 09:00:00+07:00", None]
    assert utc_column(texts) == [
        datetime(2024, 5, 2, 9, tzinfo=UTC),
        datetime(2024, 5, 2, 2, tzinfo=UTC),
        None,
    ]
    aware = [datetime(2024, 5, 2, 9, tzinfo=timezone(timedelta(hours=7))), None]
    assert utc_column(aware) == [datetime(2024, 5, 2, 2, tzinfo=UTC), None]


def test_utc_column_refuses_a_stored_time_that_is_not_iso():
    with pytest.raises(ValueError):
        utc_column(["2024-05-02 09:00:00.000000", "yesterday"])


@given(texts=st.lists(st.none() | st.just("[]") | JSON_VALUES.map(json.dumps), max_size=6))
def test_decode_json_column_is_decode_json_of_each_text(texts):
    assert decode_json_column(texts) == [decode_json(text) for text in texts]


TEXT_COLUMN = st.lists(
    st.none() | (TRICKY | st.text(max_size=12)).map(lambda text: text.encode("utf-8")),
    max_size=6,
)


@given(values=TEXT_COLUMN | st.lists(TRICKY | st.none(), max_size=4))
def test_json_utf8_column_is_json_utf8_of_each_value(values):
    expected = [b"null" if value is None else json_utf8(value) for value in values]
    assert json_utf8_column(values) == expected


def test_a_json_column_of_plain_texts_is_encoded_joined_as_value_by_value():
    # the joined path's inputs: bytes and None only, no rare control character
    values = [b'a "quoted", line\nnext', None, b"", "đ\t\\".encode(), b"plain"]
    assert json_utf8_column(values) == [
        json.dumps(v.decode() if v is not None else None, ensure_ascii=False).encode()
        for v in values
    ]


def _as_utf8(columns: tuple[str, ...], row: tuple[Any, ...]) -> tuple[Any, ...]:
    # the reading's large texts, as SQLite gives them (export_rows.RAW_TEXT_COLUMNS)
    return tuple(
        value.encode("utf-8") if name in RAW_TEXT_COLUMNS and isinstance(value, str) else value
        for name, value in zip(columns, row, strict=True)
    )


@settings(max_examples=60, deadline=None)
@given(data=st.data(), changes=st.booleans())
def test_texts_given_as_utf8_bytes_write_the_same_files(data, changes):
    columns = CHANGE_COLUMNS if changes else EXPORT_COLUMNS
    rows = data.draw(_rows(columns))
    batches = [rows[:2], [], rows[2:]]
    raw = [[_as_utf8(columns, row) for row in batch] for batch in batches]

    from_str = io.BytesIO()
    write_jsonl_bytes(from_str, columns, batches)
    written = io.BytesIO()
    assert write_jsonl_bytes(written, columns, raw) == len(rows)
    assert written.getvalue() == from_str.getvalue()

    from_str = io.BytesIO()
    write_csv_bytes(from_str, columns, batches)
    written = io.BytesIO()
    assert write_csv_bytes(written, columns, raw) == len(rows)
    assert written.getvalue() == from_str.getvalue()

    schema = arrow_schema(columns)
    for plain, utf8 in zip(batches, raw, strict=True):
        expected = pa.Table.from_pydict(arrow_columns(columns, plain), schema=schema)
        assert pa.Table.from_pydict(arrow_columns(columns, utf8), schema=schema).equals(expected)


def test_a_csv_batch_whose_text_holds_a_nul_is_written_from_str():
    columns = ("id", "body_text")
    batches = [[("a\x00b", b"x,\x00y"), ("c", b"plain")]]
    written = io.BytesIO()
    write_csv_bytes(written, columns, batches)
    expected = io.StringIO()
    csv.writer(expected).writerows([columns, ("a\x00b", "x,\x00y"), ("c", "plain")])
    assert written.getvalue() == expected.getvalue().encode("utf-8")


def _batches(count: int, fail_at: int | None = None) -> Iterator[list[int]]:
    for number in range(count):
        if number == fail_at:
            raise ValueError("the database went away")
        yield [number]


def test_prefetched_batches_come_in_order_and_all():
    assert list(prefetched(_batches(50), depth=2)) == [[number] for number in range(50)]


def test_prefetched_raises_the_readings_error_in_the_writer():
    read = prefetched(_batches(10, fail_at=3))
    assert next(read) == [0]
    with pytest.raises(ValueError, match="the database went away"):
        list(read)


def test_a_writer_that_stops_early_closes_the_reading():
    closed = threading.Event()

    def batches() -> Iterator[list[int]]:
        try:
            yield from _batches(1000)
        finally:
            closed.set()

    read = prefetched(batches(), depth=1)
    assert next(read) == [0]
    read.close()
    assert closed.wait(5)
