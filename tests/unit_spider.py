"""A spider for unit tests of its callbacks: built as Scrapy builds it, with in-memory stats,
small crawl bounds, the stored index given, and its sitemaps requested (so navigation waits for
them, as in a crawl)."""

from __future__ import annotations

from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from crawler.crawl.crawl_state import CrawlState
from crawler.spiders.hepza import HepzaSpider


def sitemap_stage_spider(base_url: str, state: CrawlState) -> HepzaSpider:
    crawler = get_crawler(
        HepzaSpider,
        settings_dict={
            "SITE_TIMEZONE": "Asia/Ho_Chi_Minh",
            "MAX_LISTING_PAGES": 10,
            "MAX_LINK_DEPTH": 10,
            "MAX_LINKS_PER_PAGE": 10,
            "RECHECK_RECENT": 0,
        },
    )
    crawler.stats = MemoryStatsCollector(crawler)
    spider = HepzaSpider.from_crawler(crawler, base_url=base_url)
    spider.frontier.use_index(state)
    spider.frontier.sitemap_requested(f"{spider.base_url}/sitemap.xml")
    return spider
