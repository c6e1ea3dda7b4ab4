"""An article is recognized by its page (issue 21): the view whose main content is one web
content article (the Asset Publisher's full-content view, a display page template's fragments,
the journal content portlet showing one article), whatever the URL it was met under; listings,
filters, home pages and other portlets' pages show none.

On the saved fixtures (tests/fixtures/pages: HEPZA's and the Classic theme's 7.4 markup) and on
pages the replica portal renders from the same templates under every URL form it serves
(``ReplicaConfig(url_forms=True)``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crawler.parsers.article import ARTICLE_VIEWS, parse_article
from crawler.parsers.listing import parse_listing
from tests.fixtures.regenerate import PAGES
from tests.replica.portal import PortalSite, make_site
from tests.replica.site import ReplicaConfig

BASE = "https://dpi.example.gov.vn"
INDEX: dict[str, dict[str, Any]] = json.loads((PAGES / "INDEX.json").read_text("utf-8"))

FIXTURE_VIEWS = {
    "article-seed-vi.html": "display_page",
    "article-journal-wrapper-vi.html": "display_page",
    "liferay-web-group-display-page-vi.html": "display_page",
    "asset-publisher-content-seed-vi.html": "asset_full_content",
    "liferay-ap-full-content-en.html": "asset_full_content",
    "liferay-ap-full-content-vi-prefix.html": "asset_full_content",
    "home-vi.html": None,
    "liferay-classic-home-en.html": None,
    "category-abstracts-regular-page1-vi.html": None,
    "category-abstracts70-simple-page1-vi.html": None,
    "liferay-classic-abstracts-clay-page2-en.html": None,
    "liferay-classic-title-list-clay-simple-page1-vi.html": None,
    "page-lien-he-vi.html": None,
    "empty-shell-200.html": None,
    "soft-404-200.html": None,
}


@pytest.mark.parametrize(("name", "view"), sorted(FIXTURE_VIEWS.items()))
def test_a_saved_page_shows_the_article_view_its_markup_is(name: str, view: str | None) -> None:
    page = parse_article((PAGES / name).read_text("utf-8"), INDEX[name]["url"])
    assert page.view == view


def test_a_static_page_s_web_content_is_a_journal_content_view_with_its_date() -> None:
    # "About us" with its "updated" date: the journal content portlet's view; the spider
    # takes it for an article only under the portlet's URL of one article (by its id).
    name = "page-gioi-thieu-vi.html"
    assert parse_article((PAGES / name).read_text("utf-8"), INDEX[name]["url"]).view == (
        "journal_content"
    )


@pytest.fixture(scope="module")
def site() -> PortalSite:
    made = make_site(ReplicaConfig(portal="classic-en", articles=12, url_forms=True))
    assert isinstance(made, PortalSite)
    return made


def _page(site: PortalSite, path: str) -> tuple[int, str]:
    answer = site.handle("GET", path, 1, base_url=BASE)
    return answer.status, answer.body.decode("utf-8")


def _forms(site: PortalSite, number: int) -> dict[str, str]:
    art = site.by_number[number]
    locale = site.portal.default_locale
    forms = {
        "sitemap": site.sitemap_path(art, locale),
        "asset_publisher": site.content_path(art, locale),
        "portlet_url": site.portlet_path(art, locale),
        "journal_content": site.journal_path(art, locale),
        "other_locale": site.sitemap_path(art, site.portal.other_locale),
    }
    if site.legacy(art):
        forms["layout"] = site.legacy_path(art, locale, "/" + art.category.key)
    return forms


@pytest.mark.parametrize("number", [1, 2])
def test_every_form_of_an_article_renders_one_article_view_of_it(
    site: PortalSite, number: int
) -> None:
    art = site.by_number[number]
    for form, path in _forms(site, number).items():
        status, html = _page(site, path)
        assert status == 200, form
        page = parse_article(html, BASE + path)
        assert page.view in ARTICLE_VIEWS, form
        assert page.title == art.title, form
        assert page.body_text is not None
        assert page.body_text.endswith(art.paragraphs[-1]), form
        # what a listing parser takes for entries is the view's related assets, no listing
        listing = parse_listing(html, BASE + path)
        assert {e.url for e in listing.entries} <= set(page.related_urls), form


def test_a_legacy_article_s_display_page_is_its_asset_publisher_view_and_a_date_only(
    site: PortalSite,
) -> None:
    art = site.by_number[1]
    assert site.legacy(art)
    _, html = _page(site, site.sitemap_path(art, "en-US"))
    page = parse_article(html, BASE + site.sitemap_path(art, "en-US"))
    assert page.view == "asset_full_content"
    assert page.canonical_url == BASE + site.sitemap_path(art, "en-US")
    assert {c.raw for c in page.date_candidates} == {"Published 1/18/23", "1/18/23"}


def test_a_display_page_template_s_fragments_are_its_article_view_with_the_time(
    site: PortalSite,
) -> None:
    art = site.by_number[2]
    assert not site.legacy(art)
    path = site.display_path(art, "en-US")
    page = parse_article(_page(site, path)[1], BASE + path)
    assert page.view == "display_page"
    assert page.author == art.author
    assert page.category == art.category.name
    assert [c.raw for c in page.date_candidates][:1] == [
        f"{art.published.month}/{art.published.day}/{art.published.year % 100:02d} "
        f"{art.published.hour % 12 or 12}:{art.published.minute:02d} "
        f"{'AM' if art.published.hour < 12 else 'PM'}"
    ]


def test_filter_pages_and_another_portlet_s_page_show_no_article(site: PortalSite) -> None:
    for path in site.filter_paths("en-US"):
        status, html = _page(site, path)
        assert status == 200, path
        assert parse_article(html, BASE + path).view is None, path
    categories, tags, _ = site.filter_paths("en-US")
    for path in (categories, tags):
        assert parse_listing(_page(site, path)[1], BASE + path).entries, path
