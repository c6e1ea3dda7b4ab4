"""Event days on the replica (issue 22): a crawl of a replica with a block of migrated articles
(one display hour, leads opening with their event's day), scored against the truth: the share
of articles with an event day, how many the crawler found, wrong or missed, and whether the
migration hour, and only it, is marked bulk."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from crawler.domain.urls import canonical_article_url
from pipelines.storage.quality import DEFAULT_BULK_THRESHOLD
from tests.crawl_runner import database_rows, run_crawl
from tests.replica.server import ReplicaServer
from tests.replica.site import MIGRATION_TIME, ReplicaConfig, ReplicaSite

DEFAULT_ARTICLES = 300
DEFAULT_MIGRATED = 60


def run_event_dates(
    out: Path, articles: int = DEFAULT_ARTICLES, migrated: int = DEFAULT_MIGRATED
) -> dict[str, Any]:
    """Crawl the replica (``articles`` generated, ``migrated`` in the migration block) and
    score event_date and published_at_quality against its truth."""
    workdir = out / "work" / "event-dates"
    shutil.rmtree(workdir, ignore_errors=True)
    config = ReplicaConfig(articles=articles, migrated_articles=migrated)
    with ReplicaServer(config) as server:
        result = run_crawl(server.url, workdir, timeout=1800)
        truth = {
            canonical_article_url(server.url + a["canonical_path"]): a
            for a in ReplicaSite(config).truth()["articles"]
        }
    rows = {
        url: (event, quality)
        for url, event, quality in database_rows(
            result.database_url,
            "SELECT url, event_date, published_at_quality FROM articles",
            table="articles",
        )
    }
    hour = MIGRATION_TIME.isoformat()[:13]
    in_hour = {url for url, a in truth.items() if a["published_at"][:13] == hour}
    # the migration hour is bulk when it holds enough articles (the seed alone is not)
    bulk_truth = in_hour if len(in_hour) >= DEFAULT_BULK_THRESHOLD else set()
    with_day = {url for url, a in truth.items() if a["event_date"]}
    found = {url for url, (event, _) in rows.items() if event}
    wrong = sorted(
        url
        for url, (event, _) in rows.items()
        if event and url in truth and str(event) != truth[url]["event_date"]
    )
    bulk = {url for url, (_, quality) in rows.items() if quality == "bulk"}
    return {
        "articles": len(truth),
        "stored": len(rows),
        "crawl_exit": result.returncode,
        "with_event_day_truth": len(with_day),
        "with_event_day_found": len(found),
        "share_with_event_day": round(len(found) / max(1, len(rows)), 4),
        "wrong": len(wrong),
        "wrong_examples": wrong[:5],
        "missed": len(with_day - found),
        "bulk_truth": len(bulk_truth),
        "bulk_marked": len(bulk),
        "bulk_mismarked": len(bulk ^ bulk_truth),
    }


def event_dates_ok(results: dict[str, Any]) -> bool:
    return bool(
        results["crawl_exit"] == 0
        and results["stored"] == results["articles"]
        and results["wrong"] == 0
        and results["missed"] == 0
        and results["bulk_mismarked"] == 0
    )


def render_event_dates_markdown(results: dict[str, Any]) -> str:
    rows = [
        ("articles (stored / replica)", f"{results['stored']} / {results['articles']}"),
        (
            "with an event day (found / truth)",
            f"{results['with_event_day_found']} / {results['with_event_day_truth']}",
        ),
        ("share of articles with an event day", f"{results['share_with_event_day']:.1%}"),
        ("event days wrong", str(results["wrong"])),
        ("event days missed", str(results["missed"])),
        (
            "published_at_quality bulk (marked / truth, mismarked)",
            f"{results['bulk_marked']} / {results['bulk_truth']}, {results['bulk_mismarked']}",
        ),
    ]
    lines = [
        "## Event days (issue 22)",
        "",
        "A crawl of the replica with a block of migrated articles (one display hour, leads "
        "opening with their event's day), scored against its truth.",
        "",
        "| measure | value |",
        "|---|---:|",
        *(f"| {name} | {value} |" for name, value in rows),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    import json
    import sys

    measured = run_event_dates(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/bench"))
    print(json.dumps(measured, indent=2))
    print(render_event_dates_markdown(measured))
