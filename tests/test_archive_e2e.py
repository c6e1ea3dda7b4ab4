"""End-to-end: the WARC archive of real crawls of the replica (crawler/archive/,
crawler/extensions/archive.py, docs/archive.md)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawler.archive.writer import FILE_NAME, payload_digest, split_location
from crawler.domain.urls import canonical_article_url
from tests.crawl_runner import PROJECT_ROOT, CrawlResult, crawl_command, database_rows, run_crawl
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


def warc_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if FILE_NAME.fullmatch(p.name))


def run_files(directory: Path) -> dict[str, list[Path]]:
    """Run token -> its files, oldest run first."""
    runs: dict[str, list[Path]] = {}
    for path in warc_files(directory):
        match = FILE_NAME.fullmatch(path.name)
        assert match is not None
        runs.setdefault(match["token"], []).append(path)
    return dict(sorted(runs.items()))


def records(path: Path) -> list[dict[str, Any]]:
    """Every record of a WARC file: type, URI, payload digest, offset, and for a response the
    digest of the payload as read back."""
    return list(iter_records(path))


def iter_records(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as stream:
        iterator = ArchiveIterator(stream)
        for record in iterator:
            entry = {
                "type": record.rec_type,
                "uri": record.rec_headers.get_header("WARC-Target-URI"),
                "digest": record.rec_headers.get_header("WARC-Payload-Digest"),
                "refers_to": record.rec_headers.get_header("WARC-Refers-To-Target-URI"),
                "profile": record.rec_headers.get_header("WARC-Profile"),
                "concurrent_to": record.rec_headers.get_header("WARC-Concurrent-To"),
                "id": record.rec_headers.get_header("WARC-Record-ID"),
                "status": record.http_headers.get_statuscode() if record.http_headers else None,
            }
            if record.rec_type == "response":
                entry["read_digest"] = payload_digest(record.raw_stream.read())
            # after the payload: the offset is known once the record was read
            entry["offset"] = iterator.get_record_offset()
            yield entry


def record_at(directory: Path, pointer: str) -> dict[str, Any]:
    name, offset = split_location(pointer)
    with (directory / name).open("rb") as stream:
        stream.seek(offset)
        record = next(iter(ArchiveIterator(stream)))
        return {
            "type": record.rec_type,
            "uri": record.rec_headers.get_header("WARC-Target-URI"),
            "body": record.content_stream().read(),
        }


@pytest.fixture(scope="module")
def two_crawls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A crawl of the replica, then a full crawl of the same, unchanged replica, into one
    archive directory. Sitemaps come gzip-encoded and chunked (streamed and decoded)."""
    config = ReplicaConfig(sitemaps_gzip_chunked=True)
    workdir = tmp_path_factory.mktemp("archive")
    with ReplicaServer(config) as server:
        first = run_crawl(server.url, workdir, feed_name="first.jsonl")
        runs_after_first = run_files(workdir / "archive")
        second = run_crawl(server.url, workdir, feed_name="second.jsonl", spider_args={"full": "1"})
    runs = run_files(workdir / "archive")
    assert len(runs) == 2, runs
    (first_files, second_files) = runs.values()
    assert list(runs_after_first.values()) == [first_files]
    return {
        "first": first,
        "second": second,
        "archive": workdir / "archive",
        "first_files": first_files,
        "second_files": second_files,
        "base": server.url,
    }


def test_both_crawls_succeed_with_archiving_on_by_default(two_crawls: dict[str, Any]) -> None:
    for run in ("first", "second"):
        result: CrawlResult = two_crawls[run]
        assert result.returncode == 0, result.log[-3000:]
        assert result.report["outcome"] == "succeeded"


def stat(result: CrawlResult, name: str) -> int:
    match = re.search(rf"'{re.escape(name)}': (\d+)", result.log)
    return int(match[1]) if match else 0


def test_streamed_sitemaps_are_still_read_whole_once_archived(two_crawls: dict[str, Any]) -> None:
    first: CrawlResult = two_crawls["first"]
    assert stat(first, "crawl/sitemaps_streamed") >= 2
    assert stat(first, "crawl/sitemaps_empty") == 0
    assert stat(first, "crawl/sitemap_entries") >= len(first.feed())


def test_a_crawl_archives_request_and_response_records_of_pages_sitemaps_and_robots(
    two_crawls: dict[str, Any],
) -> None:
    base = two_crawls["base"]
    found = [r for path in two_crawls["first_files"] for r in records(path)]
    responses = {r["uri"]: r for r in found if r["type"] == "response"}
    requests = [r for r in found if r["type"] == "request"]
    assert found[0]["type"] == "warcinfo"
    for path in ("/robots.txt", "/sitemap.xml", "/"):
        assert base + path in responses, path
    assert any("/w/" in uri for uri in responses)
    # every response or revisit has its request, pointing to it
    answered = {r["id"] for r in found if r["type"] in ("response", "revisit")}
    assert answered == {r["concurrent_to"] for r in requests}
    # payloads read back as written (the decoded, streamed sitemaps included)
    assert all(r["read_digest"] == r["digest"] for r in responses.values())


def test_every_stored_version_points_to_the_response_record_of_its_page(
    two_crawls: dict[str, Any],
) -> None:
    first: CrawlResult = two_crawls["first"]
    rows = database_rows(
        first.database_url,
        "SELECT a.url, v.archive_record FROM article_versions v JOIN articles a "
        "ON a.id = v.article_id",
    )
    assert len(rows) >= 50
    for url, pointer in rows:
        assert pointer, url
        record = record_at(two_crawls["archive"], pointer)
        assert record["type"] == "response"
        # the page as fetched: its URL may be another spelling of the record's canonical one
        assert canonical_article_url(record["uri"]) == url
        assert b"<html" in record["body"].lower()
    feed = {r["url"]: r["archive_record"] for r in first.feed()}
    assert feed == dict(rows)


def test_an_unchanged_second_crawl_writes_revisits_not_copies(
    two_crawls: dict[str, Any],
) -> None:
    first = [r for path in two_crawls["first_files"] for r in records(path)]
    second = [r for path in two_crawls["second_files"] for r in records(path)]
    # an empty body (a redirect) is written whole: a revisit record would be no smaller
    copies = {
        (r["uri"], r["digest"])
        for r in first
        if r["type"] == "response" and r["digest"] != payload_digest(b"")
    }
    again = [r for r in second if r["type"] == "response" and (r["uri"], r["digest"]) in copies]
    assert again == []
    revisits = [r for r in second if r["type"] == "revisit"]
    kinds = Counter(r["type"] for r in second)
    articles = len(two_crawls["second"].feed())
    assert len(revisits) >= articles >= 50, kinds
    for revisit in revisits:
        assert revisit["profile"].endswith("/revisit/identical-payload-digest")
        assert revisit["refers_to"] == revisit["uri"]
    first_bytes = sum(p.stat().st_size for p in two_crawls["first_files"])
    second_bytes = sum(p.stat().st_size for p in two_crawls["second_files"])
    print(f"archive growth: first run {first_bytes} bytes, second run {second_bytes} bytes")
    # what remains is a request record and a revisit's headers per exchange (about 1 KB
    # compressed), against the replica's small pages; real pages are ten times larger
    assert second_bytes < first_bytes / 2
    # the unchanged article's version still points to the first run's copy
    feed = two_crawls["second"].feed()
    assert all(
        split_location(r["archive_record"])[0] in {p.name for p in two_crawls["first_files"]}
        for r in feed
    )


def _tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / name), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_archive_opens_in_warcio_check_warcio_index_and_cdxj_indexer(
    two_crawls: dict[str, Any],
) -> None:
    files = [str(p) for p in warc_files(two_crawls["archive"])]
    check = _tool("warcio", "check", *files)
    assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]
    index = _tool("warcio", "index", "-f", "warc-type,warc-target-uri,offset", *files)
    assert index.returncode == 0, index.stderr[-2000:]
    types = Counter(json.loads(line)["warc-type"] for line in index.stdout.splitlines())
    assert types["response"] and types["revisit"] and types["request"]
    cdxj = _tool("cdxj-indexer", *files)
    assert cdxj.returncode == 0, cdxj.stderr[-2000:]
    lines = cdxj.stdout.splitlines()
    # one line per response and revisit (request records are not indexed)
    assert len(lines) == types["response"] + types["revisit"]
    assert any('"mime": "warc/revisit"' in line for line in lines)


def test_an_unwritable_archive_dir_fails_the_run(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the archive's directory should be\n")
    with ReplicaServer(ReplicaConfig(articles=10)) as server:
        result = run_crawl(
            server.url, tmp_path / "run", settings={"ARCHIVE_DIR": str(blocker / "archive")}
        )
    assert result.returncode == 1, result.log[-3000:]
    report = result.report
    assert report["outcome"] == "failed"
    reasons = [r for r in report["failures"] if "archive" in r]
    assert reasons and "cannot be written" in reasons[0], report["failures"]
    print("unwritable archive:", reasons[0])


def test_sigkill_mid_crawl_leaves_every_written_record_readable(tmp_path: Path) -> None:
    config = ReplicaConfig(articles=300)
    archive = tmp_path / "archive"
    with ReplicaServer(config) as server:
        cmd, _, _ = crawl_command(server.url, tmp_path, settings={"DOWNLOAD_DELAY": "0.01"})
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                files = warc_files(archive) if archive.exists() else []
                if files and files[-1].stat().st_size > 200_000:
                    break
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    (path,) = warc_files(archive)
    found: list[dict[str, Any]] = []
    try:
        found.extend(iter_records(path))
    except Exception as exc:  # a record the kill cut short: only the last
        print(f"the last record was cut by the kill: {exc!r}")
    responses = [r for r in found if r["type"] == "response"]
    assert len(responses) >= 20
    assert all(r["read_digest"] == r["digest"] for r in responses)
    assert Counter(r["type"] for r in found)["request"] >= len(responses)
