"""The run owner: the store, the run id, the outcome and the report of one ``scrapy crawl``.

One Scrapy extension, :class:`RunOwner`, reached by pipelines and the spider through
``crawler.get_extension(RunOwner)``. As the run's context (``pipelines/storage/context.py``) it
opens the store once (when the command records runs, ``RECORD_RUN``) and closes it once, last,
at ``engine_stopped``. It creates the run id, starts the run (``crawl_runs`` row, with its site)
at ``spider_opened`` and, at ``spider_closed``, once every feed is closed, judges the run,
writes the report and finishes the run row. Nobody else finishes a run: Scrapy 2.19 closes the
item pipelines (``close_spider``) before it sends ``spider_closed``, so the storage pipeline has
written its last batch by then.

The run is judged by the ledger (``crawler.ledger``): every check of ``RUN_CHECKS`` runs, and
only a run that passed them all, whose report was written and whose row was recorded, gets the
verdict ``succeeded`` (:attr:`RunOwner.verdict`, set last). The project's ``crawl`` command
turns the verdict, or its absence after a crash, into the exit status. The report is written as
JSON to REPORTS_DIR (``<run id>.json`` and ``latest.json``) and recorded in ``crawl_runs``.

A cluster worker's crawler runs a subclass instead, installed by the cluster's add-on
(``crawler.cluster.share.ClusterShareOwner``): what it records differently (no row, no report
file of its own, its stats judged as a share) are the methods it overrides here.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.extensions.feedexport import FeedExporter, FileFeedStorage
from scrapy.utils.misc import load_object

from crawler.compat import feed_slots
from crawler.domain.outcome import fail_run
from crawler.ledger.checks import (
    DEFAULT_RUN_CHECKS,
    BadRunChecks,
    RunFacts,
    load_checks,
)
from crawler.ledger.report import RunReport, build_report, write_report
from crawler.ledger.verdict import Verdict, reach_verdict
from crawler.sites.key import site_of
from pipelines.storage.context import RunContext, open_store, records_runs
from pipelines.storage.store import ArticleStore, StorageError

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

    from crawler.ledger.checks import Check

logger = logging.getLogger(__name__)


def judge_run(
    stats: dict[str, Any],
    finish_reason: str,
    thresholds: dict[str, float],
    min_articles: int,
    max_error_rate: float,
    *,
    require_stored: bool = True,
) -> tuple[str, list[str], dict[str, float | None]]:
    """(outcome, failure reasons, coverage per field) of a finished run's stats under the
    default checks (:data:`crawler.ledger.checks.DEFAULT_RUN_CHECKS`). ``require_stored=False``:
    the stats are one worker's share of a cluster run."""
    facts = RunFacts(
        stats=stats,
        finish_reason=finish_reason,
        thresholds=thresholds,
        min_articles=min_articles,
        max_error_rate=max_error_rate,
        share=not require_stored,
    )
    checks = [(name, load_object(name)) for name in DEFAULT_RUN_CHECKS]
    verdict = reach_verdict(facts, checks)
    return verdict.outcome, list(verdict.failures), facts.coverage


# How long the report waits for the feed exporter to close its files at the end of a crawl.
FEED_CLOSE_TIMEOUT = 120.0


def spider_arguments(spider: Spider) -> dict[str, Any]:
    """The spider's plain attributes (its arguments and modes), kept with the run."""
    args: dict[str, Any] = {}
    for name, value in vars(spider).items():
        if name.startswith("_") or name in {"crawler", "settings"}:
            continue
        if value is None or isinstance(value, (str, int, float, bool)):
            args[name] = value
    return args


class RunOwner(RunContext):
    """The one owner of a run: its store, id, site, verdict and report. Only ``scrapy crawl``
    records runs (``RECORD_RUN``): ``parse``, ``shell`` and ``check`` leave no trace and never
    open the database."""

    def __init__(self, crawler: Crawler, store: ArticleStore | None = None) -> None:
        super().__init__(store)
        self.crawler = crawler
        # self.site: set at spider_opened (the spider's profile name) and spider_closed
        # The ledger's verdict: None until every check ran and the run was recorded; None at
        # the end (a crash on the way) is a failed run (crawler.ledger.exit_status).
        self.verdict: Verdict | None = None
        self.outcome: str | None = None
        self.report: dict[str, Any] | None = None
        self.finished_at: datetime | None = None
        settings = crawler.settings
        self.reports_dir = Path(settings.get("REPORTS_DIR"))
        self.checks: list[tuple[str, Check]] = []
        self.checks_error: str | None = None
        try:
            self.checks = load_checks(settings)
        except BadRunChecks as exc:  # the preflight refuses it first; a run judged anyway fails
            self.checks_error = str(exc)
        self.started_at = datetime.now(UTC)
        # "crawl", or "reparse" when `scrapy reparse` answers the downloads from archives
        self.kind: str = settings.get("RUN_KIND") or "crawl"
        if store is not None and self.kind == "reparse":
            # Archived pages were read, none was met on the site now: last_seen stays.
            store.marks_seen = False
        self._feeds_closed = asyncio.Event()
        # feed URI -> items the feed accepted, to compare with what it wrote
        self._feed_items: dict[str, int] = {}
        self._items_scraped = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunOwner:
        if not records_runs(crawler):
            raise NotConfigured
        ext = cls(crawler, open_store(crawler))
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(ext.feeds_closed, signal=signals.feed_exporter_closed)
        # the store closed last, after the alerts
        crawler.signals.connect(ext.engine_stopped, signal=signals.engine_stopped)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        stats = self.crawler.stats
        assert stats is not None
        stats.set_value("run/id", self.run_id)
        self.started_at = datetime.now(UTC)
        self.site = site_of(spider)
        stats.set_value("run/site", self.site)
        self._open_row(spider)

    def _open_row(self, spider: Spider) -> None:
        """The run's ``crawl_runs`` row, ``running``."""
        if self.store is None or self.site is None:
            return
        stats = self.crawler.stats
        assert stats is not None
        try:
            abandoned = self.store.start_run(
                self.run_id,
                self.started_at,
                spider_arguments(spider),
                site=self.site,
                kind=self.kind,
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
        self._items_scraped += 1
        exporter = self._feed_exporter()
        slots = feed_slots(exporter, self.crawler.settings) if exporter is not None else None
        if slots is None:
            return
        for slot in slots:
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
        # A copy: fail_run adds keys to the stats while they are read.
        for key, value in list(stats.get_stats().items()):
            if key.startswith("feedexport/failed_count/") and value:
                fail_run(self.crawler, "feed_unwritable", f"{value} feed(s) could not be stored")
        slots = feed_slots(exporter, self.crawler.settings)
        if slots is None:
            # Without the exporter's own counts (crawler.compat): Scrapy's stats above decide.
            logger.debug(
                "feeds judged by their failed_count stats: %d items scraped", self._items_scraped
            )
            return
        for slot in slots:
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
        try:
            await self._wait_for_feeds()
            self._close_run(spider, reason)
        except Exception as exc:
            # Fail closed: no verdict is a failed run (exit 1). Say so wherever we still can.
            self.verdict = None
            logger.exception("run %s: the run ledger crashed before its verdict", self.run_id)
            self._record_crash(spider, reason, exc)

    def _facts(self, reason: str) -> RunFacts:
        stats = self.crawler.stats
        assert stats is not None
        return RunFacts.from_settings(dict(stats.get_stats()), reason, self.crawler.settings)

    def _judge(
        self, spider: Spider, reason: str, finished_at: datetime
    ) -> tuple[Verdict, RunReport]:
        """The verdict of every check, and the report saying it (not yet written)."""
        facts = self._facts(reason)
        extra = [self.checks_error] if self.checks_error else []
        verdict = reach_verdict(facts, self.checks, extra=extra)
        return verdict, self._report(spider, facts, verdict, finished_at)

    def _report(
        self, spider: Spider, facts: RunFacts, verdict: Verdict, finished_at: datetime
    ) -> RunReport:
        """This run's report of ``verdict`` on ``facts``."""
        return build_report(
            facts,
            verdict,
            run_id=self.run_id,
            spider=spider.name,
            site=self.site,
            base_url=getattr(spider, "base_url", None),
            started_at=self.started_at,
            finished_at=finished_at,
            kind=self.kind,
        )

    def _close_run(self, spider: Spider, reason: str) -> None:
        finished_at = datetime.now(UTC)
        self.site = self.site or site_of(spider)
        try:
            self.reports_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._unwritable(exc)
        verdict, report = self._judge(spider, reason, finished_at)
        try:
            write_report(self.reports_dir, self.run_id, report.as_dict())
        except OSError as exc:
            self._unwritable(exc)
            late = [self._unwritable_message(exc)]
            verdict, report = verdict.with_failures(late), report.with_failures(late)
        not_recorded = self._record(finished_at, report)
        if not_recorded is not None:
            # The report already written must not say otherwise than the exit status.
            late = [not_recorded]
            verdict, report = verdict.with_failures(late), report.with_failures(late)
            try:
                write_report(self.reports_dir, self.run_id, report.as_dict())
            except OSError as exc:
                logger.error("run %s: report not rewritten: %s", self.run_id, exc)
        if report.outcome == "succeeded":
            logger.info("run %s succeeded: %s", self.run_id, json.dumps(report.counts))
        else:
            logger.error("RUN %s %s", self.run_id, report.outcome.upper())
            for failure in report.failures:
                logger.error("run %s: %s", self.run_id, failure)
        self._settle(verdict, report, finished_at)

    def _settle(self, verdict: Verdict, report: RunReport, finished_at: datetime) -> None:
        """The verdict, last of all: nothing after it can turn the run green."""
        stats = self.crawler.stats
        assert stats is not None
        stats.set_value("run/outcome", verdict.outcome)
        stats.set_value("run/failed", not verdict.succeeded)
        self.outcome, self.report = verdict.outcome, report.as_dict()
        self.finished_at = finished_at
        self.verdict = verdict

    def _record_crash(self, spider: Spider, reason: str, exc: BaseException) -> None:
        """A report and a ``crawl_runs`` row saying the ledger crashed, where they can still be
        written; never raises."""
        failure = f"the run ledger crashed before its verdict: {type(exc).__name__}: {exc}"
        try:
            stats = self.crawler.stats
            plain = {} if stats is None else json.loads(json.dumps(stats.get_stats(), default=str))
            finished_at = datetime.now(UTC)
            facts = RunFacts.from_settings(plain, reason, self.crawler.settings)
            crashed = Verdict("failed", (failure,), ())
            report = self._report(spider, facts, crashed, finished_at).as_dict()
            self.outcome, self.report, self.finished_at = "failed", report, finished_at
            if stats is not None:
                stats.set_value("run/outcome", "failed")
                stats.set_value("run/failed", True)
            self._write_crashed(report, plain, finished_at)
        except Exception:
            logger.exception("run %s: the crashed run could not be reported", self.run_id)

    def _write_crashed(
        self, report: dict[str, Any], plain: dict[str, Any], finished_at: datetime
    ) -> None:
        """The crashed run's report file and ``crawl_runs`` row."""
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        write_report(self.reports_dir, self.run_id, report)
        if self.store is not None and self.site is not None:
            self.store.finish_run(self.run_id, finished_at, "failed", plain, report, site=self.site)

    def amend_report(self, section: str, value: Any) -> None:
        """Add ``section`` to this run's report (files and ``crawl_runs``) after the run was
        judged, for what happens after it (alerts): the outcome and exit status stay as they are,
        and a write that fails now is logged, not a failure of the run."""
        if self.report is None or self.outcome is None or self.finished_at is None:
            return
        self.report[section] = value
        try:
            if self.reports_dir.joinpath(f"{self.run_id}.json").is_file():
                write_report(self.reports_dir, self.run_id, self.report)
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

    def _unwritable_message(self, exc: OSError) -> str:
        return f"cannot write the run report in {self.reports_dir}: {exc.strerror or exc}"

    def _unwritable(self, exc: OSError) -> None:
        fail_run(self.crawler, "report_unwritable", self._unwritable_message(exc))

    def _record(self, finished_at: datetime, report: RunReport) -> str | None:
        """Finishes the run's ``crawl_runs`` row with its outcome; the failure when it could
        not (None: recorded, or no store to record it in)."""
        store = self.store
        if store is None:
            return None
        assert self.site is not None and self.crawler.stats is not None
        try:
            plain = json.loads(json.dumps(self.crawler.stats.get_stats(), default=str))
            store.finish_run(
                self.run_id, finished_at, report.outcome, plain, report.as_dict(), site=self.site
            )
        except StorageError as exc:
            message = f"the run is not recorded in crawl_runs: {exc}"
            fail_run(self.crawler, "run_not_recorded", message)
            return message
        return None


def verdict_of(crawler: Crawler) -> Verdict | None:
    """The ledger's verdict on this crawler's run; None when it never reached one."""
    owner = crawler.get_extension(RunOwner)
    return owner.verdict if owner is not None else None
