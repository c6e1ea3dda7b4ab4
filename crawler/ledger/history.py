"""Run history and what the site published, read from the database for ``scrapy runs`` and
``scrapy report``.

Everything comes from what the crawler already keeps: the ``crawl_runs`` rows (each finished
run's report, ``crawler/extensions/run.py``), the ``articles`` table and the rejects file. No
table is added or changed.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, case, cast, func, or_, select

from pipelines.storage.models import Article, CrawlRun
from pipelines.storage.quality import BULK

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    from sqlalchemy import Engine

logger = logging.getLogger(__name__)

# A run's "errors": failed requests plus spider exceptions, as hepza-run's summary line counts them.
ERROR_COUNTS = ("failed_requests", "spider_exceptions")
NO_CATEGORY = "(no category)"
# Joins the sites of a cluster run in its ``crawl_runs.site`` (crawler/cluster/record.py).
CLUSTER_JOIN = "+"
# Articles of a run with problems, and rejects, shown at most (the counts cover them all).
MAX_ROWS = 200


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@dataclass(frozen=True)
class RunSummary:
    """One ``crawl_runs`` row as an operator reads it."""

    run_id: str
    site: str
    outcome: str
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    new: int | None
    changed: int | None
    rejected: int | None
    requests: int | None
    errors: int | None
    coverage: dict[str, float | None] = field(default_factory=dict)
    failures: tuple[str, ...] = ()
    mode: str | None = None
    problems: dict[str, int] = field(default_factory=dict)
    reject_reasons: dict[str, int] = field(default_factory=dict)
    # "crawl" or "reparse" (crawl_runs.kind)
    kind: str = "crawl"
    # a reparse's new versions per changed field (the report's changed_fields)
    changed_fields: dict[str, int] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """Whether the run reached its end and wrote a report (not running, not abandoned)."""
        return self.finished_at is not None and self.new is not None

    def as_json(self, timezone: str) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "site": self.site,
            "kind": self.kind,
            "outcome": self.outcome,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "started_at_local": local_time(self.started_at, timezone).isoformat(timespec="seconds"),
            "finished_at": (
                self.finished_at.isoformat(timespec="seconds") if self.finished_at else None
            ),
            "duration_seconds": self.duration_seconds,
            "mode": self.mode,
            "new": self.new,
            "changed": self.changed,
            "rejected": self.rejected,
            "requests": self.requests,
            "errors": self.errors,
            "coverage": self.coverage,
            "failures": list(self.failures),
            "changed_fields": dict(self.changed_fields),
        }


def local_time(instant: datetime, timezone: str) -> datetime:
    return instant.astimezone(ZoneInfo(timezone))


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def format_coverage(coverage: dict[str, float | None]) -> str:
    if not coverage:
        return "-"
    return ", ".join(
        f"{name} {'-' if share is None else f'{share:.0%}'}" for name, share in coverage.items()
    )


def _count(counts: dict[str, Any], name: str) -> int | None:
    value = counts.get(name)
    return int(value) if isinstance(value, (int, float)) else None


def summarize_run(
    run_id: str,
    site: str,
    outcome: str,
    *,
    started_at: datetime,
    finished_at: datetime | None,
    report: dict[str, Any] | None,
    kind: str | None = "crawl",
) -> RunSummary:
    """A summary from the row and its report; a run that never finished has no counts."""
    report = report or {}
    counts: dict[str, Any] = report.get("counts") or {}
    duration = report.get("duration_seconds")
    if not isinstance(duration, (int, float)):
        duration = (finished_at - started_at).total_seconds() if finished_at else None
    errors: int | None = None
    if counts:
        errors = sum(_count(counts, name) or 0 for name in ERROR_COUNTS)
    coverage = report.get("coverage") or {}
    return RunSummary(
        run_id=run_id,
        site=site,
        outcome=outcome,
        started_at=started_at,
        finished_at=finished_at,
        duration_seconds=float(duration) if duration is not None else None,
        new=_count(counts, "stored_new"),
        changed=_count(counts, "stored_changed"),
        rejected=_count(counts, "rejected"),
        requests=_count(counts, "requests"),
        errors=errors,
        coverage={str(k): (float(v) if v is not None else None) for k, v in coverage.items()},
        failures=tuple(nfc(str(f)) for f in report.get("failures") or ()),
        mode=report.get("mode"),
        problems={str(k): int(v) for k, v in (report.get("problems") or {}).items()},
        reject_reasons={str(k): int(v) for k, v in (report.get("reject_reasons") or {}).items()},
        kind=kind or "crawl",
        changed_fields={str(k): int(v) for k, v in (report.get("changed_fields") or {}).items()},
    )


def _cluster_runs_of(engine: Engine, site: str) -> set[str]:
    """Ids of the cluster runs of several sites that crawled ``site`` (their ``spider_args``
    list their sites; crawler/cluster/record.py)."""
    query = select(CrawlRun.run_id, CrawlRun.spider_args).where(CrawlRun.site != site)
    with engine.connect() as conn:
        return {
            run_id
            for run_id, args in conn.execute(query.where(CrawlRun.site.contains(CLUSTER_JOIN)))
            if isinstance(args, dict) and args.get("cluster") and site in args.get("sites", ())
        }


def load_runs(engine: Engine, site: str | None = None, last: int | None = None) -> list[RunSummary]:
    """Runs, newest first (by start, then id); ``last`` keeps the newest N. A site's runs
    include the cluster runs that crawled it among other sites."""
    query = select(
        CrawlRun.run_id,
        CrawlRun.site,
        CrawlRun.outcome,
        CrawlRun.started_at,
        CrawlRun.finished_at,
        CrawlRun.report,
        CrawlRun.kind,
    ).order_by(CrawlRun.started_at.desc(), CrawlRun.run_id.desc())
    if site is not None:
        cluster = _cluster_runs_of(engine, site)
        query = query.where(or_(CrawlRun.site == site, CrawlRun.run_id.in_(cluster)))
    if last is not None:
        query = query.limit(last)
    with engine.connect() as conn:
        return [summarize_run(**row) for row in conn.execute(query).mappings().all()]


def known_sites(engine: Engine) -> list[str]:
    """Sites the database holds runs or articles of, sorted."""
    with engine.connect() as conn:
        runs = set(conn.scalars(select(CrawlRun.site).distinct()))
        articles = set(conn.scalars(select(Article.site).distinct()))
        # a cluster run of several sites stands for each of them, not for a site of its own
        clusters = select(CrawlRun.spider_args).where(CrawlRun.site.contains(CLUSTER_JOIN))
        for args in conn.scalars(clusters):
            if isinstance(args, dict) and args.get("cluster"):
                runs.update(str(name) for name in args.get("sites", ()))
    return sorted({name for name in runs if CLUSTER_JOIN not in name} | articles)


@dataclass(frozen=True)
class MonthlyCounts:
    """Articles per month (the site's own calendar) and category, for one site, each counted
    on its ``best_date``: its event day where its display date is a migration's
    (``published_at_quality`` bulk), otherwise its display day."""

    site: str
    months: list[str]
    # category -> articles per month, aligned with ``months``
    by_category: dict[str, list[int]]
    undated: int
    # articles placed by their event day (bulk display date, event day known)
    by_event: int = 0
    # articles with a bulk display date but no event day: left at their display day
    bulk_without_event: int = 0

    @property
    def total(self) -> int:
        return sum(sum(values) for values in self.by_category.values())


def month_range(first: str, last: str) -> list[str]:
    """Every ``YYYY-MM`` from ``first`` to ``last``: a month without articles stays on the axis."""
    year, month = int(first[:4]), int(first[5:7])
    months: list[str] = []
    while f"{year:04d}-{month:02d}" <= last:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def monthly_counts(engine: Engine, site: str) -> MonthlyCounts:
    # published_at is ISO 8601 in the site's zone: its first 7 characters are the site's month;
    # event_date is a day of that calendar already.
    by_event = and_(Article.published_at_quality == BULK, Article.event_date.is_not(None))
    month = case(
        (by_event, func.substr(cast(Article.event_date, String), 1, 7)),
        else_=func.substr(Article.published_at, 1, 7),
    )
    query = (
        select(month, Article.category, by_event, func.count())
        .where(Article.site == site, Article.published_at.is_not(None))
        .group_by(month, Article.category, by_event)
    )
    undated_query = select(func.count()).where(Article.site == site, Article.published_at.is_(None))
    bulk_query = select(func.count()).where(
        Article.site == site, Article.published_at_quality == BULK, Article.event_date.is_(None)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        undated = int(conn.scalar(undated_query) or 0)
        bulk_without_event = int(conn.scalar(bulk_query) or 0)
    if not rows:
        return MonthlyCounts(site, [], {}, undated)
    months = month_range(min(r[0] for r in rows), max(r[0] for r in rows))
    index = {m: i for i, m in enumerate(months)}
    by_category: dict[str, list[int]] = {}
    placed_by_event = 0
    for row_month, category, placed, count in rows:
        name = nfc(category) if category else NO_CATEGORY
        values = by_category.setdefault(name, [0] * len(months))
        values[index[row_month]] += int(count)
        if placed:
            placed_by_event += int(count)
    ordered = dict(sorted(by_category.items(), key=lambda item: (-sum(item[1]), item[0])))
    return MonthlyCounts(site, months, ordered, undated, placed_by_event, bulk_without_event)


# How a record without problems stores them (pipelines/storage: JSON of an empty list).
NO_PROBLEMS = ("[]", "null")


@dataclass(frozen=True)
class ArticleProblems:
    title: str
    url: str
    problems: list[dict[str, str]]


def run_article_problems(
    engine: Engine, run_id: str, limit: int = MAX_ROWS
) -> tuple[int, list[ArticleProblems]]:
    """Articles the run stored (new or changed) whose record carries problems: (count, rows)."""
    # Articles without problems (nearly all) are left out by the database, from the run's
    # index (revision 0012): a run of a million clean articles does not come to Python row by row.
    query = (
        select(Article.title, Article.url, Article.problems)
        .where(
            Article.last_run_id == run_id,
            Article.problems.is_not(None),
            cast(Article.problems, String).not_in(NO_PROBLEMS),
        )
        .order_by(Article.published_at_utc.desc().nulls_last(), Article.id)
    )
    found: list[ArticleProblems] = []
    total = 0
    with engine.connect() as conn:
        for title, url, problems in conn.execute(query):
            if not problems:
                continue
            total += 1
            if len(found) < limit:
                found.append(ArticleProblems(nfc(title or ""), url, list(problems)))
    return total, found


@dataclass(frozen=True)
class RejectedPage:
    url: str
    count: int
    reasons: list[dict[str, str]]


def run_rejects(
    rejects_path: Path, run_id: str, limit: int = MAX_ROWS
) -> tuple[int, list[RejectedPage]]:
    """Pages of the rejects file that this run rejected (last): (count, rows).

    The rejects file keeps one line per page, naming the last run that rejected it; an
    unreadable line is skipped with a warning, as the crawler itself does.
    """
    if not rejects_path.is_file():
        return 0, []
    found: list[RejectedPage] = []
    total = 0
    with rejects_path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("%s line %d is not JSON: skipped", rejects_path, number)
                continue
            if not isinstance(entry, dict) or entry.get("run_id") != run_id:
                continue
            total += 1
            if len(found) < limit:
                found.append(
                    RejectedPage(
                        str(entry.get("url") or entry.get("fetched_url") or ""),
                        int(entry.get("count") or 1),
                        list(entry.get("reasons") or []),
                    )
                )
    return total, found
