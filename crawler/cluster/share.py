"""The run owner of a cluster worker's crawler: its share of the cluster's one run.

The run is the cluster crawl's: its id is the crawl id, its one ``crawl_runs`` row was written by
``scrapy cluster start`` and is finished by ``finish_cluster_run`` (crawler/cluster/record.py),
which merges every worker's stats. This crawler writes no row and no report file of its own; it
still judges its own stats, as a share (storing nothing is no failure: other workers may have),
its outcome sets the worker's exit status, and its report goes to the cluster through the stats
publisher. Installed by :class:`crawler.cluster.addon.ClusterAddon` in place of
:class:`crawler.extensions.run.RunOwner`; everything else is the run owner's.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crawler.cluster.record import ClusterStatsPublisher
from crawler.extensions.run import RunOwner
from crawler.ledger.checks import RunFacts
from crawler.sites.key import site_of

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

    from pipelines.storage.store import ArticleStore

logger = logging.getLogger(__name__)


class ClusterShareOwner(RunOwner):
    def __init__(self, crawler: Crawler, store: ArticleStore | None = None) -> None:
        super().__init__(crawler, store)
        self.run_id = str(crawler.settings.get("CLUSTER_CRAWL_ID"))

    def _open_row(self, spider: Spider) -> None:
        """No row: the cluster's one row was written when the crawl started."""

    def _facts(self, reason: str) -> RunFacts:
        stats = self.crawler.stats
        assert stats is not None
        return RunFacts.from_settings(
            dict(stats.get_stats()), reason, self.crawler.settings, share=True
        )

    def _close_run(self, spider: Spider, reason: str) -> None:
        """This crawler's share: judged, handed to the cluster, no file and no row."""
        finished_at = datetime.now(UTC)
        self.site = self.site or site_of(spider)
        verdict, report = self._judge(spider, reason, finished_at)
        if self.store is not None:
            self.store.close()
        publisher = self.crawler.get_extension(ClusterStatsPublisher)
        if publisher is not None:
            publisher.publish_final(report.outcome, report.as_dict())
        self._settle(verdict, report, finished_at)
        if report.outcome != "succeeded":
            logger.error(
                "cluster run %s: %s of this worker %s", self.run_id, self.site, report.outcome
            )
            for failure in report.failures:
                logger.error("cluster run %s: %s: %s", self.run_id, self.site, failure)

    def _write_crashed(
        self, report: dict[str, Any], plain: dict[str, Any], finished_at: datetime
    ) -> None:
        """Nothing of its own: the cluster's run is recorded by ``finish_cluster_run``."""

    def amend_report(self, section: str, value: Any) -> None:
        """Kept in this share's report only: the cluster's run is recorded elsewhere."""
        if self.report is None or self.outcome is None or self.finished_at is None:
            return
        self.report[section] = value
