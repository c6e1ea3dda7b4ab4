"""End-to-end: crawler traps on the replica end within the crawl bounds and lose no article;
no request leaves the site's origin, redirects included."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

import pytest

from crawler.domain.urls import canonical_article_url
from tests.crawl_runner import CrawlResult, run_crawl
from tests.replica.server import ReplicaServer
from tests.replica.site import (
    CALENDAR_PATH,
    ENDLESS_LISTING,
    LINK_FARM_PATH,
    ReplicaConfig,
    ReplicaSite,
)
from tests.replica.structure import CATEGORY_BY_KEY

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e

ARTICLES = 30
# A trap the crawler does not contain runs until this many seconds, then the test fails.
CRAWL_TIMEOUT = 240


def truth_urls(config: ReplicaConfig, base_url: str) -> list[str]:
    articles = ReplicaSite(config).truth()["articles"]
    return sorted(canonical_article_url(base_url + a["canonical_path"]) for a in articles)


def query(result: CrawlResult, sql: str) -> list[tuple[Any, ...]]:
    path = result.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        return list(conn.execute(sql))


def stored_urls(result: CrawlResult) -> list[str]:
    return sorted(row[0] for row in query(result, "SELECT url FROM articles"))


def run_stats(result: CrawlResult) -> dict[str, Any]:
    rows = query(result, "SELECT stats FROM crawl_runs ORDER BY started_at DESC LIMIT 1")
    stats = rows[0][0]
    return dict(json.loads(stats) if isinstance(stats, str) else stats)


def paths_of(server: ReplicaServer) -> list[str]:
    return [r.path_and_query for r in server.requests]


@pytest.mark.parametrize(("mode", "walk_end"), [("empty", "empty"), ("repeat", "repeated")])
def test_endless_pager_walk_ends_and_every_article_is_stored(
    tmp_path: Path, mode: str, walk_end: str
) -> None:
    config = ReplicaConfig(articles=ARTICLES, endless_pager=mode)
    listing = CATEGORY_BY_KEY[ENDLESS_LISTING]
    with ReplicaServer(config) as server:
        result = run_crawl(server.url, tmp_path, timeout=CRAWL_TIMEOUT)
        pager_requests = [
            p for p in paths_of(server) if p.startswith(listing.linked + "?") and "cur=" in p
        ]
        truth = truth_urls(config, server.url)
    real_pages = next(
        c["pages"] for c in ReplicaSite(config).truth()["categories"] if c["key"] == ENDLESS_LISTING
    )
    assert result.returncode == 0, result.log[-3000:]
    assert stored_urls(result) == truth
    # pages 2..last, plus the one page past the end that ends the walk
    assert 0 < len(pager_requests) <= real_pages
    assert run_stats(result)[f"crawl/listing_walk_ended/{walk_end}"] >= 1


def test_endless_pager_is_held_to_max_listing_pages(tmp_path: Path) -> None:
    max_pages = 2
    config = ReplicaConfig(articles=ARTICLES, endless_pager="empty")
    listing = CATEGORY_BY_KEY[ENDLESS_LISTING]
    with ReplicaServer(config) as server:
        result = run_crawl(
            server.url,
            tmp_path,
            settings={"MAX_LISTING_PAGES": str(max_pages)},
            timeout=CRAWL_TIMEOUT,
        )
        pager_requests = [
            p for p in paths_of(server) if p.startswith(listing.linked + "?") and "cur=" in p
        ]
        truth = truth_urls(config, server.url)
    assert result.returncode == 0, result.log[-3000:]
    # the sitemaps still give every article the cut walks did not reach
    assert stored_urls(result) == truth
    assert len(pager_requests) <= max_pages - 1
    assert run_stats(result)["limits/listing_pages"] >= 1
    assert f"MAX_LISTING_PAGES ({max_pages}) reached" in result.log


def test_calendar_links_end_at_max_link_depth(tmp_path: Path) -> None:
    max_depth = 4
    config = ReplicaConfig(articles=ARTICLES, calendar_links=True)
    with ReplicaServer(config) as server:
        result = run_crawl(
            server.url,
            tmp_path,
            settings={"MAX_LINK_DEPTH": str(max_depth)},
            timeout=CRAWL_TIMEOUT,
        )
        calendar = [p for p in paths_of(server) if CALENDAR_PATH in p]
        truth = truth_urls(config, server.url)
    assert result.returncode == 0, result.log[-3000:]
    assert stored_urls(result) == truth
    # the menu reaches the calendar at depth 1 (or 2); each further hop adds a day each way
    assert 0 < len(calendar) <= 1 + 2 * (max_depth - 1)
    assert run_stats(result)["limits/link_depth"] >= 1
    assert f"MAX_LINK_DEPTH ({max_depth}) reached" in result.log


def test_two_thousand_link_page_costs_at_most_max_links_per_page(tmp_path: Path) -> None:
    max_links = 100
    links = 2000
    config = ReplicaConfig(articles=ARTICLES, link_farm=links)
    with ReplicaServer(config) as server:
        result = run_crawl(
            server.url,
            tmp_path,
            settings={"MAX_LINKS_PER_PAGE": str(max_links)},
            timeout=CRAWL_TIMEOUT,
        )
        farm = [p for p in paths_of(server) if p.startswith(LINK_FARM_PATH + "/")]
        truth = truth_urls(config, server.url)
    assert result.returncode == 0, result.log[-3000:]
    assert stored_urls(result) == truth
    assert 0 < len(farm) <= max_links
    assert run_stats(result)["limits/links_per_page"] >= links - max_links
    assert f"MAX_LINKS_PER_PAGE ({max_links}) reached" in result.log


def test_max_requests_stops_an_unbounded_crawl_and_fails_the_run(tmp_path: Path) -> None:
    max_requests = 60
    config = ReplicaConfig(articles=ARTICLES, calendar_links=True)
    with ReplicaServer(config) as server:
        result = run_crawl(
            server.url,
            tmp_path,
            settings={"MAX_LINK_DEPTH": "1000000", "MAX_REQUESTS": str(max_requests)},
            timeout=CRAWL_TIMEOUT,
        )
        served = len(server.requests)
    assert result.returncode == 1, result.log[-3000:]
    assert served <= max_requests
    assert result.report["outcome"] == "failed"
    stats = run_stats(result)
    assert stats["run/failure/limit_reached"] == 1
    assert f"MAX_REQUESTS ({max_requests} requests)" in stats["run/failure_message/limit_reached"]


def test_max_run_seconds_stops_an_unbounded_crawl_and_fails_the_run(tmp_path: Path) -> None:
    config = ReplicaConfig(articles=ARTICLES, calendar_links=True)
    with ReplicaServer(config) as server:
        result = run_crawl(
            server.url,
            tmp_path,
            settings={"MAX_LINK_DEPTH": "1000000", "MAX_RUN_SECONDS": "5"},
            timeout=CRAWL_TIMEOUT,
        )
    assert result.returncode == 1, result.log[-3000:]
    assert result.report["outcome"] == "failed"
    stats = run_stats(result)
    assert "MAX_RUN_SECONDS (5 s)" in stats["run/failure_message/limit_reached"]


def test_redirect_to_another_port_is_not_followed(tmp_path: Path) -> None:
    with ReplicaServer(ReplicaConfig(articles=ARTICLES)) as other:
        other_port = int(other.url.rsplit(":", 1)[1])
        config = ReplicaConfig(articles=ARTICLES, redirect_port=other_port)
        with ReplicaServer(config) as server:
            result = run_crawl(server.url, tmp_path, timeout=CRAWL_TIMEOUT)
            truth = truth_urls(config, server.url)
        other_requests = paths_of(other)
    assert result.returncode == 0, result.log[-3000:]
    assert other_requests == []
    seen_urls = [row[0] for row in query(result, "SELECT url FROM article_urls")]
    feed_urls = [u for r in result.feed() for u in (r["url"], *r["alternate_urls"])]
    for url in [*stored_urls(result), *seen_urls, *feed_urls]:
        assert not url.startswith(other.url), url
    assert stored_urls(result) == truth
    stats = run_stats(result)
    assert stats["fence/refused"] >= 1
    assert stats["fetch/off_origin"] >= 1
    assert f"refused a request outside {server.url}: {other.url}/w/" in result.log
