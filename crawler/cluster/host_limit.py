"""Per-host politeness for the whole cluster: a downloader middleware installed by the cluster's
add-ons (crawler/cluster/addon.py), never by a plain crawl.

Every real network attempt (retries and redirects come back through here as new requests)
first takes a slot from :class:`crawler.cluster.limiter.HostLimiter`: at most
``CLUSTER_HOST_CONCURRENCY`` requests in flight to a host across every worker, starts at least
``CLUSTER_HOST_DELAY`` seconds apart. Both default to the site's own politeness
(``CONCURRENT_REQUESTS_PER_DOMAIN`` / ``DOWNLOAD_DELAY``, as its profile sets them), now
holding for the cluster as a whole.

Installed, this middleware owns the delay: :func:`hand_politeness_to_cluster` moves the
site's ``DOWNLOAD_DELAY`` into ``CLUSTER_HOST_DELAY`` and sets Scrapy's per-worker delay to 0
and AutoThrottle off. A local delay would wait a second time after the cluster's grant, and
the request would start later than granted, so the starts of several workers could bunch up.

Waiting never blocks the reactor: the request sleeps (one request per host and worker asks
Redis, the others queue behind it in order) until the limiter grants a slot. The slot is a
short lease (``CLUSTER_HOST_SLOT_SECONDS``) that the worker renews every quarter of it while the
request runs, released on the response or the exception; a worker killed mid-request leaves its
slots to expire within ``CLUSTER_HOST_SLOT_SECONDS``, not a whole download timeout.

Few round trips: without a delay (``CLUSTER_HOST_DELAY`` 0) the slot of a finished request is
kept, still leased, for SPARE_SECONDS, and the worker's next request to the same host takes it
without a word to Redis (at most REUSE_MAX times in a row, so that other workers get their
turn); one not taken by then goes back. With a delay, every start is the cluster's to space,
and each one asks Redis.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.asyncio import call_later, sleep
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet import task
from twisted.internet.defer import DeferredLock

from crawler.cluster.limiter import HostLimiter, HostLimits, host_key
from crawler.domain.outcome import fail_run
from crawler.setup.config import parse_number

if TYPE_CHECKING:
    from typing import Self

    import redis
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

# request.meta key of the held slot: (host, lease token)
SLOT_META = "cluster_host_slot"
# A held slot's lease when CLUSTER_HOST_SLOT_SECONDS is not set: renewed every quarter of it.
DEFAULT_SLOT_SECONDS = 10.0
DEFAULT_KEY_PREFIX = "hepza"
DEFAULT_REDIS_RETRY_SECONDS = 60.0
# A slot handed from a finished request to a waiting one of the same worker, at most this many
# times before it goes back to the cluster.
REUSE_MAX = 16
# A finished request's slot not taken by the worker's next request by then goes back.
SPARE_SECONDS = 0.25
FAILURE_CODE = "redis_unavailable"


class HostLimiterUnavailable(IgnoreRequest):
    """A request refused because the per-host limiter could not reach Redis."""


def hand_politeness_to_cluster(settings: BaseSettings) -> None:
    """In cluster mode, the site's delay and concurrency become the cluster's (unless given as
    ``CLUSTER_HOST_*``) and Scrapy's per-worker delay and AutoThrottle are switched off."""
    if settings.get("CLUSTER_HOST_DELAY") is None:
        settings.set("CLUSTER_HOST_DELAY", settings.get("DOWNLOAD_DELAY"), priority="cmdline")
    if settings.get("CLUSTER_HOST_CONCURRENCY") is None:
        concurrency = settings.get("CONCURRENT_REQUESTS_PER_DOMAIN")
        settings.set("CLUSTER_HOST_CONCURRENCY", concurrency, priority="cmdline")
    settings.set("DOWNLOAD_DELAY", 0, priority="cmdline")
    settings.set("AUTOTHROTTLE_ENABLED", False, priority="cmdline")


def _limit(settings: BaseSettings, name: str, fallback: str) -> float:
    value = settings.get(name)
    if value is None:
        value = settings.get(fallback)
        name = fallback
    return parse_number(name, value)


def _redis_client(url: str, retry_seconds: float) -> redis.Redis:
    """The worker's client (retried with backoff for about ``retry_seconds``), its connections
    shared with the scheduler's."""
    from crawler.cluster.connection import shared_client  # noqa: PLC0415 (cluster mode only)

    return shared_client(url, retry_seconds)


class ClusterHostLimitMiddleware:
    def __init__(self, crawler: Crawler, limiter: HostLimiter) -> None:
        self.crawler = crawler
        self.limiter = limiter
        settings = crawler.settings
        self.concurrency = int(
            _limit(settings, "CLUSTER_HOST_CONCURRENCY", "CONCURRENT_REQUESTS_PER_DOMAIN")
        )
        self.delay = _limit(settings, "CLUSTER_HOST_DELAY", "DOWNLOAD_DELAY")
        self.slot_seconds = parse_number(
            "CLUSTER_HOST_SLOT_SECONDS",
            settings.get("CLUSTER_HOST_SLOT_SECONDS") or DEFAULT_SLOT_SECONDS,
        )
        self._local: dict[str, DeferredLock] = {}
        # host -> the slots this worker holds there (renewed while their requests run)
        self._held: dict[str, set[str]] = {}
        self._renewer = task.LoopingCall(self.renew_held)
        self._failed = False
        # host -> slots handed over by a finished request to the next waiting one (delay 0),
        # and how often each token was handed over
        self._spare: dict[str, list[str]] = {}
        self._uses: dict[str, int] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        url = crawler.settings.get("CLUSTER_REDIS_URL")
        if not url:
            # Not a cluster run: simply off. A reason would make Scrapy log "Disabled" at
            # WARNING on every single-process run.
            raise NotConfigured
        retry_seconds = crawler.settings.getfloat(
            "CLUSTER_REDIS_RETRY_SECONDS", DEFAULT_REDIS_RETRY_SECONDS
        )
        prefix = crawler.settings.get("CLUSTER_KEY_PREFIX") or DEFAULT_KEY_PREFIX
        limiter = HostLimiter(_redis_client(url, retry_seconds), prefix)
        middleware = cls(crawler, limiter)
        crawler.signals.connect(middleware._start_renewing, signal=signals.spider_opened)
        crawler.signals.connect(middleware._stop_renewing, signal=signals.spider_closed)
        logger.info(
            "cluster politeness: at most %d requests in flight per host, starts %.3g s apart, "
            "across every worker",
            middleware.concurrency,
            middleware.delay,
        )
        return middleware

    async def process_request(self, request: Request) -> None:
        host = host_key(request.url)
        limits = HostLimits(self.concurrency, self.delay, self.slot_seconds)
        spare = self._spare.get(host)
        if spare:
            token, waited = spare.pop(), 0.0
        else:
            lock = self._local.setdefault(host, DeferredLock())
            await maybe_deferred_to_future(lock.acquire())
            try:
                token, waited = await self._wait_for_slot(host, limits)
            finally:
                lock.release()
        if token in self._uses:
            self._uses[token] += 1
        else:
            self._uses[token] = 0
        request.meta[SLOT_META] = (host, token)
        self._held.setdefault(host, set()).add(token)
        if waited:
            stats = self.crawler.stats
            assert stats is not None
            stats.inc_value("cluster/host_waits")
            total = float(stats.get_value("cluster/host_wait_seconds") or 0.0) + waited
            stats.set_value("cluster/host_wait_seconds", round(total, 3))

    async def _wait_for_slot(self, host: str, limits: HostLimits) -> tuple[str, float]:
        import redis  # noqa: PLC0415 (loaded by from_crawler)

        started = time.monotonic()
        while True:
            spare = self._spare.get(host)
            if spare:
                return spare.pop(), 0.0
            try:
                answer = self.limiter.acquire(host, limits)
            except redis.RedisError as exc:
                self._redis_lost(exc)
                raise HostLimiterUnavailable(f"the per-host limiter lost Redis: {exc}") from exc
            if answer.token is not None:
                waited = time.monotonic() - started
                return answer.token, waited if waited > 0.001 else 0.0
            await sleep(answer.wait)

    def process_response(self, request: Request, response: Response) -> Response:
        self._release(request)
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        self._release(request)

    def _release(self, request: Request) -> None:
        # Popped before the retry and redirect middlewares copy the request's meta.
        slot = request.meta.pop(SLOT_META, None)
        if slot is None:
            return
        host, token = slot
        if (
            self.delay == 0
            and self.crawler.crawling
            and self._uses.get(token, REUSE_MAX) < REUSE_MAX
            and not self._failed
        ):
            # Kept a moment for this worker's next request to the host (the engine sends it
            # once this response is through): no round trip to give it back and take it again.
            self._spare.setdefault(host, []).append(token)
            call_later(SPARE_SECONDS, self._release_spare, host, token, request.url)
            return
        self._release_token(host, token, request.url)

    def _release_spare(self, host: str, token: str, url: str) -> None:
        spare = self._spare.get(host, [])
        if token in spare:
            spare.remove(token)
            self._release_token(host, token, url)

    def _release_token(self, host: str, token: str, url: str) -> None:
        import redis  # noqa: PLC0415 (loaded by from_crawler)

        self._uses.pop(token, None)
        self._held.get(host, set()).discard(token)
        try:
            held = self.limiter.release(host, token)
        except redis.RedisError as exc:
            # The lease expires on its own; the lost connection fails the run.
            self._redis_lost(exc)
            return
        if not held:
            stats = self.crawler.stats
            assert stats is not None
            stats.inc_value("cluster/host_lease_expired")
            logger.warning(
                "a request to %s outlived its host slot's lease (%s): the host may have seen "
                "more requests at once than allowed",
                host,
                url,
            )

    def renew_held(self) -> None:
        """Renews the lease of every slot this worker holds (its requests still run)."""
        import redis  # noqa: PLC0415 (loaded by from_crawler)

        try:
            for host, tokens in list(self._held.items()):
                if tokens:
                    self.limiter.renew(host, sorted(tokens), self.slot_seconds)
        except redis.RedisError as exc:
            self._redis_lost(exc)

    def _start_renewing(self) -> None:
        if not self._renewer.running:
            self._renewer.start(self.slot_seconds / 4, now=False)

    def _stop_renewing(self) -> None:
        if self._renewer.running:
            self._renewer.stop()
        for host, tokens in list(self._spare.items()):
            while tokens:
                self._release_token(host, tokens.pop(), host)

    def _redis_lost(self, exc: Exception) -> None:
        if self._failed:
            return
        self._failed = True
        fail_run(
            self.crawler,
            FAILURE_CODE,
            f"Redis became unreachable for the cluster's per-host limiter: {exc}",
        )
        if self.crawler.crawling and self.crawler.engine is not None:
            deferred_from_coro(self.crawler.engine.close_spider_async(reason=FAILURE_CODE))
