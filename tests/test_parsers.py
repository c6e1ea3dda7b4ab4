"""Parsers on saved replica pages: one test per page and field against the expected JSON in
tests/fixtures/expected (rewritten only on purpose by ``python -m tests.fixtures.regenerate``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crawler.parsers.article import parse_article
from crawler.parsers.listing import page_number, parse_listing
from crawler.parsers.navigation import extract_locale_alternates, extract_navigation_links
from crawler.parsers.sitemap import parse_robots_sitemaps, parse_sitemap
from tests.fixtures.regenerate import (
    EXPECTED,
    HEPZA,
    PAGES,
    page_index,
    parse_fixture,
    parsed_fixtures,
)

SITE = "https://hepza.hochiminhcity.gov.vn"


def _expected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXPECTED / f"{Path(name).stem}.json").read_text("utf-8"))
    return data["expected"]


def _cases() -> list[tuple[str, str]]:
    return [(name, field) for name in parsed_fixtures() for field in _expected(name)]


@pytest.fixture(scope="module")
def parsed() -> dict[str, dict[str, Any]]:
    # JSON round trip: tuples become lists, as in the expected files.
    return {n: json.loads(json.dumps(parse_fixture(n)[1])) for n in parsed_fixtures()}


@pytest.mark.parametrize(("page", "field"), _cases())
def test_saved_page_field(parsed: dict[str, dict[str, Any]], page: str, field: str) -> None:
    assert parsed[page][field] == _expected(page)[field]


def _article(name: str) -> Any:
    return parse_article((PAGES / name).read_text("utf-8"), page_index()[name]["url"], HEPZA)


# Independent checks of what the expected files must say, so a careless regeneration that
# freezes a wrong value still fails.
def test_seed_page_vi() -> None:
    page = _article("article-seed-vi.html")
    assert page.title == (
        "Hội nghị sơ kết công tác Đảng bộ 9 tháng đầu năm và triển khai phương hướng, "
        "nhiệm vụ 3 tháng cuối năm 2022"
    )
    assert page.author == "Minh Trí"
    assert [c.raw for c in page.date_candidates] == ["17:48 18/01/2023"]
    assert page.locale == "vi-VN"
    assert page.summary is not None and page.summary.endswith("...")
    assert page.body_text is not None
    assert page.body_text.startswith("Ngày 12/10, Đảng ủy Ban Quản lý")
    assert "Minh Trí" not in page.body_text
    assert "Bài viết liên quan" not in page.body_text
    assert len(page.related_urls) >= 3


def test_seed_page_en_has_the_en_date_and_same_content() -> None:
    en, vi = _article("article-seed-en.html"), _article("article-seed-vi.html")
    assert [c.raw for c in en.date_candidates] == ["1/18/23 5:48 PM"]
    assert en.locale == "en-US"
    assert (en.title, en.body_text, en.author) == (vi.title, vi.body_text, vi.author)
    assert en.alternate_by_lang["x-default"] == vi.canonical_url


def test_images_and_attachments() -> None:
    page = _article("article-images-attachments-vi.html")
    assert [i["caption"] for i in page.images] == [
        "Đoàn lãnh đạo Thành phố thăm dự án tại Khu công nghệ cao",
        "Lãnh đạo Thành phố trao đổi với chủ đầu tư",
    ]
    assert all(i["url"].startswith(f"{SITE}/documents/") for i in page.images)
    assert [a["title"] for a in page.attachments] == [
        "Kế hoạch số 123/KH-BQL",
        "Danh mục dự án trọng điểm năm 2026",
    ]
    assert page.author == "Bảo Anh"


def test_no_author_page_has_no_author() -> None:
    assert _article("article-no-author-vi.html").author is None


def test_not_articles_are_recognized() -> None:
    assert (_article("not-found-404.html").not_article_reason or "").startswith("soft_404")
    assert _article("empty-shell-200.html").not_article_reason is not None


def test_broken_date_markup_leaves_no_date() -> None:
    assert _article("article-seed-broken-date-vi.html").date_candidates == []


def test_listing_pager_reads_page_numbers_not_labels() -> None:
    name = "category-abstracts-regular-page3-vi.html"
    page = parse_listing((PAGES / name).read_text("utf-8"), page_index()[name]["url"], HEPZA)
    assert page.current_page == 3
    assert page.next_url is not None and page_number(page.next_url) == 4
    assert len(page.entries) == 5


def test_last_listing_page_has_no_next() -> None:
    name = "category-title-list-simple-last-vi.html"
    page = parse_listing((PAGES / name).read_text("utf-8"), page_index()[name]["url"], HEPZA)
    assert page.next_url is None
    assert page.entries and all(e.date_raw for e in page.entries)


def test_non_news_page_is_not_a_listing() -> None:
    names = [n for n, m in page_index().items() if "non-news" in m["description"].lower()]
    assert names
    for name in names:
        assert not parse_listing(
            (PAGES / name).read_text("utf-8"), page_index()[name]["url"], HEPZA
        ).entries


def test_navigation_links_stay_out_of_the_pager_and_keep_the_menu() -> None:
    name = "category-abstracts-regular-page1-vi.html"
    links = extract_navigation_links(
        (PAGES / name).read_text("utf-8"), page_index()[name]["url"], HEPZA
    )
    assert f"{SITE}/tin-hoat-dong" in links or f"{SITE}/web/guest/tin-hoat-dong" in links
    assert all(page_number(link) is None for link in links)
    alternates = extract_locale_alternates(
        (PAGES / name).read_text("utf-8"), page_index()[name]["url"]
    )
    assert alternates and all("/en/" in a for a in alternates)


def test_robots_and_sitemaps() -> None:
    robots = (PAGES / "robots.txt").read_text("utf-8")
    assert parse_robots_sitemaps(robots, SITE) == [f"{SITE}/sitemap.xml"]
    index = parse_sitemap((PAGES / "sitemap-index.xml").read_bytes(), SITE)
    assert index.kind == "sitemapindex" and index.sitemaps
    urlset = parse_sitemap((PAGES / "sitemap-articles.xml").read_bytes(), SITE)
    entry = urlset.entries[0]
    assert entry.lastmod is not None and entry.lastmod.endswith("+0000")
    assert "/en/" not in entry.default_url
    assert parse_sitemap(b"", SITE).kind == ""
    assert parse_sitemap(b"<html><body>oops</body></html>", SITE).kind == ""
