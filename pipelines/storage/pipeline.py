"""StoragePipeline: classify each article against the database, store it in batches.

Each site's stored ids and content hashes are read once (``ContentIndex``); articles are
classified against that index and the articles queued since, not with a query each.

The store and the run id are the run owner's (``crawler.extensions.run.RunOwner``, reached
through ``crawler.get_extension``): it opens the store, starts and finishes the run and closes
the store. Scrapy 2.19 closes the item pipelines (``close_spider``) BEFORE it sends
``spider_closed``, so this pipeline flushes its last batch before the owner judges the run.

Nothing is counted as stored before its batch is committed: ``storage/new``, ``storage/changed``
and ``storage/unchanged`` grow at commit time. A batch that cannot be written stays queued and
is tried again at the next flush; whatever is still unwritten when the crawl closes is counted
in ``storage/lost`` and fails the run (``crawler.outcome.fail_run``), as does an article that
could not even be classified because the database did not answer.

Every article that reaches this pipeline goes on to the feed with its ``change``
(``new``, ``changed`` or ``unchanged``); the same content under another URL of the same site is
stored as an alias of the first article and leaves the feed. An article without its ``site``
is not stored: it is counted in ``storage/lost`` and fails the run, it never gets a guessed one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Self

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem, NotConfigured

from crawler.extensions.run import RunOwner, records_runs
from crawler.identity import article_id, content_hash
from crawler.items import CHANGES, EXPORT_FIELDS, ArticleItem, ArticleUrlItem
from crawler.outcome import fail_run
from pipelines.storage.store import StorageError

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from pipelines.storage.content_index import ContentIndex
    from pipelines.storage.store import ArticleStore

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 50


class StoragePipeline:
    def __init__(self, crawler: Crawler, owner: RunOwner, batch_size: int) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.owner = owner
        self.batch_size = max(1, batch_size)
        self._records: list[dict[str, Any]] = []
        # the change of each queued record, counted once its batch is committed
        self._changes: list[str] = []
        # site -> its stored articles and those accepted since, read once: one query per
        # site and run instead of one per article
        self._indexes: dict[str, ContentIndex] = {}
        self._alias_urls: list[tuple[str, str]] = []
        self._alias_ids: list[tuple[str, str]] = []
        self._waiting_aliases: list[tuple[str, str]] = []
        self._last_error = ""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not records_runs(crawler):
            # parse, shell and check never touch the database
            raise NotConfigured("RECORD_RUN is off: this command stores nothing")
        owner = crawler.get_extension(RunOwner)
        if owner is None:
            # Storing without the owner would leave no run row and no judged outcome.
            raise RuntimeError(
                "the storage pipeline needs the run owner extension "
                "(EXTENSIONS: crawler.extensions.run.RunOwner)"
            )
        if owner.store is None:
            raise NotConfigured("DATABASE_URL is empty")
        return cls(
            crawler, owner, crawler.settings.getint("STORAGE_BATCH_SIZE", DEFAULT_BATCH_SIZE)
        )

    @property
    def store(self) -> ArticleStore:
        assert self.owner.store is not None  # checked in from_crawler
        return self.owner.store

    @property
    def run_id(self) -> str:
        return self.owner.run_id

    def process_item(self, item: Any) -> Any:
        if isinstance(item, ArticleUrlItem):
            self._alias_urls.append((item.canonical_url, item.url))
            self._flush_if_full()
            raise DropItem("alias recorded", log_level="DEBUG")
        if not isinstance(item, ArticleItem):
            return item

        adapter = ItemAdapter(item)
        record = {name: adapter.get(name) for name in EXPORT_FIELDS}
        if not record["site"]:
            self._inc("lost")
            fail_run(
                self.crawler,
                "storage_no_site",
                f"articles without a site not stored (the spider must set it): {record['url']}",
            )
            raise DropItem(f"not stored, the record has no site: {record['url']}")
        record_id: str = record["id"] or article_id(str(record["url"]))
        digest: str = record["content_hash"] or content_hash(record)
        record["id"], record["content_hash"] = record_id, digest
        try:
            index = self._index(record["site"])
        except StorageError as exc:
            self._lose(1, str(exc))
            raise DropItem(f"not stored, the database did not answer: {record['url']}") from None
        found = index.classify(record_id, digest)
        status, owner = found.status, found.article_id

        if status == "duplicate_content":
            self._inc("duplicate_content")
            for url in [record["url"], *(record["alternate_urls"] or [])]:
                self._alias_ids.append((owner, url))
            self._flush_if_full()
            raise DropItem(
                f"duplicate content of article {owner}: {record['url']}", log_level="INFO"
            )

        self._records.append(record)
        self._changes.append(status)
        index.accept(record_id, digest)
        adapter["change"] = status
        self._flush_if_full()
        return item

    def _index(self, site: str) -> ContentIndex:
        index = self._indexes.get(site)
        if index is None:
            index = self._indexes[site] = self.store.content_index(site)
        return index

    def _inc(self, what: str, count: int = 1) -> None:
        if self.stats is not None and count:
            self.stats.inc_value(f"storage/{what}", count)

    def _lose(self, count: int, error: str) -> None:
        """``count`` articles will not reach the database: the run must say so."""
        self._inc("lost", count)
        fail_run(
            self.crawler,
            "storage_lost",
            f"articles parsed but not stored in the database: {error}",
            count,
        )

    def _flush_if_full(self) -> None:
        if len(self._records) + len(self._alias_urls) + len(self._alias_ids) >= self.batch_size:
            self.flush()

    def flush(self, *, final: bool = False) -> None:
        try:
            if self._records:
                self.store.write_batch(self._records, self.run_id)
                self._inc("batches")
                for change in CHANGES:
                    self._inc(change, self._changes.count(change))
                self._records, self._changes = [], []
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
        except StorageError as exc:
            # The batch stays queued and is tried again at the next flush or at close.
            self._inc("write_errors")
            if str(exc) != self._last_error:
                logger.error(
                    "storage: batch of %d articles not written (kept for the next try): %s",
                    len(self._records),
                    exc,
                )
                self._last_error = str(exc)
            if final:
                self._lose_queue(str(exc))

    def _lose_queue(self, error: str) -> None:
        if self._records:
            self._lose(len(self._records), error)
        unwritten_aliases = len(self._alias_urls) + len(self._alias_ids)
        if unwritten_aliases:
            self._inc("aliases_lost", unwritten_aliases)
            fail_run(
                self.crawler,
                "storage_aliases_lost",
                f"{unwritten_aliases} article URLs not stored in the database: {error}",
            )
        self._records, self._changes = [], []
        self._alias_urls, self._alias_ids = [], []

    def close_spider(self) -> None:
        # The store stays open: the run owner records the run and closes it.
        self.flush(final=True)
