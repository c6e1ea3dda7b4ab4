"""The checks a run must pass, and the facts they read.

A check is a plain function ``check(facts: RunFacts) -> Iterable[str]``: the reasons the run
failed by its measure, none when it passed (in the spirit of spidermon's close monitors). The
setting ``RUN_CHECKS`` lists them in order, as dotted paths, so a deployment adds its own
without touching the crawler: ``-s RUN_CHECKS='[..., "mypkg.checks.enough_new"]'``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scrapy.utils.misc import load_object

from crawler.domain.outcome import recorded_failures as recorded_failure_reasons

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from scrapy.settings import BaseSettings

    Check = Callable[["RunFacts"], Iterable[str]]

DEFAULT_RUN_CHECKS = (
    "crawler.ledger.checks.recorded_failures",
    "crawler.ledger.checks.crawl_finished",
    "crawler.ledger.checks.error_rate",
    "crawler.ledger.checks.first_run_stored",
    "crawler.ledger.checks.coverage",
)


@dataclass(frozen=True)
class RunFacts:
    """What a check may read: the run's stats (read-only), how its engine stopped, and the
    thresholds in force. ``share``: these stats are one crawler's share of a larger run (a
    cluster worker's), judged again with the others once merged."""

    stats: Mapping[str, Any]
    finish_reason: str
    thresholds: dict[str, float] = field(default_factory=dict)
    min_articles: int = 5
    max_error_rate: float = 0.05
    share: bool = False

    def count(self, key: str) -> int:
        return int(self.stats.get(key, 0) or 0)

    @property
    def articles(self) -> int:
        return self.count("coverage/articles")

    @property
    def coverage(self) -> dict[str, float | None]:
        articles = self.articles
        return {
            name: (self.count(f"coverage/{name}") / articles) if articles else None
            for name in self.thresholds
        }

    @classmethod
    def from_settings(
        cls,
        stats: Mapping[str, Any],
        finish_reason: str,
        settings: BaseSettings,
        *,
        share: bool = False,
    ) -> RunFacts:
        return cls(
            stats=stats,
            finish_reason=finish_reason,
            thresholds=coverage_thresholds(settings),
            min_articles=settings.getint("COVERAGE_MIN_ARTICLES"),
            max_error_rate=settings.getfloat("MAX_ERROR_RATE"),
            share=share,
        )


def coverage_thresholds(settings: BaseSettings) -> dict[str, float]:
    return {name: float(v) for name, v in settings.getdict("COVERAGE_THRESHOLDS").items()}


def recorded_failures(facts: RunFacts) -> list[str]:
    """Whatever a component recorded with ``crawler.domain.outcome.fail_run``: lost writes,
    unwritable files, a site that cannot be reached, a crawl cut short by a limit. First, since
    they name causes; the checks after them often see only the consequences."""
    return recorded_failure_reasons(dict(facts.stats))


def crawl_finished(facts: RunFacts) -> list[str]:
    if facts.finish_reason == "finished":
        return []
    return [f"the crawl did not finish (reason: {facts.finish_reason})"]


def error_rate(facts: RunFacts) -> list[str]:
    """Requests that ended in an error, over the requests the crawl made. A retry is the same
    request again (not a new one), and a request refused before download (robots.txt) is
    still a request the crawl made."""
    failed = facts.count("fetch/failed") + facts.count("spider_exceptions/count")
    made = (
        facts.count("downloader/request_count")
        - facts.count("retry/count")
        + facts.count("robotstxt/forbidden")
    )
    made = max(made, failed)
    if not made or failed / made <= facts.max_error_rate:
        return []
    return [
        f"{failed} of {made} requests failed ({failed / made:.1%} > {facts.max_error_rate:.1%})"
    ]


def first_run_stored(facts: RunFacts) -> list[str]:
    """A first run (nothing known of the site) that stored nothing crawled nothing useful. A
    cluster worker's share is exempt: another worker may have stored the site."""
    if facts.share or facts.count("crawl/known_articles"):
        return []
    if facts.count("storage/new") + facts.count("storage/changed"):
        return []
    return ["first run stored zero articles"]


def coverage(facts: RunFacts) -> list[str]:
    """A field most articles carry and too few did this run: selectors stop matching silently,
    so this is how a layout change shows up."""
    if facts.articles < facts.min_articles:
        return []
    reasons = []
    for name, share in facts.coverage.items():
        minimum = facts.thresholds[name]
        if share is not None and share < minimum:
            reasons.append(
                f"coverage of {name} is {share:.1%} (threshold {minimum:.0%}): "
                "the site's layout may have changed"
            )
    return reasons


class BadRunChecks(ValueError):
    """RUN_CHECKS names something that is not a check (one line for the user)."""


def check_names(settings: BaseSettings) -> list[str]:
    """RUN_CHECKS as a list, a JSON list or comma-separated dotted paths (``-s`` gives text)."""
    raw = settings.get("RUN_CHECKS")
    if isinstance(raw, str) and raw.strip().startswith("["):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise BadRunChecks(f"RUN_CHECKS is not a JSON list: {exc}") from None
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, (list, tuple)):
        raise BadRunChecks(f"RUN_CHECKS must be a list of dotted paths, not {raw!r}")
    names = [str(name).strip() for name in raw if str(name).strip()]
    if not names:
        raise BadRunChecks(
            "RUN_CHECKS is empty: a run needs at least one check to be judged a success"
        )
    return names


def load_checks(settings: BaseSettings) -> list[tuple[str, Check]]:
    """(dotted path, function) for every entry of RUN_CHECKS, in order."""
    checks: list[tuple[str, Check]] = []
    for name in check_names(settings):
        try:
            check = load_object(name)
        except (ImportError, NameError, ValueError, AttributeError) as exc:
            raise BadRunChecks(f"RUN_CHECKS: cannot load {name!r}: {exc}") from exc
        if not callable(check):
            raise BadRunChecks(f"RUN_CHECKS: {name!r} is not a function")
        checks.append((name, check))
    return checks
