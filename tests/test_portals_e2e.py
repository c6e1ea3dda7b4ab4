"""End-to-end: the generic `liferay` spider crawls portals it has no profile for.

Each replica portal differs from HEPZA the way real ones do (Classic theme navigation, Clay
pagination, `/web/<group>/` paths, Asset Publisher content URLs as the only article URLs, display
times in UTC, English or Vietnamese default locale); only the time zone and the default locale
are given.
"""

from __future__ import annotations

import sqlite3
import unicodedata
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from crawler.parsers.article import parse_article
from tests.crawl_runner import CrawlResult, run_crawl
from tests.replica.portal import PORTALS, make_site
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig

pytestmark = pytest.mark.e2e


def fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


@dataclass
class PortalCrawl:
    result: CrawlResult
    # the article's slug (its key on the portal) -> the truth of the article
    truth: dict[str, dict[str, Any]]
    group: str
    # what each recorded URL answered after the crawl: the status and the page's title
    answers: dict[str, tuple[int, str]]

    def expected(self, record: dict[str, Any]) -> dict[str, Any]:
        slug = unquote(record["url"].rsplit("/content/", 1)[1])
        return self.truth[unicodedata.normalize("NFC", slug)]


def _answer(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        page = parse_article(response.read().decode("utf-8"), url)
        return response.status, page.title or ""


def crawl_portal(portal: str, workdir: Path) -> PortalCrawl:
    config = ReplicaConfig(portal=portal)
    truth = make_site(config).truth()
    with ReplicaServer(config) as server:
        result = run_crawl(
            server.url,
            workdir,
            spider="liferay",
            spider_args={
                "timezone": truth["portal"]["timezone"],
                "default_locale": truth["portal"]["default_locale"],
            },
        )
        answers = {r["url"]: _answer(r["url"]) for r in result.feed()}
    by_slug = {unicodedata.normalize("NFC", unquote(a["slug"])): a for a in truth["articles"]}
    return PortalCrawl(result, by_slug, truth["portal"]["group"], answers)


@pytest.fixture(scope="module", params=sorted(PORTALS))
def portal_crawl(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> PortalCrawl:
    return crawl_portal(request.param, tmp_path_factory.mktemp(request.param))


def test_the_crawl_succeeds(portal_crawl: PortalCrawl) -> None:
    result = portal_crawl.result
    assert result.returncode == 0, result.log[-3000:]
    assert result.report["outcome"] == "succeeded"


def test_every_article_is_recorded_once_under_a_working_address(
    portal_crawl: PortalCrawl,
) -> None:
    records = portal_crawl.result.feed()
    assert sorted(portal_crawl.expected(r)["number"] for r in records) == sorted(
        a["number"] for a in portal_crawl.truth.values()
    )
    assert len({r["id"] for r in records}) == len(records)
    for record in records:
        # the Asset Publisher address it was found at: the portal has no display pages
        assert f"/web/{portal_crawl.group}/" in record["url"]
        assert "/-/asset_publisher/" in record["url"] and "?" not in record["url"]
        status, title = portal_crawl.answers[record["url"]]
        assert (status, fold(title)) == (200, portal_crawl.expected(record)["title"])


def test_every_field_is_what_the_portal_shows(portal_crawl: PortalCrawl) -> None:
    for record in portal_crawl.result.feed():
        expected = portal_crawl.expected(record)
        assert fold(record["title"]) == expected["title"]
        assert record["author"] == expected["author"]
        assert record["category"] == expected["category"]
        assert [fold(p) for p in record["body_text"].split("\n\n")] == expected["body_paragraphs"]


def test_dates_are_the_exact_instant_in_the_portal_s_zone(portal_crawl: PortalCrawl) -> None:
    for record in portal_crawl.result.feed():
        assert record["published_at"] == portal_crawl.expected(record)["published_at"]
        assert datetime.fromisoformat(record["published_at"]).utcoffset().total_seconds() == 0


def test_a_rerun_of_an_unchanged_portal_stores_nothing_new(tmp_path: Path) -> None:
    config = ReplicaConfig(portal="classic-en")
    truth = make_site(config).truth()
    args = {"timezone": "UTC", "default_locale": "en-US"}
    with ReplicaServer(config) as server:
        first = run_crawl(server.url, tmp_path, spider="liferay", spider_args=args)
        second = run_crawl(
            server.url, tmp_path, spider="liferay", spider_args=args, feed_name="again.jsonl"
        )
    assert first.returncode == 0 and second.returncode == 0, second.log[-3000:]
    counts = second.report["counts"]
    assert counts["stored_new"] == 0 and counts["stored_changed"] == 0
    db = sqlite3.connect(second.database_url.removeprefix("sqlite:///"))
    assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == len(truth["articles"])


def test_two_portals_crawled_into_one_database_side_by_side(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'portals.sqlite3'}"
    generic = {"spider": "liferay", "spider_args": {"timezone": "UTC", "default_locale": "en-US"}}
    how: dict[str, dict[str, Any]] = {"classic-en": generic, "hepza": {}}
    runs = {}
    for portal, kwargs in how.items():
        config = ReplicaConfig(portal=portal, articles=20)
        with ReplicaServer(config) as server:
            first = run_crawl(server.url, tmp_path / portal, database_url=database, **kwargs)
            again = run_crawl(
                server.url, tmp_path / portal, database_url=database, feed_name="2.jsonl", **kwargs
            )
        assert first.returncode == 0 and again.returncode == 0, again.log[-3000:]
        # incremental per site: the other site's articles do not count as known or new
        assert again.report["counts"]["stored_new"] == 0
        runs[portal] = (first, len(make_site(config).truth()["articles"]))
    db = sqlite3.connect(database.removeprefix("sqlite:///"))
    per_site = dict(db.execute("SELECT site, count(*) FROM articles GROUP BY site").fetchall())
    (en_site,) = {r["site"] for r in runs["classic-en"][0].feed()}
    assert per_site == {"hepza": runs["hepza"][1], en_site: runs["classic-en"][1]}
    run_sites = [r[0] for r in db.execute("SELECT site FROM crawl_runs")]
    assert sorted(run_sites) == sorted([en_site, en_site, "hepza", "hepza"])
