"""StoreWriter: the one object that writes a crawl's articles and aliases to the database.

The storage pipeline owns it; the dedupe pipeline hands it the URLs of the duplicates it drops
(``queue_aliases``), through the run's context (``RunContext.writer``). Nothing else writes
articles or aliases during a crawl, so there is one queue of articles (the open batch), one
queue of aliases, one classification (a :class:`ContentIndex` per site) and one outage retry
that every write goes through.

Every database call runs on the writer's own thread, one at a time in the order asked (a lock
on the reactor's side, one worker thread on the other): the reactor keeps crawling while a
batch is committed, and two batches never race. An item waits for the database only when it
must: the first article of a site waits for that site's index, the item that fills the batch
waits for its commit (so a slow database slows the crawl down instead of piling up items).

Nothing is counted as stored before its batch is committed: ``storage/new``,
``storage/changed`` and ``storage/unchanged`` grow at commit time. A batch that cannot be
written stays queued and is tried again at the next flush; whatever is still unwritten when the
crawl closes is counted in ``storage/lost`` (articles) or ``storage/aliases_lost`` (URLs) and
fails the run (``crawler.domain.outcome.fail_run``).

A database that cannot be reached (refused, restarting, shut down: ``StorageError.unreachable``)
is waited for: the call is tried again with exponential backoff, for at most
STORAGE_RETRY_SECONDS of one outage (0: never), without blocking the reactor. ``storage/retries``
and ``storage/retry_seconds`` count the waits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from crawler.domain.items import CHANGES
from crawler.domain.outcome import fail_run
from pipelines.storage.content_index import LookedUpContents
from pipelines.storage.store import StorageError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from scrapy.crawler import Crawler

    from pipelines.storage.content_index import Classification, ContentIndex
    from pipelines.storage.store import ArticleStore

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 50
DEFAULT_RETRY_SECONDS = 120.0
# A site with more stored articles is not read whole to classify (50 bytes an article held,
# twice that while read): what a record needs of it is looked up as it comes
# (LookedUpContents).
FULL_INDEX_UP_TO = 100_000
# The first wait after a failed attempt, doubled after each failure up to the cap.
RETRY_FIRST_DELAY = 0.5
RETRY_MAX_DELAY = 10.0

T = TypeVar("T")


class StoreWriter:
    def __init__(
        self,
        crawler: Crawler,
        store: ArticleStore,
        run_id: str,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        full_index_up_to: int = FULL_INDEX_UP_TO,
    ) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.store = store
        self.run_id = run_id
        self.batch_size = max(1, batch_size)
        self.retry_seconds = max(0.0, retry_seconds)
        self.full_index_up_to = max(0, full_index_up_to)
        # One thread: the database sees the writer's calls in the order they were made.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        # Held for a whole flush (or index read), its retries included: the next one sees the
        # queue as this one left it.
        self._turn = asyncio.Lock()
        # time.monotonic() of the first failure of the current outage, None while reachable
        self._outage_started: float | None = None
        self._last_error = ""
        # site -> its stored articles and those accepted since, read once: one query per
        # site and run instead of one per article; for a large site, what was looked up of it
        self._indexes: dict[str, ContentIndex | LookedUpContents] = {}
        # site -> the (id, content hash) of records waiting for a look-up (look_up)
        self._wanted: dict[str, dict[str, str]] = {}
        # the open batch, and the change of each of its records (counted once committed)
        self._records: list[dict[str, Any]] = []
        self._changes: list[str] = []
        # The one alias queue: (article's canonical URL, url) pairs met since the last flush;
        # pairs whose article is not stored yet (its page is still being fetched, or its
        # record waits in the batch), tried again at each flush until the crawl ends; and
        # (article id, url) pairs, ready to write.
        self._alias_urls: list[tuple[str, str]] = []
        self._waiting_aliases: list[tuple[str, str]] = []
        self._alias_ids: list[tuple[str, str]] = []
        # Items queued so far, and of those how many a completed write took: a caller waiting
        # for what it queued (:meth:`when_written`) is called once the second reaches the first
        # as it was when it asked.
        self._queued_total = 0
        self._written_total = 0
        self._waiting: list[tuple[int, Callable[[], None]]] = []

    # --- classification ---------------------------------------------------------------------

    def classify(self, record: dict[str, Any]) -> Classification | None:
        """How the record compares with its site's stored articles and those queued since;
        None while the site's index is not read yet (:meth:`read_index`) or, for a large site,
        what the record needs of it is not looked up yet (:meth:`look_up`)."""
        index = self._indexes.get(record["site"])
        if index is None:
            return None
        return index.classify(record["id"], record["content_hash"])

    async def read_index(self, site: str) -> None:
        """Read ``site``'s stored ids and content hashes (once per run); raises StorageError
        when the database did not answer within the outage bound."""
        async with self._turn:
            if site not in self._indexes:
                self._indexes[site] = await self._call(lambda: self._read_index(site))
                # Once per site and run, the whole site's marks are recounted: a threshold
                # changed since, or a database that held articles before the marks.
                remarked = await self._call(lambda: self.store.mark_publication_quality(site))
                self._inc("published_at_quality_remarked", remarked)

    def _read_index(self, site: str) -> ContentIndex | LookedUpContents:
        if self.store.holds_more_than(site, self.full_index_up_to):
            return LookedUpContents()
        return self.store.content_index(site)

    async def look_up(self, record: dict[str, Any]) -> None:
        """Look up what :meth:`classify` needs of the record's stored site (read_index first):
        with the records waiting meanwhile, in one round trip."""
        site = record["site"]
        self._wanted.setdefault(site, {})[record["id"]] = record["content_hash"]
        async with self._turn:
            index = self._indexes.get(site)
            wanted = self._wanted.pop(site, {})
            if not isinstance(index, LookedUpContents) or not wanted:
                return
            ids: list[str] = []
            hashes: set[str] = set()
            for record_id, digest in wanted.items():
                need_row, need_holders = index.wanted(record_id, digest)
                if need_row:
                    ids.append(record_id)
                if need_holders:
                    hashes.add(digest)
            if not ids and not hashes:
                return
            asked = sorted(hashes)
            stored, holders = await self._call(lambda: self.store.stored_contents(site, ids, asked))
            index.learn(stored, ids, holders, asked)

    # --- the queues ---------------------------------------------------------------------------

    def queue_article(self, record: dict[str, Any], change: str) -> Awaitable[None] | None:
        """Queue a classified record (not a duplicate) for the next batch; an awaitable when
        the batch is full and this item must wait for its commit."""
        self._records.append(record)
        self._changes.append(change)
        self._queued_total += 1
        self._indexes[record["site"]].accept(record["id"], record["content_hash"])
        return self._flush_if_full()

    def queue_aliases(self, canonical_url: str, urls: Iterable[str]) -> Awaitable[None] | None:
        """Record ``urls`` as other addresses of the article whose canonical URL is given,
        once that article is stored (it may still be on its way)."""
        before = len(self._alias_urls)
        self._alias_urls.extend(
            (canonical_url, url) for url in urls if url and url != canonical_url
        )
        self._queued_total += len(self._alias_urls) - before
        return self._flush_if_full()

    def queue_alias_ids(self, article_id: str, urls: Iterable[str]) -> Awaitable[None] | None:
        """Record ``urls`` as other addresses of the article with this id (stored, or queued
        before them)."""
        before = len(self._alias_ids)
        self._alias_ids.extend((article_id, url) for url in urls if url)
        self._queued_total += len(self._alias_ids) - before
        return self._flush_if_full()

    def _queued(self) -> int:
        return len(self._records) + len(self._alias_urls) + len(self._alias_ids)

    def when_written(self, callback: Callable[[], None]) -> None:
        """``callback()`` once everything queued so far is written (committed, or for an alias
        whose article is not stored yet, set aside to wait for it): at once when nothing is
        queued. A cluster worker acknowledges a request's lease there (crawler/cluster)."""
        if self._written_total >= self._queued_total:
            callback()
            return
        self._waiting.append((self._queued_total, callback))

    @property
    def waiting(self) -> int:
        """Callers of :meth:`when_written` still waiting."""
        return len(self._waiting)

    async def flush_waiting(self) -> None:
        """Write what is queued now if a caller waits for it, full batch or not."""
        if self._waiting:
            await self.flush(final=False, force=True)

    def _written(self, total: int) -> None:
        self._written_total = max(self._written_total, total)
        ready = [callback for seq, callback in self._waiting if seq <= self._written_total]
        self._waiting = [(seq, cb) for seq, cb in self._waiting if seq > self._written_total]
        for callback in ready:
            try:
                callback()
            except Exception:
                logger.exception("storage: a caller waiting for its items to be written failed")

    def _flush_if_full(self) -> Awaitable[None] | None:
        return self.flush() if self._queued() >= self.batch_size else None

    async def flush(self, *, final: bool = False, force: bool = False) -> None:
        """Write what is queued (unless a flush before this one already did, for a flush that
        is not the last; ``force``: whatever is queued, full batch or not)."""
        async with self._turn:
            if not final and not self._queued():
                # Nothing is left to write: what was queued while the last write ran went
                # with it (its aliases are taken after its records are written).
                self._written(self._queued_total)
                return
            if not final and self._queued() < (1 if force else self.batch_size):
                return
            # What this write takes: everything queued before it starts, and perhaps more.
            total = self._queued_total
            try:
                await self._write_queued(final=final)
            except StorageError as exc:
                self._write_failed(exc, final=final)
            else:
                # Emptied: whatever came in while it ran is written too; else what came in
                # waits for the next flush (a caller waiting for it asks for one).
                self._written(self._queued_total if not self._queued() else total)

    def close(self) -> Awaitable[None] | None:
        """The last flush, then the writer's thread ends; None when nothing was left."""
        if not (self._queued() or self._waiting_aliases):
            self._thread.shutdown(wait=False)
            return None
        return self._close()

    async def _close(self) -> None:
        try:
            await self.flush(final=True)
        finally:
            self._thread.shutdown(wait=False)

    async def _write_queued(self, *, final: bool) -> None:
        # The queues may grow while a call runs on the writer's thread: each call gets a copy
        # and only what it wrote leaves the queue.
        if self._records:
            records = list(self._records)
            changed_fields = await self._call(lambda: self.store.write_batch(records, self.run_id))
            # What each new version changed, per field: what a reparse reports.
            for fields in changed_fields.values():
                for name in fields:
                    self._inc(f"changed_fields/{name}")
            written = len(records)
            changes = self._changes[:written]
            del self._records[:written], self._changes[:written]
            self._inc("batches")
            for change in CHANGES:
                self._inc(change, changes.count(change))
        fresh = len(self._alias_urls)
        pending = self._waiting_aliases + self._alias_urls[:fresh]
        if pending:
            canonical = [c for c, _ in pending]
            owners = await self._call(lambda: self.store.resolve_article_ids(canonical))
            self._alias_ids.extend((owners[c], url) for c, url in pending if c in owners)
            # The spider meets other URLs of an article while its page is still being
            # fetched: those aliases wait until the article is stored, or the crawl ends.
            self._waiting_aliases = [(c, url) for c, url in pending if c not in owners]
            del self._alias_urls[:fresh]
        if final and self._waiting_aliases:
            logger.info(
                "storage: %d aliases dropped, their article was never stored (e.g. %s -> %s)",
                len(self._waiting_aliases),
                *reversed(self._waiting_aliases[0]),
            )
            self._inc("aliases_unknown", len(self._waiting_aliases))
            self._waiting_aliases = []
        if self._alias_ids:
            pairs = list(self._alias_ids)
            count = await self._call(lambda: self.store.record_alias_ids(pairs, self.run_id))
            del self._alias_ids[: len(pairs)]
            self._inc("aliases", count)

    def _write_failed(self, exc: StorageError, *, final: bool) -> None:
        # What is unwritten stays queued and is tried again at the next flush or at close.
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
            self.lose(len(self._records), error)
        unwritten = len(self._alias_urls) + len(self._waiting_aliases) + len(self._alias_ids)
        if unwritten:
            self._inc("aliases_lost", unwritten)
            fail_run(
                self.crawler,
                "storage_aliases_lost",
                f"article URLs not stored in the database: {error}",
                unwritten,
            )
        self._records, self._changes = [], []
        self._alias_urls, self._waiting_aliases, self._alias_ids = [], [], []

    def lose(self, count: int, error: str) -> None:
        """``count`` articles will not reach the database: the run must say so."""
        self._inc("lost", count)
        fail_run(
            self.crawler,
            "storage_lost",
            f"articles parsed but not stored in the database: {error}",
            count,
        )

    def _inc(self, what: str, count: int = 1) -> None:
        if self.stats is not None and count:
            self.stats.inc_value(f"storage/{what}", count)

    # --- every call: on the writer's thread, an unreachable database waited for ---------------

    async def _call(self, action: Callable[[], T]) -> T:
        """``action()`` on the writer's thread (the caller holds the turn); tried again with
        backoff while the database is unreachable, for at most STORAGE_RETRY_SECONDS since
        the outage began; then its last error is raised."""
        loop = asyncio.get_running_loop()
        delay = RETRY_FIRST_DELAY
        while True:
            try:
                result = await loop.run_in_executor(self._thread, action)
            except StorageError as exc:
                if not self._may_retry(exc):
                    raise
                wait = min(delay, self._outage_left())
                self._inc("retries")
                await asyncio.sleep(wait)
                if self.stats is not None:
                    waited = float(self.stats.get_value("storage/retry_seconds", 0.0))
                    self.stats.set_value("storage/retry_seconds", round(waited + wait, 3))
                delay = min(delay * 2, RETRY_MAX_DELAY)
                continue
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
