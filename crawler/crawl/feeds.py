"""A local feed appears under its name only once its run has stored every article it lists.

The feed exporter receives an article when the storage pipeline has classified it (``new``,
``changed``...), before the batch that stores it is committed. A run killed in between (SIGKILL,
out of memory, power) would leave a feed listing articles as ``new`` that the database never
got, and the next run would list them as ``new`` again. So a local feed is written to
``<name>.partial`` and moved to its name (``-O``: replacing the file atomically; ``-o``:
appended to it) only when the crawl closes with every article stored. A killed run leaves only
``<name>.partial``; so does a run that lost articles (``storage/lost``: the run fails and says
so). ``scrapy export`` reads the database, never a feed, so neither is ever taken as truth.

A feed whose place is not a regular file (``/dev/stdout``, a FIFO) is written in place, as
Scrapy does: nothing can be moved there.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Self

from scrapy.extensions.feedexport import FileFeedStorage

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler
    from twisted.internet.defer import Deferred

logger = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"


def partial_path(path: str | Path) -> Path:
    """Where the feed at ``path`` is written until its run has stored what it lists."""
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


class CommittedFileFeedStorage(FileFeedStorage):
    """Scrapy's local file storage, publishing the file at the end of a run that lost nothing."""

    def __init__(
        self,
        uri: str,
        *,
        feed_options: dict[str, Any] | None = None,
        crawler: Crawler | None = None,
    ) -> None:
        super().__init__(uri, feed_options=feed_options)
        self.crawler = crawler
        # A link is followed, as Scrapy writes through it: the file it names is the feed.
        self.final_path = (
            Path(self.path).resolve() if Path(self.path).is_symlink() else Path(self.path)
        )
        self.partial: Path | None = None

    @classmethod
    def from_crawler(
        cls, crawler: Crawler, uri: str, *, feed_options: dict[str, Any] | None = None
    ) -> Self:
        return cls(uri, feed_options=feed_options, crawler=crawler)

    def open(self, spider: Spider) -> IO[bytes]:
        target = self.final_path
        if target.exists() and not target.is_file():
            return super().open(spider)  # a device, a FIFO: written in place
        target.parent.mkdir(parents=True, exist_ok=True)
        self.partial = partial_path(target)
        # Only this run's articles: -o appends them to the published file at the end.
        return self.partial.open("wb")

    def store(self, file: IO[bytes]) -> Deferred[None] | None:
        file.close()
        if self.partial is None:
            return None
        lost = self._lost()
        if lost:
            # Published, it would list articles as stored that the database does not hold.
            logger.error(
                "the feed stays at %s, not %s: %d of the articles of this run were not stored "
                "in the database",
                self.partial,
                self.final_path,
                lost,
            )
            # The run owner checks the feed's file here: it was written, only not published.
            self.path = str(self.partial)
            return None
        if self.write_mode == "wb" or not self.final_path.exists():
            os.replace(self.partial, self.final_path)
        else:
            with self.partial.open("rb") as source, self.final_path.open("ab") as target:
                shutil.copyfileobj(source, target)
            self.partial.unlink()
        return None

    def _lost(self) -> int:
        stats = self.crawler.stats if self.crawler is not None else None
        if stats is None:
            return 0
        return int(stats.get_value("storage/lost", 0) or 0)
