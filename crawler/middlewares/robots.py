"""Scrapy's RobotsTxtMiddleware, quiet and explicit.

Scrapy 2.19's middleware logs a robots.txt it could not fetch as an ERROR with a traceback,
under the URL of the request that was waiting for it (the home page), so an unreachable site
filled the log with tracebacks before its one real reason. Here that is one WARNING line naming
robots.txt (the traceback at DEBUG only); the crawl then goes on as Scrapy's does, as if
robots.txt allowed everything, and the site's reachability is judged by its home page
(crawler/extensions/reachability.py).

Quieting the log means replacing Scrapy's ``robot_parser``, which keeps its state in private
attributes: crawler/compat/robots.py does, calling :meth:`robots_unfetched` here; on a Scrapy
that :mod:`crawler.compat` has not checked (or with its fallbacks forced) Scrapy's own method
runs, tracebacks and all.

A request robots.txt forbids fails with :class:`RobotsForbidden` rather than a bare
``IgnoreRequest``, so the spider can tell a page the site asks not to be crawled from a page
that failed, and a robots.txt that forbids the home page becomes the run's named failure
(``robots_disallowed``) instead of an error rate.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING

from scrapy.exceptions import IgnoreRequest

from crawler.compat.robots import RobotsFetchHook
from crawler.domain.outcome import FAILURE_PREFIX
from crawler.extensions.reachability import UNREACHABLE

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.robotstxt import RobotParser

logger = logging.getLogger(__name__)


class RobotsForbidden(IgnoreRequest):
    """A request the site's robots.txt forbids."""


class QuietRobotsTxtMiddleware(RobotsFetchHook):
    @cached_property
    def _debug(self) -> bool:
        return str(self.crawler.settings.get("LOG_LEVEL", "")).upper() == "DEBUG"

    def process_request_2(self, rp: RobotParser | None, request: Request) -> None:
        try:
            super().process_request_2(rp, request)
        except IgnoreRequest as exc:
            raise RobotsForbidden(str(exc)) from None

    def robots_unfetched(self, robots_url: str, exc: Exception) -> None:
        # Said once the run failed as unreachable, the reason it was not fetched.
        assert self.crawler.stats is not None
        unreachable = self.crawler.stats.get_value(f"{FAILURE_PREFIX}{UNREACHABLE}")
        logger.log(
            logging.DEBUG if unreachable else logging.WARNING,
            "robots.txt could not be fetched, crawling as if it allowed everything: %s: %s",
            robots_url,
            exc,
            exc_info=self._debug,
        )
