"""Deduplication within a run: one record per canonical URL and per content.

The content hash covers what an analyst reads (not crawl times or the URLs it was found under),
so the same article under two URLs is one article with an alias, and an edit shows up as a new
hash. Duplicates across runs are the storage pipeline's job (it asks the database). This
pipeline never writes: the URLs of a duplicate go to the storage writer's alias queue
(``RunContext.writer``), written with the other writes, outage retry included.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import DropItem

from crawler.domain.identity import content_hash
from crawler.domain.items import ArticleItem
from pipelines.base import adapter_of
from pipelines.storage.context import RunContext

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from itemadapter import ItemAdapter
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class DedupePipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        # id -> canonical URL and content hash -> id: enough to name the first record, without
        # keeping whole records (bodies) in memory for the length of a crawl.
        self.by_id: dict[str, str] = {}
        self.by_hash: dict[str, str] = {}
        # the run (its storage writer), when this command records runs
        self.owner = crawler.get_extension(RunContext)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DedupePipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        """The item, or (a coroutine ending with) DropItem for a duplicate."""
        if not isinstance(item, ArticleItem):
            return item
        adapter = adapter_of(item)
        adapter["content_hash"] = content_hash(adapter)
        article_id, digest = adapter["id"], adapter["content_hash"]
        first_id = article_id if article_id in self.by_id else self.by_hash.get(digest)
        if first_id is None:
            self.by_id[article_id] = adapter["url"]
            self.by_hash[digest] = article_id
            return item
        reason = "duplicate_url" if first_id == article_id else "duplicate_content"
        self.stats.inc_value(f"dedupe/{reason}")
        dropped = DropItem(
            f"{reason}: {adapter['url']} is article {first_id} already handled in this run",
            log_level="INFO",
        )
        pending = self._keep_urls(first_id, adapter)
        if pending is None:
            raise dropped
        return _drop_after(pending, dropped)

    def _keep_urls(self, first_id: str, duplicate: ItemAdapter) -> Awaitable[None] | None:
        """The duplicate's URLs, handed to the storage writer as aliases of the first record
        (which may already be written), so no URL met for the article is lost; an awaitable
        when the writer's queue is full and the item must wait for its write."""
        urls = [duplicate["url"], *(duplicate.get("alternate_urls") or [])]
        first_url = self.by_id[first_id]
        writer = self.owner.writer if self.owner is not None else None
        if writer is None:
            logger.warning("no store to record aliases of %s: %s", first_url, urls)
            return None
        return writer.queue_aliases(first_url, urls)


async def _drop_after(pending: Awaitable[None], dropped: DropItem) -> Any:
    await pending
    raise dropped
