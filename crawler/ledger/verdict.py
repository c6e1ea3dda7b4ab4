"""The verdict on a run, the exit status derived from it, and what a finished run discards."""

from __future__ import annotations

import contextlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Sequence

    from scrapy.settings import BaseSettings

    from crawler.ledger.checks import Check, RunFacts

logger = logging.getLogger(__name__)

Outcome = Literal["succeeded", "failed", "interrupted"]

EXIT_OK = 0
EXIT_FAILED = 1

# A crawl stopped by these finish reasons resumes from its JOBDIR; any other end discards it.
RESUMABLE_REASONS = frozenset({"shutdown", "cancelled"})
# What Scrapy keeps in a JOBDIR (scheduler queues, duplicate filter, spider state).
JOBDIR_ENTRIES = ("requests.queue", "requests.seen", "spider.state")


@dataclass(frozen=True)
class CheckResult:
    name: str
    reasons: tuple[str, ...]
    # set when the check raised or returned something that is not a list of reasons
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and not self.reasons

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "reasons": list(self.reasons),
            "error": self.error,
        }


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    failures: tuple[str, ...]
    checks: tuple[CheckResult, ...]

    @property
    def succeeded(self) -> bool:
        return self.outcome == "succeeded"

    def with_failures(self, extra: Sequence[str]) -> Verdict:
        """This verdict with failures found after it was reached (the report could not be
        written, the run not recorded): a success no longer."""
        outcome: Outcome = "failed" if self.outcome == "succeeded" else self.outcome
        return Verdict(outcome, (*self.failures, *extra), self.checks)


def _run_check(name: str, check: Check, facts: RunFacts) -> CheckResult:
    try:
        returned = check(facts)
        if returned is None or isinstance(returned, (str, bytes)):
            raise TypeError(f"returned {type(returned).__name__}, not a list of reasons")
        reasons = tuple(str(reason) for reason in returned)
    except Exception as exc:
        logger.exception("run check %s raised", name)
        error = f"{type(exc).__name__}: {exc}"
        return CheckResult(name, (f"the run check {name} failed to run: {error}",), error)
    return CheckResult(name, reasons)


def reach_verdict(
    facts: RunFacts, checks: Sequence[tuple[str, Check]], *, extra: Sequence[str] = ()
) -> Verdict:
    """Every check run in order; ``succeeded`` only when there was at least one, each ran and
    none gave a reason. ``extra``: failures found outside the checks (the ledger's own), after
    theirs. A run stopped by a signal is ``interrupted`` whatever the checks say."""
    results = tuple(_run_check(name, check, facts) for name, check in checks)
    failures = [reason for result in results for reason in result.reasons]
    failures.extend(extra)
    if not results and not failures:
        failures.append("no run check is configured (RUN_CHECKS): nothing decided success")
    outcome: Outcome = "failed"
    if facts.finish_reason in RESUMABLE_REASONS:
        outcome = "interrupted"
    elif not failures and results and all(result.passed for result in results):
        outcome = "succeeded"
    return Verdict(outcome, tuple(failures), results)


def exit_status(verdict: Verdict | None, *, bootstrap_failed: bool = False) -> int:
    """0 only for a verdict of success; no verdict (the ledger never reached one: a crash
    between the engine stopping and the verdict) is a failed run."""
    if bootstrap_failed or verdict is None or not verdict.succeeded:
        return EXIT_FAILED
    return EXIT_OK


def discard_ended_jobdir(settings: BaseSettings, finish_reason: str | None) -> Path | None:
    """Remove the job state of a crawl that reached its end, whatever its outcome: a finished
    run must not hand its seen-requests filter and scheduled articles to the next one. Only a
    run stopped by SIGINT/SIGTERM (finish reason ``shutdown``) keeps it, to resume. The one
    place job state is discarded (``scrapy crawl`` calls it, ``hepza-run`` relies on it)."""
    jobdir = settings.get("JOBDIR")
    if not jobdir or finish_reason is None or finish_reason in RESUMABLE_REASONS:
        return None
    path = Path(jobdir)
    for name in JOBDIR_ENTRIES:
        entry = path / name
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    # The directory goes too when nothing else is in it (Scrapy made it for this run).
    with contextlib.suppress(OSError):
        path.rmdir()
    logger.debug("job state in %s discarded: the run ended (%s)", path, finish_reason)
    return path
