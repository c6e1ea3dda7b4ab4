"""What the pipelines need of the run they store into: its store, its id and its site.

The crawl's run owner (``crawler.extensions.run.RunOwner``) is a :class:`RunContext`; the
pipelines reach it as ``crawler.get_extension(RunContext)`` (Scrapy finds an extension by its
class or a subclass), so the storage layer never imports the crawl above it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from pipelines.storage.store import ArticleStore


class RunContext:
    store: ArticleStore | None
    run_id: str
    site: str | None


def records_runs(crawler: Crawler) -> bool:
    """Whether this process records a run (``scrapy crawl`` does; ``parse``, ``shell`` and
    ``check`` do not): the ``RECORD_RUN`` setting, which the crawl command turns on."""
    return crawler.settings.getbool("RECORD_RUN", False)
