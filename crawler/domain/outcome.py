"""How any component tells the run's owner that the run failed.

Whatever writes data or files (storage, feeds, reports, rejects) or decides what a run covers
calls :func:`fail_run` when something did not happen as the run will otherwise claim: a lost
write, a failed commit, an unwritable file, a crawl cut short. The reason is kept in the
crawler's stats (``run/failure/<code>`` counts, ``run/failure_message/<code>`` the first
message), so it survives in the run report and ``crawl_runs`` and the run report turns each
code into a failure reason (exit status 1). One ``ERROR`` line is logged per code, not per
occurrence, so a stopped database does not bury the log in repeats.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

FAILURE_PREFIX = "run/failure/"
MESSAGE_PREFIX = "run/failure_message/"
# Failures that name the cause of the others (a site that never answered makes every request
# fail and stores nothing): reported first, whatever their code's place in the alphabet.
CAUSE_CODES = ("site_unreachable", "home_unavailable", "robots_disallowed")


def fail_run(crawler: Crawler | None, code: str, message: str, count: int = 1) -> None:
    """Record that the run failed for ``code`` (a short slug such as ``storage_write``)."""
    stats = crawler.stats if crawler is not None else None
    if stats is None:
        logger.error("run failed (%s): %s", code, message)
        return
    record_failure(stats, code, message, count)


def record_failure(stats: StatsCollector, code: str, message: str, count: int = 1) -> None:
    first = not stats.get_value(f"{FAILURE_PREFIX}{code}")
    stats.inc_value(f"{FAILURE_PREFIX}{code}", count)
    if first:
        stats.set_value(f"{MESSAGE_PREFIX}{code}", message)
        logger.error("run failed (%s): %s", code, message)


def recorded_failures(stats: dict[str, Any]) -> list[str]:
    """One human-readable reason per recorded failure code: causes first
    (:data:`CAUSE_CODES`), then the others in code order."""
    rank = {code: place for place, code in enumerate(CAUSE_CODES)}
    codes = sorted(
        (key.removeprefix(FAILURE_PREFIX) for key in stats if key.startswith(FAILURE_PREFIX)),
        key=lambda code: (rank.get(code, len(rank)), code),
    )
    reasons = []
    for code in codes:
        key = f"{FAILURE_PREFIX}{code}"
        count = int(stats[key])
        message = stats.get(f"{MESSAGE_PREFIX}{code}") or code
        reasons.append(message if count == 1 else f"{message} ({count} times)")
    return reasons
