"""Fails a run that never got one response from the site, with the host and the reason.

Without it an unreachable site (DNS, refused connection, firewall) ends as "N of N requests
failed" and "first run stored zero articles", the cause left inside the log. The spider keeps
the first error of each kind in the stats (``fetch/first_error/<exception>``); when no response
at all came back, they become one failure reason, ``site_unreachable``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import signals

from crawler.domain.outcome import fail_run

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Spider
    from scrapy.crawler import Crawler

FIRST_ERROR_PREFIX = "fetch/first_error/"


def unreachable_reason(stats: dict[str, Any], host: str) -> str | None:
    """The failure message when the site never answered, else None."""
    if int(stats.get("response_received_count", 0) or 0):
        return None
    errors = [str(stats[key]) for key in sorted(stats) if key.startswith(FIRST_ERROR_PREFIX)]
    if not errors:
        return None  # nothing was fetched (stopped before the first request)
    return f"the site {host} could not be reached: {'; '.join(dict.fromkeys(errors))}"


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
        base_url = str(getattr(spider, "base_url", "") or "")
        host = urlsplit(base_url).netloc or base_url or "?"
        message = unreachable_reason(self.crawler.stats.get_stats(), host)
        if message is not None:
            fail_run(self.crawler, "site_unreachable", message)
