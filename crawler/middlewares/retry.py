"""Retries with exponential backoff and ``Retry-After``, in place of Scrapy's RetryMiddleware.

The retry bookkeeping (``retry_times`` meta, ``retry/*`` stats, give-up log) is Scrapy's own
``get_retry_request``; this module only decides how long to wait before handing the retried
request back to the engine. The wait is an awaited sleep inside the downloader-middleware
coroutine, so the reactor and the other requests keep running while one request backs off.
"""

from __future__ import annotations

import logging
import random
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from logging import getLevelName
from typing import TYPE_CHECKING, Any

from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import sleep
from scrapy.utils.misc import load_object
from scrapy.utils.response import response_status_message
from twisted.internet import error as tx_error
from twisted.web.client import ResponseFailed

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response

logger = logging.getLogger(__name__)

RETRY_AFTER_STATUSES = frozenset({429, 503})

# Scrapy 2.19's HTTP/1.1 handler already wraps these into scrapy.exceptions classes that
# RETRY_EXCEPTIONS lists (ResponseFailed and ResponseNeverReceived -> DownloadFailedError,
# ResponseFailed(_DataLoss) -> ResponseDataLossError, TimeoutError -> DownloadTimeoutError).
# Other handlers or middlewares can still surface the raw Twisted errors, so they are retried too.
UNWRAPPED_TWISTED_EXCEPTIONS: tuple[type[Exception], ...] = (
    ResponseFailed,
    tx_error.ConnectionLost,
    tx_error.TimeoutError,
)

# While the crawl is stopping, waits are cut short in steps of this size so that a graceful
# stop is not held up by a long backoff; the retried request then goes to the scheduler
# (and so into JOBDIR) instead of being lost.
_SLEEP_STEP = 1.0

# RFC 9110 allows only a non-negative integer; some servers send a decimal.
_DELAY_SECONDS = re.compile(r"\d+(?:\.\d+)?")


def parse_retry_after(value: bytes | str | None, now: datetime) -> float | None:
    """Seconds to wait that a ``Retry-After`` header asks for, ``None`` if absent or unreadable."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if not text:
        return None
    if _DELAY_SECONDS.fullmatch(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # "-0000" parses as naive; HTTP dates are always GMT.
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


class BackoffRetryMiddleware:
    crawler: Crawler

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("RETRY_ENABLED"):
            raise NotConfigured
        self.crawler = crawler
        self.max_retry_times = settings.getint("RETRY_TIMES")
        self.retry_http_codes = {int(code) for code in settings.getlist("RETRY_HTTP_CODES")}
        self.priority_adjust = settings.getint("RETRY_PRIORITY_ADJUST")
        self.give_up_log_level = settings["RETRY_GIVE_UP_LOG_LEVEL"]
        self.backoff_base = max(settings.getfloat("RETRY_BACKOFF_BASE", 1.0), 0.0)
        self.backoff_max = max(settings.getfloat("RETRY_BACKOFF_MAX", 120.0), 0.0)
        configured = tuple(
            load_object(path) if isinstance(path, str) else path
            for path in settings.getlist("RETRY_EXCEPTIONS")
        )
        self.exceptions_to_retry: tuple[type[BaseException], ...] = (
            configured + UNWRAPPED_TWISTED_EXCEPTIONS
        )
        self.rng = random.Random()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def backoff_delay(self, retry_number: int) -> float:
        """Full jitter: uniform over [0, min(max, base * 2**(n-1))] for the n-th retry."""
        if self.backoff_base <= 0 or retry_number < 1:
            return 0.0
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** min(retry_number - 1, 62))
        return self.rng.uniform(0.0, ceiling)

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        retry_after: float | None = None
        if response.status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(response.headers.get(b"Retry-After"), datetime.now(UTC))
            if retry_after is not None and retry_after > self.backoff_max:
                self._give_up_retry_after(request, response, retry_after)
                return response
        new_request = self._retry_request(request, response_status_message(response.status))
        if new_request is None:
            return response
        if retry_after is None:
            retry_after = self.backoff_delay(new_request.meta["retry_times"])
        await self._wait(retry_after)
        return new_request

    async def process_exception(self, request: Request, exception: Exception) -> Request | None:
        if request.meta.get("dont_retry", False) or not isinstance(
            exception, self.exceptions_to_retry
        ):
            return None
        new_request = self._retry_request(request, exception)
        if new_request is None:
            return None
        await self._wait(self.backoff_delay(new_request.meta["retry_times"]))
        return new_request

    def _retry_request(self, request: Request, reason: str | Exception) -> Request | None:
        assert self.crawler.spider is not None
        return get_retry_request(
            request,
            spider=self.crawler.spider,
            reason=reason,
            max_retry_times=request.meta.get("max_retry_times", self.max_retry_times),
            priority_adjust=request.meta.get("priority_adjust", self.priority_adjust),
            give_up_log_level=request.meta.get("give_up_log_level", self.give_up_log_level),
            logger=logger,
        )

    def _give_up_retry_after(self, request: Request, response: Response, seconds: float) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("retry/retry_after_too_long")
        level: Any = request.meta.get("give_up_log_level", self.give_up_log_level)
        if isinstance(level, str):
            level = getLevelName(level)
        logger.log(
            level if isinstance(level, int) else logging.ERROR,
            "Gave up retrying %(request)s: HTTP %(status)d asks to retry after %(seconds).0fs, "
            "more than RETRY_BACKOFF_MAX (%(max).0fs)",
            {
                "request": request,
                "status": response.status,
                "seconds": seconds,
                "max": self.backoff_max,
            },
            extra={"spider": self.crawler.spider},
        )

    async def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        remaining = seconds
        while remaining > 0 and self.crawler.crawling:
            step = min(remaining, _SLEEP_STEP)
            await sleep(step)
            remaining -= step
            stats = self.crawler.stats
            assert stats is not None
            stats.set_value(
                "retry/backoff_seconds", stats.get_value("retry/backoff_seconds", 0) + step
            )
