"""What the pipelines need of the run they store into, and the store's lifetime.

The crawl's run owner (``crawler.extensions.run.RunOwner``) is a :class:`RunContext`; the
pipelines reach it as ``crawler.get_extension(RunContext)`` (Scrapy finds an extension by its
class or a subclass), so the storage layer never imports the crawl above it.

The store is a data-access object whose lifetime is the crawler's: opened once, when the
context is made (the extensions are built before the engine starts), and closed once, at
``engine_stopped``: after the run was recorded (``spider_closed``) and after the readers that
come later (the alerts, registered with :meth:`RunContext.after_run`) are done. Nothing closes
it in between.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from pipelines.storage.secrets import install_redaction
from pipelines.storage.store import ArticleStore

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from scrapy.crawler import Crawler

    from pipelines.storage.writer import StoreWriter

logger = logging.getLogger(__name__)


def open_store(crawler: Crawler) -> ArticleStore | None:
    """The run's store, its schema migrated; None when DATABASE_URL is empty."""
    database_url = crawler.settings.get("DATABASE_URL")
    if not database_url:
        return None
    install_redaction(url=database_url)
    return ArticleStore.from_settings(crawler.settings)


class RunContext:
    def __init__(self, store: ArticleStore | None) -> None:
        self.store = store
        self.run_id = uuid.uuid4().hex
        self.site: str | None = None
        # The one writer of articles and aliases: the storage pipeline's, once it is built.
        self.writer: StoreWriter | None = None
        self._after_run: list[Callable[[], Awaitable[None]]] = []
        self._store_closed = False

    def after_run(self, task: Callable[[], Awaitable[None]]) -> None:
        """``task`` reads the store after the run is recorded: it runs at ``engine_stopped``,
        in the order given, and the store is closed after the last."""
        self._after_run.append(task)

    async def engine_stopped(self) -> None:
        """Connect to ``engine_stopped``: the tasks after the run, then the store closed.
        (Scrapy runs one signal's handlers side by side: the tasks are run here, not as
        handlers of their own, so that the store outlives them.)"""
        try:
            for task in self._after_run:
                try:
                    await task()
                except Exception:
                    logger.exception("run %s: %r failed after the run", self.run_id, task)
        finally:
            self.close_store()

    def close_store(self) -> None:
        """Close the store, once."""
        if self.store is not None and not self._store_closed:
            self._store_closed = True
            self.store.close()


def records_runs(crawler: Crawler) -> bool:
    """Whether this process records a run (``scrapy crawl`` does; ``parse``, ``shell`` and
    ``check`` do not): the ``RECORD_RUN`` setting, which the crawl command turns on."""
    return crawler.settings.getbool("RECORD_RUN", False)
