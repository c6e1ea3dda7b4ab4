"""The Redis client of cluster mode: every call retried with exponential backoff for a bounded
time (``CLUSTER_REDIS_RETRY_SECONDS``), and one line naming the server when it cannot be
reached."""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar, cast

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from pipelines.storage.secrets import install_redaction, redact_url

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")

# Backoff between retries of one call: 0.1 s doubling up to 5 s.
BACKOFF_BASE = 0.1
BACKOFF_CAP = 5.0
SOCKET_TIMEOUT = 10.0


class ClusterUnavailable(RuntimeError):
    """Redis cannot be reached (or answered with an error): one line naming the server, its
    password masked."""

    def __init__(self, url: str, error: BaseException | str) -> None:
        self.url = redact_url(url)
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        super().__init__(f"Redis at {self.url} is unavailable: {detail}")


def retries_within(seconds: float) -> int:
    """How many retries, backing off from BACKOFF_BASE doubling up to BACKOFF_CAP, fit in
    ``seconds`` of waiting (at least one)."""
    waited, delay, count = 0.0, BACKOFF_BASE, 0
    while waited + delay <= seconds:
        waited += delay
        delay = min(delay * 2, BACKOFF_CAP)
        count += 1
    return max(count, 1)


# The servers (by URL) a call of this process waited for in vain for its whole bound.
_LOST: set[str] = set()
# Set once the worker was told to stop (SIGTERM): no call waits for Redis any more.
_STOPPING: list[bool] = []
# Set while a client of :func:`once_client` calls: tried once, whatever its connection's retry.
_ONCE: ContextVar[bool] = ContextVar("cluster_redis_once", default=False)
# The process's clients, one per server and bound: a worker's scheduler, frontier state,
# limiter and stats share their connections (each connection is about 20 KB of the server's
# memory, and a worker runs one call at a time).
_CLIENTS: dict[tuple[str, float], ClusterRedis] = {}
# Backoff sleeps are cut in slices this long: a stop (SIGTERM) ends the wait within one.
SLEEP_SLICE = 0.1


def stop_waiting() -> None:
    """From now on every call to any server is tried once, without waiting: the process is
    stopping and what it still says to Redis (leases given back) is worth no wait. Safe in a
    signal handler (it only appends to a list)."""
    _STOPPING.append(True)


class BoundedRetry(Retry):
    """Retries a call with backoff; once a call of this process waited its whole bound in
    vain, the server is lost: later calls to it try once, without waiting, until a command is
    answered again (:class:`ClusterRedis`). A worker failing its run for ``redis_unavailable``
    then winds down at once instead of waiting the bound again for each Redis call its
    crawlers (one per site) still make.

    Only an answered command finds the server back, not a call of this class that succeeded:
    redis-py's pool "connects" a pooled connection whose socket the dead server closed (a no-op
    that succeeds) before it finds the socket dead and connects again. Were that no-op the
    sign of a server back, every connection made before the loss would wait the whole bound
    once more: with dozens of crawlers, each with its clients, the worker outlived its Redis
    by many minutes."""

    def __init__(self, url: str, backoff: Any, retries: int, supported_errors: Any) -> None:
        super().__init__(backoff, retries, supported_errors=supported_errors)
        self.url = url

    def call_with_retry(
        self,
        do: Callable[[], T],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        self._backoff.reset()
        failures = 0
        while True:
            try:
                return do()
            except self._supported_errors as error:
                if is_retryable is not None and not is_retryable(error):
                    raise
                failures += 1
                if with_failure_count:
                    fail(error, failures)
                else:
                    fail(error)
                own_check = getattr(self, "_is_retryable", None)
                if own_check is not None and not own_check(error):
                    raise
                if self.url in _LOST or _STOPPING or _ONCE.get():
                    raise
                if failures > self._retries:
                    _LOST.add(self.url)
                    raise
                _sleep(self._backoff.compute(failures))


def _sleep(seconds: float) -> None:
    """Sleeps ``seconds``, or less once the process is stopping (:func:`stop_waiting`)."""
    deadline = time.monotonic() + seconds
    while not _STOPPING and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, SLEEP_SLICE))


class ClusterRedis(redis.Redis):
    """A client whose answered command tells the process its server is back (no longer lost:
    its calls wait out a fault again)."""

    cluster_url = ""
    # Its calls are tried once (see once_client).
    tried_once = False

    def execute_command(self, *args: Any, **options: Any) -> Any:
        once = _ONCE.set(True) if self.tried_once else None
        try:
            answer = super().execute_command(*args, **options)
        finally:
            if once is not None:
                _ONCE.reset(once)
        _LOST.discard(self.cluster_url)
        return answer


def once_client(client: ClusterRedis) -> ClusterRedis:
    """A client over ``client``'s connections whose calls are tried once: a connection error
    or timeout is raised at once (its caller sends the call again, marked so)."""
    once = ClusterRedis(connection_pool=client.connection_pool)
    once.cluster_url = client.cluster_url
    once.tried_once = True
    return once


def is_lost(url: str) -> bool:
    """Whether a call of this process to the server at ``url`` waited its bound in vain and no
    command was answered since."""
    return url in _LOST


def bounded_retry(url: str, retry_seconds: float) -> BoundedRetry:
    """Exponential backoff on connection errors and timeouts for about ``retry_seconds``."""
    return BoundedRetry(
        url,
        ExponentialBackoff(cap=BACKOFF_CAP, base=BACKOFF_BASE),
        retries_within(retry_seconds),
        supported_errors=(RedisConnectionError, RedisTimeoutError, ConnectionResetError),
    )


def redis_client(url: str, retry_seconds: float) -> redis.Redis:
    """A client of the server at ``url`` whose every call is retried on connection errors and
    timeouts for about ``retry_seconds`` before it raises (:class:`BoundedRetry`)."""
    if not url:
        raise ValueError("CLUSTER_REDIS_URL is empty: not a cluster run")
    # The URL's password never reaches a log line (Scrapy logs the settings it was given).
    install_redaction(url=url)
    retry = bounded_retry(url, retry_seconds)
    try:
        client = cast(
            "ClusterRedis",
            ClusterRedis.from_url(
                url,
                retry=retry,
                socket_timeout=SOCKET_TIMEOUT,
                socket_connect_timeout=SOCKET_TIMEOUT,
                health_check_interval=30,
            ),
        )
    except ValueError as exc:  # a URL redis-py cannot read
        raise ClusterUnavailable(url, exc) from None
    client.cluster_url = url
    return client


def shared_client(url: str, retry_seconds: float) -> redis.Redis:
    """:func:`redis_client`, one per server and bound in the process: a worker's scheduler,
    frontier state, host limiter and stats share its connections."""
    client = _CLIENTS.get((url, retry_seconds))
    if client is None:
        client = _CLIENTS[(url, retry_seconds)] = cast(
            "ClusterRedis", redis_client(url, retry_seconds)
        )
    return client


def check_reachable(client: redis.Redis, url: str) -> None:
    """Raises :class:`ClusterUnavailable` unless the server answers a PING."""
    try:
        client.ping()
    except RedisError as exc:
        raise ClusterUnavailable(url, exc) from None
