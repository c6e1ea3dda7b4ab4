"""The origin fence: no request leaves the base URL's scheme, host and port.

Scrapy's OffsiteMiddleware compares host names only and lets ``dont_filter`` requests through,
so a redirect to the same host on another port (or to ``http`` from ``https``) would be followed
and its page recorded under that origin. This middleware runs before every other one and also
sees redirected requests, since a redirect is a new request that goes through
``process_request`` again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

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


class OriginFence:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        spider_origin = getattr(self.crawler.spider, "origin", None)
        if not spider_origin:
            return
        allowed = origin_of(spider_origin)
        if allowed is None or origin_of(request.url) == allowed:
            return
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("fence/refused")
        redirected = request.meta.get("redirect_urls") or []
        via = f" (redirected from {redirected[0]})" if redirected else ""
        logger.warning("refused a request outside %s: %s%s", allowed, request.url, via)
        raise OffOriginRequest(f"{request.url} is outside the crawled origin {allowed}")
