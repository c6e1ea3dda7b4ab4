"""The frontier's state in Redis: what every worker of a cluster crawl met on one site.

The same decisions as :class:`crawler.crawl.frontier.MemoryFrontierState`, each check-and-set one
atomic step in Redis (a Lua script): two workers meeting two URLs of one article
schedule it once, and the other URL is held for, or recorded as an alias of, the one
scheduled; the worker that reads the last sitemap starts navigation, once.

Keys, under ``prefix`` (``{crawl}:site:{site}:frontier`` in a cluster crawl):

- ``seen``: set of the digests of every URL met (:data:`DIGEST_BYTES`);
- ``url``: hash, article -> the URL it is requested under ("" when it is the article's key);
- ``parsed``: set of the articles whose page is parsed;
- ``held``: hash, article -> the URLs met before its page was parsed, one per line, packed
  (percent-decoded where that is lossless: crawler/cluster/packed.py) as the deferred (kept once
  it is parsed, for a parse run again, its worker killed before the record was stored; freed
  once the record is committed and the parse's lease acknowledged);
- ``held`` also keeps each article's first sitemap lastmod met (under its digest, last byte
  0xff: read and freed with its held URLs, one command for both);
- ``sitemaps``: set of the URLs of the sitemaps requested and not read yet;
- ``navigation``: set once navigation started; ``deferred_pages``/``deferred_articles``: lists
  of packed URLs,
  moved to ``taken_pages``/``taken_articles`` when navigation starts (kept for the callback
  that took them, run again; freed once its output is safe);
- ``origin``: the site's scheme and host, the URLs above kept as paths under it;
- ``answer:{worker}``: a worker's last answer, for a call redis-py sends again (one hour).

An article is named by the digest of its key (its canonical URL), not the URL itself:
the URLs live only where they are needed (the requested one, the held ones).

Each worker also remembers the digests it saw in the shared set (a URL met stays met): a URL
this worker met before costs no round trip.
"""

from __future__ import annotations

import itertools
import uuid
from typing import TYPE_CHECKING, Any

from crawler.cluster.packed import pack, unpack
from crawler.crawl.frontier import ALIAS, FETCH, HELD, IGNORE, SKIP_KNOWN
from crawler.crawl.redelivery import redelivered, release_when_done
from crawler.crawl.seen import url_digest as _url_digest

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import redis
    from redis.commands.core import Script

# Bytes of each digest kept in Redis: a 14-byte set member or hash field takes the allocator's
# 16-byte size class, a 16-byte one its 24-byte class (Redis adds a header and a terminator),
# which is 16 bytes per URL met less in every set and hash (measured: 63 bytes a member, not
# 79). 112 bits: no two URLs of any crawl share one still.
DIGEST_BYTES = 14
# A member of the seen set once navigation started (no URL's digest: 14 bytes, not blake2b's):
# one SMISMEMBER says whether it started and which URLs were met (_DEFER_MANY).
NAVIGATION_MARK = b"\x00navigation\x00\x00\x00"
# How long a worker's last answer is kept for a retry of its call (see _answered_once).
ANSWER_SECONDS = 3600
# Deferred URLs read per round trip when navigation takes them.
TAKE_PAGE = 500
# Lastmods noted and not written yet, at most (a sitemap entry's articles met write them).
LASTMOD_BATCH = 1000

# KEYS: seen, url, parsed, held, lastmod. ARGV: the URL's digest, the article's digest, the URL,
# the URL as stored ("" when it is the key), wanted (1/0), again (1/0: a callback run again, see
# Frontier.article), then (article digest, lastmod) pairs noted before (written first: a worker
# that parses the article reads its lastmod).
_MEET = """
for i = 7, #ARGV, 2 do
  redis.call('HSETNX', KEYS[5], ARGV[i], ARGV[i + 1])
end
local met = redis.call('SADD', KEYS[1], ARGV[1]) == 0
if met and ARGV[6] == '0' then return 0 end
local requested = redis.call('HGET', KEYS[2], ARGV[2])
if requested then
  local parsed = redis.call('SISMEMBER', KEYS[3], ARGV[2]) == 1
  if requested == ARGV[4] then
    if met and not parsed then return 4 end
    return 0
  end
  if parsed then return 1 end
  if met then return 0 end
  local held = redis.call('HGET', KEYS[4], ARGV[2])
  redis.call('HSET', KEYS[4], ARGV[2], held and (held .. '\\n' .. ARGV[3]) or ARGV[3])
  return 2
end
if ARGV[5] == '0' then return 3 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
return 4
"""
_ACTIONS = (IGNORE, ALIAS, HELD, SKIP_KNOWN, FETCH)

# A Lua function the scripts below share: notes ARGV's (article digest, lastmod) pairs from
# index ``from`` in the hash ``key``, where the article has none yet; the first pair of each
# article wins. Returns how many it noted.
_NOTE_PAIRS = """
local function note_pairs(key, from)
  local keys, values, first = {}, {}, {}
  for i = from, #ARGV, 2 do
    if not first[ARGV[i]] then
      first[ARGV[i]] = true
      keys[#keys + 1] = ARGV[i]
      values[#values + 1] = ARGV[i + 1]
    end
  end
  local known = redis.call('HMGET', key, unpack(keys))
  local set = {}
  for i = 1, #keys do
    if not known[i] then
      set[#set + 1] = keys[i]
      set[#set + 1] = values[i]
    end
  end
  if #set > 0 then redis.call('HSET', key, unpack(set)) end
  return #set / 2
end
"""

# _MEET for many URLs at once, one after another as if met one by one (a sitemap's entries):
# KEYS as _MEET. ARGV: again (1/0), n, then n (URL digest, article digest, URL, URL as stored,
# wanted) quintuples, then (article digest, lastmod) pairs noted before. A few commands for the
# whole batch: what is met, requested and parsed read at once, the new marks written at once.
_MEET_MANY = (
    _NOTE_PAIRS
    + """
local again = ARGV[1] == '1'
local n = tonumber(ARGV[2])
local base = 3 + 5 * n
if #ARGV >= base then note_pairs(KEYS[5], base) end
if n == 0 then return {} end
local urls, articles = {}, {}
for i = 0, n - 1 do
  urls[#urls + 1] = ARGV[3 + 5 * i]
  articles[#articles + 1] = ARGV[4 + 5 * i]
end
local seen_now = redis.call('SMISMEMBER', KEYS[1], unpack(urls))
local seen, requested, parsed = {}, {}, {}
-- Only the articles of URLs not met before are looked up (a page's links: mostly met).
local asked = {}
for i = 1, n do
  if seen_now[i] == 1 then seen[urls[i]] = true end
  if again or seen_now[i] ~= 1 then asked[#asked + 1] = articles[i] end
end
if #asked == 0 then
  local none = {}
  for i = 1, n do none[i] = 0 end
  return none
end
local requested_now = redis.call('HMGET', KEYS[2], unpack(asked))
local parsed_now = redis.call('SMISMEMBER', KEYS[3], unpack(asked))
for i = 1, #asked do
  if requested_now[i] then requested[asked[i]] = requested_now[i] end
  if parsed_now[i] == 1 then parsed[asked[i]] = true end
end
local new_seen, new_requested, actions, held, held_order = {}, {}, {}, {}, {}
for i = 1, n do
  local j = 3 + 5 * (i - 1)
  local digest, article, url, stored, wanted = ARGV[j], ARGV[j + 1], ARGV[j + 2], ARGV[j + 3],
    ARGV[j + 4]
  local met = seen[digest] == true
  if not met then
    seen[digest] = true
    new_seen[#new_seen + 1] = digest
  end
  local action
  if met and not again then
    action = 0
  else
    local req = requested[article]
    if req then
      local is_parsed = parsed[article] == true
      if req == stored then
        action = (met and not is_parsed) and 4 or 0
      elseif is_parsed then
        action = 1
      elseif met then
        action = 0
      else
        if not held[article] then
          held[article] = {}
          held_order[#held_order + 1] = article
        end
        table.insert(held[article], url)
        action = 2
      end
    elseif wanted == '0' then
      action = 3
    else
      requested[article] = stored
      new_requested[#new_requested + 1] = article
      new_requested[#new_requested + 1] = stored
      action = 4
    end
  end
  actions[i] = action
end
if #new_seen > 0 then redis.call('SADD', KEYS[1], unpack(new_seen)) end
if #new_requested > 0 then redis.call('HSET', KEYS[2], unpack(new_requested)) end
if #held_order > 0 then
  local before = redis.call('HMGET', KEYS[4], unpack(held_order))
  local values = {}
  for i, article in ipairs(held_order) do
    local urls = table.concat(held[article], '\\n')
    values[#values + 1] = article
    values[#values + 1] = before[i] and (before[i] .. '\\n' .. urls) or urls
  end
  redis.call('HSET', KEYS[4], unpack(values))
end
return actions
"""
)
# URLs met per _MEET_MANY call at most (Lua's unpack takes a few thousand values).
MEET_BATCH = 100

# Where an article's lastmod is kept: in the held hash (one read, one deletion for both), under
# its digest with the last byte 0xff (112 bits of digest less 8: still no two articles' alike).
_LASTMOD_FIELD = f"string.sub(ARGV[1], 1, {DIGEST_BYTES - 1}) .. '\\255'"

# KEYS: parsed, held. ARGV: the article's digest, again (1/0). The held URLs, the first time
# (or again; kept, never added to once the article is parsed, see _MEET), and its lastmod
# ("" for none), in one step.
_PARSED = f"""
local kept = redis.call('HMGET', KEYS[2], ARGV[1], {_LASTMOD_FIELD})
local lastmod = kept[2] or ''
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 and ARGV[2] == '0' then return {{'', lastmod}} end
return {{kept[1] or '', lastmod}}
"""

# _PARSED and _DEFER_MANY in one step (an article page's record and its related articles):
# KEYS parsed, held, the deferred list, seen; ARGV: the article's digest, again (1/0), then
# _DEFER_MANY's ARGV. {held, lastmod, _DEFER_MANY's answer}.
_PARSED_AND_DEFER = f"""
local kept = redis.call('HMGET', KEYS[2], ARGV[1], {_LASTMOD_FIELD})
local lastmod = kept[2] or ''
local held = ''
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 or ARGV[2] == '1' then
  held = kept[1] or ''
end
local n = tonumber(ARGV[5])
local asked, answers = {{ARGV[4]}}, {{}}
for i = 0, n - 1 do
  if ARGV[3] == '0' then asked[#asked + 1] = ARGV[6 + 2 * i] end
  answers[#answers + 1] = 1
end
local met = redis.call('SMISMEMBER', KEYS[4], unpack(asked))
if met[1] == 1 then return {{held, lastmod, {{}}}} end
local urls = {{}}
for i = 0, n - 1 do
  if met[i + 2] ~= 1 then urls[#urls + 1] = ARGV[7 + 2 * i] end
end
if #urls > 0 then redis.call('RPUSH', KEYS[3], unpack(urls)) end
return {{held, lastmod, answers}}
"""

# KEYS: lastmod. ARGV: (article digest, lastmod) pairs; the first one of each article wins.
_NOTE_LASTMODS = _NOTE_PAIRS + "return note_pairs(KEYS[1], 1)\n"

# KEYS: url, parsed. ARGV: again (1/0), then (article digest, URL as stored) pairs. 1 for each
# article scheduled now, or (again) scheduled under that URL and not parsed yet.
_SCHEDULE_NEW = """
local scheduled = {}
for i = 2, #ARGV, 2 do
  local now = redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
  if now == 0 and ARGV[1] == '1' and redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1]
      and redis.call('SISMEMBER', KEYS[2], ARGV[i]) == 0 then
    now = 1
  end
  scheduled[#scheduled + 1] = now
end
return scheduled
"""

# KEYS: sitemaps, navigation, seen. ARGV: NAVIGATION_MARK. Navigation starts once, when no
# sitemap is left to read: its mark set, and in the seen set too (see _DEFER_MANY).
_START_NAVIGATION = """
if redis.call('SCARD', KEYS[1]) > 0 then return 0 end
if redis.call('SET', KEYS[2], '1', 'NX') then
  redis.call('SADD', KEYS[3], ARGV[1])
  return 1
end
return 0
"""

# KEYS: navigation, the deferred list. ARGV: the URL. Not kept once navigation started.
_DEFER = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
return 1
"""

# KEYS: the deferred list, seen. ARGV: again (1/0), NAVIGATION_MARK, n, then n (URL digest,
# URL) pairs. Once navigation started: {} (none kept). Else each URL met before (unless again)
# is left (1: nothing to do), the others kept (1): a list of 1s, the URLs kept pushed. Whether
# navigation started and which URLs were met, one command: its mark is a member of seen.
_DEFER_MANY = """
local n = tonumber(ARGV[3])
local asked, answers = {ARGV[2]}, {}
for i = 0, n - 1 do
  if ARGV[1] == '0' then asked[#asked + 1] = ARGV[4 + 2 * i] end
  answers[#answers + 1] = 1
end
local met = redis.call('SMISMEMBER', KEYS[2], unpack(asked))
if met[1] == 1 then return {} end
local urls = {}
for i = 0, n - 1 do
  if met[i + 2] ~= 1 then urls[#urls + 1] = ARGV[5 + 2 * i] end
end
if #urls > 0 then redis.call('RPUSH', KEYS[1], unpack(urls)) end
return answers
"""

# KEYS: deferred pages, deferred articles, taken pages, taken articles. The deferred ones moved
# to the taken ones: {pages moved, articles moved}, read afterwards (the last ones of the taken).
# A list not taken before is renamed, not copied: at a crawl's peak no second copy of its
# thousands of URLs, in Lua or in Redis.
_TAKE_DEFERRED = """
local function take(deferred, taken)
  local n = redis.call('LLEN', deferred)
  if n == 0 then return 0 end
  if redis.call('EXISTS', taken) == 0 then
    redis.call('RENAME', deferred, taken)
    return n
  end
  local urls = redis.call('LRANGE', deferred, 0, -1)
  for i = 1, #urls, 1000 do
    redis.call('RPUSH', taken, unpack(urls, i, math.min(i + 999, #urls)))
  end
  redis.call('DEL', deferred)
  return n
end
return {take(KEYS[1], KEYS[3]), take(KEYS[2], KEYS[4])}
"""


def _answered_once(body: str) -> str:
    """``body`` run once per call: its answer is kept (under the last key, for the call id in
    the last argument), so that a call sent again after losing the reply (a dropped
    connection) gets the answer of the run that happened, not the answer of a second run (an
    article met twice would be IGNORE: never fetched). The argument before it says whether
    this is such a second sending ('1'): only then is the kept answer read (one command less
    for every first sending)."""
    return (
        "local memo_key = table.remove(KEYS)\n"
        "local call = table.remove(ARGV)\n"
        "if table.remove(ARGV) == '1' then\n"
        "  local memo = redis.call('GET', memo_key)\n"
        "  if memo then\n"
        "    local kept = cjson.decode(memo)\n"
        "    if kept[1] == call then return kept[2] end\n"
        "  end\n"
        "end\n"
        f"local function run()\n{body}\nend\n"
        "local answer = run()\n"
        f"redis.call('SET', memo_key, cjson.encode({{call, answer}}), 'EX', {ANSWER_SECONDS})\n"
        "return answer\n"
    )


def _unretried(client: redis.Redis) -> redis.Redis:
    """A client of ``client``'s server whose calls are tried once (connection errors raised):
    over the same connections when it is the cluster's client."""
    import redis  # noqa: PLC0415 (cluster mode only)
    from redis.backoff import NoBackoff  # noqa: PLC0415
    from redis.retry import Retry  # noqa: PLC0415

    from crawler.cluster.connection import ClusterRedis, once_client  # noqa: PLC0415

    if isinstance(client, ClusterRedis):
        return once_client(client)
    kwargs = {**client.connection_pool.connection_kwargs, "retry": Retry(NoBackoff(), 0)}
    pool = redis.ConnectionPool(connection_class=client.connection_pool.connection_class, **kwargs)
    return redis.Redis(connection_pool=pool)


def agreed_origin(client: redis.Redis, prefix: str, origin: str) -> str:
    """The origin the site's state keeps its URLs under: the first worker's (``origin`` when
    it is the first), one command. Two workers whose profiles disagree on the site's base URL
    still read each other's URLs whole."""
    if not origin:
        # none of its own (no base URL): the other workers', if any
        known = client.get(f"{prefix}:origin")
        return "" if known is None else _text(known)
    kept = client.set(f"{prefix}:origin", origin, nx=True, get=True)
    return origin if kept is None or isinstance(kept, bool) else _text(kept)


def url_digest(url: str) -> bytes:
    """The digest of ``url`` as Redis keeps it (:data:`DIGEST_BYTES`)."""
    return _url_digest(url)[:DIGEST_BYTES]


def _lastmod_field(digest: bytes) -> bytes:
    """The field of an article's lastmod in the held hash (see _LASTMOD_FIELD)."""
    return digest[: DIGEST_BYTES - 1] + b"\xff"


def _short(digest: bytes) -> bytes:
    return digest[:DIGEST_BYTES]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisFrontierState:
    """:class:`crawler.crawl.frontier.FrontierState` shared through the Redis server of ``client``,
    under the keys ``{prefix}:*``."""

    def __init__(
        self, client: redis.Redis, prefix: str, origin: str = "", *, proposed: str | None = None
    ) -> None:
        self.client = client
        self.prefix = prefix
        # The site's origin (scheme and host), the same for every worker (see agreed_origin):
        # the URLs kept are paths under it. ``proposed``: agreed on at the first use (no
        # round trip while the crawler is built).
        self._origin = origin
        self._proposed = proposed
        self._seen_key = f"{prefix}:seen"
        self._url_key = f"{prefix}:url"
        self._parsed_key = f"{prefix}:parsed"
        self._held_key = f"{prefix}:held"
        self._sitemaps_key = f"{prefix}:sitemaps"
        self._navigation_key = f"{prefix}:navigation"
        self._pages_key = f"{prefix}:deferred_pages"
        self._articles_key = f"{prefix}:deferred_articles"
        self._taken_pages_key = f"{prefix}:taken_pages"
        self._taken_articles_key = f"{prefix}:taken_articles"
        # This worker's last answer, for a call sent again (see _answered_once).
        self._answer_key = f"{prefix}:answer:{uuid.uuid4().hex}"
        # The same server, its calls sent once (see _run).
        self._once = _unretried(client)
        self._calls = itertools.count()
        # The calls of every response, sent once: a call sent again after a lost reply is sent
        # as a callback run again would send it (see _run_again), which answers what the first
        # run decided or a decision as safe (a page fetched again is dropped by the duplicate
        # filter): no answer kept for each call, one command less per call.
        self._meet_many, self._meet, self._schedule_new, self._parsed = (
            client.register_script(script) for script in (_MEET_MANY, _MEET, _SCHEDULE_NEW, _PARSED)
        )
        self._take_deferred = client.register_script(_TAKE_DEFERRED)
        self._parsed_and_defer = client.register_script(_PARSED_AND_DEFER)
        # The answer of the deferral sent with the last parse (see parsed), for the
        # defer_articles of the same articles that follows it.
        self._deferred_with_parse: tuple[list[tuple[bytes, str]], list[bool]] | None = None
        self._note_lastmods = client.register_script(_NOTE_LASTMODS)
        # Once per crawl, and its second run would answer otherwise: its answer is kept.
        self._start_navigation = client.register_script(_answered_once(_START_NAVIGATION))
        self._defer = client.register_script(_DEFER)
        self._defer_many = client.register_script(_DEFER_MANY)
        # Whether navigation has started (it never stops), and the lastmod read with the last
        # article parsed.
        self._navigating = False
        self._parsed_lastmod: tuple[bytes, str | None] | None = None
        # Digests this worker knows are in the shared set (it never shrinks).
        self._known_seen: set[bytes] = set()
        # Articles this worker deferred for navigation (until navigation starts).
        self._deferred_here: set[str] = set()
        # Lastmods noted and not written yet: they go with the next article met (a sitemap
        # notes an entry's lastmod, then meets its URLs), or before any read.
        self._lastmods: list[bytes | str] = []

    @property
    def origin(self) -> str:
        if self._proposed is not None:
            self._origin = agreed_origin(self.client, self.prefix, self._proposed)
            self._proposed = None
        return self._origin

    def keys(self) -> list[str]:
        """Every key this state may write."""
        return [
            self._seen_key,
            self._url_key,
            self._parsed_key,
            self._held_key,
            self._sitemaps_key,
            self._navigation_key,
            self._pages_key,
            self._articles_key,
            self._taken_pages_key,
            self._taken_articles_key,
            self._answer_key,
            f"{self.prefix}:origin",
        ]

    def _run(self, script: Script, keys: list[str], args: Sequence[bytes | str] = ()) -> Any:
        import redis  # noqa: PLC0415 (cluster mode only)

        call = str(next(self._calls))
        keys = [*keys, self._answer_key]
        try:
            # Sent once, not retried: a lost reply is sent again below, marked so.
            return script(keys=keys, args=[*args, "0", call], client=self._once)
        except (redis.ConnectionError, redis.TimeoutError):
            # The script may have run: sent again (with backoff), it answers what that run did.
            return script(keys=keys, args=[*args, "1", call])

    def _run_again(
        self, script: Script, keys: list[str], args: list[bytes | str], again: int | None
    ) -> Any:
        """``script`` sent once; after a lost reply (it may have run) sent again with its
        ``again`` argument (the index in ``args``; None: none) set to '1': what a callback run
        again asks, whose answer holds whether or not the first sending ran."""
        import redis  # noqa: PLC0415 (cluster mode only)

        try:
            return script(keys=keys, args=args, client=self._once)
        except (redis.ConnectionError, redis.TimeoutError):
            if again is not None:
                args = [*args[:again], "1", *args[again + 1 :]]
            return script(keys=keys, args=args)

    def _flush_lastmods(self) -> None:
        if not self._lastmods:
            return
        # A few commands for them all, not one each (sent again, it writes nothing new).
        self._note_lastmods(keys=[self._held_key], args=self._lastmods)
        self._lastmods = []

    # --- URLs met -------------------------------------------------------------------------

    def is_seen(self, digest: bytes) -> bool:
        digest = _short(digest)
        if digest in self._known_seen:
            return True
        # redis-py sends bytes as they are (its annotation says str).
        if self.client.sismember(self._seen_key, digest):  # type: ignore[arg-type]
            self._known_seen.add(digest)
            return True
        return False

    def add_seen(self, digest: bytes) -> bool:
        digest = _short(digest)
        if digest in self._known_seen:
            return False
        import redis  # noqa: PLC0415 (cluster mode only)

        try:
            # One command, no script (no kept answer needed: see the except).
            added = bool(self._once.sadd(self._seen_key, digest))
        except (redis.ConnectionError, redis.TimeoutError):
            # It may have run: met now, as far as this caller knows (a page fetched twice is
            # dropped by the cluster's duplicate filter; one never fetched would be lost).
            self.client.sadd(self._seen_key, digest)
            added = True
        self._known_seen.add(digest)
        return added

    def are_seen(self, digests: list[bytes]) -> list[bool]:
        """:meth:`is_seen` of each, in one round trip for those this worker does not know."""
        digests = [_short(d) for d in digests]
        asked = [d for d in dict.fromkeys(digests) if d not in self._known_seen]
        if asked:
            answers = self.client.smismember(self._seen_key, asked)
            self._known_seen.update(d for d, met in zip(asked, answers, strict=True) if met)
        return [d in self._known_seen for d in digests]

    def mark_seen(self, digests: list[bytes]) -> None:
        """Each one met (nothing decided on it: a URL not to follow), in one command."""
        new = [d for d in dict.fromkeys(_short(d) for d in digests) if d not in self._known_seen]
        if new:
            self.client.sadd(self._seen_key, *new)
            self._known_seen.update(new)

    def meet_article(
        self,
        digest: bytes,
        key: str,
        url: str,
        wanted: Callable[[], bool],
    ) -> tuple[str, str]:
        again = redelivered()
        digest = _short(digest)
        if digest in self._known_seen and not again:
            return IGNORE, url
        stored = "" if url == key else url
        args: list[bytes | str] = [
            digest,
            url_digest(key),
            # Read back only as a held URL (see parsed): packed.
            pack(url, self.origin),
            stored,
            "1" if wanted() else "0",
            "1" if again else "0",
        ]
        # Written first, in a few commands (the script writes pairs one command each).
        self._flush_lastmods()
        keys = [self._seen_key, self._url_key, self._parsed_key, self._held_key]
        action = _ACTIONS[int(self._run_again(self._meet, [*keys, self._held_key], args, 5))]
        self._lastmods = []
        self._known_seen.add(digest)
        if action == FETCH:
            return FETCH, key if url == key else url
        return action, url

    def meet_articles(self, met: list[tuple[bytes, str, str, bool]]) -> list[tuple[str, str]]:
        again = redelivered()
        met = [(_short(digest), key, url, wanted) for digest, key, url, wanted in met]
        answers: list[tuple[str, str] | None] = [
            (IGNORE, url) if digest in self._known_seen and not again else None
            for digest, _, url, _ in met
        ]
        asked = [i for i, answer in enumerate(answers) if answer is None]
        keys = [self._seen_key, self._url_key, self._parsed_key, self._held_key, self._held_key]
        for start in range(0, max(len(asked), 1), MEET_BATCH):
            chunk = asked[start : start + MEET_BATCH]
            if not chunk and not self._lastmods:
                break
            args: list[bytes | str] = ["1" if again else "0", str(len(chunk))]
            for i in chunk:
                digest, key, url, wanted = met[i]
                stored = "" if url == key else url
                args += (digest, url_digest(key), pack(url, self.origin), stored, "01"[wanted])
            args += self._lastmods
            actions = self._run_again(self._meet_many, keys, args, 0)
            self._lastmods = []
            for i, action in zip(chunk, actions, strict=True):
                digest, key, url, _ = met[i]
                self._known_seen.add(digest)
                decided = _ACTIONS[int(action)]
                answers[i] = (
                    (FETCH, key if url == key else url)
                    if decided == FETCH
                    else (
                        decided,
                        url,
                    )
                )
        return [answer or (IGNORE, met[i][2]) for i, answer in enumerate(answers)]

    def schedule_new(self, urls: list[tuple[str, str]]) -> list[str | None]:
        if not urls:
            return []
        args: list[bytes | str] = ["1" if redelivered() else "0"]
        for key, url in urls:
            args += (url_digest(key), "" if url == key else url)
        # One after another: of two URLs of one article, the first schedules it.
        scheduled = self._run_again(self._schedule_new, [self._url_key, self._parsed_key], args, 0)
        return [
            (key if url == key else url) if now else None
            for (key, url), now in zip(urls, scheduled, strict=True)
        ]

    def is_scheduled(self, key: str) -> bool:
        return bool(self.client.hexists(self._url_key, url_digest(key)))

    # --- articles -------------------------------------------------------------------------

    def note_lastmod(self, key: str, lastmod: str) -> None:
        self._lastmods += (_lastmod_field(url_digest(key)), lastmod)
        if len(self._lastmods) >= 2 * LASTMOD_BATCH:
            self._flush_lastmods()

    def lastmod(self, key: str) -> str | None:
        digest = url_digest(key)
        kept, self._parsed_lastmod = self._parsed_lastmod, None
        if kept is not None and kept[0] == digest:
            return kept[1]
        self._flush_lastmods()
        value = self.client.hget(self._held_key, _lastmod_field(digest))
        return None if value is None else _text(value)

    def parsed(self, key: str, defer: Sequence[tuple[bytes, str]] = ()) -> list[str]:
        self._flush_lastmods()
        digest = url_digest(key)
        args: list[bytes | str] = [digest, "1" if redelivered() else "0"]
        keys = [self._parsed_key, self._held_key]
        self._deferred_with_parse = None
        met, asked, answers = self._to_defer(list(defer))
        if asked:
            # The deferral of the page's related articles goes with it: one step, not two.
            args += self._defer_args(asked)
            keys += [self._articles_key, self._seen_key]
            held, lastmod, kept = self._run_again(self._parsed_and_defer, keys, args, 1)
            self._deferred_with_parse = (met, self._deferred(met, asked, answers, kept))
        else:
            held, lastmod = self._run_again(self._parsed, keys, args, 1)
        # Asked for next by the spider (its record's lastmod): no second round trip.
        self._parsed_lastmod = (digest, _text(lastmod) or None)
        # Read by a parse run again only: freed once this one's record is committed.
        release_when_done(self._held_key, digest)
        release_when_done(self._held_key, _lastmod_field(digest))
        return [unpack(url, self.origin) for url in _text(held).split("\n")] if held else []

    # --- discovery order ------------------------------------------------------------------

    def sitemap_requested(self, url: str) -> None:
        # A set member: a call sent again, or a sitemap requested again, adds nothing.
        self.client.sadd(self._sitemaps_key, url)

    def sitemap_done(self, url: str) -> None:
        self._flush_lastmods()
        self.client.srem(self._sitemaps_key, url)

    @property
    def navigation_started(self) -> bool:
        if not self._navigating:
            self._navigating = bool(self.client.exists(self._navigation_key))
        return self._navigating

    def start_navigation(self) -> bool:
        self._flush_lastmods()
        keys = [self._sitemaps_key, self._navigation_key, self._seen_key]
        started = bool(self._run(self._start_navigation, keys, [NAVIGATION_MARK]))
        self._navigating = self._navigating or started
        return started

    def defer_page(self, url: str) -> bool:
        return self._kept_for_navigation(self._pages_key, url)

    def defer_article(self, url: str) -> bool:
        return self._kept_for_navigation(self._articles_key, url)

    def _kept_for_navigation(self, deferred: str, url: str) -> bool:
        # Navigation, once started, never stops: no round trip to learn it again.
        if self._navigating:
            return False
        # Not once-only (_answered_once): sent again, the URL is kept twice, which taking it
        # decides once.
        kept = bool(
            self._defer(keys=[self._navigation_key, deferred], args=[pack(url, self.origin)])
        )
        self._navigating = not kept
        return kept

    def defer_articles(self, met: list[tuple[bytes, str]]) -> list[bool]:
        met = [(_short(digest), url) for digest, url in met]
        sent, self._deferred_with_parse = self._deferred_with_parse, None
        if sent is not None and sent[0] == met:
            return sent[1]
        met, asked, answers = self._to_defer(met)
        if not asked:
            return answers
        # Not once-only, as _kept_for_navigation.
        kept = self._defer_many(
            keys=[self._articles_key, self._seen_key], args=self._defer_args(asked)
        )
        return self._deferred(met, asked, answers, kept)

    def _to_defer(
        self, met: list[tuple[bytes, str]]
    ) -> tuple[list[tuple[bytes, str]], list[tuple[bytes, str]], list[bool]]:
        """(met, those to send, the answers known here: True for the others)."""
        met = [(_short(digest), url) for digest, url in met]
        if self._navigating:
            self._deferred_here.clear()
            return met, [], [False] * len(met)
        again = redelivered()
        # Known here as met, or deferred by this worker already (an article's related articles
        # are much the same from page to page): nothing to do, nothing sent.
        answers = [
            not again and (digest in self._known_seen or url in self._deferred_here)
            for digest, url in met
        ]
        asked = [pair for pair, known in zip(met, answers, strict=True) if not known]
        return met, asked, answers

    def _defer_args(self, asked: list[tuple[bytes, str]]) -> list[bytes | str]:
        args: list[bytes | str] = [
            "1" if redelivered() else "0",
            NAVIGATION_MARK,
            str(len(asked)),
        ]
        for digest, url in asked:
            args += (digest, pack(url, self.origin))
        return args

    def _deferred(
        self,
        met: list[tuple[bytes, str]],
        asked: list[tuple[bytes, str]],
        answers: list[bool],
        kept: list[int],
    ) -> list[bool]:
        if not kept:
            self._navigating = True
            self._deferred_here.clear()
            return [False] * len(met)
        self._deferred_here.update(url for _, url in asked)
        return [True] * len(met)

    def take_deferred(self) -> tuple[list[str], list[str]]:
        import redis  # noqa: PLC0415 (cluster mode only)

        # Kept for this callback run again only: freed once its output is safe.
        release_when_done(self._taken_pages_key)
        release_when_done(self._taken_articles_key)
        taken = [self._taken_pages_key, self._taken_articles_key]
        keys = [self._pages_key, self._articles_key, *taken]
        again = redelivered()
        try:
            moved = self._take_deferred(keys=keys, client=self._once)
        except (redis.ConnectionError, redis.TimeoutError):
            # It may have moved them: every one taken is read, as in a callback run again.
            moved = self._take_deferred(keys=keys)
            again = True
        # Again: every one taken (the first run's requests may be lost); else those moved now.
        pages, articles = (
            self._read_list(key, None if again else int(count))
            for key, count in zip(taken, moved, strict=True)
        )
        return pages, articles

    def _read_list(self, key: str, last: int | None) -> list[str]:
        """The ``last`` URLs of the list (None: all), read TAKE_PAGE at a time: Redis holds a
        reply whole until it is sent, and navigation's is thousands of URLs."""
        if last == 0:
            return []
        start = 0 if last is None else -last
        urls: list[str] = []
        while True:
            end = start + TAKE_PAGE - 1
            page = self.client.lrange(key, start, -1 if start < 0 and end >= -1 else end)
            urls += (unpack(u, self.origin) for u in page)
            if len(page) < TAKE_PAGE or (start < 0 and end >= -1):
                return urls
            start += TAKE_PAGE
