"""The Redis client of cluster mode: every call retried with exponential backoff for a bounded
time (``CLUSTER_REDIS_RETRY_SECONDS``), and one line naming the server when it cannot be
reached."""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from pipelines.storage.secrets import redact_url

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


def redis_client(url: str, retry_seconds: float) -> redis.Redis:
    """A client of the server at ``url`` whose every call is retried on connection errors and
    timeouts for about ``retry_seconds`` before it raises."""
    if not url:
        raise ValueError("CLUSTER_REDIS_URL is empty: not a cluster run")
    retry = Retry(
        ExponentialBackoff(cap=BACKOFF_CAP, base=BACKOFF_BASE),
        retries_within(retry_seconds),
        supported_errors=(RedisConnectionError, RedisTimeoutError, ConnectionResetError),
    )
    try:
        return redis.Redis.from_url(
            url,
            retry=retry,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            health_check_interval=30,
        )
    except ValueError as exc:  # a URL redis-py cannot read
        raise ClusterUnavailable(url, exc) from None


def check_reachable(client: redis.Redis, url: str) -> None:
    """Raises :class:`ClusterUnavailable` unless the server answers a PING."""
    try:
        client.ping()
    except RedisError as exc:
        raise ClusterUnavailable(url, exc) from None
