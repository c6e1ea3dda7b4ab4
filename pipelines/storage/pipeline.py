"""StoragePipeline: classify each article against the database, store it in batches.

Scrapy 2.19 closes the item pipelines (``close_spider``) BEFORE it sends ``spider_closed``
(``ExecutionEngine.close_spider_async``: scraper, then the signal, then the stats). The run
report extension therefore finishes the run after this pipeline has flushed its last batch:
``close_spider`` only releases the connections and the store stays usable through
``crawler.hepza_store``. Extensions connect to ``spider_closed`` before pipelines exist, so the
handler here runs after theirs and only marks a run that nobody finished.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.exceptions import DropItem, NotConfigured

from crawler.items import EXPORT_FIELDS, ArticleItem, ArticleUrlItem
from pipelines.storage.secrets import install_redaction
from pipelines.storage.store import ArticleStore, StorageError, article_id, content_fingerprint

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 50
# How a spider_closed reason maps to a run outcome when no report extension set one.
SUCCESS_REASONS = frozenset(
    {"finished", "closespider_timeout", "closespider_itemcount", "closespider_pagecount"}
)
INTERRUPT_REASONS = frozenset({"shutdown", "cancelled"})


class StoragePipeline:
    def __init__(self, crawler: Crawler, store: ArticleStore, batch_size: int) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.store = store
        self.batch_size = max(1, batch_size)
        self.run_id = ""
        self._records: list[dict[str, Any]] = []
        # What the open batch holds, so that items of one batch classify against each other.
        self._pending_hash: dict[str, str] = {}
        self._pending_owner: dict[str, str] = {}
        self._alias_urls: list[tuple[str, str]] = []
        self._alias_ids: list[tuple[str, str]] = []
        self._waiting_aliases: list[tuple[str, str]] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        database_url = crawler.settings.get("DATABASE_URL")
        if not database_url:
            raise NotConfigured("DATABASE_URL is empty")
        install_redaction(url=database_url)
        store = ArticleStore.from_settings(crawler.settings)
        crawler.hepza_store = store  # type: ignore[attr-defined]
        pipeline = cls(
            crawler, store, crawler.settings.getint("STORAGE_BATCH_SIZE", DEFAULT_BATCH_SIZE)
        )
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self) -> None:
        assert self.stats is not None
        self.run_id = self.stats.get_value("run/id") or uuid.uuid4().hex
        self.stats.set_value("run/id", self.run_id)
        self.store.start_run(self.run_id, datetime.now(UTC), self._spider_args())

    def _spider_args(self) -> dict[str, Any]:
        spider = self.crawler.spider
        if spider is None:
            return {}
        args: dict[str, Any] = {}
        for name, value in vars(spider).items():
            if name.startswith("_") or name in {"crawler", "settings"}:
                continue
            if value is None or isinstance(value, (str, int, float, bool)):
                args[name] = value
        return args

    def process_item(self, item: Any) -> Any:
        if isinstance(item, ArticleUrlItem):
            self._alias_urls.append((item.canonical_url, item.url))
            self._flush_if_full()
            raise DropItem("alias recorded", log_level="DEBUG")
        if not isinstance(item, ArticleItem):
            return item

        adapter = ItemAdapter(item)
        record = {name: adapter.get(name) for name in EXPORT_FIELDS}
        record_id: str = record["id"] or article_id(str(record["url"]))
        content_hash: str = record["content_hash"] or content_fingerprint(record)
        record["id"], record["content_hash"] = record_id, content_hash
        status, owner = self._classify(record_id, content_hash, record)
        self._inc(status)

        if status == "duplicate_content":
            for url in [record["url"], *(record["alternate_urls"] or [])]:
                self._alias_ids.append((owner, url))
            self._flush_if_full()
            raise DropItem(
                f"duplicate content of article {owner}: {record['url']}", log_level="INFO"
            )

        self._records.append(record)
        self._pending_hash[record_id] = content_hash
        self._pending_owner.setdefault(content_hash, record_id)
        self._flush_if_full()
        if status == "unchanged":
            raise DropItem(f"unchanged since last run: {record['url']}", log_level="DEBUG")
        return item

    def _classify(
        self, record_id: str, content_hash: str, record: dict[str, Any]
    ) -> tuple[str, str]:
        if record_id in self._pending_hash:
            same = self._pending_hash[record_id] == content_hash
            return ("unchanged" if same else "changed"), record_id
        owner = self._pending_owner.get(content_hash)
        if owner is not None and owner != record_id:
            return "duplicate_content", owner
        found = self.store.classify(record)
        return found.status, found.article_id

    def _inc(self, what: str, count: int = 1) -> None:
        if self.stats is not None and count:
            self.stats.inc_value(f"storage/{what}", count)

    def _flush_if_full(self) -> None:
        if len(self._records) + len(self._alias_urls) + len(self._alias_ids) >= self.batch_size:
            self.flush()

    def flush(self, *, final: bool = False) -> None:
        try:
            if self._records:
                self.store.write_batch(self._records, self.run_id)
                self._inc("batches")
                self._records = []
                self._pending_hash.clear()
                self._pending_owner.clear()
            waiting = self._waiting_aliases + self._alias_urls
            if waiting:
                owners = self.store.resolve_article_ids([c for c, _ in waiting])
                self._alias_ids.extend((owners[c], url) for c, url in waiting if c in owners)
                # The spider meets other URLs of an article while its page is still being
                # fetched: those aliases wait until the article is stored, or the crawl ends.
                self._waiting_aliases = [(c, url) for c, url in waiting if c not in owners]
                self._alias_urls = []
            if final and self._waiting_aliases:
                logger.info(
                    "storage: %d aliases dropped, their article was never stored (e.g. %s -> %s)",
                    len(self._waiting_aliases),
                    *reversed(self._waiting_aliases[0]),
                )
                self._inc("aliases_unknown", len(self._waiting_aliases))
                self._waiting_aliases = []
            if self._alias_ids:
                self._inc("aliases", self.store.record_alias_ids(self._alias_ids, self.run_id))
                self._alias_ids = []
        except StorageError:
            # The batch stays queued and is retried at the next flush or at close.
            logger.exception("storage: batch of %d articles not written", len(self._records))
            self._inc("write_errors")

    def close_spider(self) -> None:
        self.flush(final=True)
        self.store.close()

    def spider_closed(self, reason: str) -> None:
        if reason in SUCCESS_REASONS:
            outcome = "succeeded"
        elif reason in INTERRUPT_REASONS:
            outcome = "interrupted"
        else:
            outcome = "failed"
        if self._records or self._alias_urls or self._alias_ids:
            outcome = "failed"
        stats = self.stats.get_stats() if self.stats is not None else {}
        try:
            self.store.finish_run(
                self.run_id,
                datetime.now(UTC),
                outcome,
                stats,
                {"reason": reason},
                only_if_running=True,
            )
        except StorageError:
            logger.exception("storage: run %s not recorded as finished", self.run_id)
        finally:
            self.store.close()
