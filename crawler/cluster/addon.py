"""Cluster mode as Scrapy add-ons (the ``ADDONS`` setting): a plain crawl installs none of the
cluster's components; enabling an add-on installs them all, and nothing else changes shape.

- :class:`ClusterAddon`, which ``scrapy cluster work`` puts in the ADDONS of every crawler it
  starts: the cluster's scheduler (the site's lease queue and duplicate filter in Redis), its
  seeds (enqueued once for the whole crawl), the frontier's state in Redis, the per-host
  limiter, the stats publisher and the run owner of a share of the cluster's run (a request's
  lease is acknowledged once the storage batch holding its items is committed:
  crawler/cluster/scheduler.py), and no back-pressure on sitemaps (the queue is in Redis, not
  in the worker's memory).
- :class:`HostLimitAddon`, in the project's ADDONS: with ``CLUSTER_REDIS_URL`` set, a plain
  ``scrapy crawl`` takes its per-host slots from the cluster's limiter, so it never adds load on
  a portal the cluster is crawling; without it, the add-on is off and installs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured

from crawler.cluster.host_limit import ClusterHostLimitMiddleware, hand_politeness_to_cluster
from crawler.cluster.record import ClusterStatsPublisher
from crawler.cluster.share import ClusterShareOwner
from crawler.extensions.feed_summary import FeedSummary
from crawler.extensions.run import RunOwner

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

SCHEDULER = "crawler.cluster.scheduler.ClusterScheduler"
FRONTIER_STATE = "crawler.cluster.crawl.site_frontier_state"
# Where the components sit: the limiter close to the downloader (each real network attempt takes
# a slot); the seeds next to the spider; the run owner where the project has it, the publisher
# after it (whose report it hands on).
HOST_LIMIT_ORDER = 950
SEEDS_ORDER = 950
RUN_OWNER_ORDER = 500
PUBLISHER_ORDER = 520
# What the cluster needs of the settings whoever gave them otherwise (as ``-s`` would).
FORCED = "cmdline"


def install_host_limit(settings: BaseSettings) -> None:
    """The per-host limiter, owning the site's politeness (its delay and concurrency)."""
    hand_politeness_to_cluster(settings)
    settings.set_in_component_priority_dict(
        "DOWNLOADER_MIDDLEWARES", ClusterHostLimitMiddleware, HOST_LIMIT_ORDER
    )


class HostLimitAddon:
    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.get("CLUSTER_REDIS_URL"):
            # No cluster to share politeness with: off, without a word (a NotConfigured with a
            # reason is a "Disabled" WARNING on every single-process run).
            raise NotConfigured
        return cls()

    def update_settings(self, settings: BaseSettings) -> None:
        install_host_limit(settings)


class ClusterAddon:
    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        names = ("CLUSTER_REDIS_URL", "CLUSTER_CRAWL_ID")
        missing = [name for name in names if not crawler.settings.get(name)]
        if missing:
            raise ValueError(
                f"the cluster add-on needs {' and '.join(missing)} (run workers with "
                "'scrapy cluster work')"
            )
        return cls()

    def update_settings(self, settings: BaseSettings) -> None:
        # Redis and scrapy-redis come with the cluster extra: a plain crawl, which loads this
        # module for HostLimitAddon, imports neither.
        from crawler.cluster.seeds import ClusterSeedsMiddleware  # noqa: PLC0415

        install_host_limit(settings)
        settings.set("SCHEDULER", SCHEDULER, priority=FORCED)
        settings.set("FRONTIER_STATE", FRONTIER_STATE, priority=FORCED)
        # The queue is in Redis: pausing the sitemaps would only keep more related articles
        # deferred, in Redis, for longer.
        settings.set("SITEMAP_MAX_QUEUED", 0, priority=FORCED)
        settings.set_in_component_priority_dict(
            "SPIDER_MIDDLEWARES", ClusterSeedsMiddleware, SEEDS_ORDER
        )
        settings.set_in_component_priority_dict("EXTENSIONS", RunOwner, None)
        settings.set_in_component_priority_dict("EXTENSIONS", ClusterShareOwner, RUN_OWNER_ORDER)
        settings.set_in_component_priority_dict(
            "EXTENSIONS", ClusterStatsPublisher, PUBLISHER_ORDER
        )
        # A worker's feed is its share of the crawl by design: nothing to say of it.
        settings.set_in_component_priority_dict("EXTENSIONS", FeedSummary, None)
