"""The replica's other portals (tests/replica/portal.py): every page renders, the truth is
complete, and their Classic navigation and Clay pagers lead to every article over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from datetime import datetime
from urllib.parse import urlsplit

import pytest

from crawler.parsers.article import parse_article
from crawler.parsers.listing import parse_listing
from crawler.parsers.navigation import extract_navigation_links
from tests.replica import ReplicaConfig, ReplicaServer
from tests.replica.portal import PORTALS, PortalSite, make_site
from tests.replica.site import ReplicaSite

BASE = "https://portal.example.gov.vn"


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture(scope="module", params=sorted(PORTALS))
def site(request: pytest.FixtureRequest) -> PortalSite:
    made = make_site(ReplicaConfig(portal=request.param))
    assert isinstance(made, PortalSite)
    return made


def test_default_config_is_still_hepza() -> None:
    assert ReplicaConfig().portal == "hepza"
    assert isinstance(make_site(ReplicaConfig()), ReplicaSite)


def test_unknown_portal_is_refused_with_the_list() -> None:
    with pytest.raises(ValueError, match="classic-en"):
        make_site(ReplicaConfig(portal="nope"))


def test_truth_is_complete(site: PortalSite) -> None:
    truth = site.truth()
    portal = truth["portal"]
    assert portal["timezone"] == "UTC"
    assert portal["default_locale"] in ("en-US", "vi-VN")
    assert len(truth["articles"]) == ReplicaConfig().articles
    numbers = [n for c in truth["categories"] for n in c["article_numbers"]]
    assert sorted(numbers) == sorted(a["number"] for a in truth["articles"])
    for art in truth["articles"]:
        assert art["title"] and art["summary"] and art["author"] and art["category"]
        assert len(art["body_paragraphs"]) >= 2
        assert datetime.fromisoformat(art["published_at"]).utcoffset().total_seconds() == 0
        assert art["canonical_path"].startswith(f"/web/{portal['group']}/")
        assert "/-/asset_publisher/" in art["canonical_path"]
        assert all("/w/" not in p for p in art["paths"])


def test_every_truth_path_answers_with_its_article(site: PortalSite) -> None:
    for art in site.truth()["articles"]:
        for path in art["paths"]:
            resp = site.handle("GET", path, 1, base_url=BASE)
            assert resp.status == 200, path
            page = parse_article(resp.body.decode("utf-8"), BASE + path)
            assert page.title == art["title"]
            assert page.author == art["author"]
            assert page.body_text == "\n\n".join(art["body_paragraphs"])


def test_every_page_renders_and_unknown_paths_are_404(site: PortalSite) -> None:
    for path in site.truth()["non_article_paths"]:
        resp = site.handle("GET", path, 1, base_url=BASE)
        assert resp.status in (200, 302), path
    group = site.portal.base_path
    for path in (f"{group}/nope", "/w/anything", f"{group}/x/-/asset_publisher/a/content/b"):
        assert site.handle("GET", path, 1, base_url=BASE).status == 404


def test_vietnamese_or_english_prefix_serves_the_other_locale(site: PortalSite) -> None:
    truth = site.truth()
    other = next(loc for loc in truth["portal"]["locales"] if loc != site.portal.default_locale)
    prefix = truth["portal"]["locale_prefixes"][other]
    assert prefix in ("/vi", "/en")
    resp = site.handle("GET", prefix + truth["portal"]["home_path"], 1, base_url=BASE)
    assert f'lang="{other}"' in resp.body.decode("utf-8")


def test_navigation_and_clay_pagers_reach_every_article_over_http(site: PortalSite) -> None:
    config = ReplicaConfig(portal=site.portal.name)
    truth = site.truth()
    found: set[str] = set()
    with ReplicaServer(config) as server:
        home = server.url + truth["portal"]["home_path"]
        with urllib.request.urlopen(home) as resp:
            html = resp.read().decode("utf-8")
        menu = [u for u in extract_navigation_links(html, home) if u.startswith(server.url)]
        for category in truth["categories"]:
            url: str | None = server.url + category["path"]
            assert url in menu
            pages = 0
            while url:
                with urllib.request.urlopen(url) as resp:
                    listing = parse_listing(resp.read().decode("utf-8"), url)
                pages += 1
                assert listing.name == category["name"]
                found.update(_path(e.url).split("?")[0] for e in listing.entries)
                url = listing.next_url
            assert pages == category["pages"]
    assert found == {a["canonical_path"] for a in truth["articles"]}


def test_cli_truth_and_serve_take_the_portal() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tests.replica", "truth", "--portal", "classic-vi"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["portal"]["group"] == "sokhcn"
