"""Per-host politeness for the whole cluster: at most ``concurrency`` requests in flight to a
host across every worker, and consecutive request starts at least ``delay`` seconds apart.

Both are decided in Redis by one Lua script per call, on the Redis server's clock, so workers on
machines with skewed clocks still agree. A granted request holds a slot: a lease (token ->
expiry) in the host's sorted set, renewed by its worker while the request runs
(:meth:`HostLimiter.renew`), removed when the request ends (:meth:`HostLimiter.release`) or, if
its worker died without releasing it, once its short lease has expired.

Keys (per host, shared by every crawl): ``{prefix}:host:{host}:slots`` (zset token -> lease
expiry, epoch seconds) and ``{prefix}:host:{host}:last`` (the start time of the latest granted
request, written only by workers with a delay); both expire on their own when the host is left
alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import redis

# How long a refused caller waits before asking again when every slot is taken: releases are
# not announced, so a full host is polled at this pace (one request per host per worker polls,
# crawler/cluster/host_limit.py).
FULL_POLL_SECONDS = 0.05

_DEFAULT_PORTS = {"http": 80, "https": 443}

# KEYS: slots, last. ARGV: concurrency, delay, lease seconds, token, poll seconds.
# Returns {1, token} when granted, {0, seconds to wait} when refused (numbers as strings: Redis
# truncates Lua numbers to integers in replies).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local concurrency = tonumber(ARGV[1])
local delay = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
local poll = tonumber(ARGV[5])
local wait = 0
-- Without a delay the last start is neither read nor written (two commands less).
local last = delay > 0 and redis.call('GET', KEYS[2])
if last then
  wait = tonumber(last) + delay - now
end
-- Expired slots (their worker died) are cleared only when they would refuse a request.
if redis.call('ZCARD', KEYS[1]) >= concurrency
    and redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) >= 0
    and redis.call('ZCARD', KEYS[1]) >= concurrency then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local until_expiry = tonumber(first[2]) - now
  wait = math.max(wait, math.min(poll, until_expiry))
end
if wait > 0 then
  return {0, tostring(wait)}
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(lease) + 1)
if delay > 0 then
  redis.call('SET', KEYS[2], tostring(now), 'PX', math.ceil(delay * 1000) + 1000)
end
return {1, ARGV[4]}
"""

# KEYS: slots. ARGV: token. Returns 1 when the token still held its slot, 0 when its lease had
# expired (the slot may have gone to another request already).
_RELEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
if expiry and tonumber(expiry) > now then
  return 1
end
return 0
"""


# KEYS: slots. ARGV: lease seconds, tokens... Moves each token's expiry to now + the lease; a
# token whose lease had expired is not revived (its slot may be another's). Returns how many.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local lease = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local pairs = {}
for i = 2, #ARGV do
  pairs[#pairs + 1] = now + lease
  pairs[#pairs + 1] = ARGV[i]
end
-- One command for them all.
local renewed = redis.call('ZADD', KEYS[1], 'XX', 'CH', unpack(pairs))
if renewed > 0 then redis.call('EXPIRE', KEYS[1], math.ceil(lease) + 1) end
return renewed
"""


def host_key(url: str) -> str:
    """The host a URL's request counts against: its host name, and its port when not the
    scheme's default (two portals on one machine, different ports, are two hosts)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port and port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        return f"{host}:{port}"
    return host


@dataclass(frozen=True)
class HostLimits:
    concurrency: int
    delay: float
    # a slot whose holder never released it is free again after this long
    lease_seconds: float

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"host concurrency must be at least 1, got {self.concurrency}")
        if self.delay < 0:
            raise ValueError(f"host delay must not be negative, got {self.delay}")
        if self.lease_seconds <= 0:
            raise ValueError(f"lease must be positive, got {self.lease_seconds}")


@dataclass(frozen=True)
class Acquired:
    """The answer to :meth:`HostLimiter.acquire`: a slot (``token``) or how long to wait."""

    token: str | None
    wait: float = 0.0

    @property
    def granted(self) -> bool:
        return self.token is not None


class HostLimiter:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)

    def keys(self, host: str) -> tuple[str, str]:
        base = f"{self.prefix}:host:{host}"
        return f"{base}:slots", f"{base}:last"

    def acquire(self, host: str, limits: HostLimits) -> Acquired:
        """A slot for one request to ``host`` now, or the seconds to wait before asking again."""
        token = uuid.uuid4().hex
        args: list[str | int | float] = [
            limits.concurrency,
            repr(limits.delay),
            repr(limits.lease_seconds),
            token,
            FULL_POLL_SECONDS,
        ]
        granted, value = self._acquire(keys=self.keys(host), args=args)
        if int(granted):
            return Acquired(token)
        return Acquired(None, max(float(value), 0.0))

    def release(self, host: str, token: str) -> bool:
        """Frees the slot; False when it was no longer held (its lease had expired)."""
        slots, _ = self.keys(host)
        return bool(self._release(keys=[slots], args=[token]))

    def renew(self, host: str, tokens: list[str], lease_seconds: float) -> int:
        """Extends the leases of these slots by ``lease_seconds`` from now (their holder is
        alive); the number renewed (an expired one is not revived)."""
        if not tokens:
            return 0
        slots, _ = self.keys(host)
        return int(self._renew(keys=[slots], args=[repr(lease_seconds), *tokens]))

    def in_flight(self, host: str) -> int:
        """Slots held now (expired leases not counted)."""
        slots, _ = self.keys(host)
        now = self.client.time()
        return int(self.client.zcount(slots, now[0] + now[1] / 1_000_000, "+inf"))
