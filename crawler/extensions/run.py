"""The run owner: the store, the run id, the outcome and the report of one ``scrapy crawl``.

One Scrapy extension, :class:`RunOwner`, reached by pipelines and the spider through
``crawler.get_extension(RunOwner)``. It opens the store once (when the command records runs,
``RECORD_RUN``), creates the run id, starts the run (``crawl_runs`` row, with its site) at
``spider_opened`` and, at ``spider_closed``, once every feed is closed, judges the run, writes
the report, finishes the run row and closes the store. Nobody else finishes a run or closes the
store: Scrapy 2.19 closes the item pipelines (``close_spider``) before it sends
``spider_closed``, so the storage pipeline has flushed its last batch by then.

The report is written as JSON to REPORTS_DIR (``<run id>.json`` and ``latest.json``), recorded
in ``crawl_runs``, and turned into the process exit code by the project's ``crawl`` command.
A run fails when it could not finish, when errors pass MAX_ERROR_RATE, when a first run stores
nothing, when a component recorded a failure (``crawler.outcome.fail_run``), or when a field's
coverage falls below COVERAGE_THRESHOLDS: the way a layout change shows up, since selectors
stop matching silently.

In cluster mode (``CLUSTER_CRAWL_ID`` set by ``scrapy cluster work``) the run is the cluster's:
the run id is the crawl id, and this crawler writes no ``crawl_runs`` row and no report file of
its own. It still judges its own stats (its outcome sets the worker's exit status) and hands
its report to the cluster (``crawler.cluster.record.ClusterStatsPublisher``, through
``report_receivers``), which merges every worker's into the one run (``finish_cluster_run``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.extensions.feedexport import FeedExporter, FileFeedStorage

from crawler.outcome import fail_run, recorded_failures
from crawler.sites.key import site_of
from pipelines.storage.secrets import install_redaction
from pipelines.storage.store import ArticleStore, StorageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

COUNTERS = {
    "requests": "downloader/request_count",
    "responses": "response_received_count",
    "articles_parsed": "coverage/articles",
    "stored_new": "storage/new",
    "stored_changed": "storage/changed",
    "unchanged": "storage/unchanged",
    "duplicates": "storage/duplicate_content",
    "aliases": "storage/aliases",
    "rejected": "validate/rejected",
    "not_found": "fetch/not_found",
    "failed_requests": "fetch/failed",
    "retries": "retry/count",
    "retries_exhausted": "retry/max_reached",
    "skipped_known": "crawl/skipped_known",
    "listing_pages": "crawl/listing_pages",
    "sitemaps": "crawl/sitemaps",
    "lost": "storage/lost",
    "storage_retries": "storage/retries",
    "too_large": "fetch/too_large",
    "charset_corrected": "fetch/charset_corrected",
    "off_origin_refused": "fence/refused",
    "requests_refused_by_limits": "limits/requests_refused",
    "errors_logged": "log_count/ERROR",
    "spider_exceptions": "spider_exceptions/count",
}


def judge_run(
    stats: dict[str, Any],
    finish_reason: str,
    thresholds: dict[str, float],
    min_articles: int,
    max_error_rate: float,
    *,
    require_stored: bool = True,
) -> tuple[str, list[str], dict[str, float | None]]:
    """(outcome, failure reasons, coverage per field) for a finished run's stats.
    ``require_stored=False``: a first run that stored nothing is not a failure (one worker's
    share of a cluster run; the cluster's merged run is judged with it)."""
    failures: list[str] = []
    articles = int(stats.get("coverage/articles", 0))
    coverage: dict[str, float | None] = {
        name: (stats.get(f"coverage/{name}", 0) / articles) if articles else None
        for name in thresholds
    }
    if finish_reason != "finished":
        failures.append(f"the crawl did not finish (reason: {finish_reason})")
    requests = int(stats.get("downloader/request_count", 0))
    failed = int(stats.get("fetch/failed", 0)) + int(stats.get("spider_exceptions/count", 0))
    if requests and failed / requests > max_error_rate:
        failures.append(
            f"{failed} of {requests} requests failed ({failed / requests:.1%} > "
            f"{max_error_rate:.1%})"
        )
    # Whatever a component recorded with crawler.outcome.fail_run: lost writes, unwritable
    # files, a crawl cut short by a run-wide limit, an unreachable site...
    failures.extend(recorded_failures(stats))
    first_run = int(stats.get("crawl/known_articles", 0)) == 0
    stored = int(stats.get("storage/new", 0)) + int(stats.get("storage/changed", 0))
    if require_stored and first_run and stored == 0:
        failures.append("first run stored zero articles")
    if articles >= min_articles:
        for name, minimum in thresholds.items():
            share = coverage[name]
            if share is not None and share < minimum:
                failures.append(
                    f"coverage of {name} is {share:.1%} (threshold {minimum:.0%}): "
                    f"the site's layout may have changed"
                )
    if finish_reason in {"shutdown", "cancelled"}:
        outcome = "interrupted"
    else:
        outcome = "failed" if failures else "succeeded"
    return outcome, failures, coverage


# How long the report waits for the feed exporter to close its files at the end of a crawl.
FEED_CLOSE_TIMEOUT = 120.0


def records_runs(crawler: Crawler) -> bool:
    """Whether this process records a run (``scrapy crawl`` does; ``parse``, ``shell`` and
    ``check`` do not): the ``RECORD_RUN`` setting, which the crawl command turns on."""
    return crawler.settings.getbool("RECORD_RUN", False)


def open_store(crawler: Crawler) -> ArticleStore | None:
    """The run's store, its schema migrated; None when DATABASE_URL is empty."""
    database_url = crawler.settings.get("DATABASE_URL")
    if not database_url:
        return None
    install_redaction(url=database_url)
    return ArticleStore.from_settings(crawler.settings)


def spider_arguments(spider: Spider) -> dict[str, Any]:
    """The spider's plain attributes (its arguments and modes), kept with the run."""
    args: dict[str, Any] = {}
    for name, value in vars(spider).items():
        if name.startswith("_") or name in {"crawler", "settings"}:
            continue
        if value is None or isinstance(value, (str, int, float, bool)):
            args[name] = value
    return args


def write_report(reports_dir: Path, run_id: str, report: dict[str, Any]) -> None:
    """``<run id>.json`` and ``latest.json`` in ``reports_dir``."""
    text = json.dumps(report, ensure_ascii=False, indent=2, default=str)
    for name in (f"{run_id}.json", "latest.json"):
        # Written whole or not at all: a reader never sees half a report.
        target = reports_dir / name
        partial = target.with_name(f".{name}.partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)
    logger.info("run report: %s", reports_dir / f"{run_id}.json")


class RunOwner:
    """The one owner of a run: its store, id, site, outcome and report. Only ``scrapy crawl``
    records runs (``RECORD_RUN``): ``parse``, ``shell`` and ``check`` leave no trace and never
    open the database."""

    def __init__(self, crawler: Crawler, store: ArticleStore | None = None) -> None:
        self.crawler = crawler
        self.store = store
        self.run_id = uuid.uuid4().hex
        # set at spider_opened (the spider's profile name) and spider_closed
        self.site: str | None = None
        self.outcome: str | None = None
        self.report: dict[str, Any] | None = None
        self.finished_at: datetime | None = None
        settings = crawler.settings
        self.reports_dir = Path(settings.get("REPORTS_DIR"))
        self.thresholds = {k: float(v) for k, v in settings.getdict("COVERAGE_THRESHOLDS").items()}
        self.min_articles = settings.getint("COVERAGE_MIN_ARTICLES")
        self.max_error_rate = settings.getfloat("MAX_ERROR_RATE")
        self.started_at = datetime.now(UTC)
        self._feeds_closed = asyncio.Event()
        # feed URI -> items the feed accepted, to compare with what it wrote
        self._feed_items: dict[str, int] = {}
        # cluster mode: the run is the cluster crawl's, recorded once by finish_cluster_run
        self.cluster_crawl_id = str(settings.get("CLUSTER_CRAWL_ID") or "")
        if self.cluster_crawl_id:
            self.run_id = self.cluster_crawl_id
        # called with (outcome, report) once the run is judged (the cluster's publisher)
        self.report_receivers: list[Callable[[str, dict[str, Any]], None]] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunOwner:
        if not records_runs(crawler):
            raise NotConfigured("RECORD_RUN is off: this command records no run")
        ext = cls(crawler, open_store(crawler))
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(ext.feeds_closed, signal=signals.feed_exporter_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        stats = self.crawler.stats
        assert stats is not None
        stats.set_value("run/id", self.run_id)
        self.started_at = datetime.now(UTC)
        self.site = site_of(spider)
        stats.set_value("run/site", self.site)
        if self.store is None or self.cluster_crawl_id:
            return
        try:
            abandoned = self.store.start_run(
                self.run_id, self.started_at, spider_arguments(spider), site=self.site
            )
        except StorageError as exc:
            # finish_run writes the row at the end if the database answers by then.
            fail_run(self.crawler, "run_not_recorded", f"the run could not be recorded: {exc}")
            return
        if abandoned:
            stats.set_value("run/abandoned_marked", len(abandoned))
            logger.warning(
                "%d earlier run(s) of %s never finished and are now marked abandoned: %s",
                len(abandoned),
                self.site,
                ", ".join(abandoned),
            )

    def _feed_exporter(self) -> FeedExporter | None:
        return self.crawler.get_extension(FeedExporter)

    def item_scraped(self, item: Any) -> None:
        exporter = self._feed_exporter()
        if exporter is None:
            return
        for slot in exporter.slots:
            if slot.filter.accepts(item):
                self._feed_items[slot.uri] = self._feed_items.get(slot.uri, 0) + 1

    def feeds_closed(self) -> None:
        self._feeds_closed.set()

    async def _wait_for_feeds(self) -> None:
        exporter = self._feed_exporter()
        if exporter is None:
            return
        # The feed exporter closes its files in tasks of its own spider_closed handler.
        try:
            await asyncio.wait_for(self._feeds_closed.wait(), FEED_CLOSE_TIMEOUT)
        except TimeoutError:
            fail_run(self.crawler, "feed_not_closed", "the feed exporter did not close its files")
            return
        self._check_feeds(exporter)

    def _check_feeds(self, exporter: FeedExporter) -> None:
        """A feed that lost items or was never written fails the run."""
        stats = self.crawler.stats
        assert stats is not None
        for key, value in stats.get_stats().items():
            if key.startswith("feedexport/failed_count/") and value:
                fail_run(self.crawler, "feed_unwritable", f"{value} feed(s) could not be stored")
        for slot in exporter.slots:
            expected = self._feed_items.get(slot.uri, 0)
            path = getattr(slot.storage, "path", None)
            missing = (
                isinstance(slot.storage, FileFeedStorage)
                and (expected or slot.store_empty)
                and not Path(str(path)).is_file()
            )
            if slot.itemcount < expected or missing:
                fail_run(
                    self.crawler,
                    "feed_unwritable",
                    f"the feed {slot.uri} holds {slot.itemcount if not missing else 0} of "
                    f"{expected} items: it could not be written (see the log)",
                )

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        await self._wait_for_feeds()
        if self.cluster_crawl_id:
            self._close_cluster_share(spider, reason)
            return
        stats = self.crawler.stats
        assert stats is not None
        finished_at = datetime.now(UTC)
        run_id = self.run_id
        self.site = self.site or site_of(spider)
        try:
            self.reports_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._unwritable(exc)
        outcome, failures, report = self._judge(spider, reason, run_id, finished_at)
        try:
            self._write(run_id, report)
        except OSError as exc:
            self._unwritable(exc)
            outcome, failures, report = self._judge(spider, reason, run_id, finished_at)
        stats.set_value("run/outcome", outcome)
        stats.set_value("run/failed", outcome != "succeeded")
        self.outcome, self.report = outcome, report
        self.finished_at = finished_at
        if not self._record(run_id, finished_at, outcome, stats.get_stats(), report):
            # The report already written must not say otherwise than the exit status.
            outcome, failures, report = self._judge(spider, reason, run_id, finished_at)
            stats.set_value("run/outcome", outcome)
            stats.set_value("run/failed", True)
            self.outcome, self.report = outcome, report
            try:
                self._write(run_id, report)
            except OSError as exc:
                logger.error("run %s: report not rewritten: %s", run_id, exc)
        if outcome == "succeeded":
            logger.info("run %s succeeded: %s", run_id, json.dumps(report["counts"]))
        else:
            logger.error("RUN %s %s", run_id, outcome.upper())
            for failure in failures:
                logger.error("run %s: %s", run_id, failure)

    def _close_cluster_share(self, spider: Spider, reason: str) -> None:
        """This crawler's share of a cluster run: judged, handed to the cluster, no file and no
        ``crawl_runs`` row of its own."""
        stats = self.crawler.stats
        assert stats is not None
        self.finished_at = datetime.now(UTC)
        self.site = self.site or site_of(spider)
        outcome, failures, report = self._judge(spider, reason, self.run_id, self.finished_at)
        stats.set_value("run/outcome", outcome)
        stats.set_value("run/failed", outcome != "succeeded")
        self.outcome, self.report = outcome, report
        if self.store is not None:
            self.store.close()
        for receive in self.report_receivers:
            receive(outcome, report)
        if outcome != "succeeded":
            logger.error("cluster run %s: %s of this worker %s", self.run_id, self.site, outcome)
            for failure in failures:
                logger.error("cluster run %s: %s: %s", self.run_id, self.site, failure)

    def amend_report(self, section: str, value: Any) -> None:
        """Add ``section`` to this run's report (files and ``crawl_runs``) after the run was
        judged, for what happens after it (alerts): the outcome and exit status stay as they are,
        and a write that fails now is logged, not a failure of the run."""
        if self.report is None or self.outcome is None or self.finished_at is None:
            return
        self.report[section] = value
        if self.cluster_crawl_id:  # the cluster's run is recorded by finish_cluster_run
            return
        try:
            if self.reports_dir.joinpath(f"{self.run_id}.json").is_file():
                self._write(self.run_id, self.report)
        except OSError as exc:
            logger.error("run %s: report %s not written: %s", self.run_id, section, exc)
        if self.store is None or self.site is None:
            return
        assert self.crawler.stats is not None
        try:
            plain = json.loads(json.dumps(self.crawler.stats.get_stats(), default=str))
            self.store.finish_run(
                self.run_id, self.finished_at, self.outcome, plain, self.report, site=self.site
            )
        except StorageError as exc:
            logger.error(
                "run %s: report %s not recorded in crawl_runs: %s", self.run_id, section, exc
            )
        finally:
            self.store.close()

    def _unwritable(self, exc: OSError) -> None:
        fail_run(
            self.crawler,
            "report_unwritable",
            f"cannot write the run report in {self.reports_dir}: {exc.strerror or exc}",
        )

    def _judge(
        self, spider: Spider, reason: str, run_id: str, finished_at: datetime
    ) -> tuple[str, list[str], dict[str, Any]]:
        assert self.crawler.stats is not None
        stats = self.crawler.stats.get_stats()
        outcome, failures, coverage = judge_run(
            stats,
            reason,
            self.thresholds,
            self.min_articles,
            self.max_error_rate,
            require_stored=not self.cluster_crawl_id,
        )

        def prefixed(prefix: str, *, keep: str = "") -> dict[str, Any]:
            return {
                k.removeprefix(prefix): v for k, v in stats.items() if k.startswith(prefix + keep)
            }

        report = {
            "run_id": run_id,
            "spider": spider.name,
            "site": self.site,
            "base_url": getattr(spider, "base_url", None),
            "mode": stats.get("crawl/mode"),
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "finished_at": finished_at.isoformat(timespec="seconds"),
            "duration_seconds": round((finished_at - self.started_at).total_seconds(), 3),
            "finish_reason": reason,
            "outcome": outcome,
            "failures": failures,
            "counts": {name: int(stats.get(key, 0)) for name, key in COUNTERS.items()},
            "coverage": coverage,
            "coverage_thresholds": self.thresholds,
            "limits_reached": prefixed("limits/"),
            "extraction_layers": prefixed("extract/"),
            "problems": prefixed("validate/problem/"),
            "reject_reasons": prefixed("validate/reason/"),
            "http_errors": prefixed("fetch/", keep="http_"),
        }
        return outcome, failures, report

    def _write(self, run_id: str, report: dict[str, Any]) -> None:
        write_report(self.reports_dir, run_id, report)

    def _record(
        self,
        run_id: str,
        finished_at: datetime,
        outcome: str,
        stats: dict[str, Any],
        report: dict[str, Any],
    ) -> bool:
        """Whether the run's row holds its outcome (or there is no store to hold it)."""
        store = self.store
        if store is None:
            return True
        assert self.site is not None
        try:
            plain = json.loads(json.dumps(stats, default=str))
            store.finish_run(run_id, finished_at, outcome, plain, report, site=self.site)
        except StorageError as exc:
            fail_run(
                self.crawler, "run_not_recorded", f"the run is not recorded in crawl_runs: {exc}"
            )
            return False
        finally:
            store.close()
        return True
