"""Who enqueues a site's seeds in a cluster crawl: a spider middleware installed by the cluster's
add-on (crawler/cluster/addon.py).

The seeds (the home page, which leads to robots.txt and the sitemaps) are enqueued once for the
whole crawl, by the first worker to open the site, or by the next one once the claim of a worker
killed before enqueueing them expired (``CLUSTER_LEASE_SECONDS``); the other workers take their
requests from the shared queue. The spider's ``start()`` runs as in any crawl (it reads the
stored index and refuses a host of another site before it ends); its seeds are held until then,
and given to the queue only by the worker that claimed them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crawler.cluster.scheduler import cluster_scheduler

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from typing import Self

    from scrapy.crawler import Crawler


class ClusterSeedsMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        seeds = [seed async for seed in start]
        scheduler = cluster_scheduler(self.crawler)
        if scheduler is None:
            raise RuntimeError(
                "the cluster's seeds need the cluster scheduler (SCHEDULER, set by the cluster "
                "add-on): this crawler has another"
            )
        if not await scheduler.wait_for_seeds():
            return
        for seed in seeds:
            yield seed
        scheduler.seeds_enqueued()
