"""Tells the operators about a run that needs them: e-mail and/or a webhook.

Runs at ``engine_stopped``, after the run owner (``crawler/extensions/run.py``) has judged the
run, written its report and finished its ``crawl_runs`` row at ``spider_closed``, so the alert
says what the exit status will say. It alerts when the run failed (its report's failures), and,
when asked, when a field's coverage fell by more than ``ALERT_COVERAGE_DROP`` since the site's
previous good run, or when no run stored a new article for ``ALERT_NO_NEW_DAYS`` days. A run
stopped by a signal (``interrupted``) is not alerted: someone stopped it.

An alert that cannot be delivered is one ``ERROR`` line, counted in ``alerts/failed`` and kept
in the report's ``alerts`` section (file and ``crawl_runs``); it never changes the run's outcome
or exit status. The failures no run report holds are alerted where they are found, through
``crawler.ledger.alerts.alert_without_report``: a database that cannot be reached (the preflight)
and
a crawl killed before it could report (``hepza-run``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from sqlalchemy.exc import SQLAlchemyError

from crawler.extensions.run import RunOwner
from crawler.ledger.alerts import (
    AlertConfig,
    AlertError,
    alert_channels,
    build_alert,
    coverage_drops,
    no_new_articles,
    parse_alert_config,
    previous_good_run,
)
from pipelines.storage.context import records_runs

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class Alerts:
    def __init__(self, crawler: Crawler, config: AlertConfig) -> None:
        self.crawler = crawler
        self.config = config

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Alerts:
        if not records_runs(crawler):
            # RECORD_RUN is off (parse, shell, check): no run to alert about. No reason given:
            # Scrapy would log it as a WARNING, and nothing is wrong.
            raise NotConfigured
        # Checked by the preflight already: a bad value never gets this far.
        config = parse_alert_config(crawler.settings, os.environ)
        if not config.enabled:
            raise NotConfigured  # neither ALERT_EMAIL_TO nor ALERT_WEBHOOK_URL: alerts are off
        ext = cls(crawler, config)
        crawler.signals.connect(ext.engine_stopped, signal=signals.engine_stopped)
        return ext

    def reasons(self, owner: RunOwner) -> list[str]:
        """Why to alert about the run the owner judged; empty: no alert."""
        report = owner.report or {}
        if owner.outcome == "interrupted":
            return []
        reasons: list[str] = []
        if owner.outcome != "succeeded":
            # A crawl_runs row the database refused is among them (run_not_recorded).
            reasons += [str(reason) for reason in report.get("failures") or []]
            reasons = reasons or [f"the run {owner.outcome}"]
        reasons += self._history_reasons(owner, report)
        return reasons

    def _history_reasons(self, owner: RunOwner, report: dict[str, Any]) -> list[str]:
        config = self.config
        if owner.store is None or owner.site is None:
            return []
        if not config.coverage_drop and not config.no_new_days:
            return []
        reasons: list[str] = []
        try:
            if config.coverage_drop:
                previous = previous_good_run(owner.store.engine, owner.site, owner.run_id)
                coverage = report.get("coverage") or {}
                if previous is not None and coverage:
                    before = previous[1].get("coverage") or {}
                    reasons += coverage_drops(coverage, before, config.coverage_drop, previous[0])
            if config.no_new_days:
                stale = no_new_articles(
                    owner.store.engine,
                    owner.site,
                    owner.run_id,
                    config.no_new_days,
                    datetime.now(UTC),
                )
                if stale:
                    reasons.append(stale)
        except SQLAlchemyError as exc:
            logger.error("alerts: the run history could not be read: %s", str(exc).splitlines()[0])
        return reasons

    async def engine_stopped(self) -> None:
        owner = self.crawler.get_extension(RunOwner)
        if owner is None or owner.report is None or owner.outcome is None:
            return
        reasons = self.reasons(owner)
        if not reasons:
            return
        stats = self.crawler.stats
        assert stats is not None
        alert = build_alert(owner.report, owner.outcome, reasons)
        deliveries: list[dict[str, Any]] = []
        for channel, send in alert_channels(self.config):
            try:
                # In a thread: SMTP and HTTP block, the reactor still runs other handlers.
                await asyncio.to_thread(send, alert)
            except AlertError as exc:
                stats.inc_value("alerts/failed")
                logger.error("alert not delivered (%s): %s", channel, exc)
                deliveries.append({"channel": channel, "delivered": False, "error": str(exc)})
            else:
                stats.inc_value("alerts/sent")
                logger.info("alert sent (%s): %s", channel, alert.subject)
                deliveries.append({"channel": channel, "delivered": True, "error": None})
        owner.amend_report("alerts", {"reasons": reasons, "deliveries": deliveries})
