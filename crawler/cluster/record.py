"""The one run record of a cluster crawl: one ``crawl_runs`` row, one report, one outcome.

``start_cluster_run`` (called by ``scrapy cluster start``) writes the running row. Every
worker's crawler of every site publishes its stats to Redis (:class:`ClusterStatsPublisher`,
``{P}:stats:{worker}:{site}``): a snapshot every STATS_INTERVAL seconds and a final one with
its own outcome and failures once its run owner judged it. A worker killed with SIGKILL leaves
its last snapshot, which counts. ``finish_cluster_run`` (called by the worker that sees the
crawl done) sums every snapshot, judges the sum as one run (the ledger's ``RUN_CHECKS``,
every failure any worker recorded included), writes ``<crawl id>.json`` and ``latest.json`` in
REPORTS_DIR with a per-site and per-worker breakdown, and finishes the row. A Redis ``SET NX``
lock makes it run once, whoever calls it.

The row's ``site``: the site's name for a one-site crawl; for several sites their names,
sorted, joined by ``+`` (``bqlkcn+hepza``; a slug never holds ``+``), shortened to
``a+b+3-more`` past the column's 64 characters. Its ``spider_args`` say
``{"cluster": true, "sites": [...], <mode>}``: ``scrapy runs --site X`` finds a cluster run
by them (``crawler/ledger/history.py``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

from crawler.domain.outcome import FAILURE_PREFIX, MESSAGE_PREFIX
from crawler.ledger.checks import BadRunChecks, RunFacts, load_checks
from crawler.ledger.history import CLUSTER_JOIN
from crawler.ledger.report import build_report, counts_of, write_report
from crawler.ledger.verdict import Verdict, reach_verdict
from crawler.sites.key import site_of
from pipelines.storage.models import SITE_LENGTH
from pipelines.storage.store import StorageError

if TYPE_CHECKING:
    import redis
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings
    from twisted.internet.task import LoopingCall

    from pipelines.storage.store import ArticleStore

logger = logging.getLogger(__name__)

# Seconds between two snapshots of a crawler's stats (a killed worker's last one counts).
STATS_INTERVAL = 5.0
# A finisher that died holding the lock lets another worker finish after this many seconds.
FINISHER_LOCK_SECONDS = 600
# Stats that are not amounts: never summed across workers.
NOT_SUMMED_SUFFIXES = ("/max", "elapsed_time_seconds")
NOT_SUMMED_PREFIXES = ("run/",)


def crawl_key(prefix: str, crawl_id: str) -> str:
    return f"{prefix}:crawl:{crawl_id}"


def stats_key(prefix: str, crawl_id: str, worker: str, site: str) -> str:
    return f"{crawl_key(prefix, crawl_id)}:stats:{worker}:{site}"


def cluster_site_key(sites: list[str]) -> str:
    """The ``crawl_runs.site`` of a cluster run of ``sites`` (see the module's docstring)."""
    names = sorted(dict.fromkeys(sites))
    if not names:
        raise ValueError("a cluster run crawls at least one site")
    joined = CLUSTER_JOIN.join(names)
    if len(joined) <= SITE_LENGTH:
        return joined
    for kept in range(len(names) - 1, 0, -1):
        short = CLUSTER_JOIN.join([*names[:kept], f"{len(names) - kept}-more"])
        if len(short) <= SITE_LENGTH:
            return short
    return f"{names[0]}{CLUSTER_JOIN}{len(names) - 1}-more"


def cluster_spider_args(sites: list[str], args: dict[str, Any]) -> dict[str, Any]:
    return {"cluster": True, "sites": sorted(dict.fromkeys(sites)), **args}


def start_cluster_run(
    store: ArticleStore,
    crawl_id: str,
    sites: list[str],
    args: dict[str, Any],
    started_at: datetime,
) -> list[str]:
    """The cluster run's ``crawl_runs`` row, running; the ids of earlier runs of the same site
    key found dead and marked abandoned (``ArticleStore.start_run``). Raises StorageError."""
    return store.start_run(
        crawl_id,
        started_at,
        cluster_spider_args(sites, args),
        site=cluster_site_key(sites),
        # No process of its own: the command that starts it exits at once.
        report={"cluster": {"crawl_id": crawl_id, "sites": sorted(dict.fromkeys(sites))}},
    )


# --- the workers' stats in Redis ----------------------------------------------------------------


class ClusterStatsPublisher:
    """Publishes this crawler's stats to ``{P}:stats:{worker}:{site}`` every STATS_INTERVAL
    seconds, and a final snapshot with its judged outcome at close."""

    def __init__(
        self,
        crawler: Crawler,
        client: redis.Redis,
        *,
        prefix: str,
        crawl_id: str,
        worker_id: str,
        interval: float = STATS_INTERVAL,
    ) -> None:
        self.crawler = crawler
        self.client = client
        self.prefix = prefix
        self.crawl_id = crawl_id
        self.worker_id = worker_id
        self.interval = interval
        self.site: str | None = None
        self.final = False
        self._loop: LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ClusterStatsPublisher:
        settings = crawler.settings
        url, crawl_id = settings.get("CLUSTER_REDIS_URL"), settings.get("CLUSTER_CRAWL_ID")
        # Bare: a component simply not in use is no WARNING ("Disabled ...").
        if not url or not crawl_id or not settings.getbool("RECORD_RUN", False):
            raise NotConfigured
        # The cluster extra, imported by cluster runs only.
        from crawler.cluster.connection import shared_client  # noqa: PLC0415

        client = shared_client(url, settings.getfloat("CLUSTER_REDIS_RETRY_SECONDS"))
        ext = cls(
            crawler,
            client,
            prefix=settings.get("CLUSTER_KEY_PREFIX") or "hepza",
            crawl_id=crawl_id,
            worker_id=settings.get("CLUSTER_WORKER_ID") or "worker",
            interval=settings.getfloat("CLUSTER_STATS_INTERVAL", STATS_INTERVAL),
        )
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Any) -> None:
        from twisted.internet import task  # noqa: PLC0415 (the reactor is installed by then)

        self.site = site_of(spider)
        self.publish()
        self._loop = task.LoopingCall(self.publish)
        self._loop.start(self.interval, now=False)

    def spider_closed(self, spider: Any) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    @property
    def key(self) -> str:
        return stats_key(self.prefix, self.crawl_id, self.worker_id, self.site or "unknown")

    def publish(self, extra: dict[str, str] | None = None) -> None:
        """The crawler's stats now, as JSON; never the final one over (a late tick)."""
        if self.final and extra is None:
            return
        stats = self.crawler.stats
        if stats is None or self.site is None:
            return
        fields = {
            "stats": json.dumps(stats.get_stats(), ensure_ascii=False, default=str),
            "final": "0",
            "site": self.site,
            "worker": self.worker_id,
            "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **(extra or {}),
        }
        try:
            self.client.hset(self.key, mapping=fields)  # type: ignore[arg-type]
        except Exception as exc:
            # Whatever Redis raises (the extra's exceptions are not imported here): the next
            # tick publishes again, and a failure must not stop the loop.
            logger.warning("cluster: stats of %s not published: %s", self.site, exc)

    def publish_final(self, outcome: str, report: dict[str, Any]) -> None:
        """The share's judged report (crawler/cluster/share.py), the last snapshot."""
        self.final = True
        self.publish(
            {
                "final": "1",
                "outcome": outcome,
                "failures": json.dumps(report.get("failures", []), ensure_ascii=False),
                "finish_reason": str(report.get("finish_reason", "")),
            }
        )


# --- the one run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """One worker's crawler of one site, as it last published its stats."""

    worker: str
    site: str
    stats: dict[str, Any]
    final: bool
    outcome: str | None
    failures: list[str]
    finish_reason: str | None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def load_snapshots(client: redis.Redis, prefix: str, crawl_id: str) -> list[Snapshot]:
    """Every published snapshot of the crawl, by worker and site."""
    snapshots = []
    for key in sorted(client.scan_iter(match=f"{crawl_key(prefix, crawl_id)}:stats:*")):
        raw = {_text(k): _text(v) for k, v in client.hgetall(key).items()}
        if "stats" not in raw:
            continue
        snapshots.append(
            Snapshot(
                worker=raw.get("worker", ""),
                site=raw.get("site", ""),
                stats=json.loads(raw["stats"]),
                final=raw.get("final") == "1",
                outcome=raw.get("outcome"),
                failures=[str(f) for f in json.loads(raw.get("failures") or "[]")],
                finish_reason=raw.get("finish_reason"),
            )
        )
    return snapshots


def _summed(key: str, value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if key.startswith(FAILURE_PREFIX):
        return True
    return not key.startswith(NOT_SUMMED_PREFIXES) and not key.endswith(NOT_SUMMED_SUFFIXES)


def merge_stats(snapshots: list[Snapshot]) -> dict[str, Any]:
    """Amounts summed; a failure's message is the first worker's."""
    merged: dict[str, Any] = {}
    for snapshot in snapshots:
        for key, value in snapshot.stats.items():
            if _summed(key, value):
                merged[key] = merged.get(key, 0) + value
            elif key.startswith(MESSAGE_PREFIX) or key == "crawl/mode":
                merged.setdefault(key, value)
    return merged


@dataclass(frozen=True)
class ClusterRunResult:
    run_id: str
    outcome: str
    failures: list[str]
    report: dict[str, Any]
    # whether this call finished the run (False: another worker did, or does)
    finished_here: bool


def finish_cluster_run(
    client: redis.Redis,
    prefix: str,
    crawl_id: str,
    store: ArticleStore | None,
    reports_dir: str | Path,
    *,
    settings: BaseSettings,
    finish_reason: str = "finished",
    worker_id: str = "",
    sites: list[str] | None = None,
) -> ClusterRunResult | None:
    """Merges every worker's stats into the cluster's one run: judged, reported, recorded.

    Once per crawl: a second caller (at the same time or later) gets None while the first
    finishes, and the first's result once it is done. ``sites``: the crawl's sites (default:
    its meta in Redis, else the sites of the snapshots). Failures to write the report or the
    row are failures of the run, in the report and the outcome.
    """
    key = crawl_key(prefix, crawl_id)
    done = client.get(f"{key}:finished")
    if done is not None:
        return _result_of(json.loads(_text(done)), finished_here=False)
    if not client.set(
        f"{key}:finisher", worker_id or "finisher", nx=True, ex=FINISHER_LOCK_SECONDS
    ):
        return None
    meta = {_text(k): _text(v) for k, v in client.hgetall(f"{key}:meta").items()}
    snapshots = load_snapshots(client, prefix, crawl_id)
    if sites is None:
        sites = (
            json.loads(meta["sites"]) if "sites" in meta else sorted({s.site for s in snapshots})
        )
    assert sites is not None
    finished_at = datetime.now(UTC)
    started_at = _started_at(meta, snapshots, finished_at)
    reports = Path(reports_dir)
    outcome, failures, report = _judge(
        crawl_id,
        sites=sites,
        snapshots=snapshots,
        settings=settings,
        finish_reason=finish_reason,
        started_at=started_at,
        finished_at=finished_at,
    )
    merged = merge_stats(snapshots)
    extra: list[str] = []
    try:
        reports.mkdir(parents=True, exist_ok=True)
        write_report(reports, crawl_id, report)
    except OSError as exc:
        extra.append(f"cannot write the run report in {reports}: {exc.strerror or exc}")
    if store is not None:
        try:
            store.finish_run(
                crawl_id, finished_at, "failed" if extra else outcome, merged, report,
                site=cluster_site_key(sites),
            )  # fmt: skip
        except StorageError as exc:
            extra.append(f"the run is not recorded in crawl_runs: {exc}")
    if extra:
        # The report already written must not say otherwise than the outcome.
        failures = failures + extra
        outcome = "failed" if outcome == "succeeded" else outcome
        report = {**report, "outcome": outcome, "failures": failures}
        try:
            write_report(reports, crawl_id, report)
        except OSError as exc:
            logger.error("cluster run %s: report not rewritten: %s", crawl_id, exc)
    summary = {"run_id": crawl_id, "outcome": outcome, "failures": failures, "report": report}
    client.set(f"{key}:finished", json.dumps(summary, ensure_ascii=False, default=str))
    if outcome == "succeeded":
        logger.info("cluster run %s succeeded: %s", crawl_id, json.dumps(report["counts"]))
    else:
        logger.error("CLUSTER RUN %s %s", crawl_id, outcome.upper())
        for failure in failures:
            logger.error("cluster run %s: %s", crawl_id, failure)
    return _result_of(summary, finished_here=True)


def _result_of(summary: dict[str, Any], *, finished_here: bool) -> ClusterRunResult:
    return ClusterRunResult(
        summary["run_id"],
        summary["outcome"],
        list(summary["failures"]),
        summary["report"],
        finished_here,
    )


def _started_at(meta: dict[str, str], snapshots: list[Snapshot], now: datetime) -> datetime:
    created = meta.get("created_at")
    if created:
        return datetime.fromisoformat(created)
    starts = [
        datetime.fromisoformat(str(s.stats["start_time"]))
        for s in snapshots
        if s.stats.get("start_time")
    ]
    return min(starts, default=now)


def _judge(
    crawl_id: str,
    *,
    sites: list[str],
    snapshots: list[Snapshot],
    settings: BaseSettings,
    finish_reason: str,
    started_at: datetime,
    finished_at: datetime,
) -> tuple[str, list[str], dict[str, Any]]:
    """The merged run judged by the same checks as a lone crawl (RUN_CHECKS)."""
    merged = merge_stats(snapshots)
    facts = RunFacts.from_settings(merged, finish_reason, settings)
    extra: list[str] = []
    if not snapshots:
        extra.append("no worker published its stats: nothing is known of the crawl")
    try:
        checks = load_checks(settings)
    except BadRunChecks as exc:
        checks = []
        extra.append(str(exc))
    verdict = reach_verdict(facts, checks, extra=extra)
    per_site: dict[str, Any] = {}
    for site in sites:
        own = [s for s in snapshots if s.site == site]
        site_stats = merge_stats(own)
        per_site[site] = {
            "counts": counts_of(site_stats),
            "coverage": RunFacts(site_stats, "finished", facts.thresholds).coverage,
            "workers": sorted(s.worker for s in own),
        }
    workers: dict[str, dict[str, Any]] = {}
    for snapshot in snapshots:
        workers.setdefault(snapshot.worker, {})[snapshot.site] = {
            # a worker killed before its end left no final snapshot: its last one counts
            "final": snapshot.final,
            "outcome": snapshot.outcome if snapshot.final else "stopped without its final stats",
            "finish_reason": snapshot.finish_reason,
            "failures": snapshot.failures,
            "counts": counts_of(snapshot.stats),
        }
    cluster = {"crawl_id": crawl_id, "per_site": per_site, "per_worker": workers}
    report = _cluster_report(
        facts,
        verdict,
        crawl_id=crawl_id,
        sites=sites,
        cluster=cluster,
        started_at=started_at,
        finished_at=finished_at,
    )
    return verdict.outcome, list(verdict.failures), report


def _cluster_report(
    facts: RunFacts,
    verdict: Verdict,
    *,
    crawl_id: str,
    sites: list[str],
    cluster: dict[str, Any],
    started_at: datetime,
    finished_at: datetime,
) -> dict[str, Any]:
    """The cluster run's report: the ledger's, with its sites and its ``cluster`` section."""
    report = build_report(
        facts,
        verdict,
        run_id=crawl_id,
        spider="cluster",
        site=cluster_site_key(sites),
        base_url=None,
        started_at=started_at,
        finished_at=finished_at,
    )
    report.sections["sites"] = sorted(sites)
    report.sections["cluster"] = cluster
    return report.as_dict()


def fail_cluster_run_without_redis(
    store: ArticleStore | None,
    crawl_id: str,
    reports_dir: str | Path,
    *,
    sites: list[str],
    worker_id: str,
    reason: str,
    worker_stats: dict[str, dict[str, Any]],
) -> str | None:
    """Redis is lost: the cluster's run cannot be finished from every worker's stats, but it
    must not stay ``running``. Marks its ``crawl_runs`` row failed with ``reason`` (unless a
    worker already finished it) and writes a report holding what this worker knows (its own
    crawlers' stats, ``worker_stats``: site -> stats). The row's outcome afterwards (None: not
    recorded)."""
    finished_at = datetime.now(UTC)
    snapshots = [
        Snapshot(worker_id, site, stats, True, "failed", [reason], "redis_unavailable")
        for site, stats in worker_stats.items()
    ]
    merged = merge_stats(snapshots)
    failures = (f"Redis was lost mid-crawl: {reason}",)
    cluster = {
        "crawl_id": crawl_id,
        "recorded_by": worker_id,
        "partial": "Redis was lost: counts are this worker's only",
    }
    # Only this worker's counts: the others' stats are in the Redis that was lost.
    facts = RunFacts(merged, "redis_unavailable")
    verdict = Verdict("failed", failures, ())
    report = _cluster_report(
        facts,
        verdict,
        crawl_id=crawl_id,
        sites=sites,
        cluster=cluster,
        started_at=finished_at,
        finished_at=finished_at,
    )
    try:
        reports = Path(reports_dir)
        reports.mkdir(parents=True, exist_ok=True)
        write_report(reports, crawl_id, report)
    except OSError as exc:
        logger.error("cluster run %s: report not written: %s", crawl_id, exc)
    if store is None:
        return None
    plain = json.loads(json.dumps(merged, default=str))
    try:
        return store.fail_running_run(crawl_id, finished_at, plain, report)
    except StorageError as exc:
        logger.error("cluster run %s: not recorded as failed in crawl_runs: %s", crawl_id, exc)
        return None
