"""StoragePipeline: classify each article against the database, store it in batches.

Each site's stored ids and content hashes are read once (``ContentIndex``); articles are
classified against that index and the articles queued since, not with a query each.

The store and the run id are the run owner's (a ``RunContext``, pipelines/storage/context.py,
reached through ``crawler.get_extension``): it opens the store, starts and finishes the run and
closes the store. Scrapy 2.19 closes the item pipelines (``close_spider``) BEFORE it sends
``spider_closed``, so this pipeline flushes its last batch before the owner judges the run.

Nothing is counted as stored before its batch is committed: ``storage/new``, ``storage/changed``
and ``storage/unchanged`` grow at commit time. A batch that cannot be written stays queued and
is tried again at the next flush; whatever is still unwritten when the crawl closes is counted
in ``storage/lost`` and fails the run (``crawler.domain.outcome.fail_run``), as does an article that
could not even be classified because the database did not answer.

A database that cannot be reached (refused, restarting, shut down: ``StorageError.unreachable``)
is waited for: the write or the read is tried again with exponential backoff, for at most
STORAGE_RETRY_SECONDS of one outage (0: never), without blocking the reactor. Meanwhile the
items that need the database wait (``process_item`` returns a coroutine), so the crawl slows
down instead of dropping them; ``storage/retries`` and ``storage/retry_seconds`` count the
waits. Past the bound, the behaviour above: kept, then lost at close, and a failed run.

Every article that reaches this pipeline goes on to the feed with its ``change``
(``new``, ``changed`` or ``unchanged``); the same content under another URL of the same site is
stored as an alias of the first article and leaves the feed. An article without its ``site``
is not stored: it is counted in ``storage/lost`` and fails the run, it never gets a guessed one.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import TYPE_CHECKING, Any, NoReturn, Self, TypeVar

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem, NotConfigured

from crawler.domain.identity import article_id, content_hash
from crawler.domain.items import CHANGES, EXPORT_FIELDS, ArticleItem, ArticleUrlItem
from crawler.domain.outcome import fail_run
from pipelines.storage.context import RunContext, records_runs
from pipelines.storage.store import StorageError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

    from scrapy.crawler import Crawler

    from pipelines.storage.content_index import ContentIndex
    from pipelines.storage.store import ArticleStore

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 50
DEFAULT_RETRY_SECONDS = 120.0
# The first wait after a failed attempt, doubled after each failure up to the cap.
RETRY_FIRST_DELAY = 0.5
RETRY_MAX_DELAY = 10.0

T = TypeVar("T")


class StoragePipeline:
    def __init__(
        self,
        crawler: Crawler,
        owner: RunContext,
        batch_size: int,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
    ) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.owner = owner
        self.batch_size = max(1, batch_size)
        self.retry_seconds = max(0.0, retry_seconds)
        # held while a write or read backs off: every other database access waits for it
        self._retry_lock = asyncio.Lock()
        # time.monotonic() of the first failure of the current outage, None while reachable
        self._outage_started: float | None = None
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
            # parse, shell and check never touch the database (no reason: Scrapy would log it
            # as a WARNING)
            raise NotConfigured
        owner = crawler.get_extension(RunContext)
        if owner is None:
            # Storing without the owner would leave no run row and no judged outcome.
            raise RuntimeError(
                "the storage pipeline needs the run owner extension "
                "(EXTENSIONS: crawler.extensions.run.RunOwner)"
            )
        if owner.store is None:
            raise NotConfigured  # DATABASE_URL is empty: storing is off
        return cls(
            crawler,
            owner,
            crawler.settings.getint("STORAGE_BATCH_SIZE", DEFAULT_BATCH_SIZE),
            crawler.settings.getfloat("STORAGE_RETRY_SECONDS", DEFAULT_RETRY_SECONDS),
        )

    @property
    def store(self) -> ArticleStore:
        assert self.owner.store is not None  # checked in from_crawler
        return self.owner.store

    @property
    def run_id(self) -> str:
        return self.owner.run_id

    def process_item(self, item: Any) -> Any:
        """The item, or a coroutine that ends with it once the database answers again."""
        if isinstance(item, ArticleUrlItem):
            self._alias_urls.append((item.canonical_url, item.url))
            return _then(
                self._flush_if_full(), _raise(DropItem("alias recorded", log_level="DEBUG"))
            )
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
        site = record["site"]
        try:
            index = self._indexes.get(site) or self._attempt(lambda: self._index(site))
        except StorageError as exc:
            if self._may_retry(exc):
                return self._classify_later(item, record, exc)
            self._not_classified(record, exc)
        return self._classify(item, record, index)

    async def _classify_later(self, item: Any, record: dict[str, Any], error: StorageError) -> Any:
        try:
            index = await self._retry(lambda: self._index(record["site"]), error)
        except StorageError as exc:
            self._not_classified(record, exc)
        result = self._classify(item, record, index)
        return (await result) if inspect.isawaitable(result) else result

    def _not_classified(self, record: dict[str, Any], exc: StorageError) -> NoReturn:
        self._lose(1, str(exc))
        raise DropItem(f"not stored, the database did not answer: {record['url']}") from None

    def _classify(self, item: Any, record: dict[str, Any], index: ContentIndex) -> Any:
        adapter = ItemAdapter(item)
        record_id, digest = record["id"], record["content_hash"]
        found = index.classify(record_id, digest)
        status, owner = found.status, found.article_id

        if status == "duplicate_content":
            self._inc("duplicate_content")
            for url in [record["url"], *(record["alternate_urls"] or [])]:
                self._alias_ids.append((owner, url))
            duplicate = DropItem(
                f"duplicate content of article {owner}: {record['url']}", log_level="INFO"
            )
            return _then(self._flush_if_full(), _raise(duplicate))

        self._records.append(record)
        self._changes.append(status)
        index.accept(record_id, digest)
        adapter["change"] = status
        return _then(self._flush_if_full(), lambda: item)

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

    def _full(self) -> bool:
        return len(self._records) + len(self._alias_urls) + len(self._alias_ids) >= self.batch_size

    def _flush_if_full(self) -> Awaitable[None] | None:
        return self.flush() if self._full() else None

    def flush(self, *, final: bool = False) -> Awaitable[None] | None:
        """Writes the queue; a coroutine to await when the database must be waited for."""
        if self._retry_lock.locked():
            return self._flush_after_outage(final=final)
        try:
            self._attempt(lambda: self._write_queue(final=final))
        except StorageError as exc:
            if self._may_retry(exc):
                return self._flush_later(exc, final=final)
            self._write_failed(exc, final=final)
        return None

    async def _flush_after_outage(self, *, final: bool) -> None:
        async with self._retry_lock:
            pass
        # The writer that waited wrote what was queued by then, this item's records with it.
        if final or self._full():
            pending = self.flush(final=final)
            if pending is not None:
                await pending

    async def _flush_later(self, error: StorageError, *, final: bool) -> None:
        try:
            await self._retry(lambda: self._write_queue(final=final), error)
        except StorageError as exc:
            self._write_failed(exc, final=final)

    def _write_queue(self, *, final: bool) -> None:
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

    def _write_failed(self, exc: StorageError, *, final: bool) -> None:
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

    # --- an unreachable database is waited for ----------------------------------------------

    def _attempt(self, action: Callable[[], T]) -> T:
        """``action()``; a success ends the current outage, if any."""
        result = action()
        if self._outage_started is not None:
            logger.warning(
                "storage: the database answers again after %.1f s",
                time.monotonic() - self._outage_started,
            )
            self._outage_started = None
        return result

    def _outage_left(self) -> float:
        """Seconds the current outage may still be waited for."""
        if self._outage_started is None:
            return self.retry_seconds
        return self.retry_seconds - (time.monotonic() - self._outage_started)

    def _may_retry(self, exc: StorageError) -> bool:
        if not exc.unreachable or self.retry_seconds <= 0:
            return False
        if self._outage_started is None:
            self._outage_started = time.monotonic()
            logger.warning(
                "storage: the database is unreachable, its writes wait up to %.0f s for it: %s",
                self.retry_seconds,
                exc,
            )
        return self._outage_left() > 0

    async def _retry(self, action: Callable[[], T], error: StorageError) -> T:
        """``action()`` tried again with backoff while the database is unreachable, for at most
        STORAGE_RETRY_SECONDS since the outage began; then its last error is raised."""
        async with self._retry_lock:
            if self._outage_started is None:
                # The writer this one waited for saw the database answer again.
                try:
                    return self._attempt(action)
                except StorageError as exc:
                    if not self._may_retry(exc):
                        raise
                    error = exc
            delay = RETRY_FIRST_DELAY
            while True:
                left = self._outage_left()
                if not error.unreachable or left <= 0:
                    raise error
                wait = min(delay, left)
                self._inc("retries")
                await asyncio.sleep(wait)
                if self.stats is not None:
                    waited = float(self.stats.get_value("storage/retry_seconds", 0.0))
                    self.stats.set_value("storage/retry_seconds", round(waited + wait, 3))
                delay = min(delay * 2, RETRY_MAX_DELAY)
                try:
                    return self._attempt(action)
                except StorageError as exc:
                    error = exc

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

    def close_spider(self) -> Awaitable[None] | None:
        # The store stays open: the run owner records the run and closes it.
        return self.flush(final=True)


def _raise(exc: Exception) -> Callable[[], Any]:
    def raising() -> Any:
        raise exc

    return raising


def _then(pending: Awaitable[None] | None, result: Callable[[], T]) -> T | Coroutine[Any, Any, T]:
    """``result()`` now, or once ``pending`` is done."""
    if pending is None:
        return result()

    async def later() -> T:
        await pending
        return result()

    return later()
