"""The crawl's side of the WARC archive (crawler/archive/): every response, archived as received.

:class:`Archive` (an extension) owns the run's :class:`~crawler.archive.writer.ArchiveWriter`:
it opens the run's first file when the spider opens, closes the files and saves the digest
index when it closes (before the run owner judges the run, so a failure is in the verdict), and
prunes old runs' files at ``engine_stopped`` once this run's report exists, as the feeds'
retention does. :class:`ArchiveRecorder` (a downloader middleware, next to the downloader: it
sees every response as it arrived, before decompression, redirects and retries, robots.txt
and sitemaps included) hands each exchange to it and puts where its payload is,
``"<file name relative to ARCHIVE_DIR>:<byte offset>"``, in ``response.meta["archive_record"]``;
the spider carries it into the article's record, and storage keeps it with the version.

Only a recorded run archives (``RECORD_RUN``: ``scrapy crawl``, ``hepza-run``, a cluster
worker), and only with ``ARCHIVE_ENABLED``. An archive that cannot be written (the directory
cannot be created, a full disk, no permission) fails the run through the ledger
(``archive_unwritable``) and stops the crawl: a run never claims an archive it did not write.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_from_coro

from crawler.archive.digests import DigestIndex, prune
from crawler.archive.writer import ArchiveWriter, Exchange, run_token
from crawler.domain.outcome import fail_run
from crawler.sites.key import site_of
from pipelines.storage.context import records_runs

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response
    from scrapy.http.headers import Headers

logger = logging.getLogger(__name__)

META_KEY = "archive_record"
FAILURE_CODE = "archive_unwritable"


def _header_pairs(headers: Headers) -> list[tuple[str, str]]:
    return [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, values in headers.items()
        for value in values
    ]


def exchange_of(request: Request, response: Response) -> Exchange:
    """The exchange as it arrived; a streamed sitemap's body is its file
    (crawler/crawl/streaming.py), decoded, at its start."""
    body_file = getattr(response, "body_file", None)
    payload: Any
    if body_file is not None:
        body_file.seek(0, 2)
        length = body_file.tell()
        body_file.seek(0)
        payload = body_file
    else:
        payload = response.body
        length = len(payload)
    return Exchange(
        url=response.url,
        method=request.method,
        request_headers=_header_pairs(request.headers),
        request_body=request.body or b"",
        status=response.status,
        response_headers=_header_pairs(response.headers),
        payload=payload,
        payload_length=length,
        protocol=response.protocol or "HTTP/1.1",
        ip_address=str(response.ip_address) if response.ip_address else None,
    )


class Archive:
    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.directory = Path(settings.get("ARCHIVE_DIR") or "archive")
        self.max_bytes = settings.getint("ARCHIVE_MAX_BYTES")
        self.keep = settings.getint("KEEP_ARCHIVES", 0)
        self.reports_dir = Path(settings.get("REPORTS_DIR") or "")
        self.writer: ArchiveWriter | None = None
        self.index: DigestIndex | None = None
        self.failed = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("ARCHIVE_ENABLED") or not records_runs(crawler):
            raise NotConfigured
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(ext.engine_stopped, signal=signals.engine_stopped)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        site = site_of(spider)
        token = run_token(datetime.now(UTC))
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.index = DigestIndex(self.directory, site, token, self.keep)
            run_id = str(self.crawler.stats.get_value("run/id") or "") if self.crawler.stats else ""
            self.writer = ArchiveWriter(
                self.directory,
                site,
                token,
                max_bytes=self.max_bytes,
                info={"isPartOf": site, "run-id": run_id, "robots": "obey"},
                digests=self.index,
            )
            self.writer.open()
        except OSError as exc:
            self._fail(exc)
            return
        logger.info("archive: writing %s", self.directory / self.writer.current_file)

    def record(self, request: Request, response: Response) -> None:
        if self.writer is None:
            return
        try:
            pointer = self.writer.write(exchange_of(request, response))
        except OSError as exc:
            self._fail(exc)
            return
        # response.meta is its request's meta: what the callback reads
        request.meta[META_KEY] = pointer

    def _fail(self, exc: OSError) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            try:
                writer.close()
            except OSError:
                logger.debug("archive: closing after a failed write failed too", exc_info=True)
        if self.failed:
            return
        self.failed = True
        fail_run(
            self.crawler,
            FAILURE_CODE,
            f"the archive {str(self.directory)!r} cannot be written "
            f"({exc.strerror or exc}): the crawl stopped, its responses are not all archived",
        )
        try:
            engine = self.crawler.engine
        except RuntimeError:  # Scrapy's "not set yet": no crawl running, nothing to stop
            return
        deferred_from_coro(engine.close_spider_async(reason=FAILURE_CODE))

    def spider_closed(self, spider: Spider, reason: str) -> None:
        writer, self.writer = self.writer, None
        if writer is None:
            return
        try:
            writer.close()
            if self.index is not None:
                self.index.save()
        except OSError as exc:
            self._fail(exc)
        stats = self.crawler.stats
        assert stats is not None
        for kind, count in writer.written.records.items():
            stats.set_value(f"archive/{kind}", count)
        stats.set_value("archive/bytes", writer.written.bytes)
        stats.set_value("archive/files", len(writer.written.files))
        logger.info(
            "archive: %d response(s), %d revisit(s), %d byte(s) in %d file(s) under %s",
            writer.written.records.get("response", 0),
            writer.written.records.get("revisit", 0),
            writer.written.bytes,
            len(writer.written.files),
            self.directory,
        )

    def engine_stopped(self) -> None:
        run_id = str(self.crawler.stats.get_value("run/id") or "") if self.crawler.stats else ""
        if self.index is None or self.keep <= 0 or self.failed or not run_id:
            return
        if not (self.reports_dir / f"{run_id}.json").is_file():
            # As the feeds' retention: a run without its report prunes nothing.
            return
        removed = prune(self.directory, self.index.site, self.keep, self.index)
        if not removed:
            return
        try:
            self.index.save({path.name for path in removed})
        except OSError as exc:
            logger.warning("archive retention: the digest index could not be updated: %s", exc)
        logger.info(
            "archive retention: removed %d old file(s) (keeping the last %d runs)",
            len(removed),
            self.keep,
        )


class ArchiveRecorder:
    """Downloader middleware: every response, as it arrived, to :class:`Archive`."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._archive: Archive | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("ARCHIVE_ENABLED") or not records_runs(crawler):
            raise NotConfigured
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        if self._archive is None:
            self._archive = self.crawler.get_extension(Archive)
        if self._archive is not None:
            self._archive.record(request, response)
        return response
