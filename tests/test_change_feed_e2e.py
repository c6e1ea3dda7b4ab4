"""The change feed after a real re-crawl of the replica: an edit and new articles, exactly."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import duckdb
import pytest

from crawler.domain.urls import canonical_article_url
from tests.crawl_runner import run_crawl
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig, ReplicaSite
from tests.test_export import run_scrapy_export

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e


def article_urls(config: ReplicaConfig, base_url: str) -> dict[str, int]:
    truth = ReplicaSite(config).truth()
    return {
        canonical_article_url(base_url + a["canonical_path"]): a["number"]
        for a in truth["articles"]
    }


def test_change_feed_since_the_first_run_holds_exactly_the_edited_and_new_articles(
    tmp_path: Path,
) -> None:
    base_config = ReplicaConfig(articles=30)
    with ReplicaServer(base_config) as server:
        first = run_crawl(server.url, tmp_path)
        port = int(server.url.rsplit(":", 1)[1])
    assert first.returncode == 0, first.log[-3000:]
    first_run_id = first.report["run_id"]
    changed_config = ReplicaConfig(articles=30, extra_articles=2, edited=(7,))
    with ReplicaServer(changed_config, port=port) as server:
        second = run_crawl(server.url, tmp_path, feed_name="second.jsonl")
        base_url = server.url
    assert second.returncode == 0, second.log[-3000:]
    before = article_urls(base_config, base_url)
    after = article_urls(changed_config, base_url)
    new_urls = set(after) - set(before)
    edited_url = next(url for url, number in after.items() if number == 7)
    assert len(new_urls) == 2

    exports = tmp_path / "exports"
    feed = exports / "changes.jsonl"
    result = run_scrapy_export(
        tmp_path,
        "--format",
        "jsonl",
        "--changed-since",
        first_run_id,
        "--output",
        str(feed),
        "-s",
        f"DATABASE_URL={first.database_url}",
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in feed.read_text(encoding="utf-8").splitlines()]
    changes = {row["url"]: (row["change"], row["version"]) for row in rows}
    assert changes == {
        edited_url: ("changed", 2),
        **{url: ("new", 1) for url in new_urls},
    }
    edited = next(row for row in rows if row["url"] == edited_url)
    assert edited["changed_fields"]
    assert set(edited["changed_fields"]) <= {
        "title",
        "summary",
        "body_text",
        "body_html",
        "modified_at",
        "tags",
        "images",
        "attachments",
        "author",
        "category",
        "related_urls",
        "problems",
    }

    # The same change feed as Parquet, read by DuckDB: typed and the same articles.
    parquet = exports / "changes.parquet"
    result = run_scrapy_export(
        tmp_path,
        "--format",
        "parquet",
        "--changed-since",
        first_run_id,
        "--output",
        str(parquet),
        "-s",
        f"DATABASE_URL={first.database_url}",
    )
    assert result.returncode == 0, result.stderr
    conn = duckdb.connect()
    types = dict(
        conn.execute(
            "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
            [str(parquet)],
        ).fetchall()
    )
    assert types["published_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["version"] == "BIGINT"
    assert types["images"] == "STRUCT(url VARCHAR, caption VARCHAR)[]"
    got = dict(conn.execute("SELECT url, change FROM read_parquet(?)", [str(parquet)]).fetchall())
    conn.close()
    assert got == {url: change for url, (change, _) in changes.items()}
