"""A profile's selectors on a portal whose theme the generic Liferay layers do not know: every
article field is read through them first, with its layer named after the selector, and the
generic layers still answer where the profile gives nothing."""

from __future__ import annotations

import pytest

from crawler.parsers.article import ArticlePage, parse_article
from crawler.sites.profile import profile_from_dict

URL = "https://quan-1.example.vn/w/tin-moi"

THEMED_PAGE = """<!DOCTYPE html>
<html lang="vi-VN"><head><title>Trang - Quận 1</title>
<meta property="og:title" content="Tiêu đề og">
<meta name="author" content="Tác giả meta">
</head><body>
<div id="content">
  <div class="q1-head"><span class="q1-title">Tiêu đề của giao diện riêng</span></div>
  <div class="q1-meta">
    <span class="q1-when" data-when="2024-03-05T08:30:00+07:00">05/03/2024</span>
    <span class="q1-who">Nguyễn Văn A</span>
    <span class="q1-section">Tin tức sự kiện</span>
  </div>
  <div class="q1-story">
    <p>Đoạn thứ nhất của bài viết, đủ dài để là một đoạn văn thật sự của một bài báo.</p>
    <p>Đoạn thứ hai của bài viết kể tiếp câu chuyện với những chi tiết cần thiết.</p>
  </div>
  <ul class="q1-labels"><li>kinh tế</li><li>đầu tư</li></ul>
  <div class="q1-more"><a href="/w/bai-khac">Bài khác</a> <a href="/w/bai-nua">Bài nữa</a></div>
  <h1>Một tiêu đề chung mà lớp chung sẽ đọc</h1>
  <article><p>Văn bản chung ngắn.</p><p>Thêm một đoạn chung.</p></article>
</div></body></html>"""

PROFILE = profile_from_dict(
    {
        "name": "quan-1",
        "base_url": "https://quan-1.example.vn",
        "selectors": {
            "title": [".q1-head .q1-title"],
            "body": [".q1-story"],
            "author": [".q1-meta .q1-who"],
            "category": ["span.q1-section"],
            "tags": [".q1-labels li"],
            "date": [".q1-when"],
            "related": [".q1-more"],
        },
    }
)


@pytest.fixture(scope="module")
def page() -> ArticlePage:
    return parse_article(THEMED_PAGE, URL, PROFILE.parser_config())


def test_the_profile_title_selector_wins_over_og_title_and_h1(page: ArticlePage) -> None:
    assert page.title == "Tiêu đề của giao diện riêng"
    assert page.layers["title"] == "profile:.q1-head .q1-title"


def test_the_profile_body_selector_gives_the_body(page: ArticlePage) -> None:
    assert page.body_text.startswith("Đoạn thứ nhất của bài viết")
    assert page.body_text.endswith("những chi tiết cần thiết.")
    assert page.layers["body_text"] == "profile:.q1-story"


def test_the_profile_author_selector_wins_over_the_author_meta(page: ArticlePage) -> None:
    assert (page.author, page.layers["author"]) == ("Nguyễn Văn A", "profile:.q1-meta .q1-who")


def test_the_profile_category_selector_gives_the_category(page: ArticlePage) -> None:
    assert (page.category, page.layers["category"]) == (
        "Tin tức sự kiện",
        "profile:span.q1-section",
    )


def test_the_profile_tag_selector_gives_the_tags(page: ArticlePage) -> None:
    assert page.tags == ["kinh tế", "đầu tư"]


def test_the_profile_date_selector_gives_the_first_display_date(page: ArticlePage) -> None:
    first = page.date_candidates[0]
    assert (first.source, first.raw) == ("display_date", "05/03/2024")


def test_the_profile_related_selector_gives_the_related_links(page: ArticlePage) -> None:
    assert page.related_urls == [
        "https://quan-1.example.vn/w/bai-khac",
        "https://quan-1.example.vn/w/bai-nua",
    ]


def test_without_profile_selectors_the_generic_layers_answer() -> None:
    page = parse_article(THEMED_PAGE, URL)
    assert (page.title, page.layers["title"]) == (
        "Một tiêu đề chung mà lớp chung sẽ đọc",
        "css:#content h1",
    )
    assert (page.author, page.layers["author"]) == ("Tác giả meta", "meta:author")
    assert page.tags == []
