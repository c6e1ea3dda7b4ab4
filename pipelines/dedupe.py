"""Deduplication within a run: one record per canonical URL and per content.

The content hash covers what an analyst reads (not crawl times or the URLs it was found under),
so the same article under two URLs is one article with an alias, and an edit shows up as a new
hash. Duplicates across runs are the storage pipeline's job (it asks the database).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import DropItem

from crawler.domain.identity import content_hash
from crawler.domain.items import ArticleItem
from crawler.domain.outcome import fail_run
from pipelines.base import adapter_of
from pipelines.storage.context import RunContext
from pipelines.storage.store import StorageError

if TYPE_CHECKING:
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
        # the run's store, when this command records runs
        self.owner = crawler.get_extension(RunContext)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DedupePipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
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
        self._keep_urls(first_id, adapter)
        raise DropItem(
            f"{reason}: {adapter['url']} is article {first_id} already handled in this run",
            log_level="INFO",
        )

    def _keep_urls(self, first_id: str, duplicate: ItemAdapter) -> None:
        # The first record may already be written; its URLs are recorded as aliases so no URL
        # met for the article is lost.
        urls = [duplicate["url"], *(duplicate.get("alternate_urls") or [])]
        first_url = self.by_id[first_id]
        store = self.owner.store if self.owner is not None else None
        if store is not None and self.owner is not None:
            run_id = self.owner.run_id
            try:
                store.record_aliases([(first_url, u) for u in urls if u != first_url], run_id)
            except StorageError as exc:
                fail_run(
                    self.crawler,
                    "storage_aliases_lost",
                    f"article URLs not stored in the database: {exc}",
                    len(urls),
                )
        else:
            logger.warning("no store to record aliases of %s: %s", first_url, urls)
