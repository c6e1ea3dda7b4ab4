"""Backpressure for a callback that yields many requests at once: a sitemap's entries.

A large portal's sitemap lists up to 50,000 articles, read in seconds; queued at once, their
requests would all wait in the scheduler (in memory, without JOBDIR) while the downloader works
through them, which is most of a first crawl's memory growth. :func:`wait_for_queue_room` pauses
the callback while the scheduler holds more than ``SITEMAP_MAX_QUEUED`` requests, and lets it
read on as the queue drains. The crawl fetches the same requests; only when they are queued
changes.

It never waits where waiting could stop the crawl: not when the scraper holds more than its
active size (the engine then downloads nothing until callbacks finish, so the queue would not
drain), not when the scheduler cannot tell its length. Nor when the engine is closing or stopped
(SIGTERM, MAX_RUN_SECONDS, a CloseSpider): the callback's request would keep the close waiting.
The callback then stops reading altogether (:func:`engine_closing`): what it would still yield
could never be fetched, and a million-URL sitemap read on at once filled the scheduler with a
million requests (2.9 GB, three minutes to shut down).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy.core.engine import ExecutionEngine

# SITEMAP_MAX_QUEUED when unset: about a minute of a fast crawl's requests, a megabyte or two.
DEFAULT_SITEMAP_MAX_QUEUED = 1000
# How often a paused callback looks at the queue again.
POLL_SECONDS = 0.05


def engine_closing(engine: ExecutionEngine | None) -> bool:
    """Whether the engine is stopping or closing its spider: a callback that reads a sitemap
    stops there (crawler.compat reads it)."""
    # crawler.settings reads this module's default: Scrapy's crawl machinery is imported
    # when a crawl runs, not by every command's start-up.
    from crawler import compat  # noqa: PLC0415

    return compat.engine_closing(engine)


def queue_full(engine: ExecutionEngine | None, limit: int) -> bool:
    """Whether more than ``limit`` requests wait in the engine's scheduler, and waiting for
    them to drain is safe (see the module's docstring); never with a limit of 0."""
    if limit <= 0 or engine is None or not engine.running:
        return False
    from crawler import compat  # noqa: PLC0415

    if not compat.can_wait_for_scheduler(engine):
        return False
    scheduler = engine.scheduler
    try:
        queued = len(scheduler)  # type: ignore[arg-type]
    except Exception:
        # No length (a custom scheduler), or its store unreachable (the cluster's Redis:
        # its scheduler fails the run itself): not waited on.
        return False
    return queued > limit


async def wait_for_queue_room(engine: ExecutionEngine | None, limit: int) -> float:
    """Waits while :func:`queue_full`; the seconds waited."""
    if not queue_full(engine, limit):
        return 0.0
    loop = asyncio.get_running_loop()
    started = loop.time()
    while queue_full(engine, limit):
        await asyncio.sleep(POLL_SECONDS)
    return loop.time() - started
