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
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.asyncio import sleep
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
    """A client that retries a lost connection with backoff for about ``retry_seconds``."""
    import redis  # noqa: PLC0415 (cluster mode only: a plain crawl never imports redis)

    from crawler.cluster.connection import bounded_retry  # noqa: PLC0415 (as above)

    # Shares the process's record of a lost server: no more waiting once the run failed.
    retry = bounded_retry(url, retry_seconds)
    return redis.Redis.from_url(
        url,
        retry=retry,
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        socket_timeout=10,
        socket_connect_timeout=10,
    )


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
        lock = self._local.setdefault(host, DeferredLock())
        await maybe_deferred_to_future(lock.acquire())
        try:
            token, waited = await self._wait_for_slot(host, limits)
        finally:
            lock.release()
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
        import redis  # noqa: PLC0415 (loaded by from_crawler)

        host, token = slot
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
                request.url,
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
