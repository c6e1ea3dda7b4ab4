"""Data-quality guards: wrong charsets, oversized pages and bodies, bodies stored once per
version, and the count of stored articles."""

from __future__ import annotations

import json
import logging
import sqlite3
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from scrapy import Request
from scrapy.exceptions import DownloadCancelledError, DropItem
from scrapy.http import HtmlResponse, TextResponse
from scrapy.utils.test import get_crawler
from sqlalchemy import func, select

from crawler.crawl.crawl_state import CrawlState, index_known
from crawler.domain.items import ArticleItem
from crawler.domain.urls import canonical_article_url
from crawler.middlewares.charset import (
    CHARSET_PROBLEM_META,
    CORRECTED_META,
    PROBLEM_CODES,
    CharsetMiddleware,
    CharsetProblemMiddleware,
    is_single_byte,
)
from crawler.middlewares.size import TooLargeMiddleware
from pipelines.storage.models import Article, ArticleVersion
from pipelines.storage.store import ArticleStore, KnownRow
from pipelines.validate import ValidationPipeline
from tests.crawl_runner import run_crawl
from tests.replica.content import fold_text
from tests.replica.server import ReplicaServer
from tests.replica.site import CONTROL_CHARS, QUALITY_TRAPS, ReplicaConfig, ReplicaSite

if TYPE_CHECKING:
    from collections.abc import Callable

TITLE = "Hội nghị sơ kết công tác Đảng bộ 9 tháng đầu năm"
PAGE = f"<html><head><title>{TITLE}</title></head><body><p>{TITLE}</p></body></html>"


def _response(body: bytes, content_type: str) -> HtmlResponse:
    request = Request("https://h/w/hoi-nghi")
    return HtmlResponse(
        request.url, body=body, headers={"Content-Type": content_type}, request=request
    )


def _charset_middleware() -> tuple[CharsetMiddleware, dict[str, Any]]:
    crawler = get_crawler()
    assert crawler.stats is not None
    return CharsetMiddleware.from_crawler(crawler), crawler.stats.get_stats()


# --- wrong charset -----------------------------------------------------------------------------


@pytest.mark.parametrize("declared", ["ISO-8859-1", "latin1", "windows-1252", "iso-8859-15"])
def test_utf8_bytes_under_a_single_byte_charset_header_are_decoded_as_utf8(declared: str) -> None:
    middleware, stats = _charset_middleware()
    response = _response(PAGE.encode("utf-8"), f"text/html; charset={declared}")
    assert TITLE not in response.text  # what Scrapy alone would store: mojibake
    fixed = middleware.process_response(response.request, response)
    assert isinstance(fixed, TextResponse)
    assert fixed.css("p::text").get() == TITLE
    assert stats["fetch/charset_corrected"] == 1
    assert fixed.meta[CORRECTED_META] == response.encoding


def test_utf8_bytes_under_a_latin1_meta_charset_are_decoded_as_utf8() -> None:
    middleware, _ = _charset_middleware()
    body = PAGE.replace("<head>", '<head><meta charset="ISO-8859-1">').encode("utf-8")
    response = _response(body, "text/html")
    fixed = middleware.process_response(response.request, response)
    assert isinstance(fixed, TextResponse)
    assert fixed.css("p::text").get() == TITLE


def test_real_latin1_bytes_are_left_as_declared() -> None:
    middleware, stats = _charset_middleware()
    response = _response(
        "<p>Café crème à la française</p>".encode("latin-1"), "text/html; charset=ISO-8859-1"
    )
    assert middleware.process_response(response.request, response) is response
    assert response.css("p::text").get() == "Café crème à la française"
    assert "fetch/charset_corrected" not in stats


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (PAGE.encode("utf-8"), "text/html; charset=UTF-8"),
        (b"<p>plain ascii</p>", "text/html; charset=ISO-8859-1"),
        (PAGE.encode("utf-16"), "text/html; charset=UTF-16"),
    ],
)
def test_correctly_declared_pages_are_untouched(body: bytes, content_type: str) -> None:
    middleware, stats = _charset_middleware()
    response = _response(body, content_type)
    assert middleware.process_response(response.request, response) is response
    assert "fetch/charset_corrected" not in stats


def test_only_single_byte_charsets_count_as_single_byte() -> None:
    assert all(map(is_single_byte, ["latin-1", "cp1252", "iso-8859-2", "koi8-r"]))
    assert not any(map(is_single_byte, ["utf-8", "utf-16", "shift_jis", "gb18030", "nope"]))


def test_articles_read_from_a_corrected_page_carry_the_problem() -> None:
    middleware = CharsetProblemMiddleware.from_crawler(get_crawler())
    response = _response(PAGE.encode("utf-8"), "text/html; charset=ISO-8859-1")
    response.meta[CORRECTED_META] = "cp1252"
    item = ArticleItem(url=response.url)
    out = list(middleware.process_spider_output(response, [item, Request("https://h/x")]))
    assert out[0] is item
    assert [(p["field"], p["code"]) for p in item.problems] == [("body_text", "charset_corrected")]
    assert "cp1252" in item.problems[0]["message"]
    assert set(PROBLEM_CODES) == {"charset_corrected", "charset_not_utf8", "charset_invalid_bytes"}


# --- a UTF-8 declaration over bytes that are not UTF-8 -----------------------------------------

HEPZA = "Ban Quản lý các Khu chế xuất và công nghiệp TP.HCM"
VI_PAGE = (
    f"<html><head><title>{HEPZA}</title></head><body><p>{HEPZA}</p>"
    "<p>Hội nghị sơ kết công tác Đảng bộ 9 tháng đầu năm, triển khai nhiệm vụ quý IV.</p>"
    "</body></html>"
)
LATIN1 = "Café crème à la française, où l'été est doux"
LATIN1_PAGE = f"<html><head><title>{LATIN1}</title></head><body><p>{LATIN1}</p></body></html>"


def cp1258(text: str) -> bytes:
    """``text`` in windows-1258 as Vietnamese software writes it: a letter with its circumflex,
    breve or horn precomposed where windows-1258 has it (â ê ô ơ ư ă), tone marks combining."""
    out = bytearray()
    for char in text:
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        base, *marks = unicodedata.normalize("NFD", char)
        for mark in marks:
            composed = unicodedata.normalize("NFC", base + mark)
            if len(composed) == 1 and composed.encode("cp1258", errors="ignore"):
                base = composed
                marks.remove(mark)
                break
        out += (base + "".join(marks)).encode("cp1258")
    return bytes(out)


def _read_as(middleware: CharsetMiddleware, response: HtmlResponse) -> tuple[str, str]:
    """(the first paragraph in NFC, as the text pipeline stores it; the problem code)"""
    fixed = middleware.process_response(response.request, response)
    assert isinstance(fixed, HtmlResponse)
    text = unicodedata.normalize("NFC", fixed.css("p::text").get() or "")
    code, _ = fixed.meta.get(CHARSET_PROBLEM_META, ("", ""))
    return text, code


def test_vietnamese_in_windows_1258_under_a_utf8_header_is_read_as_windows_1258() -> None:
    middleware, stats = _charset_middleware()
    response = _response(cp1258(VI_PAGE), "text/html; charset=UTF-8")
    assert "\ufffd" in response.text  # what Scrapy alone would store
    assert _read_as(middleware, response) == (HEPZA, "charset_not_utf8")
    _, message = response.meta[CHARSET_PROBLEM_META]
    assert "read as cp1258 (its bytes read as Vietnamese there)" in message
    assert stats["fetch/charset_not_utf8"] == 1


def test_a_utf8_header_over_windows_1258_bytes_yields_to_the_meta_charset() -> None:
    middleware, _ = _charset_middleware()
    page = VI_PAGE.replace("<head>", '<head><meta charset="windows-1258">')
    response = _response(cp1258(page), "text/html; charset=UTF-8")
    assert _read_as(middleware, response) == (HEPZA, "charset_not_utf8")
    assert "(its other declaration)" in response.meta[CHARSET_PROBLEM_META][1]


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_latin1_text_under_a_utf8_header_is_read_as_windows_1252(encoding: str) -> None:
    middleware, _ = _charset_middleware()
    response = _response(LATIN1_PAGE.encode(encoding), "text/html; charset=UTF-8")
    assert _read_as(middleware, response) == (LATIN1, "charset_not_utf8")
    assert "read as cp1252" in response.meta[CHARSET_PROBLEM_META][1]


@pytest.mark.parametrize(
    "content_type", ["text/html; charset=windows-1258", "text/html; charset=cp1258"]
)
def test_vietnamese_utf8_bytes_under_a_windows_1258_header_are_read_as_utf8(
    content_type: str,
) -> None:
    middleware, stats = _charset_middleware()
    response = _response(VI_PAGE.encode("utf-8"), content_type)
    fixed = middleware.process_response(response.request, response)
    assert isinstance(fixed, HtmlResponse)
    assert fixed.css("p::text").get() == HEPZA
    assert stats["fetch/charset_corrected"] == 1


def test_a_utf8_page_with_a_few_stray_bytes_stays_utf8_and_counts_them() -> None:
    # A Latin-1 word pasted into a Vietnamese UTF-8 page: re-reading the whole page as a
    # single-byte charset would garble every correct character.
    middleware, stats = _charset_middleware()
    body = VI_PAGE.encode("utf-8").replace(b"</body>", "<p>café</p></body>".encode("latin-1"))
    response = _response(body, "text/html; charset=UTF-8")
    assert _read_as(middleware, response) == (HEPZA, "charset_invalid_bytes")
    assert "1 of its bytes are not" in response.meta[CHARSET_PROBLEM_META][1]
    assert stats["fetch/charset_invalid_bytes"] == 1


def test_a_utf8_page_that_holds_a_replacement_character_itself_is_untouched() -> None:
    middleware, stats = _charset_middleware()
    page = VI_PAGE.replace("</body>", "<p>\ufffd</p></body>")
    response = _response(page.encode("utf-8"), "text/html; charset=UTF-8")
    assert middleware.process_response(response.request, response) is response
    assert not [k for k in stats if k.startswith("fetch/charset")]


def test_articles_read_from_a_page_declared_utf8_over_other_bytes_carry_the_problem() -> None:
    middleware = CharsetProblemMiddleware.from_crawler(get_crawler())
    response = _response(cp1258(VI_PAGE), "text/html; charset=UTF-8")
    CharsetMiddleware.from_crawler(get_crawler()).process_response(response.request, response)
    item = ArticleItem(url=response.url)
    list(middleware.process_spider_output(response, [item]))
    assert [(p["field"], p["code"]) for p in item.problems] == [("body_text", "charset_not_utf8")]
    assert "cp1258" in item.problems[0]["message"]


def test_articles_from_a_correctly_declared_page_carry_no_problem() -> None:
    middleware = CharsetProblemMiddleware.from_crawler(get_crawler())
    response = _response(PAGE.encode("utf-8"), "text/html; charset=UTF-8")
    item = ArticleItem(url=response.url)
    list(middleware.process_spider_output(response, [item]))
    assert item.problems == []


# --- oversized pages and bodies ----------------------------------------------------------------


def test_a_page_over_the_size_limit_is_counted_and_named_in_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    crawler = get_crawler(settings_dict={"DOWNLOAD_MAXSIZE": 1024})
    assert crawler.stats is not None
    middleware = TooLargeMiddleware.from_crawler(crawler)
    request = Request("https://h/w/bai-rat-dai")
    error = DownloadCancelledError(
        "Expected to receive 52428800 bytes which is larger than download max size (1024) "
        f"in request {request}."
    )
    with caplog.at_level(logging.WARNING):
        assert middleware.process_exception(request, error) is None
    assert crawler.stats.get_value("fetch/too_large") == 1
    assert "https://h/w/bai-rat-dai is 52,428,800 bytes, over the 1,024-byte limit" in caplog.text


def test_other_download_errors_are_not_counted_as_too_large() -> None:
    crawler = get_crawler()
    assert crawler.stats is not None
    middleware = TooLargeMiddleware.from_crawler(crawler)
    middleware.process_exception(Request("https://h/x"), TimeoutError("slow"))
    assert crawler.stats.get_value("fetch/too_large") is None


def test_pages_are_refused_over_16_mib_and_sitemaps_over_1_gib() -> None:
    from crawler import settings  # noqa: PLC0415

    assert settings.DOWNLOAD_MAXSIZE == 16 * 1024 * 1024
    assert settings.SITEMAP_MAXSIZE == 1024 * 1024 * 1024


def _validation(tmp_path: Path, max_body_chars: int) -> tuple[ValidationPipeline, Any]:
    crawler = get_crawler(
        settings_dict={
            "REJECTS_PATH": str(tmp_path / "rejects.jsonl"),
            "MAX_BODY_CHARS": max_body_chars,
        }
    )
    return ValidationPipeline.from_crawler(crawler), crawler.stats


def _article(body_text: str, body_html: str) -> ArticleItem:
    return ArticleItem(
        url="https://h/w/bai-dai",
        title=TITLE,
        body_text=body_text,
        body_html=body_html,
        published_at="2023-01-18T17:48:00+07:00",
    )


def test_a_body_over_max_body_chars_is_rejected_with_its_length(tmp_path: Path) -> None:
    pipeline, stats = _validation(tmp_path, max_body_chars=1000)
    with pytest.raises(DropItem, match="body_too_long"):
        pipeline.process_item(_article("chữ " * 1000, "<p>ngắn</p>"))
    pipeline.close_spider()
    (reject,) = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert [r["code"] for r in reject["reasons"]] == ["body_too_long"]
    assert "body_text 4,000" in reject["reasons"][0]["message"]
    assert "MAX_BODY_CHARS=1,000" in reject["reasons"][0]["message"]
    # the rejects file keeps the reason, not another copy of the oversized body
    assert reject["record"]["body_text"] is None
    assert stats.get_value("validate/reason/body_too_long") == 1


def test_an_oversized_body_html_is_rejected_too(tmp_path: Path) -> None:
    pipeline, _ = _validation(tmp_path, max_body_chars=1000)
    with pytest.raises(DropItem, match="body_too_long"):
        pipeline.process_item(_article("ngắn", "<p>chữ</p>" * 200))


def test_a_body_within_max_body_chars_passes(tmp_path: Path) -> None:
    pipeline, _ = _validation(tmp_path, max_body_chars=1000)
    item = _article("chữ " * 200, "<p>chữ</p>")
    assert pipeline.process_item(item) is item


# --- bodies stored once per version -------------------------------------------------------------


def _body_copies(store: ArticleStore, body: str) -> int:
    """How many times ``body`` is in the database: article rows plus version records."""
    with store.engine.connect() as conn:
        in_articles = conn.scalar(
            select(func.count()).select_from(Article).where(Article.body_text == body)
        )
        records = conn.scalars(select(ArticleVersion.record)).all()
    return int(in_articles or 0) + sum(record.get("body_text") == body for record in records)


def test_a_large_body_is_stored_once_per_version(
    database_url: str, make_article_record: Callable[..., dict[str, Any]]
) -> None:
    store = ArticleStore(database_url)
    try:
        first_body = "Nội dung rất dài. " * 300_000  # 5.4 MB of UTF-8
        record = make_article_record("bai-dai", body_text=first_body, body_html=None)
        store.write_batch([record], "run-1")
        assert _body_copies(store, first_body) == 1

        edited_body = first_body + "Đã sửa."
        edited = make_article_record("bai-dai", body_text=edited_body, body_html=None)
        store.write_batch([edited], "run-2")
        assert _body_copies(store, first_body) == 1
        assert _body_copies(store, edited_body) == 1

        history = store.versions(record["id"])
        assert [v["record"]["body_text"] for v in history] == [first_body, edited_body]
        assert [v["run_id"] for v in history] == ["run-1", "run-2"]
    finally:
        store.close()


def test_history_written_with_bodies_in_every_version_stays_readable(
    database_url: str, make_article_record: Callable[..., dict[str, Any]]
) -> None:
    store = ArticleStore(database_url)
    try:
        record = make_article_record("cu")
        store.write_batch([record], "run-1")
        with store.engine.begin() as conn:
            # the layout before bodies were kept once: the newest record holds them too
            full = {"body_text": record["body_text"], "body_html": record["body_html"]}
            version_id = conn.scalar(select(ArticleVersion.id))
            stored = conn.scalar(select(ArticleVersion.record))
            conn.execute(
                ArticleVersion.__table__.update()
                .where(ArticleVersion.id == version_id)
                .values(record={**stored, **full})
            )
        edited = make_article_record("cu", body_text="Đã sửa.")
        store.write_batch([edited], "run-2")
        history = store.versions(record["id"])
        assert [v["record"]["body_text"] for v in history] == [record["body_text"], "Đã sửa."]
    finally:
        store.close()


# --- the count of stored articles ---------------------------------------------------------------


def test_stored_articles_are_counted_by_article_not_by_url() -> None:
    # as the store streams them: one row per alias URL of each article
    rows = [
        KnownRow("a" * 20, "https://h/w/mot", None, None, "https://h/en/w/mot"),
        KnownRow("a" * 20, "https://h/w/mot", None, None, "https://h/w/mot;jsessionid=X"),
        KnownRow("b" * 20, "https://h/w/hai", None, None, None),
    ]
    known, _ = index_known(rows, "https://h", 0)
    state = CrawlState(known=known)
    assert len(state.known) == 4
    assert state.article_count == 2


# --- end to end: every trap on the replica, one crawl --------------------------------------------


@pytest.fixture(scope="module")
def trapped_crawl(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    config = ReplicaConfig(articles=10, quality_traps=(*QUALITY_TRAPS, "dot_slug"))
    site = ReplicaSite(config)
    with ReplicaServer(config) as server:
        result = run_crawl(
            server.url,
            tmp_path_factory.mktemp("quality"),
            # the oversized article is 6 MiB; a small limit keeps the test's memory small
            settings={"DOWNLOAD_MAXSIZE": str(4 * 1024 * 1024)},
        )
        requests = [r.path_and_query for r in server.requests]
        base = server.url
    by_number = {
        number: canonical_article_url(base + site.by_number[number].canonical_path)
        for number in QUALITY_TRAPS.values()
    }
    path = result.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        (stats,) = conn.execute("SELECT stats FROM crawl_runs").fetchone()
    conn.close()
    return {
        "result": result,
        "feed": {record["url"]: record for record in result.feed()},
        "urls": by_number,
        "site": site,
        "requests": requests,
        "stats": json.loads(stats),
    }


def _trap_record(crawl: dict[str, Any], trap: str) -> dict[str, Any]:
    url = crawl["urls"][QUALITY_TRAPS[trap]]
    assert url in crawl["feed"], crawl["result"].log[-3000:]
    record: dict[str, Any] = crawl["feed"][url]
    return record


@pytest.mark.e2e
def test_e2e_utf8_page_under_a_latin1_header_is_stored_in_correct_vietnamese(
    trapped_crawl: dict[str, Any],
) -> None:
    record = _trap_record(trapped_crawl, "charset")
    article = trapped_crawl["site"].by_number[QUALITY_TRAPS["charset"]]
    assert record["title"] == fold_text(article.title)
    assert "Ã" not in record["body_text"]
    assert "charset_corrected" in [p["code"] for p in record["problems"]]
    assert trapped_crawl["stats"]["fetch/charset_corrected"] >= 1


@pytest.mark.e2e
def test_e2e_control_characters_never_reach_the_record(trapped_crawl: dict[str, Any]) -> None:
    record = _trap_record(trapped_crawl, "controls")
    article = trapped_crawl["site"].by_number[QUALITY_TRAPS["controls"]]
    clean_title = fold_text("".join(ch for ch in article.title if ch not in CONTROL_CHARS))
    assert record["title"] == clean_title
    assert "Đoạn văn có ký tự điều khiển giữa các từ." in record["body_text"].split("\n\n")
    for name in ("title", "body_text", "body_html", "summary"):
        value = record[name] or ""
        assert not [ch for ch in value if unicodedata.category(ch) == "Cc" and ch not in "\n"]


@pytest.mark.e2e
def test_e2e_a_100000_character_title_is_capped_with_a_problem(
    trapped_crawl: dict[str, Any],
) -> None:
    record = _trap_record(trapped_crawl, "long_title")
    assert 0 < len(record["title"]) <= 1000
    assert "title_too_long" in [p["code"] for p in record["problems"]]


@pytest.mark.e2e
def test_e2e_dot_segment_links_are_never_requested_or_stored(
    trapped_crawl: dict[str, Any],
) -> None:
    requested = [p for p in trapped_crawl["requests"] if "/w/.." in p or "%2e" in p.lower()]
    assert requested == []
    assert not [url for url in trapped_crawl["feed"] if "/.." in url or url.endswith("/w/")]


@pytest.mark.e2e
def test_e2e_an_oversized_article_is_refused_counted_and_named(
    trapped_crawl: dict[str, Any],
) -> None:
    url = trapped_crawl["urls"][QUALITY_TRAPS["oversized"]]
    result = trapped_crawl["result"]
    assert url not in trapped_crawl["feed"]
    assert trapped_crawl["stats"]["fetch/too_large"] == 1
    assert "refused (too large): " in result.log
    assert "over the 4,194,304-byte limit" in result.log
    # every other article is still stored
    assert len(trapped_crawl["feed"]) == len(trapped_crawl["site"].articles) - 1


def test_sitemap_requests_may_be_larger_than_pages() -> None:
    from crawler.spiders.hepza import HepzaSpider  # noqa: PLC0415

    crawler = get_crawler(
        HepzaSpider,
        settings_dict={
            "SITE_TIMEZONE": "Asia/Ho_Chi_Minh",
            "DOWNLOAD_MAXSIZE": 1000,
            "SITEMAP_MAXSIZE": 5000,
            "MAX_LISTING_PAGES": 10,
            "MAX_LINK_DEPTH": 10,
            "MAX_LINKS_PER_PAGE": 10,
        },
    )
    spider = HepzaSpider.from_crawler(crawler, base_url="http://127.0.0.1:8000")
    (request,) = spider._sitemap_requests(["http://127.0.0.1:8000/sitemap.xml"])
    assert request.meta["download_maxsize"] == 5000
