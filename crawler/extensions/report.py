"""The run report: counts, durations, errors, field coverage and the run's outcome.

Written as JSON to REPORTS_DIR (``<run id>.json`` and ``latest.json``), recorded in the
``crawl_runs`` table, and turned into the process exit code by the project's ``crawl`` command.
A run fails when it could not finish, when errors pass MAX_ERROR_RATE, when a first run stores
nothing, or when a field's coverage falls below COVERAGE_THRESHOLDS: the way a layout change
shows up, since selectors stop matching silently.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

COUNTERS = {
    "requests": "downloader/request_count",
    "responses": "response_received_count",
    "articles_parsed": "coverage/articles",
    "stored_new": "storage/new",
    "stored_changed": "storage/changed",
    "unchanged": "storage/unchanged",
    "duplicates": "storage/duplicate_content",
    "aliases": "storage/aliases",
    "rejected": "validate/rejected",
    "not_found": "fetch/not_found",
    "failed_requests": "fetch/failed",
    "retries": "retry/count",
    "retries_exhausted": "retry/max_reached",
    "skipped_known": "crawl/skipped_known",
    "listing_pages": "crawl/listing_pages",
    "sitemaps": "crawl/sitemaps",
    "errors_logged": "log_count/ERROR",
    "spider_exceptions": "spider_exceptions/count",
}


def judge_run(
    stats: dict[str, Any],
    finish_reason: str,
    thresholds: dict[str, float],
    min_articles: int,
    max_error_rate: float,
) -> tuple[str, list[str], dict[str, float | None]]:
    """(outcome, failure reasons, coverage per field) for a finished run's stats."""
    failures: list[str] = []
    articles = int(stats.get("coverage/articles", 0))
    coverage: dict[str, float | None] = {
        name: (stats.get(f"coverage/{name}", 0) / articles) if articles else None
        for name in thresholds
    }
    if finish_reason != "finished":
        failures.append(f"the crawl did not finish (reason: {finish_reason})")
    requests = int(stats.get("downloader/request_count", 0))
    failed = int(stats.get("fetch/failed", 0)) + int(stats.get("spider_exceptions/count", 0))
    if requests and failed / requests > max_error_rate:
        failures.append(
            f"{failed} of {requests} requests failed ({failed / requests:.1%} > "
            f"{max_error_rate:.1%})"
        )
    if int(stats.get("storage/errors", 0)):
        failures.append(f"{stats['storage/errors']} storage errors")
    first_run = int(stats.get("crawl/known_articles", 0)) == 0
    stored = int(stats.get("storage/new", 0)) + int(stats.get("storage/changed", 0))
    if first_run and stored == 0:
        failures.append("first run stored zero articles")
    if articles >= min_articles:
        for name, minimum in thresholds.items():
            share = coverage[name]
            if share is not None and share < minimum:
                failures.append(
                    f"coverage of {name} is {share:.1%} (threshold {minimum:.0%}): "
                    f"the site's layout may have changed"
                )
    if finish_reason in {"shutdown", "cancelled"}:
        outcome = "interrupted"
    else:
        outcome = "failed" if failures else "succeeded"
    return outcome, failures, coverage


class RunReport:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.reports_dir = Path(settings.get("REPORTS_DIR"))
        self.thresholds = {k: float(v) for k, v in settings.getdict("COVERAGE_THRESHOLDS").items()}
        self.min_articles = settings.getint("COVERAGE_MIN_ARTICLES")
        self.max_error_rate = settings.getfloat("MAX_ERROR_RATE")
        self.started_at = datetime.now(UTC)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunReport:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        stats = self.crawler.stats
        if not stats.get_value("run/id"):
            stats.set_value("run/id", uuid.uuid4().hex)
        self.started_at = datetime.now(UTC)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        stats = self.crawler.stats.get_stats()
        finished_at = datetime.now(UTC)
        outcome, failures, coverage = judge_run(
            stats, reason, self.thresholds, self.min_articles, self.max_error_rate
        )
        run_id = str(stats.get("run/id") or uuid.uuid4().hex)
        report = {
            "run_id": run_id,
            "spider": spider.name,
            "site": getattr(spider, "base_url", None),
            "mode": stats.get("crawl/mode"),
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "finished_at": finished_at.isoformat(timespec="seconds"),
            "duration_seconds": round((finished_at - self.started_at).total_seconds(), 3),
            "finish_reason": reason,
            "outcome": outcome,
            "failures": failures,
            "counts": {name: int(stats.get(key, 0)) for name, key in COUNTERS.items()},
            "coverage": coverage,
            "coverage_thresholds": self.thresholds,
            "extraction_layers": {
                k.removeprefix("extract/"): v for k, v in stats.items() if k.startswith("extract/")
            },
            "problems": {
                k.removeprefix("validate/problem/"): v
                for k, v in stats.items()
                if k.startswith("validate/problem/")
            },
            "reject_reasons": {
                k.removeprefix("validate/reason/"): v
                for k, v in stats.items()
                if k.startswith("validate/reason/")
            },
            "http_errors": {
                k.removeprefix("fetch/"): v for k, v in stats.items() if k.startswith("fetch/http_")
            },
        }
        self.crawler.stats.set_value("run/outcome", outcome)
        self.crawler.stats.set_value("run/failed", outcome != "succeeded")
        self._write(run_id, report)
        self._record(run_id, finished_at, outcome, stats, report)
        if outcome == "succeeded":
            logger.info("run %s succeeded: %s", run_id, json.dumps(report["counts"]))
        else:
            logger.error("RUN %s %s", run_id, outcome.upper())
            for failure in failures:
                logger.error("run %s: %s", run_id, failure)

    def _write(self, run_id: str, report: dict[str, Any]) -> None:
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(report, ensure_ascii=False, indent=2, default=str)
        (self.reports_dir / f"{run_id}.json").write_text(text, encoding="utf-8")
        (self.reports_dir / "latest.json").write_text(text, encoding="utf-8")
        logger.info("run report: %s", self.reports_dir / f"{run_id}.json")

    def _record(
        self,
        run_id: str,
        finished_at: datetime,
        outcome: str,
        stats: dict[str, Any],
        report: dict[str, Any],
    ) -> None:
        store = getattr(self.crawler, "hepza_store", None)
        if store is None:
            return
        try:
            plain = json.loads(json.dumps(stats, default=str))
            store.finish_run(run_id, finished_at, outcome, plain, report)
        finally:
            store.close()
