"""FeedSummary: a feed of an incremental run says it is not the whole site.

An incremental run's feed lists the articles that run met: new, changed, and the few known ones
re-checked for edits (RECHECK_RECENT), not everything the database holds. A second ``-O
out.jsonl`` would silently hold five articles, so at the end of such a run one INFO line per
feed says how many articles it holds of how many the site holds, and how to get them all.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Self

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.extensions.feedexport import FeedExporter

from crawler.compat import feed_slots
from pipelines.storage.context import records_runs

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


def site_total(stats: Mapping[str, Any]) -> int | None:
    """Articles the run's site holds at its end: those stored before it and its new ones (None:
    the spider never read what the site holds)."""
    known = stats.get("crawl/known_articles")
    if not isinstance(known, int):
        return None
    return known + int(stats.get("storage/new", 0))


def partial_feed_message(uri: str, items: int, stats: Mapping[str, Any], spider: str) -> str | None:
    """The line for a feed that holds fewer articles than the site (None: it holds them all, or
    the run was a full one, which lists every article it found)."""
    total = site_total(stats)
    if total is None or stats.get("crawl/mode") == "full" or items >= total:
        return None
    site = stats.get("run/site") or spider
    mode = stats.get("crawl/mode") or "incremental"
    return (
        f"the feed {uri} holds {items} of the {total} articles of {site}: this {mode} run "
        f"lists only the new, changed and re-checked ones; for every article, crawl with "
        f"`-a full=1` or run `scrapy export --site {site}`"
    )


class FeedSummary:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        # parse, shell and check record no run (and the cluster's add-on removes it: a
        # worker's feed is its share of the crawl by design). Off, not wrong: no reason, or
        # Scrapy logs a "Disabled" WARNING.
        if not records_runs(crawler):
            raise NotConfigured
        ext = cls(crawler)
        crawler.signals.connect(ext.feeds_closed, signal=signals.feed_exporter_closed)
        return ext

    def feeds_closed(self) -> None:
        exporter = self.crawler.get_extension(FeedExporter)
        stats = self.crawler.stats
        if exporter is None or stats is None or self.crawler.spider is None:
            return
        # Without the exporter's own counts (crawler.compat's fallback) there is nothing to say.
        for slot in feed_slots(exporter, self.crawler.settings) or []:
            message = partial_feed_message(
                slot.uri, slot.itemcount, stats.get_stats(), self.crawler.spider.name
            )
            if message:
                logger.info(message)
