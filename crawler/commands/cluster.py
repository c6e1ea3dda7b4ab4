"""``scrapy cluster start|work|status``: a crawl of many sites shared by workers on any number of
machines (crawler/cluster/).

    scrapy cluster start --site A [--site B ...] [--full | --since YYYY-MM-DD]
    scrapy cluster work [--crawl ID] [--wait SECONDS]
    scrapy cluster status [--crawl ID]

Every one needs ``CLUSTER_REDIS_URL`` (``-s`` or ``HEPZA_CLUSTER_REDIS_URL``). ``start`` writes
the crawl into Redis, makes it the current crawl and prints its id; ``work`` runs one crawler per
site of the crawl (default: the current one) in this process until every site is done (``--wait``:
poll that long for a current crawl to be running instead of refusing); ``status``
prints the queue and leases of each site and the workers' last beats.

Exit status: 0 done (``work``: every crawler of this worker ended well), 1 a failed run
(``work``: a crawler of this worker recorded a failure), 2 bad usage (Redis unreachable, no such
crawl, a crawl started by other code or already over, an unknown site, a bad value).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from scrapy import signals
from scrapy.commands import ScrapyCommand
from scrapy.crawler import Crawler
from scrapy.exceptions import UsageError

from crawler.domain.errors import EXIT_BAD_USAGE, EXIT_FAILED_RUN, ConfigError

if TYPE_CHECKING:
    import argparse

    from scrapy.settings import BaseSettings

    from crawler.cluster.crawl import ClusterCrawl, WorkerInfo

ACTIONS = ("start", "work", "status")
# Every crawler of a worker is a cluster crawler: its components come with the add-on.
CLUSTER_ADDON = "crawler.cluster.addon.ClusterAddon"
# How often `scrapy cluster work --wait` looks for a current crawl.
WAIT_POLL_SECONDS = 2.0


class CommandRefused(Exception):
    """One line for stderr, and the exit status."""

    def __init__(self, message: str, code: int = EXIT_BAD_USAGE) -> None:
        super().__init__(message)
        self.code = code


class Command(ScrapyCommand):
    default_settings: ClassVar[dict[str, Any]] = {"LOG_ENABLED": True}
    _prepared: tuple[ClusterCrawl]

    def syntax(self) -> str:
        return "start|work|status [options]"

    def short_desc(self) -> str:
        return "Run a crawl of many sites on several worker processes (Redis, CLUSTER_REDIS_URL)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "--site", action="append", default=[], help="start: a site profile to crawl"
        )
        parser.add_argument("--full", action="store_true", help="start: a full crawl")
        parser.add_argument("--since", help="start: a full crawl of what was published since DAY")
        parser.add_argument("--crawl", help="work/status: the crawl id (default: the current)")
        parser.add_argument(
            "--wait",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="work: with no current crawl running, wait for one this long (poll) instead "
            "of refusing at once",
        )

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        from crawler.setup.paths import resolve_output_paths  # noqa: PLC0415

        super().process_options(args, opts)
        assert self.settings is not None
        # Every output place a worker writes (reports, rejects, the WARC archive, the SQLite
        # database) under OUTPUT_DIR unless given, as for `scrapy crawl`.
        resolve_output_paths(self.settings)
        if len(args) != 1 or args[0] not in ACTIONS:
            raise UsageError("give one action: start, work or status")
        # Only a worker crawls. Its refusals come here, before the crawler process starts
        # logging: a refused worker prints its one line and nothing else.
        self.requires_crawler_process = args[0] == "work"
        if args[0] == "work":
            try:
                self._prepared = self._prepare_work(opts)
            except CommandRefused as exc:
                sys.stderr.write(f"scrapy cluster work: error: {exc}\n")
                raise SystemExit(exc.code) from None

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        from pipelines.storage.secrets import install_redaction  # noqa: PLC0415

        action = args[0]
        assert self.settings is not None
        # Before any crawler logs its settings: neither password reaches a log line.
        for name in ("CLUSTER_REDIS_URL", "DATABASE_URL"):
            if self.settings.get(name):
                install_redaction(url=self.settings.get(name))
        try:
            if action == "start":
                self._start(opts)
            elif action == "work":
                self._work(*self._prepared)
            else:
                self._status(opts)
        except CommandRefused as exc:
            sys.stderr.write(f"scrapy cluster {action}: error: {exc}\n")
            self.exitcode = exc.code

    # --- shared -----------------------------------------------------------------------------

    def _client(self) -> Any:
        # The cluster extra (redis, scrapy-redis) is needed by these commands alone.
        from crawler.cluster.connection import (  # noqa: PLC0415 (the cluster extra, optional)
            ClusterUnavailable,
            check_reachable,
            redis_client,
            shared_client,
        )
        from crawler.setup.config import check_numeric_settings  # noqa: PLC0415

        settings = self.settings
        assert settings is not None
        url = settings.get("CLUSTER_REDIS_URL")
        if not url:
            raise CommandRefused(
                "CLUSTER_REDIS_URL is empty: give the cluster's Redis with "
                "-s CLUSTER_REDIS_URL=redis://host:6379/0 or HEPZA_CLUSTER_REDIS_URL"
            )
        try:
            check_numeric_settings(settings)
            # The one the worker's crawlers use too (crawler/cluster/connection.py).
            client = shared_client(url, settings.getfloat("CLUSTER_REDIS_RETRY_SECONDS"))
            # At start a missing server is a wrong address, not a fault to wait out.
            probe = redis_client(url, 0)
            try:
                check_reachable(probe, url)
            finally:
                probe.close()
        except (ConfigError, ClusterUnavailable) as exc:
            raise CommandRefused(str(exc)) from None
        return client

    def _load(self, client: Any, crawl_id: str | None, *, fingerprint: str | None) -> ClusterCrawl:
        from crawler.cluster.crawl import (  # noqa: PLC0415 (the cluster extra, optional)
            ClusterCrawl,
            ClusterRefused,
        )

        assert self.settings is not None
        try:
            return ClusterCrawl.load(
                client, self.settings.get("CLUSTER_KEY_PREFIX"), crawl_id, fingerprint=fingerprint
            )
        except ClusterRefused as exc:
            raise CommandRefused(str(exc)) from None

    # --- start ------------------------------------------------------------------------------

    def _start(self, opts: argparse.Namespace) -> None:
        from crawler.cluster.crawl import ClusterCrawl  # noqa: PLC0415 (the cluster extra)
        from crawler.cluster.record import start_cluster_run  # noqa: PLC0415 (as above)
        from crawler.setup.config import parse_since  # noqa: PLC0415
        from crawler.setup.fingerprint import source_fingerprint  # noqa: PLC0415
        from crawler.sites.profile import ProfileError, load_profiles, profile_dirs  # noqa: PLC0415
        from pipelines.storage.secrets import redact_url  # noqa: PLC0415
        from pipelines.storage.store import ArticleStore, StorageError  # noqa: PLC0415

        settings = self.settings
        assert settings is not None
        sites = list(dict.fromkeys(opts.site))
        if not sites:
            raise CommandRefused("give the sites to crawl: --site NAME (one per site profile)")
        try:
            profiles = load_profiles(profile_dirs(settings))
        except ProfileError as exc:
            raise CommandRefused(str(exc)) from None
        unknown = [s for s in sites if s not in profiles]
        if unknown:
            raise CommandRefused(
                f"--site {unknown[0]!r} is not a site profile: expected one of "
                f"{', '.join(sorted(profiles)) or 'none'} (cluster mode crawls profiles only)"
            )
        if opts.full and opts.since:
            raise CommandRefused("give --full or --since, not both")
        args: dict[str, str] = {}
        if opts.full:
            args["full"] = "1"
        if opts.since:
            try:
                args["since"] = parse_since(opts.since).isoformat()
            except ConfigError as exc:
                raise CommandRefused(str(exc)) from None
        database = self._check_database(settings)
        client = self._client()
        crawl_id = uuid.uuid4().hex
        # The cluster's one crawl_runs row first: a crawl in Redis always has its run.
        try:
            store = ArticleStore.from_settings(settings)
            try:
                start_cluster_run(store, crawl_id, sites, args, datetime.now(UTC))
            finally:
                store.close()
        except StorageError as exc:
            message = f"the cluster run could not be recorded: {exc}"
            raise CommandRefused(message, EXIT_FAILED_RUN) from None
        crawl = ClusterCrawl.create(
            client,
            settings.get("CLUSTER_KEY_PREFIX"),
            sites=sites,
            args=args,
            fingerprint=source_fingerprint(),
            database=redact_url(database),
            crawl_id=crawl_id,
        )
        sys.stdout.write(f"{crawl.id}\n")
        sys.stderr.write(
            f"cluster crawl {crawl.id} started: {', '.join(sites)} "
            f"({'full' if args else 'incremental'}); run 'scrapy cluster work' on each worker\n"
        )

    def _check_database(self, settings: BaseSettings) -> str:
        # Imported here, as the storage below: Scrapy imports every command module for every
        # command, and these bring SQLAlchemy (`scrapy search --help` needs none of it).
        from crawler.setup.preflight import (  # noqa: PLC0415
            DatabaseUnreachable,
            check_database_reachable,
            check_database_url,
        )

        database = str(settings.get("DATABASE_URL") or "")
        if not database:
            raise CommandRefused("DATABASE_URL is empty: cluster workers store into one database")
        try:
            check_database_reachable(database, check_database_url(database))
        except ConfigError as exc:
            raise CommandRefused(str(exc)) from None
        except DatabaseUnreachable as exc:
            raise CommandRefused(str(exc), EXIT_FAILED_RUN) from None
        return database

    # --- work -------------------------------------------------------------------------------

    def _prepare_work(self, opts: argparse.Namespace) -> tuple[ClusterCrawl]:
        """The crawl this worker works on: refused when Redis is unreachable, when there is no
        such crawl, when it was started by other code, or when it is over. With ``--wait``, no
        current crawl or a current crawl that is over is waited out (polled) for that long."""
        from redis.exceptions import RedisError  # noqa: PLC0415 (the cluster extra, optional)

        from crawler.cluster.connection import (  # noqa: PLC0415 (the cluster extra, optional)
            ClusterUnavailable,
        )

        # Scrapy's downloader comes with crawler.compat: imported when a cluster command runs,
        # not at every command's start-up.
        from crawler.compat import cluster_refusal  # noqa: PLC0415

        refusal = cluster_refusal(self.settings)
        if refusal is not None:
            raise CommandRefused(refusal)

        client = self._client()
        wait = float(opts.wait or 0)
        if wait < 0:
            raise CommandRefused(f"--wait {wait:g}: give 0 or more seconds")
        deadline = time.monotonic() + wait
        waiting = False
        while True:
            try:
                crawl, reason = self._running_crawl(client, opts.crawl, waits=wait > 0)
            except RedisError as exc:
                assert self.settings is not None
                url = self.settings.get("CLUSTER_REDIS_URL")
                raise CommandRefused(str(ClusterUnavailable(url, exc))) from None
            if crawl is not None:
                return (crawl,)
            if not wait or time.monotonic() >= deadline:
                raise CommandRefused(reason + (f" (waited {wait:g} s)" if wait else ""))
            if not waiting:
                sys.stderr.write(f"scrapy cluster work: {reason}; waiting up to {wait:g} s\n")
                waiting = True
            time.sleep(max(0.0, min(WAIT_POLL_SECONDS, deadline - time.monotonic())))

    def _running_crawl(
        self, client: Any, crawl_id: str | None, *, waits: bool
    ) -> tuple[ClusterCrawl | None, str]:
        """The running crawl to work on, or None and why there is none yet (raises
        :class:`CommandRefused` for what waiting cannot mend)."""
        from crawler.cluster.crawl import (  # noqa: PLC0415 (the cluster extra, optional)
            STATUS_RUNNING,
            ClusterCrawl,
        )
        from crawler.setup.fingerprint import source_fingerprint  # noqa: PLC0415

        assert self.settings is not None
        prefix = self.settings.get("CLUSTER_KEY_PREFIX")
        if crawl_id is None and waits and client.get(ClusterCrawl.current_key(prefix)) is None:
            return None, "no cluster crawl has been started"
        crawl = self._load(client, crawl_id, fingerprint=None)
        if crawl.status != STATUS_RUNNING:
            over = f"crawl {crawl.id} is over ({crawl.status}): nothing to work on"
            if crawl_id is not None:
                raise CommandRefused(over)
            return None, over
        return self._load(client, crawl.id, fingerprint=source_fingerprint()), ""

    def _work(self, crawl: ClusterCrawl) -> None:
        from redis.exceptions import RedisError  # noqa: PLC0415 (the cluster extra, optional)

        from crawler.cluster.connection import (  # noqa: PLC0415 (the cluster extra, optional)
            ClusterUnavailable,
            stop_waiting,
        )
        from crawler.cluster.crawl import WorkerInfo  # noqa: PLC0415 (the cluster extra)
        from crawler.compat import on_shutdown_signal  # noqa: PLC0415 (Scrapy's downloader)

        settings = self.settings
        assert settings is not None and self.crawler_process is not None
        worker_id = f"{socket.gethostname()}-{os.getpid()}"
        lease = settings.getfloat("CLUSTER_LEASE_SECONDS")
        crawlers: dict[str, Crawler] = {}
        for site in crawl.sites:
            crawlers[site] = self._site_crawler(site, crawl, worker_id)
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        open_sites = set(crawlers)

        def info() -> WorkerInfo:
            return WorkerInfo(
                worker_id, socket.gethostname(), os.getpid(), started_at, 0.0, sorted(open_sites)
            )

        crawl.beat(info())
        lost: list[str] = []

        def beat() -> None:
            # Redis lost: the crawlers fail their runs (redis_unavailable); the worker's beat
            # and the crawl's end wait for Redis no more.
            if lost:
                return
            try:
                crawl.beat(info())
            except RedisError as exc:
                lost.append(str(ClusterUnavailable(settings.get("CLUSTER_REDIS_URL"), exc)))
                _close_all(crawlers, lost[0])

        for site, crawler in crawlers.items():

            def closed(site: str = site) -> None:
                open_sites.discard(site)
                beat()

            crawler.signals.connect(closed, signal=signals.engine_stopped, weak=False)
            self.crawler_process.crawl(crawler, **crawl.args)
        heartbeat = _looping(beat, lease / 4)
        # SIGTERM stops the worker promptly, Redis down or not: no call waits for it any more.
        on_shutdown_signal(self.crawler_process, stop_waiting)
        self.crawler_process.start()
        if heartbeat.running:
            heartbeat.stop()
        beat()
        failed = self.crawler_process.bootstrap_failed or any(
            _failed(crawler) for crawler in crawlers.values()
        )
        if not lost:
            try:
                failed = self._finish_if_done(crawl, worker_id, lease) or failed
            except RedisError as exc:
                lost.append(str(ClusterUnavailable(settings.get("CLUSTER_REDIS_URL"), exc)))
        if lost:
            failed = True
            recorded = self._record_lost(crawl, worker_id, lost[0], crawlers)
            sys.stderr.write(
                f"scrapy cluster work: run failed (redis_unavailable): {lost[0]}; this worker "
                f"stopped, crawl {crawl.id} "
                f"{'recorded as failed in crawl_runs' if recorded else 'unfinished in Redis'}\n"
            )
        self.exitcode = EXIT_FAILED_RUN if failed else 0

    def _record_lost(
        self, crawl: ClusterCrawl, worker_id: str, reason: str, crawlers: dict[str, Crawler]
    ) -> bool:
        """Redis is lost: the cluster's run row must not stay ``running``. Whether it now says
        failed (written here or by another worker)."""
        from crawler.cluster.record import (  # noqa: PLC0415 (the cluster extra, optional)
            fail_cluster_run_without_redis,
        )
        from pipelines.storage.store import ArticleStore, StorageError  # noqa: PLC0415

        settings = self.settings
        assert settings is not None
        try:
            store = ArticleStore.from_settings(settings)
        except StorageError as exc:
            sys.stderr.write(f"cluster crawl {crawl.id}: the run cannot be recorded: {exc}\n")
            return False
        stats = {
            site: crawler.stats.get_stats()
            for site, crawler in crawlers.items()
            if crawler.stats is not None
        }
        try:
            outcome = fail_cluster_run_without_redis(
                store,
                crawl.id,
                settings.get("REPORTS_DIR"),
                sites=crawl.sites,
                worker_id=worker_id,
                reason=reason,
                worker_stats=stats,
            )
            return outcome == "failed"
        finally:
            store.close()

    def _site_crawler(self, site: str, crawl: ClusterCrawl, worker_id: str) -> Crawler:
        """A crawler of the site's spider with its own settings: the crawl, this worker, and the
        cluster's add-on (crawler/cluster/addon.py: its scheduler, limiter, publisher, run
        owner, and items stored one at a time)."""
        settings = self.settings
        assert settings is not None and self.crawler_process is not None
        own = settings.copy()
        own.set("CLUSTER_CRAWL_ID", crawl.id, priority="cmdline")
        own.set("CLUSTER_WORKER_ID", worker_id, priority="cmdline")
        own.set("ADDONS", {**own.getdict("ADDONS"), CLUSTER_ADDON: 0}, priority="cmdline")
        own.set("RECORD_RUN", True, priority="cmdline")
        try:
            spidercls = self.crawler_process.spider_loader.load(site)
        except KeyError:
            raise CommandRefused(
                f"crawl {crawl.id} names the site {site!r}, which has no profile on this worker "
                "(SITE_PROFILES_DIR)"
            ) from None
        return Crawler(spidercls, own)

    def _finish_if_done(self, crawl: ClusterCrawl, worker_id: str, lease: float) -> bool:
        """When every site is done and no live worker still has one open, the first worker to
        see it finishes the cluster's run: every worker's stats merged, judged, one report and
        one ``crawl_runs`` row. Whether this worker finished it and the run failed."""
        from crawler.cluster.crawl import (  # noqa: PLC0415 (the cluster extra, optional)
            STATUS_DONE,
            STATUS_FAILED,
        )
        from crawler.cluster.record import finish_cluster_run  # noqa: PLC0415 (as above)
        from pipelines.storage.store import ArticleStore, StorageError  # noqa: PLC0415

        settings = self.settings
        assert settings is not None
        if not crawl.all_sites_done():
            return False
        others = [w for w in crawl.live_workers(within=lease) if w.worker_id != worker_id]
        if any(w.sites for w in others):
            return False
        try:
            store: ArticleStore | None = ArticleStore.from_settings(settings)
        except StorageError as exc:
            sys.stderr.write(f"cluster crawl {crawl.id}: the run cannot be recorded: {exc}\n")
            store = None
        try:
            result = finish_cluster_run(
                crawl.client,
                crawl.prefix,
                crawl.id,
                store,
                settings.get("REPORTS_DIR"),
                settings=settings,
                worker_id=worker_id,
                sites=crawl.sites,
            )
        finally:
            if store is not None:
                store.close()
        if result is None or not result.finished_here:
            return False
        failed = store is None or result.outcome != "succeeded"
        crawl.set_status(STATUS_FAILED if failed else STATUS_DONE)
        crawl.expire(settings.getfloat("CLUSTER_RETENTION_SECONDS"))
        sys.stderr.write(f"cluster crawl {crawl.id} is over: {result.outcome}\n")
        return failed

    # --- status -----------------------------------------------------------------------------

    def _status(self, opts: argparse.Namespace) -> None:
        settings = self.settings
        assert settings is not None
        client = self._client()
        crawl = self._load(client, opts.crawl, fingerprint=None)
        lease = settings.getfloat("CLUSTER_LEASE_SECONDS")
        live = {w.worker_id for w in crawl.live_workers(within=lease)}
        lines = [
            f"crawl {crawl.id}: {crawl.status}, code {crawl.fingerprint}, "
            f"mode {json.dumps(crawl.args) if crawl.args else 'incremental'}"
        ]
        for site in crawl.sites:
            state = crawl.site_state(site)
            lines.append(
                f"  site {site}: {state['queued']} queued, {state['leased']} leased, "
                f"{'seeded' if state['seeded'] else 'not seeded'}"
                f"{', done' if state['done'] else ''}"
            )
        for worker in crawl.workers():
            beat = datetime.fromtimestamp(worker.beat, UTC).isoformat(timespec="seconds")
            lines.append(
                f"  worker {worker.worker_id}: {'alive' if worker.worker_id in live else 'gone'}, "
                f"last beat {beat}, open: {', '.join(worker.sites) or 'none'}"
            )
        sys.stdout.write("\n".join(lines) + "\n")


def _failed(crawler: Crawler) -> bool:
    """The ledger's verdict on this crawler's share, relayed: no verdict is a failure."""
    from crawler.extensions.run import verdict_of  # noqa: PLC0415 (start-up of other commands)
    from crawler.ledger import exit_status  # noqa: PLC0415 (as above)

    return exit_status(verdict_of(crawler)) != 0


def _close_all(crawlers: dict[str, Crawler], reason: str) -> None:
    """Redis is lost for the whole worker: every crawler still open fails its run and closes
    now, not when its own next Redis call finds out (a crawler waiting on downloads, or idle
    between checks, might not ask for a long while)."""
    from scrapy.utils.defer import deferred_from_coro  # noqa: PLC0415 (the reactor runs)

    from crawler.domain.outcome import fail_run  # noqa: PLC0415 (as above)

    for crawler in crawlers.values():
        if crawler.crawling and crawler.engine is not None:
            fail_run(crawler, "redis_unavailable", reason)
            deferred_from_coro(crawler.engine.close_spider_async(reason="redis_unavailable"))


def _looping(call: Any, interval: float) -> Any:
    from twisted.internet import task  # noqa: PLC0415 (the reactor is installed by then)

    loop = task.LoopingCall(call)
    loop.start(interval, now=False)
    return loop
