"""End-to-end: a replica whose block of old articles a migration re-created in one afternoon
(the seed's 1/18/23 5:48 PM hour), each lead opening with its event's day. Every stored article
gets the event day its truth gives (none wrong, none missed), the block published_at_quality
bulk and every other article ok, and the report counts the block in its event months."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crawler.domain.urls import canonical_article_url
from crawler.ledger.history import monthly_counts
from pipelines.storage.store import create_db_engine
from tests.crawl_runner import CrawlResult, database_rows, run_crawl, run_scrapy
from tests.replica.server import ReplicaServer
from tests.replica.site import MIGRATION_TIME, ReplicaConfig, ReplicaSite

pytestmark = pytest.mark.e2e

MIGRATED = 16
CONFIG = ReplicaConfig(migrated_articles=MIGRATED)
MIGRATION_HOUR = MIGRATION_TIME.isoformat()[:13]


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> tuple[CrawlResult, dict[str, Any]]:
    with ReplicaServer(CONFIG) as server:
        result = run_crawl(server.url, tmp_path_factory.mktemp("migrated"))
        truth = {
            canonical_article_url(server.url + a["canonical_path"]): a
            for a in ReplicaSite(CONFIG).truth()["articles"]
        }
    assert result.returncode == 0, result.log[-3000:]
    return result, truth


def stored(result: CrawlResult) -> dict[str, tuple[str | None, str | None, str | None, str]]:
    rows = database_rows(
        result.database_url,
        "SELECT url, event_date, event_date_source, published_at_quality, published_at "
        "FROM articles",
    )
    return {
        url: (event, source, quality, published) for url, event, source, quality, published in rows
    }


def expected_best_day(article: dict[str, Any]) -> str:
    if article["published_at"][:13] == MIGRATION_HOUR and article["event_date"]:
        return str(article["event_date"])
    return str(article["published_at"][:10])


def test_every_article_gets_the_event_day_of_its_truth_none_wrong_none_missed(crawled):
    result, truth = crawled
    rows = stored(result)
    assert set(rows) == set(truth)
    wrong = {
        url: (rows[url][0], article["event_date"])
        for url, article in truth.items()
        if rows[url][0] != article["event_date"]
    }
    assert wrong == {}
    for event, source, _, _ in rows.values():
        assert source == ("lead" if event else None)
    with_day = [a for a in truth.values() if a["event_date"]]
    block = [a for a in truth.values() if a["kind"] == "migrated"]
    # the block: 3 of 4 leads give their day; the seed and a few generated leads do too
    assert sum(bool(a["event_date"]) for a in block) == MIGRATED * 3 // 4
    assert len(with_day) > MIGRATED * 3 // 4 + 1
    # the feed carries them too
    feed = {record["url"]: record["event_date"] for record in result.feed()}
    assert feed == {url: article["event_date"] for url, article in truth.items()}


def test_the_migration_hour_is_bulk_and_every_other_article_ok(crawled):
    result, truth = crawled
    rows = stored(result)
    marks = {url: quality for url, (_, _, quality, _) in rows.items()}
    bulk = {url for url, a in truth.items() if a["published_at"][:13] == MIGRATION_HOUR}
    # the block and the seed, whose display time the migration gave them all
    assert len(bulk) == MIGRATED + 1
    assert {url for url, quality in marks.items() if quality == "bulk"} == bulk
    assert {quality for url, quality in marks.items() if url not in bulk} == {"ok"}
    # published_at stays what the page says
    assert all(rows[url][3] == truth[url]["published_at"] for url in rows)


def test_the_report_counts_the_block_in_its_event_months(crawled, tmp_path: Path):
    result, truth = crawled
    engine = create_db_engine(result.database_url)
    try:
        monthly = monthly_counts(engine, "hepza")
    finally:
        engine.dispose()
    expected = Counter(expected_best_day(a)[:7] for a in truth.values())
    counted = {
        month: sum(values[i] for values in monthly.by_category.values())
        for i, month in enumerate(monthly.months)
    }
    assert {month: n for month, n in counted.items() if n} == dict(expected)
    placed = sum(
        1 for a in truth.values() if a["published_at"][:13] == MIGRATION_HOUR and a["event_date"]
    )
    assert monthly.by_event == placed
    # the migration month holds only the block's articles without an event day
    assert counted["2023-01"] == expected["2023-01"]
    page = tmp_path / "report.html"
    report = run_scrapy(
        tmp_path, "report", "--output", str(page), "-s", f"DATABASE_URL={result.database_url}"
    )
    assert report.returncode == 0, report.stderr
    text = page.read_text(encoding="utf-8")
    assert f"{placed} articles placed by event day" in text
    without = MIGRATED // 4
    assert f"{without} articles with such a display date and no event day" in text


def test_exports_carry_the_event_day_as_a_date_and_best_date(crawled, tmp_path: Path):
    result, truth = crawled
    database = f"DATABASE_URL={result.database_url}"
    parquet = tmp_path / "a.parquet"
    done = run_scrapy(tmp_path, "export", "-f", "parquet", "-o", str(parquet), "-s", database)
    assert done.returncode == 0, done.stderr
    table = pq.read_table(parquet)
    assert table.schema.field("event_date").type == pa.date32()
    assert table.schema.field("best_date").type == pa.date32()
    jsonl = tmp_path / "a.jsonl"
    done = run_scrapy(
        tmp_path,
        "export",
        "-f",
        "jsonl",
        "-o",
        str(jsonl),
        "--since",
        "2022-10-01",
        "--by",
        "event",
        "-s",
        database,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    expected = {
        url for url, a in truth.items() if a["event_date"] and a["event_date"] >= "2022-10-01"
    }
    assert {r["url"] for r in records} == expected
    for record in records:
        article = truth[record["url"]]
        assert record["best_date"] == expected_best_day(article)
        assert record["published_at_quality"] in ("ok", "bulk")
