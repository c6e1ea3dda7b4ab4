"""The archive index of ``scrapy reparse`` (crawler/crawl/replay.py) on WARC files written here
with warcio: revisits resolved to the response they refer to, the newest capture answering,
``--since``, another site's captures refused, damaged files read up to the damage."""

from __future__ import annotations

import base64
import hashlib
from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.crawl.replay import ArchiveRefused, index_archives, read_capture

ORIGIN = "https://portal.example"
PAGE = f"{ORIGIN}/w/tin-moi"


def response(writer: WARCWriter, url: str, body: bytes, when: str) -> None:
    http = StatusAndHeaders(
        "200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1"
    )
    record = writer.create_warc_record(
        url,
        "response",
        payload=BytesIO(body),
        http_headers=http,
        warc_headers_dict={"WARC-Date": when},
    )
    writer.write_record(record)


def revisit(writer: WARCWriter, url: str, body: bytes, when: str, refers_to: str) -> None:
    # The digest of the payload it did not store again, in warcio's form (sha1, base32).
    digest = "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    record = writer.create_revisit_record(url, digest, refers_to, "2026-12-01T00:00:00Z", http)
    record.rec_headers.replace_header("WARC-Date", when)
    writer.write_record(record)


def warc(path: Path, *writes: tuple[object, ...]) -> Path:
    with path.open("wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        for write in writes:
            function, *args = write
            function(writer, *args)  # type: ignore[operator]
    return path


def test_a_revisit_answers_with_the_response_it_refers_to_under_its_own_record(
    tmp_path: Path,
) -> None:
    body = b"<html><h1>Tin moi</h1></html>"
    first = warc(tmp_path / "a.warc.gz", (response, PAGE, body, "2026-12-01T00:00:00Z"))
    second = warc(tmp_path / "b.warc.gz", (revisit, PAGE, body, "2026-12-05T00:00:00Z", PAGE))
    index = index_archives([first, second], origin=ORIGIN, archive_dir=tmp_path)
    capture = index.lookup(PAGE)
    assert capture is not None
    assert capture.path == first
    assert capture.label == "b.warc.gz:0"  # the revisit the newest capture is
    assert read_capture(capture).body == body
    assert index.problem_lines() == []


def test_a_revisit_whose_response_is_in_no_archive_is_named_not_used(tmp_path: Path) -> None:
    lone = warc(tmp_path / "b.warc.gz", (revisit, PAGE, b"gone", "2026-12-05T00:00:00Z", PAGE))
    index = index_archives([lone], origin=ORIGIN, archive_dir=tmp_path)
    assert index.lookup(PAGE) is None
    [line] = index.problem_lines()
    assert str(lone) in line
    assert "refer to a response none of the archives holds" in line


def test_the_newest_capture_answers_and_since_leaves_the_older_days_out(tmp_path: Path) -> None:
    path = warc(
        tmp_path / "a.warc.gz",
        (response, PAGE, b"old", "2026-12-01T00:00:00Z"),
        (response, PAGE, b"new", "2026-12-05T00:00:00Z"),
        (response, f"{ORIGIN}/w/khac", b"other", "2026-12-01T00:00:00Z"),
    )
    index = index_archives([path], origin=ORIGIN, archive_dir=tmp_path)
    newest = index.lookup(PAGE)
    assert newest is not None
    assert read_capture(newest).body == b"new"
    recent = index_archives([path], origin=ORIGIN, archive_dir=tmp_path, since=date(2026, 12, 3))
    assert recent.lookup(f"{ORIGIN}/w/khac") is None
    assert recent.lookup(PAGE) is not None


def test_a_file_with_another_sites_captures_is_refused(tmp_path: Path) -> None:
    path = warc(
        tmp_path / "a.warc.gz",
        (response, "https://other.example/w/x", b"x", "2026-12-01T00:00:00Z"),
    )
    with pytest.raises(ArchiveRefused, match="holds captures of another site"):
        index_archives([path], origin=ORIGIN, archive_dir=tmp_path)
    # In a directory shared by sites, the other site's file is left out instead.
    shared = index_archives([path], origin=ORIGIN, archive_dir=tmp_path, skip_foreign=True)
    assert shared.files == []


def test_the_default_port_is_the_same_origin(tmp_path: Path) -> None:
    path = warc(
        tmp_path / "a.warc.gz",
        (response, "https://portal.example:443/w/x", b"x", "2026-12-01T00:00:00Z"),
    )
    index = index_archives([path], origin=ORIGIN, archive_dir=tmp_path)
    assert index.files == [path]


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "not a warc"])
def test_a_damaged_file_is_read_up_to_the_damage_and_named(tmp_path: Path, damage: str) -> None:
    pages = [
        (response, f"{ORIGIN}/w/p{i}", b"x" * 2000 * (i + 1), "2026-12-01T00:00:00Z")
        for i in range(3)
    ]
    data = warc(tmp_path / "whole.warc.gz", *pages).read_bytes()
    if damage == "truncated":
        data = data[: len(data) - 50]
    elif damage == "corrupt":
        middle = len(data) // 2
        data = data[:middle] + b"\x00" * 32 + data[middle + 32 :]
    else:
        data = b"not a warc at all\n" * 20
    path = tmp_path / "damaged.warc.gz"
    path.write_bytes(data)
    index = index_archives([path], origin=ORIGIN, archive_dir=tmp_path)
    [line] = index.problem_lines()
    assert line.startswith(f"{path}: ")
    if damage != "not a warc":
        assert index.lookup(f"{ORIGIN}/w/p0") is not None
        assert index.lookup(f"{ORIGIN}/w/p2") is None
