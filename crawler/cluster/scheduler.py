"""The scheduler of a cluster crawler: scrapy-redis's Scheduler over the site's lease queue and
duplicate filter in Redis (``SCHEDULER``, set by the cluster's add-on, crawler/cluster/addon.py,
on each crawler ``scrapy cluster work`` starts).

When is a request done? Scrapy 2.19 sends no signal for it. The engine hands each downloaded
response (or failure) to the scraper, whose Deferred fires once the callback's whole output is
processed: every item through every item pipeline and every request enqueued. Through
``crawler.compat.install_scrape_ack`` (the one place that reaches Scrapy's scraper) this
scheduler then asks the storage writer to call back once the batch holding the request's items
is committed (``StoreWriter.when_written``; a batch not full is committed within
WRITE_WAIT_SECONDS when leases wait for it), and only then acknowledges the lease. A download
that ends in another request instead (a redirect, a retry) never reaches the scraper: its lease
is acknowledged with the push of the new request.

Few round trips: the requests a callback enqueues and the leases done are sent together, in one
Lua step (:meth:`LeaseQueue.push_and_ack`: each request into the site's duplicate filter, as a
14-byte fingerprint, and its queue unless the filter had it; then the acknowledgements), before
the engine asks for its next request or on the reactor's next turn; a worker leases
CLUSTER_LEASE_BATCH requests per round trip. A fingerprint in the filter is always of a
request queued, leased or done. A lease put back in the queue (its worker was killed, or
stopped early) comes back marked ``REDELIVERED_META``: its callback may have run, its output
not reached the queue, so the spider's frontier decides its URLs again
(crawler/crawl/redelivery.py).

The engine asks for a request after every response: once a lease round trip found the queue
drained, it is not asked again for EMPTY_QUEUE_SECONDS while this worker's own requests are
downloading (the end of each asks again) unless the worker queued requests since.

The spider stays open while its site has work anywhere in the cluster (its seeds not yet
enqueued, requests queued or leased by any worker): ``spider_idle`` raises DontCloseSpider.
Once both are empty the spider closes and the site is marked done; kept open only for its own
leases waiting for their commit, the worker wakes the engine once they are acknowledged
(``crawler.compat.wake_engine``) instead of waiting for its next 5-second heartbeat. Leases are
renewed every quarter of CLUSTER_LEASE_SECONDS; expired ones (a killed worker's) are reaped on
``next_request`` and on ``spider_idle``, at most once per REAP_INTERVAL.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError
from scrapy import signals
from scrapy.exceptions import CloseSpider, DontCloseSpider
from scrapy.utils.asyncio import call_later, sleep
from scrapy.utils.defer import deferred_from_coro
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.scheduler import Scheduler
from twisted.internet import task

from crawler.cluster.connection import ClusterUnavailable, shared_client
from crawler.cluster.crawl import ORIGIN, ClusterCrawl
from crawler.cluster.frontier_state import DIGEST_BYTES, agreed_origin
from crawler.cluster.queue import LEASE_META, LeaseQueue
from crawler.compat import install_scrape_ack, wake_engine
from crawler.crawl.redelivery import RELEASE_META
from crawler.domain.outcome import fail_run
from crawler.sites.key import site_of
from pipelines.storage.context import RunContext

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from twisted.internet.defer import Deferred

    from pipelines.storage.writer import StoreWriter

logger = logging.getLogger(__name__)

REAP_INTERVAL = 5.0
DEFAULT_LEASE_BATCH = 8
# How often the writer's open batch is committed when leases wait for it (see
# _flush_waiting_items).
WRITE_WAIT_SECONDS = 0.5
# How often a worker whose site's seeds are claimed by another looks whether they are enqueued.
SEEDS_POLL_SECONDS = 1.0
# After a lease round trip found the queue empty, the queue is not asked again for this long
# while this worker's requests are downloading (the end of each has the engine ask again) and
# it queued nothing since: the engine asks after every response, and most of those asks, with
# the queue drained and the pages in flight, were an empty round trip.
EMPTY_QUEUE_SECONDS = 0.1


class ClusterScheduler(Scheduler):
    def __init__(
        self,
        crawler: Crawler,
        crawl: ClusterCrawl,
        worker_id: str,
        lease: float,
        batch: int = DEFAULT_LEASE_BATCH,
    ):
        super().__init__(crawl.client, persist=True)
        self.crawler = crawler
        self.stats = crawler.stats
        self.crawl = crawl
        self.worker_id = worker_id
        self.lease_seconds = lease
        self.site = ""
        self.queue: LeaseQueue
        # this worker's leases not yet acknowledged, and those being scraped now
        self.held: set[str] = set()
        self._scraping: set[str] = set()
        # the leases handed to the engine whose download has not ended yet
        self._downloading: set[str] = set()
        # when a lease round trip last found the queue empty (None: since then, this worker
        # queued requests)
        self._empty_at: float | None = None
        # The spider was kept open for this worker's own leases still waiting for their
        # commit: the engine is woken once they are done (see _send).
        self._idle_waiting = False
        self._last_reap = 0.0
        self._renewer: task.LoopingCall | None = None
        self._failed = False
        self.batch = batch
        # Requests enqueued and leases done, not sent yet: sent together in one step
        # (:meth:`_send`) before the engine asks for its next request, or on the next turn of
        # the reactor, whichever comes first.
        self._pushes: list[tuple[Request, bytes | None]] = []
        self._acks: list[str] = []
        self._release: list[tuple[str, bytes | None]] = []
        self._sending = False
        self._flusher: task.LoopingCall | None = None
        self._run_context: RunContext | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ClusterScheduler:
        settings = crawler.settings
        url = settings.get("CLUSTER_REDIS_URL")
        crawl_id = settings.get("CLUSTER_CRAWL_ID")
        if not url or not crawl_id:
            raise ValueError(
                "ClusterScheduler needs CLUSTER_REDIS_URL and CLUSTER_CRAWL_ID "
                "(run workers with 'scrapy cluster work')"
            )
        client = shared_client(url, settings.getfloat("CLUSTER_REDIS_RETRY_SECONDS"))
        crawl = ClusterCrawl.load(client, settings.get("CLUSTER_KEY_PREFIX"), crawl_id)
        return cls(
            crawler,
            crawl,
            settings.get("CLUSTER_WORKER_ID"),
            settings.getfloat("CLUSTER_LEASE_SECONDS"),
            settings.getint("CLUSTER_LEASE_BATCH", DEFAULT_LEASE_BATCH),
        )

    # --- scrapy-redis Scheduler ---------------------------------------------------------

    def open(self, spider: Spider) -> None:
        self.spider = spider
        self.site = site_of(spider)
        keys = self.crawl.site_keys(self.site)
        base = getattr(spider, "base_url", None) or self.crawler.settings.get("SITE_BASE_URL")
        origin = ORIGIN.match(str(base or ""))
        self.queue = LeaseQueue(
            self.server,
            spider,
            keys,
            self.lease_seconds,
            self.worker_id,
            stats=self.stats,
            batch=self.batch,
            # The frontier's (crawl.site_frontier_state), agreed by the workers.
            origin=agreed_origin(
                self.server, f"{keys.prefix}:frontier", origin.group(0) if origin else ""
            ),
        )
        self.df = RFPDupeFilter(self.server, keys.dupefilter)
        self.crawler.signals.connect(self._on_idle, signal=signals.spider_idle)

        def acking(process_output: Any, result: Any, request: Request) -> Deferred[None]:
            token = request.meta.get(LEASE_META)
            if token is None:
                return process_output(result, request)
            self._downloading.discard(token)
            self._scraping.add(token)
            deferred: Deferred[None] = process_output(result, request)
            deferred.addBoth(self._scraped, token, request)
            return deferred

        # The one call whose completion means the request's output is processed (see above).
        install_scrape_ack(self.crawler, acking)
        self._renewer = task.LoopingCall(self._renew)
        self._renewer.start(self.lease_seconds / 4, now=False)
        self._flusher = task.LoopingCall(self._flush_waiting_items)
        self._flusher.start(WRITE_WAIT_SECONDS, now=False)
        queued = len(self.queue)
        if queued:
            logger.info("%s: %d requests already queued in the cluster", self.site, queued)

    def close(self, reason: str) -> None:
        for loop in (self._renewer, self._flusher):
            if loop is not None and loop.running:
                loop.stop()
        try:
            # What the crawl's last output queued and the leases its last commit finished.
            self._send()
            # Leases this worker could not finish go back to the queue now, not at expiry.
            released = self.queue.release_buffered()
            released += sum(self.queue.release(token) for token in sorted(self.held))
            if released:
                logger.info(
                    "%s: %d unfinished requests given back to the cluster", self.site, released
                )
            self.held.clear()
            self._downloading.clear()
            if reason == "finished" and not self.crawl.site_has_work(self.site):
                self.crawl.mark_site_done(self.site)
                logger.info("%s: the site's crawl is done in the cluster", self.site)
        except RedisError as exc:
            self._lost(exc)

    def enqueue_request(self, request: Request) -> bool:
        """Held until :meth:`_send`: a request the filter drops is logged then, and counted in
        ``cluster/filtered``; Scrapy is told it was scheduled."""
        if self._failed:
            return False
        token = request.meta.get(LEASE_META)
        self._pushes.append((request, None if request.dont_filter else self._fingerprint(request)))
        if token is not None and token not in self._scraping:
            # A redirect or retry of a leased request: its lease is done once it is queued.
            self._acks.append(token)
            self._downloading.discard(token)
        self._send_soon()
        return True

    def _fingerprint(self, request: Request) -> bytes:
        # DIGEST_BYTES of scrapy-redis's fingerprint, not its 40 hex digits: each member in
        # the allocator's 16-byte size class, and two requests still never share one.
        return bytes.fromhex(self.df.request_fingerprint(request))[:DIGEST_BYTES]

    def _send_soon(self) -> None:
        if not self._sending:
            self._sending = True
            call_later(0, self._send_or_lose)

    def _send_or_lose(self) -> None:
        self._sending = False
        try:
            self._send()
        except RedisError as exc:
            self._lost(exc)

    def _send(self) -> None:
        """The requests enqueued (each into the site's duplicate filter and queue, unless the
        filter had it) and then the leases done, one step in Redis
        (:meth:`LeaseQueue.push_and_ack`)."""
        if not (self._pushes or self._acks) or self._failed:
            return
        pushes, acks, release = self._pushes, self._acks, self._release
        self._pushes, self._acks, self._release = [], [], []
        pushed = self.queue.push_and_ack(pushes, acks, release)
        if pushes:
            self._empty_at = None
        for token in acks:
            self.held.discard(token)
        if self._idle_waiting and not self.held:
            # The last of its leases is done: the engine asks whether the site is, now, not
            # at its next heartbeat (up to 5 s after the crawl's last commit).
            self._idle_waiting = False
            wake_engine(self.crawler.engine)
        if self.stats is not None:
            if acks:
                self.stats.inc_value("cluster/acked", len(acks))
            if any(pushed):
                self.stats.inc_value("scheduler/enqueued/redis", sum(pushed))
        for (request, _), added in zip(pushes, pushed, strict=True):
            if not added:
                self.df.log(request, self.spider)

    def next_request(self) -> Request | None:
        if self._failed:
            return None
        try:
            self._send()
            if self._known_empty():
                return None
            self._reap_now_and_then()
            request: Request | None = super().next_request()
        except RedisError as exc:
            self._lost(exc)
            return None
        if request is None:
            self._empty_at = time.monotonic()
            return None
        token = request.meta[LEASE_META]
        self.held.add(token)
        self._downloading.add(token)
        return request

    def _known_empty(self) -> bool:
        """Whether the queue was found empty so lately that it is not asked again now (see
        EMPTY_QUEUE_SECONDS); never when nothing of this worker is downloading, whose end
        would have the engine ask again."""
        return (
            self._empty_at is not None
            and bool(self._downloading)
            and time.monotonic() - self._empty_at < EMPTY_QUEUE_SECONDS
        )

    def has_pending_requests(self) -> bool:
        if self._failed:
            return False
        try:
            self._send()
            return len(self.queue) > 0
        except RedisError as exc:
            self._lost(exc)
            return False

    # --- seeds ---------------------------------------------------------------------------

    def claim_seeds(self) -> bool:
        """Whether this worker's spider enqueues the site's seeds (the first worker to open the
        site does, once for the crawl)."""
        return self.crawl.claim_seeds(self.site, self.worker_id, self.lease_seconds)

    async def wait_for_seeds(self) -> bool:
        """True when this worker's spider is to enqueue the site's seeds: it claimed them, now
        or once the claim of a worker killed before enqueueing them expired
        (CLUSTER_LEASE_SECONDS); False once they are enqueued (by any worker)."""
        try:
            while not self._failed:
                if self.claim_seeds():
                    return True
                if self.crawl.seeds_are_enqueued(self.site):
                    return False
                await sleep(min(self.lease_seconds / 4, SEEDS_POLL_SECONDS))
        except RedisError as exc:
            self._lost(exc)
        return False

    def seeds_enqueued(self) -> None:
        """The seeds are in the queue: the site is done once its queue and leases are empty."""
        self._send()
        self.crawl.seeds_enqueued(self.site)

    # --- leases ---------------------------------------------------------------------------

    def _scraped(self, result: Any, token: str, request: Request) -> Any:
        self._scraping.discard(token)
        # What the callback's frontier state kept only for a run of it again.
        release = request.meta.pop(RELEASE_META, [])
        writer = self._writer()
        if writer is None:
            self._done(token, release)
        else:
            # The request's items may wait in the writer's open batch: its lease is done once
            # that batch is committed (a worker killed before then loses nothing).
            writer.when_written(lambda: self._done(token, release))
        return result

    def _done(self, token: str, release: list[tuple[str, bytes | None]]) -> None:
        self._acks.append(token)
        self._release += release
        self._send_soon()

    def _writer(self) -> StoreWriter | None:
        if self._run_context is None:
            self._run_context = self.crawler.get_extension(RunContext)
        return self._run_context.writer if self._run_context is not None else None

    def _flush_waiting_items(self) -> None:
        """The writer's open batch committed when leases wait for it, full or not: the crawl's
        last items, or a slow trickle, are not held back by the batch size."""
        writer = self._writer()
        if writer is not None and writer.waiting:
            deferred_from_coro(writer.flush_waiting())

    def _renew(self) -> None:
        try:
            self.queue.renew(sorted({*self.held, *self.queue.buffered_tokens}))
        except RedisError as exc:
            self._lost(exc)

    def _reap_now_and_then(self) -> None:
        now = time.monotonic()
        if now - self._last_reap < REAP_INTERVAL:
            return
        self._last_reap = now
        reaped = self.queue.reap()
        if reaped:
            logger.warning(
                "%s: %d expired leases (a worker stopped answering) put back in the queue",
                self.site,
                reaped,
            )
            if self.stats is not None:
                self.stats.inc_value("cluster/reaped", reaped)

    def _on_idle(self) -> None:
        if self._failed:
            raise CloseSpider("redis_unavailable")
        self._flush_waiting_items()
        try:
            self._send()
            self._reap_now_and_then()
            busy = self.crawl.site_has_work(self.site)
        except RedisError as exc:
            self._lost(exc)
            raise CloseSpider("redis_unavailable") from None
        if busy:
            self._idle_waiting = bool(self.held)
            raise DontCloseSpider

    def _lost(self, exc: RedisError) -> None:
        """Redis did not answer within CLUSTER_REDIS_RETRY_SECONDS: the run fails."""
        if self._failed:
            return
        self._failed = True
        error = ClusterUnavailable(self.crawler.settings.get("CLUSTER_REDIS_URL"), exc)
        logger.error("%s: %s", self.site, error)
        fail_run(self.crawler, "redis_unavailable", str(error))


def cluster_scheduler(crawler: Crawler) -> ClusterScheduler | None:
    """The crawler's cluster scheduler; None when it is not a cluster crawler."""
    engine = crawler.engine
    scheduler = engine.scheduler if engine is not None else None
    return scheduler if isinstance(scheduler, ClusterScheduler) else None
