"""Bad input through the parser and every pipeline before storage: each case ends with a clear
recorded reason (a problem on the record, or a line in the rejects file), never a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from crawler.items import ArticleItem
from crawler.parsers.article import article_item, parse_article
from pipelines.dates import DateNormalizationPipeline
from pipelines.dedupe import DedupePipeline
from pipelines.fields import ArticleFieldsPipeline
from pipelines.html import BodyHtmlPipeline
from pipelines.text import TextNormalizationPipeline
from pipelines.urls import UrlNormalizationPipeline
from pipelines.validate import ValidationPipeline

URL = "https://hepza.hochiminhcity.gov.vn/w/bai-viet"
BODY = "".join(
    f"<p>Đoạn văn thứ {n} của bài viết, đủ dài để là thân bài thật sự của một tin.</p>"
    for n in range(4)
)


def page(head: str = "", content: str = "", lang: str = "vi-VN") -> str:
    return (
        f'<html lang="{lang}"><head>{head}</head><body><section id="content">'
        f"{content}</section></body></html>"
    )


def run_pipelines(html: str, rejects: Path) -> tuple[ArticleItem | None, list[dict[str, Any]]]:
    crawler = get_crawler(settings_dict={"REJECTS_PATH": str(rejects)})
    item: Any = article_item(parse_article(html, URL), URL)
    stages = [
        TextNormalizationPipeline,
        ArticleFieldsPipeline,
        UrlNormalizationPipeline,
        DateNormalizationPipeline,
        BodyHtmlPipeline,
        ValidationPipeline,
        DedupePipeline,
    ]
    pipelines = [cls.from_crawler(crawler) for cls in stages]  # type: ignore[attr-defined]
    try:
        for pipeline in pipelines:
            item = pipeline.process_item(item)
    except DropItem:
        item = None
    finally:
        for pipeline in pipelines:
            if hasattr(pipeline, "close_spider"):
                pipeline.close_spider()
    lines = rejects.read_text("utf-8").splitlines() if rejects.exists() else []
    return item, [json.loads(line) for line in lines]


def codes(reject: dict[str, Any]) -> set[str]:
    return {r["code"] for r in reject["reasons"]}


def test_a_good_page_passes(tmp_path: Path) -> None:
    item, rejects = run_pipelines(
        page(content=f"<h1 class='component-heading'>Tiêu đề</h1><p>17:48 18/01/2023</p>{BODY}"),
        tmp_path / "rejects.jsonl",
    )
    assert rejects == []
    assert item is not None and item.published_at == "2023-01-18T17:48:00+07:00"


@pytest.mark.parametrize(
    "html",
    [
        "<html><body><div><p>unclosed <b>tags <p>everywhere",
        "\x00\x01\x02 not html at all \xff",
        "",
        "<html><head><title>x</title></head></html>",
    ],
)
def test_malformed_html_is_rejected_with_reasons(tmp_path: Path, html: str) -> None:
    item, rejects = run_pipelines(html, tmp_path / "rejects.jsonl")
    assert item is None
    assert len(rejects) == 1
    assert {"not_article", "missing_body_text"} <= codes(rejects[0])


def test_missing_date_is_rejected_with_its_reason(tmp_path: Path) -> None:
    item, rejects = run_pipelines(
        page(content=f"<h1 class='component-heading'>Tiêu đề</h1>{BODY}"),
        tmp_path / "rejects.jsonl",
    )
    assert item is None
    assert "missing_published_at" in codes(rejects[0])


def test_unknown_date_format_is_rejected_never_guessed(tmp_path: Path) -> None:
    item, rejects = run_pipelines(
        page(
            head='<meta property="article:published_time" content="sometime in 2023">',
            content=f"<h1 class='component-heading'>Tiêu đề</h1><p>32/13/2023</p>{BODY}",
        ),
        tmp_path / "rejects.jsonl",
    )
    assert item is None
    reasons = codes(rejects[0])
    assert "missing_published_at" in reasons
    assert "unparseable_date" in reasons
    assert rejects[0]["record"]["published_at"] is None


def test_ambiguous_date_without_locale_is_null_with_a_problem(tmp_path: Path) -> None:
    item, rejects = run_pipelines(
        page(
            content=f"<h1 class='component-heading'>Tiêu đề</h1><p>03/04/2023</p>{BODY}", lang=""
        ).replace(' lang=""', ""),
        tmp_path / "rejects.jsonl",
    )
    # SITE_DEFAULT_LOCALE (vi-VN) decides a page that states no locale: day first
    assert item is not None and item.published_at == "2023-04-03T00:00:00+07:00"
    assert "published_at_date_only" in {p["code"] for p in item.problems}
    assert rejects == []


def test_page_without_body_is_not_an_article(tmp_path: Path) -> None:
    item, rejects = run_pipelines(
        page(content="<h1 class='component-heading'>Tiêu đề</h1><p>17:48 18/01/2023</p>"),
        tmp_path / "rejects.jsonl",
    )
    assert item is None
    assert "not_article" in codes(rejects[0])


def test_soft_404_is_not_an_article(tmp_path: Path) -> None:
    item, rejects = run_pipelines(
        page(content="<h1>Không tìm thấy</h1><p>The requested resource could not be found.</p>"),
        tmp_path / "rejects.jsonl",
    )
    assert item is None
    assert any("soft_404" in r["message"] for r in rejects[0]["reasons"])


def test_hostile_body_is_sanitized_and_recorded(tmp_path: Path) -> None:
    hostile = (
        "<script>alert(1)</script><style>p{}</style>"
        '<p onclick="steal()">Nhấn <a href="javascript:alert(2)">vào đây</a> để xem.</p>'
        '<iframe src="https://evil.example/"></iframe>'
    )
    item, rejects = run_pipelines(
        page(
            content=(
                "<h1 class='component-heading'>Tiêu đề</h1><p>17:48 18/01/2023</p>"
                f"<div data-lfr-editable-type='rich-text'>{BODY}{hostile}</div>"
            )
        ),
        tmp_path / "rejects.jsonl",
    )
    assert rejects == []
    assert item is not None and item.body_html is not None
    for bad in ("<script", "<style", "onclick", "javascript:", "<iframe"):
        assert bad not in item.body_html
    assert "alert(1)" not in (item.body_text or "")
    assert "body_html_sanitized" in {p["code"] for p in item.problems}
