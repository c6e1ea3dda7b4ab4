"""Run-wide caps: at most ``MAX_REQUESTS`` requests and ``MAX_RUN_SECONDS`` of crawling.

Reaching either means the crawl is incomplete, so the run fails with the limit named
(:func:`crawler.domain.outcome.fail_run`, code ``limit_reached``) and the spider is closed; its
message says that the next incremental run continues where this one stopped (it skips what is
stored). Requests
still on their way when the cap is reached are refused here, so the site never sees more than
``MAX_REQUESTS``. ``0`` turns a cap off.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import deferred_from_coro

from crawler.domain.outcome import fail_run
from crawler.setup.config import parse_number

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Request
    from scrapy.utils.asyncio import CallLaterResult

logger = logging.getLogger(__name__)

CLOSE_REASON = "limit_reached"
# What the operator needs to know of a capped run: nothing fetched is lost. An incremental run
# skips every stored article, so the next one takes up where this one stopped (a first crawl of
# a large portal at a polite pace is several runs: 180k articles at one request a second are
# two days).
RESUMES = (
    "the articles it stored are kept and the next incremental run continues with those not "
    "stored yet (or raise the cap to finish in one run)"
)


class RunLimitReached(IgnoreRequest):
    """A request refused because a run-wide cap was reached."""


def _cap(crawler: Crawler, name: str) -> float:
    return parse_number(name, crawler.settings.get(name))


class RunLimits:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.max_requests = int(_cap(crawler, "MAX_REQUESTS"))
        self.max_seconds = _cap(crawler, "MAX_RUN_SECONDS")
        if not self.max_requests and not self.max_seconds:
            raise NotConfigured
        self.requests = 0
        self.reached: str | None = None
        self._timer: CallLaterResult | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        middleware = cls(crawler)
        crawler.signals.connect(middleware.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    def spider_opened(self) -> None:
        if self.max_seconds:
            self._timer = call_later(self.max_seconds, self._time_is_up)

    def spider_closed(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def process_request(self, request: Request) -> None:
        if self.reached is None and self.max_requests and self.requests >= self.max_requests:
            self._reach(
                "MAX_REQUESTS",
                f"the crawl reached MAX_REQUESTS ({self.max_requests} requests) and was "
                f"stopped before it ended: pages of the site may not have been fetched; {RESUMES}",
            )
        if self.reached is not None:
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("limits/requests_refused")
            raise RunLimitReached(f"{self.reached} reached")
        self.requests += 1

    def _time_is_up(self) -> None:
        self._timer = None
        if self.reached is None:
            self._reach(
                "MAX_RUN_SECONDS",
                f"the crawl ran for MAX_RUN_SECONDS ({self.max_seconds:g} s) and was stopped "
                f"before it ended: pages of the site may not have been fetched; {RESUMES}",
            )

    def _reach(self, setting: str, message: str) -> None:
        self.reached = setting
        assert self.crawler.stats is not None
        self.crawler.stats.set_value("limits/run_limit", setting)
        fail_run(self.crawler, "limit_reached", message)
        if self.crawler.crawling:
            deferred_from_coro(self.crawler.engine.close_spider_async(reason=CLOSE_REASON))
