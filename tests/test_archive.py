"""The WARC writer and its digest index (crawler/archive/), without a crawl."""

from __future__ import annotations

import contextlib
import errno
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawler.archive.digests import DigestIndex, index_path, prune, run_sets
from crawler.archive.writer import (
    FILE_NAME,
    ArchiveWriter,
    Exchange,
    payload_digest,
    run_token,
    split_location,
)

SITE = "hepza"


def exchange(url: str, body: bytes, **kwargs: Any) -> Exchange:
    return Exchange(
        url=url,
        method="GET",
        request_headers=[("User-Agent", "test"), ("Accept", "text/html")],
        status=200,
        response_headers=[("Content-Type", "text/html; charset=utf-8")],
        payload=body,
        payload_length=len(body),
        **kwargs,
    )


def token(minutes: int) -> str:
    return run_token(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes), pid=1)


def run(
    directory: Path,
    minutes: int,
    pages: dict[str, bytes],
    *,
    keep: int = 0,
    max_bytes: int = 10**9,
) -> tuple[ArchiveWriter, DigestIndex, dict[str, str]]:
    index = DigestIndex(directory, SITE, token(minutes), keep)
    writer = ArchiveWriter(directory, SITE, token(minutes), max_bytes=max_bytes, digests=index)
    writer.open()
    pointers = {url: writer.write(exchange(url, body)) for url, body in pages.items()}
    writer.close()
    index.save()
    return writer, index, pointers


def read_all(path: Path) -> list[tuple[str, str | None, bytes]]:
    out = []
    with path.open("rb") as stream:
        for record in ArchiveIterator(stream):
            out.append(
                (
                    record.rec_type,
                    record.rec_headers.get_header("WARC-Target-URI"),
                    record.raw_stream.read(),
                )
            )
    return out


def test_each_file_starts_with_warcinfo_and_a_run_rotates_at_its_size(tmp_path: Path) -> None:
    pages = {f"https://x.vn/w/a{n}": bytes([65 + n]) * 5000 for n in range(6)}
    writer, _, _ = run(tmp_path, 0, pages, max_bytes=1500)
    files = sorted(tmp_path.glob("*.warc.gz"))
    assert len(files) >= 3
    assert [p.name for p in files] == writer.written.files
    for path in files:
        assert FILE_NAME.fullmatch(path.name)
        assert read_all(path)[0][0] == "warcinfo"
    seen = [r for path in files for r in read_all(path) if r[0] == "response"]
    assert {uri: body for _, uri, body in seen} == pages


def test_the_pointer_names_the_response_record_holding_the_payload(tmp_path: Path) -> None:
    _, _, pointers = run(tmp_path, 0, {"https://x.vn/w/a": b"<html>a</html>"})
    name, offset = split_location(pointers["https://x.vn/w/a"])
    with (tmp_path / name).open("rb") as stream:
        stream.seek(offset)
        record = next(iter(ArchiveIterator(stream)))
        assert record.rec_type == "response"
        assert record.content_stream().read() == b"<html>a</html>"


def test_a_page_met_again_unchanged_is_a_revisit_and_points_to_the_first_copy(
    tmp_path: Path,
) -> None:
    index = DigestIndex(tmp_path, SITE, token(0), 0)
    writer = ArchiveWriter(tmp_path, SITE, token(0), digests=index)
    writer.open()
    first = writer.write(exchange("https://x.vn/", b"home"))
    again = writer.write(exchange("https://x.vn/", b"home"))
    changed = writer.write(exchange("https://x.vn/", b"home, edited"))
    writer.close()
    assert again == first != changed
    assert writer.written.records == {"warcinfo": 1, "response": 2, "revisit": 1, "request": 3}
    with next(tmp_path.glob("*.warc.gz")).open("rb") as stream:
        revisit = next(r for r in ArchiveIterator(stream) if r.rec_type == "revisit")
        assert revisit.rec_headers.get_header("WARC-Payload-Digest") == payload_digest(b"home")
        assert revisit.rec_headers.get_header("WARC-Refers-To-Target-URI") == "https://x.vn/"
        assert revisit.rec_headers.get_header("WARC-Refers-To-Date")
        assert revisit.http_headers.get_statuscode() == "200"


def test_a_later_run_revisits_the_copies_of_an_earlier_one(tmp_path: Path) -> None:
    pages = {"https://x.vn/": b"home", "https://x.vn/w/a": b"article"}
    _, _, first = run(tmp_path, 0, pages)
    writer, _, second = run(tmp_path, 1, {**pages, "https://x.vn/w/b": b"new"})
    assert writer.written.records["revisit"] == 2
    assert writer.written.records["response"] == 1
    assert {url: second[url] for url in pages} == first


def test_an_unreadable_digest_index_means_full_copies(tmp_path: Path) -> None:
    pages = {"https://x.vn/": b"home"}
    run(tmp_path, 0, pages)
    index_path(tmp_path, SITE).write_text("{not json", encoding="utf-8")
    writer, _, _ = run(tmp_path, 1, pages)
    assert writer.written.records.get("revisit", 0) == 0
    assert json.loads(index_path(tmp_path, SITE).read_text(encoding="utf-8"))["urls"]


def test_a_copy_removed_by_hand_is_never_referred_to(tmp_path: Path) -> None:
    pages = {"https://x.vn/": b"home"}
    writer, _, _ = run(tmp_path, 0, pages)
    (tmp_path / writer.written.files[0]).unlink()
    again, _, _ = run(tmp_path, 1, pages)
    assert again.written.records.get("revisit", 0) == 0


def test_retention_keeps_the_newest_runs_and_every_file_a_kept_revisit_refers_to(
    tmp_path: Path,
) -> None:
    keep = 3
    stable = {"https://x.vn/stable": b"never changes"}
    for minute in range(6):
        pages = {**stable, f"https://x.vn/w/{minute}": f"page {minute}".encode()}
        _, index, pointers = run(tmp_path, minute, pages, keep=keep)
        prune(tmp_path, SITE, keep, index)
        # whatever any pointer of this run names still exists
        for pointer in pointers.values():
            assert (tmp_path / split_location(pointer)[0]).is_file(), (minute, pointer)
    tokens = sorted(run_sets(tmp_path, SITE))
    # the newest three runs, and at most the one older run their revisits refer to
    assert token(5) in tokens and token(4) in tokens and token(3) in tokens
    assert token(0) not in tokens and token(1) not in tokens
    assert len(tokens) <= keep + 1


def test_a_run_refers_only_to_copies_retention_keeps_after_it(tmp_path: Path) -> None:
    stable = {"https://x.vn/stable": b"never changes"}
    counts = []
    for minute in range(4):
        writer, index, _ = run(tmp_path, minute, stable, keep=2)
        prune(tmp_path, SITE, 2, index)
        counts.append(writer.written.records.get("response", 0))
    # keep=2: a run may refer only to the run before it, so the copy is renewed every 2nd run
    assert counts == [1, 0, 1, 0]


class FullDisk:
    """A file that takes ``room`` more bytes, then fails as a full disk does."""

    def __init__(self, file: IO[bytes], room: int) -> None:
        self.file = file
        self.room = room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            self.file.write(data[: self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.file.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)


def test_one_named_file_is_never_rotated_holds_full_copies_and_replaces_an_older_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "probe" / "portal.warc.gz"
    path.parent.mkdir()
    path.write_bytes(b"an older probe's file")
    writer = ArchiveWriter.one_file(path, info={"software": "probe-test"})
    writer.max_bytes = 1  # a run's writer would start a new file after every exchange
    writer.open()
    pointers = [writer.write(exchange("https://x.vn/a", b"the same page")) for _ in range(2)]
    writer.close()
    assert [p.name for p in path.parent.iterdir()] == ["portal.warc.gz"]
    assert [split_location(pointer)[0] for pointer in pointers] == ["portal.warc.gz"] * 2
    found = read_all(path)
    # no digest index: the page met again is a full copy, not a revisit
    assert [kind for kind, _, _ in found] == ["warcinfo", *["response", "request"] * 2]
    assert b"software: probe-test" in found[0][2]
    assert writer.written.total == 5


def test_a_failed_write_is_cut_back_and_leaves_every_earlier_record_readable(
    tmp_path: Path,
) -> None:
    writer = ArchiveWriter(tmp_path, SITE, token(0))
    writer.open()
    writer.write(exchange("https://x.vn/a", b"a" * 1000))
    assert writer._out is not None
    disk = FullDisk(writer._out.file, room=100)
    writer._out.file = disk  # type: ignore[assignment]
    writer._file = disk  # type: ignore[assignment]
    with pytest.raises(OSError, match="No space"):
        writer.write(exchange("https://x.vn/b", bytes(range(256)) * 40))
    writer.close()
    found = read_all(tmp_path / writer.written.files[0])
    assert [(kind, uri) for kind, uri, _ in found] == [
        ("warcinfo", None),
        ("response", "https://x.vn/a"),
        ("request", "https://x.vn/a"),
    ]


def test_a_file_cut_in_the_middle_of_a_record_keeps_the_records_before_it(
    tmp_path: Path,
) -> None:
    pages = {f"https://x.vn/w/{n}": bytes(range(256)) * (n + 1) for n in range(5)}
    writer, _, pointers = run(tmp_path, 0, pages)
    path = tmp_path / writer.written.files[0]
    last = split_location(pointers["https://x.vn/w/4"])[1]
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(path.read_bytes()[: last + 40])
    readable: dict[str, bytes] = {}
    # warcio may or may not complain of the cut member at the end
    with cut.open("rb") as stream, contextlib.suppress(Exception):
        for record in ArchiveIterator(stream):
            if record.rec_type == "response":
                uri = record.rec_headers.get_header("WARC-Target-URI")
                readable[uri] = record.raw_stream.read()
    whole = {url: body for url, body in pages.items() if url != "https://x.vn/w/4"}
    assert {url: readable[url] for url in whole} == whole


def test_streamed_bodies_are_archived_from_their_file_and_left_at_its_start(
    tmp_path: Path,
) -> None:
    body = b"<urlset>" + b"<url><loc>https://x.vn/w/a</loc></url>" * 1000 + b"</urlset>"
    writer = ArchiveWriter(tmp_path, SITE, token(0))
    writer.open()
    with (tmp_path / "body").open("w+b") as file:
        file.write(body)
        file.seek(0)
        item = Exchange(
            url="https://x.vn/sitemap.xml",
            method="GET",
            request_headers=[],
            status=200,
            # as the crawl got it: decoded while streamed, the sent length no longer true
            response_headers=[("Content-Length", "120"), ("Transfer-Encoding", "chunked")],
            payload=file,
            payload_length=len(body),
        )
        writer.write(item)
        assert file.read() == body
    writer.close()
    with (tmp_path / writer.written.files[0]).open("rb") as stream:
        record = next(r for r in ArchiveIterator(stream) if r.rec_type == "response")
        assert record.http_headers.get_header("Content-Length") == str(len(body))
        assert record.http_headers.get_header("Transfer-Encoding") is None
        assert record.content_stream().read() == body


# --- the crawl's side (crawler/extensions/archive.py), without a crawl -------------------------


def archive_extension(directory: Path, **settings: Any) -> Any:
    from scrapy.utils.test import get_crawler  # noqa: PLC0415

    from crawler.extensions.archive import Archive  # noqa: PLC0415

    crawler = get_crawler(
        settings_dict={
            "ARCHIVE_ENABLED": True,
            "RECORD_RUN": True,
            "ARCHIVE_DIR": str(directory),
            "ARCHIVE_MAX_BYTES": 10**9,
            "KEEP_ARCHIVES": 0,
            **settings,
        }
    )
    return Archive.from_crawler(crawler)


def site_spider() -> Any:
    from types import SimpleNamespace  # noqa: PLC0415

    return SimpleNamespace(name="hepza", profile=SimpleNamespace(name="hepza"))


def page(url: str, body: bytes) -> tuple[Any, Any]:
    from scrapy.http import HtmlResponse, Request  # noqa: PLC0415

    request = Request(url, headers={"User-Agent": "test"})
    response = HtmlResponse(url, body=body, headers={"Content-Type": "text/html"}, request=request)
    return request, response


def test_the_extension_puts_the_records_location_in_the_responses_meta(tmp_path: Path) -> None:
    ext = archive_extension(tmp_path / "archive")
    ext.spider_opened(site_spider())
    request, response = page("https://x.vn/w/a", b"<html>a</html>")
    ext.record(request, response)
    pointer = response.meta["archive_record"]
    ext.spider_closed(site_spider(), "finished")
    name, offset = split_location(pointer)
    assert FILE_NAME.fullmatch(name)
    with (tmp_path / "archive" / name).open("rb") as stream:
        stream.seek(offset)
        assert next(iter(ArchiveIterator(stream))).content_stream().read() == b"<html>a</html>"
    assert ext.crawler.stats.get_value("archive/response") == 1


def test_a_disk_that_fills_mid_run_fails_the_run_through_the_ledger(tmp_path: Path) -> None:
    ext = archive_extension(tmp_path / "archive")
    ext.spider_opened(site_spider())
    ext.record(*page("https://x.vn/w/a", b"<html>a</html>"))
    writer = ext.writer
    disk = FullDisk(writer._out.file, room=10)
    writer._out.file = disk
    writer._file = disk
    request, response = page("https://x.vn/w/b", b"<html>b</html>" * 100)
    ext.record(request, response)
    stats = ext.crawler.stats
    assert stats.get_value("run/failure/archive_unwritable") == 1
    message = stats.get_value("run/failure_message/archive_unwritable")
    assert "cannot be written (No space left on device)" in message
    # no pointer to a record that was not written, and nothing more is archived
    assert "archive_record" not in response.meta
    later_request, later = page("https://x.vn/w/c", b"<html>c</html>")
    ext.record(later_request, later)
    assert "archive_record" not in later.meta
    assert stats.get_value("run/failure/archive_unwritable") == 1


def test_an_archive_dir_that_cannot_be_created_fails_the_run(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    ext = archive_extension(blocker / "archive")
    ext.spider_opened(site_spider())
    assert ext.crawler.stats.get_value("run/failure/archive_unwritable") == 1


def test_only_a_recorded_run_with_archiving_on_archives(tmp_path: Path) -> None:
    from scrapy.exceptions import NotConfigured  # noqa: PLC0415

    for settings in ({"ARCHIVE_ENABLED": False}, {"RECORD_RUN": False}):
        with pytest.raises(NotConfigured):
            archive_extension(tmp_path, **settings)


def archived_run(directory: Path, reports: Path, body: bytes, *, report: bool) -> set[str]:
    """One run of the extension (KEEP_ARCHIVES=1) archiving one page; the files it wrote."""
    before = {p.name for p in directory.glob("*.warc.gz")}
    ext = archive_extension(directory, KEEP_ARCHIVES=1, REPORTS_DIR=str(reports))
    run_id = datetime.now(UTC).strftime("%H%M%S%f").rjust(32, "0")
    ext.crawler.stats.set_value("run/id", run_id)
    ext.spider_opened(site_spider())
    ext.record(*page("https://x.vn/w/a", body))
    ext.spider_closed(site_spider(), "finished")
    written = {p.name for p in directory.glob("*.warc.gz")} - before
    if report:
        reports.mkdir(exist_ok=True)
        (reports / f"{run_id}.json").write_text("{}")
    ext.engine_stopped()
    return written


def test_retention_removes_older_runs_files_only_once_this_run_has_its_report(
    tmp_path: Path,
) -> None:
    archive, reports = tmp_path / "archive", tmp_path / "reports"
    first = archived_run(archive, reports, b"<html>1</html>", report=True)
    second = archived_run(archive, reports, b"<html>2</html>", report=False)
    # a run without its report prunes nothing
    assert {p.name for p in archive.glob("*.warc.gz")} == first | second
    third = archived_run(archive, reports, b"<html>3</html>", report=True)
    assert {p.name for p in archive.glob("*.warc.gz")} == third
