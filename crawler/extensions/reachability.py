"""Whether the site answers is decided first, and fast; a site that does not fails the run with
the host and the reason.

Without this an unreachable site (DNS, refused connection, firewall, a server that accepts and
never answers) ended after two minutes of retries and 60 s timeouts as "N of N requests failed"
and "first run stored zero articles", the cause left inside the log. Now:

- :class:`ReachabilityProbe` (a downloader middleware): until the site's first answer (any HTTP
  response, whatever its status), no request waits past ``REACHABILITY_TIMEOUT`` seconds from
  the run's first request, nor is retried more than ``PROBE_RETRIES`` times: a dead site is
  known in seconds, while a slow one, once it answered, gets ``DOWNLOAD_TIMEOUT`` and
  ``RETRY_TIMES`` as before. The errors met meanwhile are kept (``fetch/first_error/<kind>``);
  when the time is up without an answer the run fails (``site_unreachable``) and the spider
  closes at once.
- The spider's home page is the other judge (crawler/spiders/liferay.py ``on_probe_error``): a
  home page that definitively fails ends the run there, with its reason.
- :class:`SiteReachability` (an extension) is the last word at the end of a run that never got
  one response (a cluster worker, a run stopped before its home page failed).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import deferred_from_coro

from crawler.domain.outcome import FAILURE_PREFIX, fail_run
from crawler.setup.config import parse_number

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response
    from scrapy.utils.asyncio import CallLaterResult

logger = logging.getLogger(__name__)

FIRST_ERROR_PREFIX = "fetch/first_error/"
UNREACHABLE = "site_unreachable"
# Retries of one request before the site first answered: a refused connection or an unknown
# host is known after these, and a failing first try (a restart) still gets a second chance.
PROBE_RETRIES = 2
# Where a request's own timeout and retry count wait while the probe's stand in for them.
_SAVED_META = "reachability_saved"


class SiteUnreachable(IgnoreRequest):
    """A request not sent: the site did not answer in time, the run has failed already."""


def site_host(crawler: Crawler) -> str:
    base_url = str(getattr(crawler.spider, "base_url", "") or "")
    return urlsplit(base_url).netloc or base_url or "?"


def unreachable_reason(stats: dict[str, Any], host: str) -> str | None:
    """The failure message when the site never answered, else None."""
    if int(stats.get("response_received_count", 0) or 0):
        return None
    errors = first_errors(stats)
    if not errors:
        return None  # nothing was fetched (stopped before the first request)
    return f"the site {host} could not be reached: {'; '.join(errors)}"


def first_errors(stats: dict[str, Any]) -> list[str]:
    """The first error of each kind met, each message once."""
    errors = [str(stats[key]) for key in sorted(stats) if key.startswith(FIRST_ERROR_PREFIX)]
    return list(dict.fromkeys(errors))


def note_first_error(crawler: Crawler, kind: str, message: str) -> None:
    assert crawler.stats is not None
    if crawler.stats.get_value(f"{FIRST_ERROR_PREFIX}{kind}") is None:
        crawler.stats.set_value(f"{FIRST_ERROR_PREFIX}{kind}", message)


def fail_once(crawler: Crawler, code: str, message: str) -> None:
    """:func:`fail_run`, unless ``code`` is recorded already (the deadline, the home page and
    the end of the run may each find the same unreachable site)."""
    assert crawler.stats is not None
    if not crawler.stats.get_value(f"{FAILURE_PREFIX}{code}"):
        fail_run(crawler, code, message)


class ReachabilityProbe:
    """Downloader middleware; after DownloadTimeoutMiddleware (which sets a request's
    ``download_timeout``) and close to the downloader, so it sees every attempt, retries and
    the robots.txt fetch included."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.timeout = parse_number(
            "REACHABILITY_TIMEOUT", crawler.settings.get("REACHABILITY_TIMEOUT", 0)
        )
        if not self.timeout:
            raise NotConfigured("REACHABILITY_TIMEOUT is 0")
        self.retry_times = crawler.settings.getint("RETRY_TIMES")
        self.answered = False
        self.unreachable = False
        self.deadline: float | None = None
        self._timer: CallLaterResult | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        probe = cls(crawler)
        crawler.signals.connect(probe.spider_closed, signal=signals.spider_closed)
        return probe

    def spider_closed(self) -> None:
        self._cancel_timer()

    def process_request(self, request: Request) -> None:
        if self.answered:
            _restore(request)
            return
        now = time.monotonic()
        if self.deadline is None:
            # From the first request, not from the start: a cluster worker may wait a while
            # for its first request, and the site is not to blame for that.
            self.deadline = now + self.timeout
            self._timer = call_later(self.timeout, self._time_is_up)
        left = self.deadline - now
        if self.unreachable or left <= 0:
            raise SiteUnreachable(f"the site {site_host(self.crawler)} could not be reached")
        meta = request.meta
        # The request's own values, as first seen (a retry is a copy that carries them on).
        saved = meta.setdefault(
            _SAVED_META,
            {key: meta.get(key) for key in ("download_timeout", "max_retry_times")},
        )
        timeout = saved["download_timeout"]
        meta["download_timeout"] = left if timeout is None else min(float(timeout), left)
        retries = saved["max_retry_times"]
        allowed = self.retry_times if retries is None else int(retries)
        meta["max_retry_times"] = min(allowed, PROBE_RETRIES)

    def process_response(self, request: Request, response: Response) -> Response:
        if not self.answered:
            self.answered = True
            self._cancel_timer()
        _restore(request)
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        if self.answered or self.unreachable or isinstance(exception, IgnoreRequest):
            return
        note_first_error(self.crawler, type(exception).__name__, str(exception))
        meta = request.meta
        last = meta.get("retry_times", 0) >= meta.get("max_retry_times", self.retry_times)
        if meta.get("dont_retry") or last:
            # Its last try (RetryMiddleware gives up next): the site's first request (robots.txt,
            # which every other request waits for) failed for good without any answer.
            self._unreachable()

    def _time_is_up(self) -> None:
        self._timer = None
        if not self.answered and not self.unreachable:
            self._unreachable(f"no answer within {self.timeout:g} s (REACHABILITY_TIMEOUT)")

    def _unreachable(self, timed_out: str = "") -> None:
        self.unreachable = True
        self._cancel_timer()
        assert self.crawler.stats is not None
        reasons = first_errors(self.crawler.stats.get_stats())
        if timed_out:
            reasons.append(timed_out)
        why = "; ".join(reasons) or "no answer"
        fail_once(
            self.crawler,
            UNREACHABLE,
            f"the site {site_host(self.crawler)} could not be reached: {why}",
        )
        if self.crawler.crawling:
            deferred_from_coro(self.crawler.engine.close_spider_async(reason=UNREACHABLE))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _restore(request: Request) -> None:
    """The request's own timeout and retry count again (a retry of a request sent before the
    site answered)."""
    saved = request.meta.pop(_SAVED_META, None)
    if saved is None:
        return
    for key in ("download_timeout", "max_retry_times"):
        if saved[key] is None:
            request.meta.pop(key, None)
        else:
            request.meta[key] = saved[key]


class SiteReachability:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        # Connected before the run report's handler (a lower EXTENSIONS number), so the
        # report already sees the failure.
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        assert self.crawler.stats is not None
        message = unreachable_reason(self.crawler.stats.get_stats(), site_host(self.crawler))
        if message is not None:
            fail_once(self.crawler, UNREACHABLE, message)
