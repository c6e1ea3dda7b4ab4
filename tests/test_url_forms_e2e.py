"""End-to-end: a portal that gives its articles under every URL form Liferay has (issue 21).

The replica portal (``ReplicaConfig(url_forms=True)``) lists in its sitemap, as 7.4's
JournalArticleSitemapURLProvider does, ``/web/<group>/-/<urlTitle>`` for the articles with a
legacy display page (a layoutUuid, every other one) and ``/web/<group>/w/<urlTitle>`` for the
others; its listings link the Asset Publisher's content URLs (with ``redirect``), its home page
the legacy display page under the category's layout or the Asset Publisher's portlet URL, its
menu the journal content portlet's view of two articles, a category and a tag filter and a form
portlet's ``/-/`` URL. Its listings serve one page only: the older articles are in the sitemap
alone. Legacy articles print the day without a time.
"""

from __future__ import annotations

import ast
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest

from crawler.domain.identity import canonical_url, normalize_url
from crawler.domain.items import ArticleItem, DateCandidate
from pipelines.dates import DateNormalizationPipeline
from tests.crawl_runner import FAST_SETTINGS, CrawlResult, database_rows, run_crawl, run_scrapy
from tests.replica.portal import PortalSite, make_site
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.e2e

CONFIG = ReplicaConfig(portal="classic-en", articles=24, url_forms=True, listing_pages=1)
ARGS = {"timezone": "UTC", "default_locale": "en-US"}
FAST = ("DOWNLOAD_DELAY", "AUTOTHROTTLE_ENABLED")


@dataclass
class FormsCrawl:
    result: CrawlResult
    base: str
    site: PortalSite
    truth: dict[str, Any]
    # article id -> every URL stored for it (its url and its aliases)
    urls: dict[str, set[str]]
    # path and query -> status, of every request the portal answered
    requested: dict[str, int]

    def absolute(self, path: str) -> str:
        return normalize_url(self.base + path)


@pytest.fixture(scope="module")
def server() -> Iterator[ReplicaServer]:
    with ReplicaServer(CONFIG) as running:
        yield running


@pytest.fixture(scope="module")
def crawl(server: ReplicaServer, tmp_path_factory: pytest.TempPathFactory) -> FormsCrawl:
    result = run_crawl(
        server.url, tmp_path_factory.mktemp("forms"), spider="liferay", spider_args=ARGS
    )
    urls: dict[str, set[str]] = {}
    for article_id, url in database_rows(result.database_url, "SELECT id, url FROM articles"):
        urls.setdefault(article_id, set()).add(url)
    for article_id, url in database_rows(
        result.database_url, "SELECT article_id, url FROM article_urls"
    ):
        urls.setdefault(article_id, set()).add(url)
    requested = {r.path_and_query: r.status for r in server.requests}
    site = make_site(CONFIG)
    assert isinstance(site, PortalSite)
    return FormsCrawl(result, server.url, site, site.truth(), urls, requested)


def _slug(record: dict[str, Any]) -> str:
    return unicodedata.normalize("NFC", unquote(record["url"].rstrip("/").rsplit("/", 1)[1]))


def _truth_by_slug(crawl: FormsCrawl) -> dict[str, dict[str, Any]]:
    return {unicodedata.normalize("NFC", unquote(a["slug"])): a for a in crawl.truth["articles"]}


def test_every_article_is_stored_once_whatever_form_its_sitemap_gives(crawl: FormsCrawl) -> None:
    result = crawl.result
    assert result.returncode == 0, result.log[-3000:]
    assert result.report["outcome"] == "succeeded"
    records = result.feed()
    by_slug = _truth_by_slug(crawl)
    assert sorted(by_slug[_slug(r)]["number"] for r in records) == sorted(
        a["number"] for a in crawl.truth["articles"]
    )
    assert len({r["id"] for r in records}) == len(records) == len(crawl.urls)
    # the listings stop before the oldest articles: those came from the sitemap alone
    listed = {n for c in crawl.truth["categories"] for n in c["article_numbers"][: CONFIG.delta]}
    assert len(listed) < len(records)
    for record in records:
        expected = by_slug[_slug(record)]
        # recorded under the form its sitemap gives (a legacy display page, a display page)
        assert record["url"] == crawl.absolute(expected["canonical_path"])
        assert ("/-/" in record["url"]) == expected["legacy_display_page"]
        assert canonical_url(record["url"]) == canonical_url(
            crawl.absolute(expected["sitemap_paths"][0])
        )


def test_every_form_an_article_was_met_under_is_one_of_its_aliases(crawl: FormsCrawl) -> None:
    site, records = crawl.site, crawl.result.feed()
    by_slug = {a.slug: a for a in site.articles}
    locale = crawl.truth["portal"]["default_locale"]
    met = 0
    for record in records:
        art = by_slug[_slug(record)]
        stored = crawl.urls[record["id"]]
        expected = {
            crawl.absolute(p) for p in (site.sitemap_path(art, loc) for loc in site.portal.locales)
        }
        listing = site.listing[art.category.key]
        if art in listing[: CONFIG.delta]:
            here = site.listing_page_path(art.category, 1, locale)
            expected.add(crawl.absolute(site.entry_href(art, locale, here)))
        if art in site.newest[:5]:
            expected.add(crawl.absolute(site.home_href(art, locale)))
        if art in site.articles[:2]:
            expected.add(crawl.absolute(site.journal_path(art, locale)))
        assert expected <= stored, sorted(expected - stored)
        met += len(expected)
        # and nothing of another article
        assert {canonical_url(u) for u in stored if "journal_content" not in u} == {
            canonical_url(record["url"])
        }
    # each article under two sitemap forms at least, and the listings', home's and menu's
    assert met > 2 * len(records) + CONFIG.delta


def test_filter_pages_and_other_portlets_urls_are_fetched_but_never_articles(
    crawl: FormsCrawl,
) -> None:
    locale = crawl.truth["portal"]["default_locale"]
    filters = crawl.site.filter_paths(locale)
    assert [crawl.requested.get(path) for path in filters] == [200] * len(filters)
    stored = {url for urls in crawl.urls.values() for url in urls}
    for path in filters:
        assert crawl.absolute(path) not in stored
    assert all("/-/categories/" not in u and "/-/tags/" not in u for u in stored)
    assert all(not u.endswith("/-/form") for u in stored)
    assert crawl.result.report["counts"]["rejected"] == 0


def test_date_only_pages_say_their_precision_and_display_pages_give_the_minute(
    crawl: FormsCrawl,
) -> None:
    by_slug = _truth_by_slug(crawl)
    precisions = set()
    for record in crawl.result.feed():
        expected = by_slug[_slug(record)]
        assert record["published_at"] == expected["published_at"]
        assert record["published_at_precision"] == expected["published_at_precision"]
        precisions.add(record["published_at_precision"])
    assert precisions == {"day", "minute"}


# --- scrapy parse: every form of one article gives its record ---------------------------------

# What the page gives whichever URL it was fetched under (the URL met is not the record's).
SAME_FIELDS = (
    "url",
    "title",
    "summary",
    "body_text",
    "author",
    "category",
    "tags",
    "language",
    "published_at",
    "published_at_precision",
)


class _Stats:
    def inc_value(self, key: str, count: int = 1) -> None:
        pass


def _dated(item: dict[str, Any]) -> dict[str, Any]:
    """The item with the published_at the dates pipeline chooses among its candidates."""
    article = ArticleItem(
        url=item["url"],
        fetched_url=item["fetched_url"],
        page_locale=item["page_locale"],
        date_candidates=[DateCandidate(**c) for c in item["date_candidates"]],
    )
    dates = DateNormalizationPipeline(cast("Any", _Stats()), ZoneInfo("UTC"), "en-US")
    dates.process_item(article)
    return {
        **item,
        "published_at": article.published_at,
        "published_at_precision": article.published_at_precision,
    }


def _parsed(tmp_path: Path, base: str, url: str) -> list[dict[str, Any]]:
    """The items ``scrapy parse URL`` prints (pipelines not run: nothing is recorded)."""
    result = run_scrapy(
        tmp_path,
        "parse",
        url,
        "--nocolour",
        "-s",
        "LOG_LEVEL=WARNING",
        *(arg for name in FAST for arg in ("-s", f"{name}={FAST_SETTINGS[name]}")),
        "-a",
        f"base_url={base}",
        *(arg for name, value in ARGS.items() for arg in ("-a", f"{name}={value}")),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    printed = result.stdout.split("# Scraped Items", 1)[1].split("\n", 1)[1]
    items: list[dict[str, Any]] = ast.literal_eval(printed.split("# Requests", 1)[0])
    return [_dated(item) for item in items if item.get("title")]


def _parsed_all(tmp_path: Path, base: str, paths: list[str]) -> dict[str, list[dict[str, Any]]]:
    """``_parsed`` of every path, the ``scrapy parse`` processes run side by side (each in its
    own directory): they only read the replica."""
    places = []
    for number, _ in enumerate(paths):
        place = tmp_path / f"parse-{number}"
        place.mkdir()
        places.append(place)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(lambda place, path: _parsed(place, base, base + path), places, paths)
        return dict(zip(paths, results, strict=True))


@pytest.mark.parametrize("number", [1, 2])
def test_scrapy_parse_gives_one_record_for_every_form_of_an_article(
    server: ReplicaServer, tmp_path: Path, number: int
) -> None:
    site = make_site(CONFIG)
    assert isinstance(site, PortalSite)
    art = site.by_number[number]
    locale = site.portal.default_locale
    forms = [
        site.sitemap_path(art, locale),
        site.content_path(art, locale),
        site.entry_href(art, locale, site.listing_page_path(art.category, 1, locale)),
        site.portlet_path(art, locale),
    ]
    if site.legacy(art):
        forms.append(site.legacy_path(art, locale, "/" + art.category.key))
    other = site.portal.other_locale
    journal_path = site.journal_path(art, locale)
    other_path = site.sitemap_path(art, other)
    parsed = _parsed_all(tmp_path, server.url, [*forms, journal_path, other_path])
    records = []
    for path in forms:
        (record,) = parsed[path]
        records.append({name: record.get(name) for name in SAME_FIELDS})
    for path, record in zip(forms, records, strict=True):
        differ = {k: (v, records[0][k]) for k, v in record.items() if v != records[0][k]}
        assert not differ, (path, differ)
    assert records[0]["url"] == normalize_url(server.url + site.sitemap_path(art, locale))
    # the journal content portlet's view shows the article's template alone (no byline,
    # categories or tags): what it shows is the record's
    (journal,) = parsed[journal_path]
    for name in ("url", "title", "summary", "body_text", "published_at"):
        assert journal[name] == records[0][name], name
    # the other locale's copy: the same article (its key), in its own language
    (copy,) = parsed[other_path]
    assert canonical_url(copy["url"]) == canonical_url(records[0]["url"])
    assert copy["title"] == records[0]["title"]


def test_a_rerun_stores_nothing_new_and_keeps_every_day_precision(
    crawl: FormsCrawl, server: ReplicaServer
) -> None:
    again = run_crawl(
        server.url,
        crawl.result.workdir,
        database_url=crawl.result.database_url,
        spider="liferay",
        spider_args={**ARGS, "full": "1"},
        feed_name="again.jsonl",
    )
    assert again.returncode == 0, again.log[-3000:]
    counts = again.report["counts"]
    assert counts["stored_new"] == counts["stored_changed"] == 0
    assert counts["unchanged"] == len(crawl.truth["articles"])
    rows = database_rows(
        crawl.result.database_url,
        "SELECT published_at_precision, count(*) FROM articles GROUP BY published_at_precision",
    )
    legacy = sum(a["legacy_display_page"] for a in crawl.truth["articles"])
    assert dict(rows) == {"day": legacy, "minute": len(crawl.truth["articles"]) - legacy}
