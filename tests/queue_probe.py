"""A test extension: the most requests the scheduler held at once during a crawl, in the stat
``probe/max_queued`` (read from the run's stats in ``crawl_runs``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy import signals

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class QueueProbe:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.most = 0
        crawler.signals.connect(self.request_scheduled, signal=signals.request_scheduled)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> QueueProbe:
        return cls(crawler)

    def request_scheduled(self, request: Any) -> None:
        # sent before the request joins the queue: the queue then holds this one more
        engine = self.crawler.engine
        scheduler = engine.scheduler if engine is not None else None
        if scheduler is None or self.crawler.stats is None:
            return
        queued = len(scheduler) + 1  # type: ignore[arg-type]
        if queued > self.most:
            self.most = queued
            self.crawler.stats.set_value("probe/max_queued", queued)
