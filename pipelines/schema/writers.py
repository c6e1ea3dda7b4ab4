"""The exports' writers: JSONL, CSV and Parquet from batches of rows, column by column.

A row is a tuple of Python values in the order of the columns written (what
``crawler.commands.export.iter_articles`` gives: lists, bools, aware datetimes, dates), a text
possibly as its UTF-8 bytes (the reading's large texts on SQLite), which is written the same. Each
format writes exactly what the record schema's per-row functions give (``to_csv_cell``,
``to_arrow_row``, JSON of the JSONL record): a batch's columns are converted one list at a
time, with the serializers built once, which is what lets an export write tens of thousands of
articles a second.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from itertools import chain
from typing import TYPE_CHECKING, Any

from pipelines.schema import (
    BY_NAME,
    FORMULA_GUARD,
    FORMULA_TRIGGERS,
    LOCAL_SUFFIX,
    _instant,
    iso_day,
    neutralize_formula,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from pathlib import Path
    from typing import BinaryIO

    import pyarrow as pa

Batch = list[tuple[Any, ...]]


def _make_encode() -> Callable[[Any], str]:
    """``json.dumps(value, ensure_ascii=False)``, its C encoder built once instead of per call
    (what ``JSONEncoder.encode`` does for every value: a third of a CSV export's time). Where
    the interpreter's json has no C encoder, or it would write otherwise, the encoder's own."""
    encoder = json.JSONEncoder(ensure_ascii=False)
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:
        return encoder.encode
    # JSONEncoder.iterencode's arguments for these options, but no markers dict: an exported
    # value is decoded from JSON text or made of strings, so it cannot hold itself, and a
    # markers dict shared by every call would be state (a failed call could leave entries).
    separators = (": ", ", ")
    chunks = c_make_encoder(
        None, encoder.default, json.encoder.encode_basestring, None, *separators, False, False, True
    )

    def fast(value: Any) -> str:
        return "".join(chunks(value, 0))

    sample = [{"a": 'đ\n"', "b": [1, 2.5, None, True]}, "x", 3, [], False]
    try:
        if all(fast(value) == json.dumps(value, ensure_ascii=False) for value in sample):
            return fast
    except (TypeError, ValueError):
        pass
    return encoder.encode


_ENCODE = _make_encode()
# json.dumps(text, ensure_ascii=False) of a str, the C function json calls for one
_STRING: Callable[[str], str] = json.encoder.encode_basestring
# Rows per Parquet row group: the writer keeps every row group's metadata until it closes the
# file (a thousand-row group made a million-row export's memory grow by a third), while the
# rows of a group wait in Arrow form (about 30 MB).
PARQUET_ROW_GROUP_ROWS = 10_000
_JSON_CONSTANTS = {True: "true", False: "false"}
# A text cell is formula-guarded only when it begins with one of these (neutralize_formula).
_GUARD_FIRST = frozenset(FORMULA_GUARD + FORMULA_TRIGGERS)
_DATED = frozenset({"utc_time", "date"})
_JSON_TEXT = frozenset({"bool", "string_list", "object_list"})


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (datetime, date)) else value


def _json_texts(values: Sequence[Any]) -> list[str]:
    # JSON of text: a str's straight from the C string encoder, mapped over a column of str
    if set(map(type, values)) == {str}:
        return list(map(_STRING, values))
    return [
        _STRING(value) if value.__class__ is str else "null" if value is None else _ENCODE(value)
        for value in values
    ]


def _json_dated(values: Sequence[Any]) -> list[str]:
    # an ISO time or day has nothing JSON escapes
    return [
        '"' + value.isoformat() + '"'
        if isinstance(value, (datetime, date))
        else "null"
        if value is None
        else _ENCODE(value)
        for value in values
    ]


def _json_values(values: Sequence[Any]) -> list[str]:
    return [
        "[]"
        if value == [] and value.__class__ is list
        else _JSON_CONSTANTS[value]
        if value.__class__ is bool
        else _ENCODE(value)
        for value in values
    ]


# What the line template holds where a column's values come as UTF-8 bytes: JSON text never
# holds a raw NUL (json escapes every control character), so the encoded lines split there.
_SLOT = "\x00"
_SLOT_BYTE = _SLOT.encode()
_TEXT_KINDS = frozenset({"string", "local_time"})
# The control characters json writes as \u00XX or \b, \f: text holding one takes json's own path.
_RARE_CONTROLS = bytes(c for c in range(0x20) if c not in b"\t\n\r")
_NOT_RARE = bytes(c for c in range(256) if c not in _RARE_CONTROLS)


def _escaped(text: bytes) -> bytes:
    """The five escapes UTF-8 text without a rare control character needs in JSON (backslash,
    quote, newline, CR, tab), by ``bytes.replace``: text without them passes at memchr speed."""
    return (
        text.replace(b"\\", b"\\\\")
        .replace(b'"', b'\\"')
        .replace(b"\n", b"\\n")
        .replace(b"\r", b"\\r")
        .replace(b"\t", b"\\t")
    )


def json_utf8(value: Any) -> bytes:
    """``json.dumps(value, ensure_ascii=False)`` in UTF-8, for a text given as its UTF-8 bytes
    (or a str): the five escapes text has (backslash, quote, newline, CR, tab) by
    ``bytes.replace``, which skips text without them at memchr speed."""
    if value.__class__ is bytes:
        if value.translate(None, _NOT_RARE):
            value = value.decode("utf-8")
        else:
            return b'"' + _escaped(value) + b'"'
    return _ENCODE(value).encode("utf-8")


def json_utf8_column(values: Sequence[Any]) -> list[bytes]:
    """:func:`json_utf8` of every value of a column, with one call per escape for the whole
    column where every value is UTF-8 bytes without a rare control character (the values
    joined at NULs, which such text cannot hold: a NUL is one of them)."""
    texts = _column_bytes(values)
    if texts is None:
        return list(map(json_utf8, values))
    joined = _SLOT_BYTE.join(texts)
    if len(joined.translate(None, _NOT_RARE)) != len(values) - 1:
        # a rare control character (or a NUL of a value's own) somewhere: value by value
        return list(map(json_utf8, values))
    encoded = (b'"' + _escaped(joined).replace(_SLOT_BYTE, b'"\x00"') + b'"').split(_SLOT_BYTE)
    if texts is values:
        return encoded
    return [b"null" if value is None else text for value, text in zip(values, encoded, strict=True)]


def _column_bytes(values: Sequence[Any]) -> Sequence[bytes] | None:
    """A column of UTF-8 texts or None as bytes only (None as empty bytes), to be worked on
    joined; None where it holds anything else (a str: the value-by-value path)."""
    if not values:
        return None
    kinds = set(map(type, values))
    if kinds == {bytes}:
        return values
    if kinds != {bytes, type(None)}:
        return None
    return [b"" if value is None else value for value in values]


def jsonl_line_template(columns: Sequence[str], raw: Iterable[int] = ()) -> str:
    """``json.dumps`` of a record of ``columns`` with each value's JSON left as ``%s``: the
    keys encoded once, in order, with json's separators; a NUL instead where the column's
    index is in ``raw`` (its values come as UTF-8 bytes, put in after encoding)."""
    slots = set(raw)
    keys = [
        _ENCODE(name).replace("%", "%%") + ": " + (_SLOT if index in slots else "%s")
        for index, name in enumerate(columns)
    ]
    return "{" + ", ".join(keys) + "}"


def jsonl_chunks(columns: Sequence[str], batches: Iterable[Batch]) -> Iterator[tuple[int, bytes]]:
    """Each non-empty batch as its JSON lines in UTF-8 (``json.dumps(..., ensure_ascii=False)``
    of each record, times and days as ISO strings, a newline after each), with its row count.

    Each column's values are encoded as a list, then put into the line's template: no dict per
    row, each key encoded once. A text column whose values come as UTF-8 bytes (the reading's
    large texts, pipelines/storage/export_rows.py) is escaped as bytes and put in after the
    rest is encoded: the text is never decoded, and the lines are encoded to UTF-8 without it.
    """
    names = tuple(columns)
    kinds = [BY_NAME[name].kind for name in names]
    encoders = [
        _json_texts if kind in _TEXT_KINDS else _json_dated if kind in _DATED else _json_values
        for kind in kinds
    ]
    texts = [index for index, kind in enumerate(kinds) if kind in _TEXT_KINDS]
    templates: dict[tuple[int, ...], Callable[[tuple[str, ...]], str]] = {}
    for batch in batches:
        if not batch:
            continue
        values: list[Any] = list(zip(*batch, strict=True))
        raw = tuple(index for index in texts if bytes in set(map(type, values[index])))
        line = templates.get(raw)
        if line is None:
            line = templates[raw] = jsonl_line_template(names, raw).__mod__
        encoded = [
            encode(column)
            for index, (encode, column) in enumerate(zip(encoders, values, strict=True))
            if index not in raw
        ]
        rows = zip(*encoded, strict=True) if encoded else [()] * len(batch)
        data = ("\n".join(map(line, rows)) + "\n").encode("utf-8")
        if raw:
            pieces = data.split(_SLOT.encode())
            inserted = list(
                chain.from_iterable(
                    zip(*(json_utf8_column(values[index]) for index in raw), strict=True)
                )
            )
            joined: list[bytes] = [b""] * (len(pieces) + len(inserted))
            joined[::2] = pieces
            joined[1::2] = inserted
            data = b"".join(joined)
        yield len(batch), data


def write_chunks(fh: BinaryIO, chunks: Iterable[tuple[int, bytes]]) -> int:
    """Each chunk's UTF-8 to a binary file as it is made (never decoded and encoded again);
    returns the row count."""
    count = 0
    for rows, data in chunks:
        fh.write(data)
        count += rows
    return count


def write_jsonl_bytes(fh: BinaryIO, columns: Sequence[str], batches: Iterable[Batch]) -> int:
    """One JSON object per row (:func:`jsonl_chunks`) to a binary file (what an export
    writes); returns the row count."""
    return write_chunks(fh, jsonl_chunks(columns, batches))


def _text_cells(values: Sequence[Any]) -> list[str]:
    return [
        ""
        if value is None
        else (text if (text := str(value))[:1] not in _GUARD_FIRST else neutralize_formula(text))
        for value in values
    ]


def _dated_cells(values: Sequence[Any]) -> list[str]:
    return _text_cells([_iso(value) for value in values])


def _json_cells(values: Sequence[Any]) -> list[str]:
    # most lists are empty and every bool is one of two texts
    return [
        ""
        if value is None
        else "[]"
        if value == [] and value.__class__ is list
        else _JSON_CONSTANTS[value]
        if value.__class__ is bool
        else _ENCODE(value)
        for value in values
    ]


def _int_cells(values: Sequence[Any]) -> list[str]:
    return ["" if value is None else str(value) for value in values]


def csv_cells(name: str) -> Callable[[Sequence[Any]], list[str]]:
    """What ``to_csv_cell(name, value)`` gives, for a whole column of values."""
    kind = BY_NAME[name].kind
    if kind in _JSON_TEXT:
        return _json_cells
    if kind == "int":
        return _int_cells
    if kind in _DATED:
        return _dated_cells
    return _text_cells


def csv_field(cell: str) -> str:
    """``cell`` as ``csv.writer`` (the excel dialect: minimal quoting, quotes doubled) writes it
    in a row of more than one field; str methods instead of its loop over every character."""
    if '"' in cell or "," in cell or "\n" in cell or "\r" in cell:
        return '"' + cell.replace('"', '""') + '"'
    return cell


def _csv_fields(cells: list[str]) -> list[str]:
    """:func:`csv_field` of every cell of a column: most columns (ids, URLs, times, lists
    without commas) have no cell to quote, which four searches of the joined column tell."""
    joined = "".join(cells)
    if '"' in joined or "," in joined or "\n" in joined or "\r" in joined:
        return list(map(csv_field, cells))
    return cells


def csv_lines(rows: Iterable[Sequence[str]]) -> str:
    """What ``csv.writer(fh).writerows(rows)`` writes, for rows of more than one field (a row
    of one empty field is written ``""``, which this does not do)."""
    return "".join([",".join(map(csv_field, row)) + "\r\n" for row in rows])


_CSV_GUARD_FIRST = frozenset(character.encode() for character in _GUARD_FIRST)


def csv_field_utf8(value: Any) -> bytes:
    """:func:`csv_field` of the text cell of ``value`` (``to_csv_cell``), in UTF-8, for a
    text given as its UTF-8 bytes (or a str, or None): bytes are quoted as bytes; a text a
    spreadsheet would run as a formula takes the str path."""
    if value.__class__ is bytes and value[:1] not in _CSV_GUARD_FIRST:
        if b'"' in value or b"," in value or b"\n" in value or b"\r" in value:
            return b'"' + value.replace(b'"', b'""') + b'"'
        return value
    if value.__class__ is bytes:
        value = value.decode("utf-8")
    return csv_field(_text_cells([value])[0]).encode("utf-8")


def _header(columns: Sequence[str]) -> str:
    written = io.StringIO()
    csv.writer(written).writerow(columns)
    return written.getvalue()


def csv_chunks(columns: Sequence[str], batches: Iterable[Batch]) -> Iterator[tuple[int, bytes]]:
    """The header row, then each non-empty batch's rows of cells (``to_csv_cell``), in UTF-8,
    with its row count (0 for the header). As :func:`jsonl_chunks`, a text column whose values
    come as UTF-8 bytes is quoted as bytes and put in after the rest is encoded (at the NULs of
    the lines; a batch whose other cells hold a NUL of their own is written from str)."""
    names = tuple(columns)
    yield 0, _header(names).encode("utf-8")
    cells = [csv_cells(name) for name in names]
    texts = [index for index, name in enumerate(names) if cells[index] is _text_cells]
    for batch in batches:
        if not batch:
            continue
        values: list[Any] = list(zip(*batch, strict=True))
        raw = [index for index in texts if bytes in set(map(type, values[index]))]
        if len(names) == 1:
            # csv.writer writes a row of one empty field as "" (csv_lines does not)
            yield from _csv_of_str(names, cells, values, len(batch))
            continue
        fields: list[Any] = [
            [_SLOT] * len(batch) if index in raw else _csv_fields(cell(column))
            for index, (cell, column) in enumerate(zip(cells, values, strict=True))
        ]
        data = "".join([",".join(row) + "\r\n" for row in zip(*fields, strict=True)]).encode()
        if raw:
            pieces = data.split(_SLOT.encode())
            inserted = list(
                chain.from_iterable(
                    zip(*(map(csv_field_utf8, values[index]) for index in raw), strict=True)
                )
            )
            if len(pieces) != len(inserted) + 1:
                # a text cell held a NUL: this batch from str
                yield from _csv_of_str(names, cells, values, len(batch))
                continue
            joined: list[bytes] = [b""] * (len(pieces) + len(inserted))
            joined[::2] = pieces
            joined[1::2] = inserted
            data = b"".join(joined)
        yield len(batch), data


def _text(value: Any) -> Any:
    return value.decode("utf-8") if value.__class__ is bytes else value


def _csv_of_str(
    names: Sequence[str],
    cells: Sequence[Callable[[Sequence[Any]], list[str]]],
    values: Sequence[Sequence[Any]],
    rows: int,
) -> Iterator[tuple[int, bytes]]:
    """One batch's rows from str values (:func:`csv_chunks` without bytes), as csv.writer
    writes them."""
    texts = [[_text(value) for value in column] for column in values]
    fields = [cell(column) for cell, column in zip(cells, texts, strict=True)]
    if len(names) == 1:
        written = io.StringIO()
        csv.writer(written).writerows(zip(*fields, strict=True))
        yield rows, written.getvalue().encode("utf-8")
        return
    yield rows, csv_lines(zip(*fields, strict=True)).encode("utf-8")


def write_csv_bytes(fh: BinaryIO, columns: Sequence[str], batches: Iterable[Batch]) -> int:
    """A header row, then one row of cells (``to_csv_cell``) per row (:func:`csv_chunks`) to a
    binary file (what an export writes); returns the row count."""
    return write_chunks(fh, csv_chunks(columns, batches))


def arrow_columns(columns: Sequence[str], batch: Batch) -> dict[str, list[Any]]:
    """A batch as the Arrow schema's columns (``to_arrow_row`` of every row)."""
    out: dict[str, list[Any]] = {}
    values = list(zip(*batch, strict=True)) if batch else [() for _ in columns]
    for name, column in zip(columns, values, strict=True):
        kind = BY_NAME[name].kind
        if kind == "local_time":
            out[name] = list(map(_instant, column))
            out[name + LOCAL_SUFFIX] = list(column)
        elif kind == "utc_time":
            out[name] = list(map(_instant, column))
        elif kind == "date":
            out[name] = list(map(iso_day, column))
        else:
            out[name] = list(column)
    return out


def write_parquet(
    path: Path, columns: Sequence[str], batches: Iterable[Batch], schema: pa.Schema
) -> int:
    """Row groups of ``PARQUET_ROW_GROUP_ROWS`` rows (the batches' Arrow tables gathered); an
    export without rows still gets a file with the schema. Returns the row count."""
    tables = (arrow_table(columns, batch, schema) for batch in batches if batch)
    return write_parquet_tables(path, columns, tables, schema)


def arrow_table(columns: Sequence[str], batch: Batch, schema: pa.Schema) -> pa.Table:
    """A batch as an Arrow table of the export's schema (:func:`arrow_columns`)."""
    import pyarrow as pa  # noqa: PLC0415

    return pa.Table.from_pydict(arrow_columns(columns, batch), schema=schema)


def write_parquet_tables(
    path: Path, columns: Sequence[str], tables: Iterable[pa.Table], schema: pa.Schema
) -> int:
    """:func:`write_parquet` of batches already made Arrow tables (:func:`arrow_table`, in an
    export's worker processes): gathered into row groups of ``PARQUET_ROW_GROUP_ROWS`` rows;
    a file with the schema where there is none. Returns the row count."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    count = 0
    pending: list[pa.Table] = []
    pending_rows = 0
    with pq.ParquetWriter(path, schema) as writer:
        for table in tables:
            if not table.num_rows:
                continue
            pending.append(table)
            pending_rows += table.num_rows
            count += table.num_rows
            if pending_rows >= PARQUET_ROW_GROUP_ROWS:
                writer.write_table(pa.concat_tables(pending))
                pending, pending_rows = [], 0
        if pending:
            writer.write_table(pa.concat_tables(pending))
        if not count:
            writer.write_table(arrow_table(columns, [], schema))
    return count
