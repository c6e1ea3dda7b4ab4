"""Sitemaps read entry by entry: a large sitemap is never held whole, and every entry is read."""

from __future__ import annotations

import tempfile
import tracemalloc

from crawler.parsers.sitemap import SitemapEntry, SitemapStream, parse_sitemap
from tests.fixtures.regenerate import PAGES

SITE = "http://127.0.0.1:8000"
URLSET = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    ' xmlns:xhtml="http://www.w3.org/1999/xhtml">{}</urlset>'
)


def _entry_xml(i: int) -> str:
    url = f"{SITE}/web/guest/-/tin-tuc-so-{i}"
    path = f"web/guest/-/tin-tuc-so-{i}"
    return (
        f"<url><loc>{url}</loc><lastmod>2024-01-01T00:00:{i % 60:02d}Z</lastmod>"
        f'<xhtml:link rel="alternate" hreflang="vi-VN" href="{SITE}/vi/{path}"/>'
        f'<xhtml:link rel="alternate" hreflang="en-US" href="{SITE}/en/{path}"/>'
        f'<xhtml:link rel="alternate" hreflang="x-default" href="{url}"/></url>'
    )


def test_a_50000_entry_sitemap_is_read_whole_in_a_fraction_of_its_size() -> None:
    count = 50_000
    body = URLSET.format("".join(_entry_xml(i) for i in range(count))).encode()
    stream = SitemapStream(body, SITE)
    tracemalloc.start()
    try:
        read = 0
        last: SitemapEntry | None = None
        for found in stream:
            assert isinstance(found, SitemapEntry)
            assert found.url == f"{SITE}/web/guest/-/tin-tuc-so-{read}"
            read += 1
            last = found
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stream.kind == "urlset"
    assert read == count
    assert last is not None and last.lastmod == f"2024-01-01T00:00:{(count - 1) % 60:02d}Z"
    assert [lang for lang, _ in last.alternates] == ["vi-VN", "en-US", "x-default"]
    # Entry by entry: what the read holds at its peak is a sliver of the body.
    assert peak < len(body) / 100, f"peak {peak} bytes for a {len(body)}-byte sitemap"


def test_a_50000_entry_sitemap_in_a_file_is_read_without_holding_the_file() -> None:
    count = 50_000
    head, tail = URLSET.split("{}")
    with tempfile.TemporaryFile() as file:
        # written in slices: the test never holds the document either
        file.write(head.encode())
        for start in range(0, count, 1000):
            file.write("".join(_entry_xml(i) for i in range(start, start + 1000)).encode())
        file.write(tail.encode())
        size = file.tell()
        file.seek(0)
        stream = SitemapStream(file, SITE)
        tracemalloc.start()
        try:
            read = sum(1 for _ in stream)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert stream.kind == "urlset"
    assert read == count
    # read in lxml's chunks, entry by entry: the peak is a sliver of the file
    assert peak < size / 100, f"peak {peak} bytes for a {size}-byte sitemap"


def test_a_blank_file_yields_nothing_and_has_no_kind() -> None:
    with tempfile.TemporaryFile() as file:
        file.write(b"  \n")
        file.seek(0)
        stream = SitemapStream(file, SITE)
        assert list(stream) == [] and stream.kind == ""


def test_a_sitemap_index_streams_its_sub_sitemaps_as_urls() -> None:
    body = (PAGES / "sitemap-index.xml").read_bytes()
    stream = SitemapStream(body, SITE)
    found = list(stream)
    assert stream.kind == "sitemapindex"
    assert found and all(isinstance(url, str) and url.startswith("http") for url in found)
    assert found == parse_sitemap(body, SITE).sitemaps


def test_parse_sitemap_holds_what_the_stream_yields() -> None:
    body = (PAGES / "sitemap-articles.xml").read_bytes()
    doc = parse_sitemap(body, SITE)
    assert doc.kind == "urlset"
    assert doc.entries == [found for found in SitemapStream(body, SITE)]


def test_a_body_that_is_not_a_sitemap_yields_nothing_and_has_no_kind() -> None:
    for body in (b"", b"   \n", b"<html><body>oops</body></html>"):
        stream = SitemapStream(body, SITE)
        assert list(stream) == [] and stream.kind == ""


def test_a_truncated_sitemap_still_yields_the_entries_before_the_cut() -> None:
    body = URLSET.format(_entry_xml(0) + _entry_xml(1))[:-40].encode()
    stream = SitemapStream(body, SITE)
    first = next(iter(stream))
    assert first == next(iter(SitemapStream(URLSET.format(_entry_xml(0)).encode(), SITE)))
    assert stream.kind == "urlset"


def test_an_empty_urlset_is_a_sitemap_without_entries() -> None:
    stream = SitemapStream(URLSET.format("").encode(), SITE)
    assert list(stream) == [] and stream.kind == "urlset"


def test_an_entry_keeps_its_first_loc_and_lastmod_and_every_alternate_in_order() -> None:
    body = URLSET.format(
        f"<url><loc>{SITE}/w/a</loc><lastmod>2024-01-02T00:00:00Z</lastmod>"
        f'<xhtml:link rel="alternate" hreflang="en-US" href="/en/w/a"/>'
        f"<loc>{SITE}/w/b</loc><lastmod>2025-01-01T00:00:00Z</lastmod>"
        f'<xhtml:link rel="alternate" hreflang="x-default" href="{SITE}/w/a"/></url>'
    ).encode()
    assert list(SitemapStream(body, SITE)) == [
        SitemapEntry(
            f"{SITE}/w/a",
            "2024-01-02T00:00:00Z",
            [("en-US", f"{SITE}/en/w/a"), ("x-default", f"{SITE}/w/a")],
        )
    ]
