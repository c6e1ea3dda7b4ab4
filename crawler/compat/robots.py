"""Scrapy 2.19's ``RobotsTxtMiddleware.robot_parser``, with a hook for how a robots.txt that
could not be fetched is told, reading the middleware's private state (``_parsers``,
``_parse_robots``, ``_robots_error``). On a Scrapy :mod:`crawler.compat` has not checked (or
with its fallbacks forced) Scrapy's own method runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred

from crawler.compat import internals_usable

if TYPE_CHECKING:
    from scrapy.robotstxt import RobotParser


class RobotsFetchHook(RobotsTxtMiddleware):
    """Calls :meth:`robots_unfetched` where Scrapy logs an ERROR with a traceback."""

    def robots_unfetched(self, robots_url: str, exc: Exception) -> None:
        raise NotImplementedError

    async def robot_parser(self, request: Request) -> RobotParser | None:
        if not internals_usable(self.crawler.settings):
            return await super().robot_parser(request)
        url = urlparse_cached(request)
        netloc = url.netloc
        if netloc not in self._parsers:
            self._parsers[netloc] = Deferred()
            robotsreq = Request(
                f"{url.scheme}://{url.netloc}/robots.txt",
                priority=self.DOWNLOAD_PRIORITY,
                meta={"dont_obey_robotstxt": True},
                callback=NO_CALLBACK,
            )
            try:
                resp = await self.crawler.engine.download_async(robotsreq)
                await self._parse_robots(resp, netloc, request)
            except Exception as exc:
                if not isinstance(exc, IgnoreRequest):
                    self.robots_unfetched(robotsreq.url, exc)
                self._robots_error(exc, netloc)
            self._stats.inc_value("robotstxt/request_count")
        parser = self._parsers[netloc]
        if isinstance(parser, Deferred):
            return await maybe_deferred_to_future(parser)
        return parser
