"""The lease queue: scrapy-redis's priority queue (a sorted set of encoded requests, score =
-priority), whose pop does not lose a request when its worker dies.

A pop moves the request atomically (one Lua script) from the queue to the leases: ``leases``
(token -> deadline, Redis server time) and ``leased`` (token -> the encoded request). The
worker acknowledges the lease once the request's whole output is processed (:meth:`ack`),
renews its leases while it works on them (:meth:`renew`), and gives them back when it stops
early (:meth:`release`). A lease whose deadline passed (its worker was killed) is put back in
the queue, with its priority, by whichever worker reaps it (:meth:`reap`).

Entries are JSON data (crawler/cluster/serializer.py), never pickles: an entry that is not a
request the serializer wrote (a pickle pushed by whoever can write to Redis, a damaged one) is
refused when popped or put back: one WARNING, counted in ``cluster/queue_refused``, dropped,
never run.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError
from scrapy import Request
from scrapy.utils.request import request_from_dict
from scrapy_redis.queue import PriorityQueue

from crawler.cluster import serializer
from crawler.cluster.packed import pack, unpack
from crawler.crawl.redelivery import REDELIVERED_META
from crawler.domain.outcome import record_failure

if TYPE_CHECKING:
    from collections.abc import Sequence

    import redis
    from scrapy import Spider
    from scrapy.statscollectors import StatsCollector

    from crawler.cluster.crawl import SiteKeys

logger = logging.getLogger(__name__)

# The request's lease token while this worker works on it.
LEASE_META = "cluster_lease"
# Referers a worker remembers at most (digest -> URL); past that it forgets them all.
REFERERS_KNOWN = 10_000
_REFERER = b"Referer"
# Entries refused (not a request: never run)
REFUSED_STAT = "cluster/queue_refused"

# KEYS: queue, leases, leased; ARGV: token prefix, lease seconds, how many. The first ``how
# many`` requests of the queue leased in one step (token = prefix + "." + their rank); they
# come back in the queue's order.
_POP = """
local items = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)
if #items == 0 then return items end
redis.call('ZREM', KEYS[1], unpack(items))
local t = redis.call('TIME')
local deadline = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[2])
local leases, leased = {}, {}
for i, item in ipairs(items) do
  local token = ARGV[1] .. '.' .. i
  leases[#leases + 1] = deadline
  leases[#leases + 1] = token
  leased[#leased + 1] = token
  leased[#leased + 1] = item
end
redis.call('ZADD', KEYS[2], unpack(leases))
redis.call('HSET', KEYS[3], unpack(leased))
return items
"""

# KEYS: leases, leased; ARGV: lease seconds, tokens...
_RENEW = """
local t = redis.call('TIME')
local deadline = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
local pairs = {}
for i = 2, #ARGV do
  pairs[#pairs + 1] = deadline
  pairs[#pairs + 1] = ARGV[i]
end
-- One command for them all.
return redis.call('ZADD', KEYS[1], 'XX', 'CH', unpack(pairs))
"""

# KEYS: queue, leases, leased; ARGV: token, score, only_expired (1/0), the request marked
# redelivered (pushed instead of the leased one, which it copies)
_REQUEUE = """
local deadline = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not deadline then return 0 end
if ARGV[3] == '1' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  if tonumber(deadline) > now then return 0 end
end
local data = redis.call('HGET', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if data then redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4]) end
return 1
"""

# KEYS: dupefilter, queue; ARGV: the request's fingerprint ("" when it bypasses the filter),
# score, the encoded request. One step: a fingerprint in the filter is always of a request
# queued, leased or done, never of one lost between the two calls (a killed worker).
_PUSH_UNSEEN = """
if ARGV[1] ~= '' and redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"""

# KEYS: dupefilter, queue, leases, leased; ARGV: n, then n (fingerprint or "", score, encoded
# request) triples, then m and m lease tokens to acknowledge, then what their callbacks no
# longer need: (key, count, count fields) groups, count 0 for the whole key. One step: the
# requests whose fingerprint is neither in the filter nor earlier in the batch are added to
# both (the others dropped), and only then are the leases acknowledged (and their callbacks'
# state freed): a lease is never gone before the requests its callback made are queued.
# 1/0 per request: pushed or dropped.
_PUSH_AND_ACK = """
local n = tonumber(ARGV[1])
local fingerprints = {}
for i = 0, n - 1 do
  local fp = ARGV[2 + 3 * i]
  if fp ~= '' then fingerprints[#fingerprints + 1] = fp end
end
local known = {}
if #fingerprints > 0 then known = redis.call('SMISMEMBER', KEYS[1], unpack(fingerprints)) end
local batch, added, queued, pushed = {}, {}, {}, {}
local j = 0
for i = 0, n - 1 do
  local fp = ARGV[2 + 3 * i]
  local push = 1
  if fp ~= '' then
    j = j + 1
    if known[j] == 1 or batch[fp] then push = 0 else
      batch[fp] = true
      added[#added + 1] = fp
    end
  end
  if push == 1 then
    queued[#queued + 1] = ARGV[3 + 3 * i]
    queued[#queued + 1] = ARGV[4 + 3 * i]
  end
  pushed[#pushed + 1] = push
end
if #added > 0 then redis.call('SADD', KEYS[1], unpack(added)) end
if #queued > 0 then redis.call('ZADD', KEYS[2], unpack(queued)) end
local m = tonumber(ARGV[2 + 3 * n])
if m > 0 then
  local tokens = {unpack(ARGV, 3 + 3 * n, 2 + 3 * n + m)}
  redis.call('ZREM', KEYS[3], unpack(tokens))
  redis.call('HDEL', KEYS[4], unpack(tokens))
end
local i = 3 + 3 * n + m
while i <= #ARGV do
  local count = tonumber(ARGV[i + 1])
  if count == 0 then
    redis.call('DEL', ARGV[i])
  else
    redis.call('HDEL', ARGV[i], unpack(ARGV, i + 2, i + 1 + count))
  end
  i = i + 2 + count
end
return pushed
"""

# Requests pushed per call at most (see LeaseQueue.push_and_ack).
PUSH_BATCH = 100

# KEYS: leases; the tokens whose deadline passed (server time)
_EXPIRED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
"""


class LeaseQueue(PriorityQueue):
    def __init__(
        self,
        server: redis.Redis,
        spider: Spider,
        keys: SiteKeys,
        lease_seconds: float,
        owner: str = "",
        *,
        stats: StatsCollector | None = None,
        batch: int = 1,
        origin: str = "",
    ) -> None:
        super().__init__(server, spider, keys.queue, serializer=serializer)
        self.keys = keys
        self.stats = stats
        self.lease_seconds = lease_seconds
        # A lease token starts with its worker's id (``{owner}/{random}``): who holds what.
        self.owner = owner
        # Requests leased per round trip: those not handed out yet wait here, leased (their
        # leases are renewed and released like the others: see :attr:`buffered_tokens`).
        self.batch = max(1, batch)
        self._buffer: deque[tuple[str, bytes]] = deque()
        self._pop = server.register_script(_POP)
        self._renew = server.register_script(_RENEW)
        self._requeue = server.register_script(_REQUEUE)
        self._expired = server.register_script(_EXPIRED)
        self._push_unseen = server.register_script(_PUSH_UNSEEN)
        self._push_and_ack = server.register_script(_PUSH_AND_ACK)
        # The Referers of the queued requests, once each (a sitemap's thousands of requests
        # share one): digest -> URL, packed. Freed with the site's keys when it is done.
        self.referers_key = f"{keys.prefix}:referers"
        # The site's scheme and host, the same for every worker (frontier_state.agreed_origin):
        # a queued URL under it is kept as its path.
        self.origin = origin
        # Those this worker wrote or read, and those to write with its next push.
        self._referers: dict[bytes, str] = {}
        self._new_referers: dict[bytes, str] = {}

    def __len__(self) -> int:
        return int(self.server.zcard(self.keys.queue)) + len(self._buffer)

    @property
    def buffered_tokens(self) -> list[str]:
        """The leases taken and not handed out yet."""
        return [token for token, _ in self._buffer]

    def push(self, request: Request) -> None:
        request = _unleased(request)
        data = self._encode_request(request)
        self._write_referers(self.server)
        self.server.zadd(self.key, {data: -request.priority})

    def _encode_request(self, request: Request) -> bytes:
        obj = request_dict(request, self.spider)
        headers = obj.get("headers") or {}
        values = headers.get(_REFERER)
        if not values or len(values) != 1:
            return serializer.dumps(obj, origin=self.origin)
        referer = bytes(values[0]).decode("latin-1")
        ref = hashlib.blake2b(values[0], digest_size=serializer.REF_BYTES).digest()
        if ref not in self._referers:
            self._new_referers[ref] = referer
            self._remember(ref, referer)
        obj["headers"] = {name: v for name, v in headers.items() if name != _REFERER}
        return serializer.dumps(obj, ref, self.origin)

    def _decode_request(self, encoded_request: bytes) -> Request:
        return request_from_dict(self._loads(encoded_request), spider=self.spider)

    def _loads(self, data: bytes) -> dict[str, Any]:
        """The entry's request dict, its Referer read from the table unless known here."""
        ref = serializer.referer_ref(data)
        if ref is not None and ref not in self._referers:
            self._read_referers([ref])
        return serializer.loads(data, self._referers, self.origin)

    def _read_referers(self, refs: list[bytes]) -> None:
        for ref, value in zip(refs, self.server.hmget(self.referers_key, refs), strict=True):
            if value is not None:
                self._remember(ref, unpack(value))

    def _remember(self, ref: bytes, referer: str) -> None:
        if len(self._referers) >= REFERERS_KNOWN:
            self._referers.clear()
        self._referers[ref] = referer

    def _write_referers(self, client: Any) -> None:
        """The Referers new since the last push into the table (before the entries naming
        them, or in the same pipeline)."""
        if self._new_referers:
            new = {ref: pack(url) for ref, url in self._new_referers.items()}
            self._new_referers = {}
            client.hset(self.referers_key, mapping=new)

    def push_unseen(self, request: Request, fingerprint: str | bytes | None) -> bool:
        """Adds ``fingerprint`` to the site's duplicate filter and pushes the request, in one
        step; False (nothing pushed) when the filter had it. ``None``: the request bypasses the
        filter (``dont_filter``)."""
        request = _unleased(request)
        args = [fingerprint or "", -request.priority, self._encode_request(request)]
        self._write_referers(self.server)
        return bool(self._push_unseen(keys=[self.keys.dupefilter, self.keys.queue], args=args))

    def push_and_ack(
        self,
        requests: list[tuple[Request, bytes | None]],
        tokens: list[str],
        release: Sequence[tuple[str, bytes | None]] = (),
    ) -> list[bool]:
        """:meth:`push_unseen` for each (request, fingerprint), then :meth:`ack` of ``tokens``
        and the deletion of ``release`` ((key, hash field), field None: the key), in one step
        (one round trip) per PUSH_BATCH requests, the acknowledgements with the last: whether
        each request was pushed."""
        if not requests and not tokens and not release:
            return []
        pushed: list[bool] = []
        # A sitemap's thousands of requests go in steps of PUSH_BATCH, the leases with the
        # last: Redis holds a call's arguments several times while it runs (its query buffer,
        # the script's copies, the append-only file's), which was the crawl's memory peak.
        while len(requests) > PUSH_BATCH:
            pushed += self._push_step(requests[:PUSH_BATCH], [], ())
            requests = requests[PUSH_BATCH:]
        return pushed + self._push_step(requests, tokens, release)

    def _push_step(
        self,
        requests: list[tuple[Request, bytes | None]],
        tokens: list[str],
        release: Sequence[tuple[str, bytes | None]],
    ) -> list[bool]:
        args: list[bytes | str | int] = [len(requests)]
        for leased, fingerprint in requests:
            request = _unleased(leased)
            args += (fingerprint or "", -request.priority, self._encode_request(request))
        args += (len(tokens), *tokens)
        fields: dict[str, list[bytes]] = {}
        for key, field in release:
            kept = fields.setdefault(key, [])
            if field is not None:
                kept.append(field)
        wholes = {key for key, field in release if field is None}
        for key, kept in fields.items():
            args += (key, 0) if key in wholes else (key, len(kept), *kept)
        keys = self.keys
        script_keys = [keys.dupefilter, keys.queue, keys.leases, keys.leased]
        if not self._new_referers:
            pushed = self._push_and_ack(keys=script_keys, args=args)
        else:
            # The new Referers and the requests naming them: one round trip (the script by its
            # digest: a pipeline that carries a Script object asks SCRIPT EXISTS each time).
            new = self._new_referers
            pipe = self.server.pipeline(transaction=False)
            self._write_referers(pipe)
            pipe.evalsha(self._push_and_ack.sha, len(script_keys), *script_keys, *args)
            try:
                pushed = pipe.execute()[-1]
            except NoScriptError:
                # Not loaded yet (or Redis restarted): the Referers are written again, the
                # requests pushed (the script did not run).
                self._new_referers = new
                self._write_referers(self.server)
                pushed = self._push_and_ack(keys=script_keys, args=args)
        return [bool(p) for p in pushed]

    def pop(self, timeout: int = 0) -> Request | None:
        while True:
            if not self._buffer and not self._fill():
                return None
            token, data = self._buffer.popleft()
            try:
                request: Request = self._decode_request(data)
            except Exception as exc:  # whatever an entry holds, it is not run
                self._refuse(data, exc)
                self.ack(token)
                continue
            request.meta[LEASE_META] = token
            return request

    def _fill(self) -> bool:
        keys = self.keys
        prefix = f"{self.owner}/{uuid.uuid4().hex}" if self.owner else uuid.uuid4().hex
        items = self._pop(
            keys=[keys.queue, keys.leases, keys.leased],
            args=[prefix, self.lease_seconds, self.batch],
        )
        # The Referers of these requests written by other workers: one round trip for them all.
        refs = {serializer.referer_ref(bytes(data)) for data in items} - {None}
        missing = [ref for ref in refs if ref is not None and ref not in self._referers]
        if missing:
            self._read_referers(missing)
        self._buffer.extend((f"{prefix}.{n}", data) for n, data in enumerate(items, 1))
        return bool(items)

    def release_buffered(self) -> int:
        """Puts the leases taken and not handed out back in the queue (the worker stops)."""
        tokens = self.buffered_tokens
        self._buffer.clear()
        return sum(self.release(token) for token in tokens)

    def _refuse(self, data: bytes, exc: Exception) -> None:
        logger.warning(
            "%s: refused a queue entry that is not a request (%s; %d bytes, starting %r): "
            "dropped, never run",
            self.keys.queue,
            exc,
            len(data),
            bytes(data[:24]),
        )
        if self.stats is not None:
            self.stats.inc_value(REFUSED_STAT)
            # A request dropped is a page the run did not see: it must not claim it did.
            record_failure(
                self.stats,
                "cluster_queue_refused",
                f"{self.keys.queue} held entries that are not requests (written into Redis by "
                "something else): dropped, never run, so the crawl may be incomplete",
            )

    def ack(self, *tokens: str) -> None:
        if not tokens:
            return
        pipe = self.server.pipeline(transaction=False)
        pipe.zrem(self.keys.leases, *tokens)
        pipe.hdel(self.keys.leased, *tokens)
        pipe.execute()

    def renew(self, tokens: list[str]) -> int:
        """Moves the deadline of these leases to now + the lease time; the number renewed (a
        lease already reaped is not revived)."""
        if not tokens:
            return 0
        return int(self._renew(keys=[self.keys.leases], args=[self.lease_seconds, *tokens]))

    def release(self, token: str) -> bool:
        """Puts a lease of this worker back in the queue now (it stops before the request was
        processed)."""
        return self._put_back(token, only_expired=False)

    def reap(self, limit: int = 100) -> int:
        """Puts up to ``limit`` expired leases (their worker died) back in the queue."""
        tokens = self._expired(keys=[self.keys.leases], args=[limit])
        return sum(
            self._put_back(t.decode() if isinstance(t, bytes) else t, only_expired=True)
            for t in tokens
        )

    def _put_back(self, token: str, *, only_expired: bool) -> bool:
        data = self.server.hget(self.keys.leased, token)
        if data is None:
            return False
        try:
            decoded: dict[str, Any] = self._loads(data)
        except serializer.QueueEntryError as exc:
            # replaced in Redis since it was leased: not put back
            self._refuse(data, exc)
            self.ack(token)
            return False
        # Its callback may have run, its output not reached the queue: the spider decides again.
        decoded.setdefault("meta", {})[REDELIVERED_META] = True
        keys = self.keys
        moved = self._requeue(
            keys=[keys.queue, keys.leases, keys.leased],
            args=[
                token,
                -int(decoded.get("priority", 0)),
                "1" if only_expired else "0",
                self.serializer.dumps(decoded),
            ],
        )
        return bool(moved)

    def leased_count(self) -> int:
        return int(self.server.zcard(self.keys.leases))


def request_dict(request: Request, spider: Spider) -> dict[str, Any]:
    """``request.to_dict(spider=spider)``, without its search of the spider's members for the
    callback's name (``inspect.getmembers``, twice per request: the largest part of a worker's
    CPU over a lone crawl's): a bound method of the spider is named by its own ``__name__``,
    checked to be the spider's method of that name. Anything else goes through ``to_dict``."""
    callback = _method_name(spider, request.callback)
    errback = _method_name(spider, request.errback)
    if callback is _UNNAMED or errback is _UNNAMED or type(request) is not Request:
        return request.to_dict(spider=spider)
    obj: dict[str, Any] = {
        "url": request.url,
        "callback": callback,
        "errback": errback,
        "headers": dict(request.headers),
    }
    for attr in request.attributes:
        obj.setdefault(attr, getattr(request, attr))
    return obj


_UNNAMED = object()


def _method_name(spider: Spider, func: Any) -> Any:
    """The name of the spider's method ``func`` is bound to (``func`` itself when it is not
    callable: None or a name); :data:`_UNNAMED` when it is not found so."""
    if not callable(func):
        return func
    name = getattr(func, "__name__", None)
    own = getattr(func, "__func__", None)
    if (
        own is not None
        and isinstance(name, str)
        and getattr(func, "__self__", None) is spider
        and getattr(getattr(spider, name, None), "__func__", None) is own
    ):
        return name
    return _UNNAMED


def _unleased(request: Request) -> Request:
    if LEASE_META not in request.meta:
        return request
    # A copy of a leased request (a retry, a redirect): a new request of its own.
    return request.replace(meta={k: v for k, v in request.meta.items() if k != LEASE_META})
