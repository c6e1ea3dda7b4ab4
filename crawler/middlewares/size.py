"""Pages refused for their size (``DOWNLOAD_MAXSIZE``, or a request's ``download_maxsize``):
Scrapy cancels the download with a warning; this counts it in ``fetch/too_large`` and says
which URL and how large, so that an article too big to store is never silently missing."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from scrapy.exceptions import DownloadCancelledError

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

# Scrapy's message: "Expected to receive 52428800 bytes which is larger than download max size
# (16777216) in request <GET ...>." (or "Received ..." when the length was not announced)
_SIZE_MESSAGE = re.compile(r"(\d+) bytes which is larger than download max size \((\d+)\)")


def refused_size(exception: BaseException) -> tuple[int, int] | None:
    """(size, limit) in bytes when ``exception`` is Scrapy's refusal of a body for its size."""
    if not isinstance(exception, DownloadCancelledError):
        return None
    match = _SIZE_MESSAGE.search(str(exception))
    return (int(match[1]), int(match[2])) if match is not None else None


class TooLargeMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.maxsize = crawler.settings.getint("DOWNLOAD_MAXSIZE")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_exception(self, request: Request, exception: Exception) -> None:
        if not isinstance(exception, DownloadCancelledError):
            return
        assert self.crawler.stats is not None
        limit = int(request.meta.get("download_maxsize", self.maxsize))
        match = _SIZE_MESSAGE.search(str(exception))
        if match is None:
            # A body without Content-Length is cut once it passes the limit, and Scrapy's
            # warning above gives its size; a crawl being stopped also cancels downloads.
            self.crawler.stats.inc_value("fetch/cancelled")
            logger.warning(
                "download cancelled: %s (over the %s-byte limit, or the crawl is stopping)",
                request.url,
                f"{limit:,}",
            )
            return
        self.crawler.stats.inc_value("fetch/too_large")
        logger.warning(
            "refused (too large): %s is %s bytes, over the %s-byte limit (%s)",
            request.url,
            f"{int(match[1]):,}",
            f"{int(match[2]):,}",
            "download_maxsize" if "download_maxsize" in request.meta else "DOWNLOAD_MAXSIZE",
        )
