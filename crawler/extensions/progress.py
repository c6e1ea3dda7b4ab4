"""One progress line every PROGRESS_INTERVAL seconds, and a last one when the spider closes."""

from __future__ import annotations

import logging
import sys
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TextIO

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import create_looping_call

from crawler import compat

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.utils.asyncio import AsyncioLoopingCall
    from twisted.internet.task import LoopingCall

logger = logging.getLogger(__name__)


def format_progress(
    stats: Mapping[str, Any], *, pages_per_second: float, queued: int | None, elapsed: float
) -> str:
    def count(key: str) -> int:
        value = stats.get(key, 0)
        return int(value) if isinstance(value, int | float) else 0

    new, changed = count("storage/new"), count("storage/changed")
    # Retried download exceptions are not errors; the ones that end a request are logged as ERROR.
    return (
        f"progress: {count('response_received_count')} pages ({pages_per_second:.1f}/s), "
        f"{new + changed} articles stored (new {new}, changed {changed}), "
        f"{count('validate/rejected')} rejected, {count('log_count/ERROR')} errors, "
        f"{'?' if queued is None else queued} in queue, "
        f"elapsed {timedelta(seconds=int(elapsed))}"
    )


class Progress:
    def __init__(
        self,
        crawler: Crawler,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        echo_to: TextIO | None = None,
    ) -> None:
        self.crawler = crawler
        self.interval = interval
        self.clock = clock
        # A person at a terminal would see nothing while the log goes to a file; cron has no TTY.
        self.echo_to = echo_to
        self.task: AsyncioLoopingCall | LoopingCall | None = None
        self.started_at: float | None = None
        self._last_at = 0.0
        self._last_pages = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        interval = crawler.settings.getfloat("PROGRESS_INTERVAL", 0.0)
        if interval <= 0:
            raise NotConfigured
        echo_to = sys.stderr if crawler.settings.get("LOG_FILE") and _isatty(sys.stderr) else None
        extension = cls(crawler, interval, echo_to=echo_to)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_opened(self) -> None:
        self.started_at = self._last_at = self.clock()
        self._last_pages = 0
        self.task = create_looping_call(self.log_progress)
        self.task.start(self.interval, now=False)

    def spider_closed(self) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()
        self.task = None
        self.log_progress(final=True)

    def log_progress(self, final: bool = False) -> None:
        self.emit(self.progress_line(final=final))

    def progress_line(self, final: bool = False) -> str:
        now = self.clock()
        started = self.started_at if self.started_at is not None else now
        stats = self.crawler.stats.get_stats() if self.crawler.stats is not None else {}
        pages = stats.get("response_received_count", 0)
        pages = pages if isinstance(pages, int) else 0
        # Periodic lines show the current speed; the last one the average of the whole run.
        since, before = (started, 0) if final else (self._last_at, self._last_pages)
        span = now - since
        rate = (pages - before) / span if span > 0 else 0.0
        self._last_at, self._last_pages = now, pages
        return format_progress(
            stats, pages_per_second=rate, queued=self.queue_length(), elapsed=now - started
        )

    def queue_length(self) -> int | None:
        try:
            engine = self.crawler.engine
        except (AttributeError, RuntimeError):
            # Scrapy raises until the crawl has started.
            return None
        scheduler = compat.scheduler_of(engine)
        if scheduler is None:
            return None
        try:
            return len(scheduler)
        except Exception:
            # A custom scheduler need not have a length, and a closed disk queue may fail.
            return None

    def emit(self, line: str) -> None:
        logger.info("%s", line, extra={"spider": self.crawler.spider})
        if self.echo_to is not None:
            try:
                print(line, file=self.echo_to, flush=True)
            except (OSError, ValueError):
                self.echo_to = None


def _isatty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False
