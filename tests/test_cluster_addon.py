"""Cluster mode as a Scrapy add-on (crawler/cluster/addon.py): a plain crawler installs none of
the cluster's components, a crawler with the add-on (what `scrapy cluster work` starts) installs
every one, and a plain crawler with CLUSTER_REDIS_URL set the per-host limiter alone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.utils.conf import build_component_list
from scrapy.utils.misc import load_object
from scrapy.utils.test import get_crawler

import crawler.settings as project
from crawler.cluster.frontier_state import RedisFrontierState
from crawler.cluster.host_limit import ClusterHostLimitMiddleware
from crawler.cluster.record import ClusterStatsPublisher
from crawler.cluster.scheduler import ClusterScheduler
from crawler.cluster.seeds import ClusterSeedsMiddleware
from crawler.cluster.share import ClusterShareOwner
from crawler.crawl.frontier import MemoryFrontierState
from crawler.extensions.feed_summary import FeedSummary
from crawler.extensions.run import RunOwner
from crawler.spiders.hepza import HepzaSpider

if TYPE_CHECKING:
    from pathlib import Path

    from scrapy.crawler import Crawler

# Never reached: building the components opens no connection.
REDIS_URL = "redis://127.0.0.1:1/0"
CLUSTER_COMPONENTS = {
    ClusterScheduler,
    ClusterSeedsMiddleware,
    ClusterHostLimitMiddleware,
    ClusterStatsPublisher,
    ClusterShareOwner,
}
ADDON = {"crawler.cluster.addon.ClusterAddon": 0}


def project_crawler(tmp_path: Path, **settings: Any) -> Crawler:
    """A crawler of the project's settings, as `scrapy crawl` (RECORD_RUN) builds it."""
    # The reactor is get_crawler's choice: whichever an earlier test in this process installed.
    values = {
        name: getattr(project, name)
        for name in dir(project)
        if name.isupper() and name != "TWISTED_REACTOR"
    }
    values |= {
        "RECORD_RUN": True,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'hepza.sqlite3'}",
        "REPORTS_DIR": str(tmp_path / "reports"),
        **settings,
    }
    return get_crawler(HepzaSpider, settings_dict=values)


def components(crawler: Crawler) -> set[type]:
    """The classes of the crawler's scheduler, middlewares, extensions and pipelines."""
    settings = crawler.settings
    found = {load_object(settings["SCHEDULER"])}
    for name in ("DOWNLOADER_MIDDLEWARES", "SPIDER_MIDDLEWARES", "EXTENSIONS", "ITEM_PIPELINES"):
        found |= {load_object(path) for path in build_component_list(settings.getwithbase(name))}
    return found | {type(extension) for extension in crawler.extensions.middlewares}


def test_a_plain_crawler_installs_none_of_the_cluster_s_components(tmp_path: Path) -> None:
    crawler = project_crawler(tmp_path, CLUSTER_REDIS_URL="")
    assert components(crawler) & CLUSTER_COMPONENTS == set()
    assert type(crawler.get_extension(RunOwner)) is RunOwner
    assert crawler.settings.getint("STORAGE_BATCH_SIZE") == int(project.STORAGE_BATCH_SIZE)
    assert not crawler.settings.get("FRONTIER_STATE")
    spider = HepzaSpider.from_crawler(crawler)
    assert isinstance(spider.frontier.state, MemoryFrontierState)


def test_a_crawler_with_the_cluster_add_on_installs_every_one_of_them(tmp_path: Path) -> None:
    crawler = project_crawler(
        tmp_path,
        ADDONS=ADDON,
        CLUSTER_REDIS_URL=REDIS_URL,
        CLUSTER_CRAWL_ID="c" * 32,
        CLUSTER_WORKER_ID="host-1",
    )
    installed = components(crawler)
    assert installed >= CLUSTER_COMPONENTS
    # the share's run owner in place of the plain one; a worker's feed is its share
    assert RunOwner not in installed and FeedSummary not in installed
    owner = crawler.get_extension(RunOwner)
    assert isinstance(owner, ClusterShareOwner) and owner.run_id == "c" * 32
    # what the cluster needs of storage and of the spider
    assert crawler.settings.getint("STORAGE_BATCH_SIZE") == int(project.STORAGE_BATCH_SIZE)
    assert crawler.settings.getint("SITEMAP_MAX_QUEUED") == 0
    spider = HepzaSpider.from_crawler(crawler)
    assert isinstance(spider.frontier.state, RedisFrontierState)
    assert spider.sitemap_max_queued == 0
    # the site's politeness is the cluster's: the limiter owns the delay
    assert crawler.settings.getfloat("DOWNLOAD_DELAY") == 0


def test_a_plain_crawler_with_a_cluster_redis_takes_the_host_limiter_alone(
    tmp_path: Path,
) -> None:
    crawler = project_crawler(tmp_path, CLUSTER_REDIS_URL=REDIS_URL, DOWNLOAD_DELAY=0.5)
    assert components(crawler) & CLUSTER_COMPONENTS == {ClusterHostLimitMiddleware}
    assert type(crawler.get_extension(RunOwner)) is RunOwner
    assert crawler.settings.getfloat("CLUSTER_HOST_DELAY") == 0.5
    assert crawler.settings.getfloat("DOWNLOAD_DELAY") == 0
