"""Parsers on pages written from Liferay 7.4's own templates (Classic theme, navigation menu
widget, Asset Publisher abstracts / title list / full content, the lexicon (Clay) paginator,
fragments under /web/<group>/), with the expected values written by hand from what a reader
sees on each page (tests/fixtures/expected_by_hand; never regenerated). No profile is given:
these portals are parsed by the generic Liferay layers alone, as ``scrapy crawl liferay`` does."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from crawler.parsers.article import parse_article
from crawler.parsers.listing import parse_listing
from crawler.parsers.navigation import extract_navigation_links
from tests.fixtures.regenerate import FIXTURES, PAGES, page_index, parsed_fixtures

BY_HAND = FIXTURES / "expected_by_hand"


def _expected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((BY_HAND / f"{Path(name).stem}.json").read_text("utf-8"))
    return data


def _hand_written() -> list[str]:
    return [name for name, meta in page_index().items() if meta.get("hand_written")]


def _parsed(name: str) -> dict[str, Any]:
    html = (PAGES / name).read_text("utf-8")
    url = page_index()[name]["url"]
    if _expected(name)["parser"] == "article":
        out = asdict(parse_article(html, url))
        out["date_raws"] = [c["raw"] for c in out["date_candidates"]]
        return out
    out = json.loads(json.dumps(asdict(parse_listing(html, url))))
    out["navigation"] = extract_navigation_links(html, url)
    return out


def _cases() -> list[tuple[str, str]]:
    cases = []
    for name in _hand_written():
        expected = _expected(name)
        fields = [*expected["expected"], *(["navigation"] if "navigation" in expected else [])]
        cases += [(name, field) for field in fields]
    return cases


@pytest.fixture(scope="module")
def parsed() -> dict[str, dict[str, Any]]:
    return {name: _parsed(name) for name in _hand_written()}


@pytest.mark.parametrize(("page", "field"), _cases())
def test_liferay_page_field_is_what_a_reader_sees(
    parsed: dict[str, dict[str, Any]], page: str, field: str
) -> None:
    expected = _expected(page)
    want = expected["navigation"] if field == "navigation" else expected["expected"][field]
    assert parsed[page][field] == want


def test_every_liferay_markup_kind_has_a_hand_written_page() -> None:
    kinds = {page_index()[name]["description"].split(",")[0] for name in _hand_written()}
    descriptions = " | ".join(page_index()[name]["description"] for name in _hand_written())
    assert len(kinds) >= 6
    for needed in (
        "Classic theme",
        "Clay regular pagination",
        "Clay simple pagination",
        "title list",
        "full-content view",
        "/web/<group>/w/<slug>",
        "/vi/ prefix of an English-default portal",
        "UTC",
    ):
        assert needed in descriptions
    assert all((BY_HAND / f"{Path(n).stem}.json").is_file() for n in _hand_written())


def test_hand_written_expectations_are_never_regenerated() -> None:
    assert _hand_written()
    assert not set(_hand_written()) & set(parsed_fixtures())


def test_classic_navigation_menu_is_read_but_listing_entries_are_not() -> None:
    name = "liferay-classic-home-en.html"
    links = _parsed(name)["navigation"]
    assert all("/-/asset_publisher/" not in link for link in links)
    assert "https://dpi.example.gov.vn/web/dpi/investment-news" in links


def test_full_content_view_keeps_labels_and_related_out_of_the_body() -> None:
    for name in ("liferay-ap-full-content-en.html", "liferay-ap-full-content-vi.html"):
        page = _parsed(name)
        for word in ("Published", "Ngày xuất bản", "Related Assets", "Nội dung liên quan"):
            assert word not in page["body_text"]
        assert page["author"] not in page["body_text"]
