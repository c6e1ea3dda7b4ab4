"""The probe's pages as one WARC file (``scrapy probe --warc PATH``).

:class:`WarcRecorder` is a downloader middleware placed next to the downloader, as the crawl's
:class:`~crawler.extensions.archive.ArchiveRecorder` is: every exchange the probe makes
(robots.txt, sitemaps, pages, redirects and error answers alike) is taken as it came off the
wire by :func:`~crawler.extensions.archive.exchange_of` and written by the crawl's own
:class:`~crawler.archive.writer.ArchiveWriter`, as one named file (no rotation, no revisits):
the records, their headers and their gzip members are the archive's (docs/archive.md). What is
the probe's own is what a failed write does: it fails the run and no page is passed on after it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.defer import deferred_from_coro

from crawler.archive.writer import ArchiveWriter, Written
from crawler.domain.outcome import fail_run
from crawler.extensions.archive import exchange_of

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response

logger = logging.getLogger(__name__)

WARC_FAILED = "warc_unwritable"
SOFTWARE = "hepza-crawler scrapy probe (warcio)"


class WarcRecorder:
    """Downloader middleware: every response the crawl receives, with its request, into the
    WARC file ``PROBE_WARC_PATH``. A record that cannot be written fails the run
    (``warc_unwritable``) and stops it: the probe never says it archived what it did not."""

    def __init__(self, crawler: Crawler, path: Path) -> None:
        self.crawler = crawler
        self.path = path
        self.writer: ArchiveWriter | None = None
        self.failed = False
        self.written = Written()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        value = crawler.settings.get("PROBE_WARC_PATH")
        if not value:
            raise NotConfigured("PROBE_WARC_PATH is not set")
        recorder = cls(crawler, Path(value))
        crawler.signals.connect(recorder.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(recorder.spider_closed, signal=signals.spider_closed)
        return recorder

    def spider_opened(self) -> None:
        writer = ArchiveWriter.one_file(self.path, info={"software": SOFTWARE})
        try:
            writer.open()
        except OSError as exc:
            self._fail(exc, writer)
            return
        self.writer = writer
        self.written = writer.written

    @property
    def records(self) -> int:
        """The records the file holds (a failed write was cut back to the last whole one)."""
        return self.written.total

    def spider_closed(self) -> None:
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.close()

    def process_response(self, request: Request, response: Response) -> Response:
        if self.writer is None:
            if self.failed:
                raise IgnoreRequest(f"the WARC file {self.path} cannot be written")
            return response
        try:
            self.writer.write(exchange_of(request, response))
        except OSError as exc:
            self._fail(exc, self.writer)
            raise IgnoreRequest(f"the WARC file {self.path} cannot be written") from exc
        return response

    def _fail(self, exc: OSError, writer: ArchiveWriter) -> None:
        self.failed = True
        self.writer = None
        try:
            writer.close()
        except OSError:
            logger.debug("probe WARC: closing after a failed write failed too", exc_info=True)
        fail_run(
            self.crawler,
            WARC_FAILED,
            f"the WARC file {self.path} cannot be written: {exc.strerror or exc}",
        )
        if self.crawler.crawling and self.crawler.engine is not None:
            deferred_from_coro(self.crawler.engine.close_spider_async(reason=WARC_FAILED))
