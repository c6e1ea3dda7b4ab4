"""The origin fence: no request leaves the base URL's scheme, host and port.

Scrapy's OffsiteMiddleware compares host names only and lets ``dont_filter`` requests through,
so a redirect to the same host on another port (or to ``http`` from ``https``) would be followed
and its page recorded under that origin. This middleware runs before every other one and also
sees redirected requests, since a redirect is a new request that goes through
``process_request`` again. A redirect whose request Scrapy's OffsiteMiddleware would drop (another
host, which it drops at DEBUG when the redirect is scheduled, no errback called) is refused here
first, by :class:`crawler.middlewares.redirect.RedirectMiddleware`, through :meth:`refuse`.

Every refusal is counted in ``fence/refused`` (a redirect's also in ``fence/redirect_refused``)
and named at WARNING: the first few of each origin one line each, the rest summed up per origin
when the spider closes, so a portal that sends every article elsewhere does not flood the log.
The request's errback gets :class:`OffOriginRequest` (the spider decides what the lost page
costs the run: see ``LiferaySpider.on_error``).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import IgnoreRequest

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Request

logger = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int | None

    def __str__(self) -> str:
        default = DEFAULT_PORTS.get(self.scheme)
        port = "" if self.port is None or self.port == default else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}"


def origin_of(url: str) -> Origin | None:
    """scheme, host and port of an absolute URL (the default port made explicit)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not parts.hostname:
        return None
    return Origin(scheme, parts.hostname.lower(), port or DEFAULT_PORTS.get(scheme))


class OffOriginRequest(IgnoreRequest):
    """A request outside the crawled site's origin, refused by :class:`OriginFence`."""


# Refusals named one line each, per origin refused; the rest are summed up at the end.
WARNINGS_PER_ORIGIN = 5
# Origins counted apart; past them (a portal redirecting to ever new hosts) one count for all.
MAX_ORIGINS_COUNTED = 100
_OTHER_ORIGINS = "other origins"


class OriginFence:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.refused: Counter[str] = Counter()
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def allowed(self) -> Origin | None:
        """The crawled site's origin; None when the spider names none (the fence is open)."""
        spider_origin = getattr(self.crawler.spider, "origin", None)
        return origin_of(spider_origin) if spider_origin else None

    def process_request(self, request: Request) -> None:
        allowed = self.allowed()
        if allowed is None or origin_of(request.url) == allowed:
            return
        redirected = request.meta.get("redirect_urls") or []
        raise self.refuse(request.url, allowed, redirected[0] if redirected else None)

    def refuse(
        self, url: str, allowed: Origin, redirected_from: str | None = None
    ) -> OffOriginRequest:
        """Counts and names the refusal of ``url``; the exception that refuses it."""
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("fence/refused")
        if redirected_from:
            self.crawler.stats.inc_value("fence/redirect_refused")
        target = origin_of(url)
        name = str(target) if target is not None else url[:100]
        if name not in self.refused and len(self.refused) >= MAX_ORIGINS_COUNTED:
            name = _OTHER_ORIGINS
        self.refused[name] += 1
        count = self.refused[name]
        if count <= WARNINGS_PER_ORIGIN:
            via = f" (redirected from {redirected_from})" if redirected_from else ""
            logger.warning("refused a request outside %s: %s%s", allowed, url, via)
            if count == WARNINGS_PER_ORIGIN:
                logger.warning(
                    "further requests to %s are refused without a line each; their count "
                    "comes when the crawl ends",
                    name,
                )
        return OffOriginRequest(f"{url} is outside the crawled origin {allowed}")

    def spider_closed(self) -> None:
        for name, count in self.refused.items():
            if count > WARNINGS_PER_ORIGIN:
                logger.warning("refused %d requests to %s in all (fence/refused)", count, name)
