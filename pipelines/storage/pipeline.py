"""StoragePipeline: classify each article against the database, hand it to the one writer.

The pipeline turns items into records and decides what becomes of each; its
:class:`~pipelines.storage.writer.StoreWriter` (it owns it) does every read and write of the
database, off the reactor thread, with the batches, the alias queue, the classification and
the outage retry (see pipelines/storage/writer.py). The dedupe pipeline reaches the same writer
through the run's context (``RunContext.writer``) to hand it the URLs of the duplicates it drops.

The store and the run id are the run context's (a ``RunContext``, pipelines/storage/context.py,
reached through ``crawler.get_extension``): it opens the store, records the run and closes the
store. Scrapy 2.19 closes the item pipelines (``close_spider``) BEFORE it sends
``spider_closed``, so this pipeline writes its last batch before the run is judged.

``process_item`` returns the item at once when the database is not needed, else a coroutine
that ends with it: the first article of a site waits for the site's index, the item that fills
a batch waits for its commit, and while the database is unreachable they wait for it.

Every article that reaches this pipeline goes on to the feed with its ``change``
(``new``, ``changed`` or ``unchanged``); the same content under another URL of the same site is
stored as an alias of the first article and leaves the feed. An article without its ``site``
is not stored: it is counted in ``storage/lost`` and fails the run, it never gets a guessed one;
an article that could not be classified because the database did not answer is lost the same
way.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, NoReturn, Self, TypeVar

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem, NotConfigured

from crawler.domain.identity import identify
from crawler.domain.items import EXPORT_FIELDS, ArticleItem, ArticleUrlItem
from crawler.domain.outcome import fail_run
from pipelines.storage.context import RunContext, records_runs
from pipelines.storage.store import StorageError
from pipelines.storage.writer import DEFAULT_BATCH_SIZE, DEFAULT_RETRY_SECONDS, StoreWriter

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

    from scrapy.crawler import Crawler

    from pipelines.storage.content_index import Classification
    from pipelines.storage.store import ArticleStore

T = TypeVar("T")


class StoragePipeline:
    def __init__(
        self,
        crawler: Crawler,
        owner: RunContext,
        batch_size: int,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
    ) -> None:
        assert owner.store is not None  # checked in from_crawler
        self.crawler = crawler
        self.stats = crawler.stats
        self.owner = owner
        self.writer = StoreWriter(
            crawler,
            owner.store,
            owner.run_id,
            batch_size=batch_size,
            retry_seconds=retry_seconds,
        )
        # The dedupe pipeline hands this writer the URLs of the duplicates it drops.
        owner.writer = self.writer

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
        return self.writer.store

    @property
    def run_id(self) -> str:
        return self.writer.run_id

    def process_item(self, item: Any) -> Any:
        """The item, or a coroutine that ends with it once the database answered."""
        if isinstance(item, ArticleUrlItem):
            return _then(
                self.writer.queue_aliases(item.canonical_url, [item.url]),
                _raise(DropItem("alias recorded", log_level="DEBUG")),
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
        record["id"], record["content_hash"] = identify(record)
        found = self.writer.classify(record)
        if found is None:
            return self._classify_later(item, record)
        return self._store(item, record, found)

    async def _classify_later(self, item: Any, record: dict[str, Any]) -> Any:
        try:
            await self.writer.read_index(record["site"])
            found = self.writer.classify(record)
            if found is None:
                # a large site: what the record needs of it is looked up
                await self.writer.look_up(record)
                found = self.writer.classify(record)
        except StorageError as exc:
            self._not_classified(record, exc)
        assert found is not None  # the index was just read, the record looked up
        result = self._store(item, record, found)
        return (await result) if inspect.isawaitable(result) else result

    def _not_classified(self, record: dict[str, Any], exc: StorageError) -> NoReturn:
        self.writer.lose(1, str(exc))
        raise DropItem(f"not stored, the database did not answer: {record['url']}") from None

    def _store(self, item: Any, record: dict[str, Any], found: Classification) -> Any:
        status, owner = found.status, found.article_id
        if status == "duplicate_content":
            self._inc("duplicate_content")
            urls = [record["url"], *(record["alternate_urls"] or [])]
            duplicate = DropItem(
                f"duplicate content of article {owner}: {record['url']}", log_level="INFO"
            )
            return _then(self.writer.queue_alias_ids(owner, urls), _raise(duplicate))
        ItemAdapter(item)["change"] = status
        return _then(self.writer.queue_article(record, status), lambda: item)

    def _inc(self, what: str, count: int = 1) -> None:
        if self.stats is not None and count:
            self.stats.inc_value(f"storage/{what}", count)

    def close_spider(self) -> Awaitable[None] | None:
        # The store stays open: the run context records the run and closes it.
        return self.writer.close()


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
