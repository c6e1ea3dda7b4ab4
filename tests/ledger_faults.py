"""Faults planted in a real crawl by the ledger's end-to-end tests (tests/test_ledger.py):
a run check that raises, and a run owner whose own judging raises."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler.extensions.run import RunOwner

if TYPE_CHECKING:
    from crawler.ledger.checks import RunFacts


def raising_check(facts: RunFacts) -> list[str]:
    raise RuntimeError("planted fault in a run check")


def at_least_a_million_articles(facts: RunFacts) -> list[str]:
    """A deployment's own check: a real, failing verdict of its own."""
    if facts.articles >= 1_000_000:
        return []
    return [f"only {facts.articles} articles parsed, this deployment wants a million"]


class CrashingRunOwner(RunOwner):
    def _judge(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        raise RuntimeError("planted fault in the run owner's judging")
