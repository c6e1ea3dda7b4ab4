"""The run report: one typed record, built in one place, written whole or not at all.

The same builder serves a ``scrapy crawl`` run and a cluster's merged run (which adds its
``sites`` and ``cluster`` sections). As JSON it is ``<REPORTS_DIR>/<run id>.json`` and
``latest.json``, and the ``report`` column of ``crawl_runs``; ``hepza-run``, ``scrapy runs``,
``scrapy report`` and the alerts read it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime
    from pathlib import Path

    from crawler.ledger.checks import RunFacts
    from crawler.ledger.verdict import Verdict

logger = logging.getLogger(__name__)

# report name -> stats key
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
    "lost": "storage/lost",
    "storage_retries": "storage/retries",
    "too_large": "fetch/too_large",
    "charset_corrected": "fetch/charset_corrected",
    "off_origin_refused": "fence/refused",
    "redirects_refused": "fence/redirect_refused",
    "redirect_loops": "fetch/redirect_loop",
    "sitemaps_stopped": "crawl/sitemaps_stopped",
    "requests_refused_by_limits": "limits/requests_refused",
    "errors_logged": "log_count/ERROR",
    "spider_exceptions": "spider_exceptions/count",
}


def counts_of(stats: Mapping[str, Any]) -> dict[str, int]:
    return {name: int(stats.get(key, 0) or 0) for name, key in COUNTERS.items()}


def prefixed(stats: Mapping[str, Any], prefix: str, keep: str = "") -> dict[str, Any]:
    return {k.removeprefix(prefix): v for k, v in stats.items() if k.startswith(prefix + keep)}


@dataclass
class RunReport:
    run_id: str
    spider: str
    site: str | None
    base_url: str | None
    mode: str | None
    started_at: datetime
    finished_at: datetime
    finish_reason: str
    outcome: str
    failures: list[str]
    checks: list[dict[str, Any]]
    counts: dict[str, int]
    coverage: dict[str, float | None]
    coverage_thresholds: dict[str, float]
    limits_reached: dict[str, Any]
    extraction_layers: dict[str, Any]
    problems: dict[str, Any]
    reject_reasons: dict[str, Any]
    http_errors: dict[str, Any]
    # "crawl" or "reparse" (crawl_runs.kind)
    kind: str = "crawl"
    # new versions per field they changed (storage/changed_fields/<field>)
    changed_fields: dict[str, Any] = field(default_factory=dict)
    # sections added by whoever adds them: the cluster's, the alerts'
    sections: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_seconds(self) -> float:
        return round((self.finished_at - self.started_at).total_seconds(), 3)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "spider": self.spider,
            "kind": self.kind,
            "site": self.site,
            "base_url": self.base_url,
            "mode": self.mode,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "finished_at": self.finished_at.isoformat(timespec="seconds"),
            "duration_seconds": self.duration_seconds,
            "finish_reason": self.finish_reason,
            "outcome": self.outcome,
            "failures": list(self.failures),
            "checks": list(self.checks),
            "counts": dict(self.counts),
            "coverage": dict(self.coverage),
            "coverage_thresholds": dict(self.coverage_thresholds),
            "limits_reached": dict(self.limits_reached),
            "extraction_layers": dict(self.extraction_layers),
            "problems": dict(self.problems),
            "reject_reasons": dict(self.reject_reasons),
            "http_errors": dict(self.http_errors),
            "changed_fields": dict(self.changed_fields),
            **self.sections,
        }

    def with_failures(self, extra: list[str]) -> RunReport:
        """This report with ``extra`` failures: a report that says ``succeeded`` must never
        outlive a failure found after it was built (it could not be written or recorded)."""
        outcome = "failed" if self.outcome == "succeeded" else self.outcome
        return replace(self, outcome=outcome, failures=[*self.failures, *extra])


def build_report(
    facts: RunFacts,
    verdict: Verdict,
    *,
    run_id: str,
    spider: str,
    site: str | None,
    base_url: str | None,
    started_at: datetime,
    finished_at: datetime,
    kind: str = "crawl",
) -> RunReport:
    stats = facts.stats
    mode = stats.get("crawl/mode")
    return RunReport(
        run_id=run_id,
        spider=spider,
        site=site,
        base_url=base_url,
        mode=str(mode) if mode is not None else None,
        started_at=started_at,
        finished_at=finished_at,
        finish_reason=facts.finish_reason,
        outcome=verdict.outcome,
        failures=list(verdict.failures),
        checks=[check.as_dict() for check in verdict.checks],
        counts=counts_of(stats),
        coverage=facts.coverage,
        coverage_thresholds=dict(facts.thresholds),
        limits_reached=prefixed(stats, "limits/"),
        extraction_layers=prefixed(stats, "extract/"),
        problems=prefixed(stats, "validate/problem/"),
        reject_reasons=prefixed(stats, "validate/reason/"),
        http_errors=prefixed(stats, "fetch/", keep="http_"),
        kind=kind,
        changed_fields=prefixed(stats, "storage/changed_fields/"),
        # a reparse's archive counts: responses replayed, URLs not archived, redirects to
        # the URL an article is archived at
        sections={"reparse": prefixed(stats, "reparse/")} if kind == "reparse" else {},
    )


def write_report(reports_dir: Path, run_id: str, report: dict[str, Any]) -> None:
    """``<run id>.json`` and ``latest.json`` in ``reports_dir``, each written whole or not at
    all: a reader never sees half a report."""
    text = json.dumps(report, ensure_ascii=False, indent=2, default=str)
    for name in (f"{run_id}.json", "latest.json"):
        target = reports_dir / name
        partial = target.with_name(f".{name}.partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)
    logger.info("run report: %s", reports_dir / f"{run_id}.json")
