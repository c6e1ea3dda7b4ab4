"""A cluster crawl in Redis: its meta (sites, mode, code version), its keys, the worker
registry with each worker's heartbeat, and the done marks of its sites.

Keys (``P = {prefix}:crawl:{crawl_id}``, per site ``S = {P}:site:{site}``): ``{prefix}:current``
(the current crawl id), ``{P}:meta``, ``{P}:workers``, ``{S}:queue``, ``{S}:leases``,
``{S}:leased``, ``{S}:referers``, ``{S}:dupefilter``, ``{S}:seeded``, ``{S}:done``.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crawler.cluster.connection import shared_client
from crawler.cluster.frontier_state import RedisFrontierState

if TYPE_CHECKING:
    import redis
    from scrapy.settings import BaseSettings

CRAWL_ID = re.compile(r"[0-9a-f]{32}")
# A URL's scheme and host (and port).
ORIGIN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]+")
# The seeded mark: claimed by a worker (``claimed:<worker>``), then ``enqueued`` once the
# site's seeds are in its queue.
SEEDS_ENQUEUED = "enqueued"
STATUS_RUNNING = "running"
STATUS_DONE = "done"
STATUS_FAILED = "failed"


class ClusterRefused(RuntimeError):
    """A worker or command that must not go on with this crawl: one line saying why."""


@dataclass(frozen=True)
class SiteKeys:
    queue: str
    leases: str
    leased: str
    dupefilter: str
    seeded: str
    done: str
    prefix: str


@dataclass(frozen=True)
class WorkerInfo:
    worker_id: str
    host: str
    pid: int
    started_at: str
    beat: float
    sites: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "host": self.host,
                "pid": self.pid,
                "started_at": self.started_at,
                "beat": self.beat,
                "sites": self.sites,
            }
        )

    @classmethod
    def from_json(cls, worker_id: str, text: str | bytes) -> WorkerInfo:
        data = json.loads(text)
        return cls(
            worker_id,
            str(data["host"]),
            int(data["pid"]),
            str(data["started_at"]),
            float(data["beat"]),
            [str(s) for s in data.get("sites", [])],
        )


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else value


def server_time(client: redis.Redis) -> float:
    """The Redis server's clock (epoch seconds): every machine's leases and beats are judged by
    one clock, whatever the workers' own."""
    seconds, micros = client.time()
    return float(seconds) + micros / 1e6


class ClusterCrawl:
    def __init__(self, client: redis.Redis, prefix: str, crawl_id: str, meta: dict[str, str]):
        self.client = client
        self.prefix = prefix
        self.id = crawl_id
        self.meta = meta

    # --- keys -----------------------------------------------------------------------------

    @staticmethod
    def current_key(prefix: str) -> str:
        return f"{prefix}:current"

    @staticmethod
    def crawl_key(prefix: str, crawl_id: str) -> str:
        return f"{prefix}:crawl:{crawl_id}"

    @property
    def key(self) -> str:
        return self.crawl_key(self.prefix, self.id)

    def site_keys(self, site: str) -> SiteKeys:
        s = f"{self.key}:site:{site}"
        return SiteKeys(
            queue=f"{s}:queue",
            leases=f"{s}:leases",
            leased=f"{s}:leased",
            dupefilter=f"{s}:dupefilter",
            seeded=f"{s}:seeded",
            done=f"{s}:done",
            prefix=s,
        )

    # --- meta -----------------------------------------------------------------------------

    @property
    def sites(self) -> list[str]:
        return [str(s) for s in json.loads(self.meta["sites"])]

    @property
    def args(self) -> dict[str, str]:
        """The spider arguments of the crawl's mode: ``{"full": "1"}``, ``{"since": DAY}`` or
        none (incremental)."""
        return {str(k): str(v) for k, v in json.loads(self.meta["args"]).items()}

    @property
    def fingerprint(self) -> str:
        return self.meta["fingerprint"]

    @property
    def status(self) -> str:
        return _text(self.client.hget(f"{self.key}:meta", "status")) or STATUS_RUNNING

    @classmethod
    def create(
        cls,
        client: redis.Redis,
        prefix: str,
        *,
        sites: list[str],
        args: dict[str, str],
        fingerprint: str,
        database: str,
        crawl_id: str | None = None,
    ) -> ClusterCrawl:
        """Writes a new crawl's meta and makes it the current crawl."""
        crawl_id = crawl_id or uuid.uuid4().hex
        meta = {
            "id": crawl_id,
            "sites": json.dumps(sites),
            "args": json.dumps(args),
            "fingerprint": fingerprint,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "database": database,
            "status": STATUS_RUNNING,
        }
        pipe = client.pipeline()
        pipe.hset(
            f"{cls.crawl_key(prefix, crawl_id)}:meta",
            items=[part for pair in meta.items() for part in pair],
        )
        pipe.set(cls.current_key(prefix), crawl_id)
        pipe.execute()
        return cls(client, prefix, crawl_id, meta)

    @classmethod
    def load(
        cls,
        client: redis.Redis,
        prefix: str,
        crawl_id: str | None = None,
        *,
        fingerprint: str | None = None,
    ) -> ClusterCrawl:
        """The crawl ``crawl_id`` (default: the current one). Refused: no crawl started, an
        unknown id, or (with ``fingerprint``) a crawl started by other code."""
        if crawl_id is None:
            crawl_id = _text(client.get(cls.current_key(prefix)))
            if crawl_id is None:
                raise ClusterRefused(
                    "no cluster crawl has been started (run 'scrapy cluster start --site NAME' "
                    "first)"
                )
        elif not CRAWL_ID.fullmatch(crawl_id):
            raise ClusterRefused(f"crawl id {crawl_id!r} is not a crawl id (32 hex digits)")
        raw = client.hgetall(f"{cls.crawl_key(prefix, crawl_id)}:meta")
        if not raw:
            raise ClusterRefused(f"crawl {crawl_id} does not exist in Redis")
        meta = {str(_text(k)): str(_text(v)) for k, v in raw.items()}
        crawl = cls(client, prefix, crawl_id, meta)
        if fingerprint is not None and crawl.fingerprint != fingerprint:
            raise ClusterRefused(
                f"crawl {crawl_id} was started by crawler code {crawl.fingerprint}, this worker "
                f"runs {fingerprint}: run the same code version on every machine"
            )
        return crawl

    def set_status(self, status: str) -> None:
        self.client.hset(f"{self.key}:meta", "status", status)

    def expire(self, seconds: float) -> int:
        """Every key of the crawl expires in ``seconds`` (0: now): a finished crawl's state is
        kept for a look (``scrapy cluster status``) for CLUSTER_RETENTION_SECONDS, then goes.
        The number of keys."""
        keys = list(self.client.scan_iter(match=f"{self.key}:*", count=1000))
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.expire(key, max(0, int(seconds)))
        pipe.execute()
        return len(keys)

    # --- workers --------------------------------------------------------------------------

    def beat(self, info: WorkerInfo) -> None:
        """Registers the worker or renews its heartbeat (``info.beat`` is ignored: the beat is
        the Redis server's time)."""
        now = server_time(self.client)
        record = WorkerInfo(info.worker_id, info.host, info.pid, info.started_at, now, info.sites)
        self.client.hset(f"{self.key}:workers", info.worker_id, record.to_json())

    def workers(self) -> list[WorkerInfo]:
        raw = self.client.hgetall(f"{self.key}:workers")
        return sorted(
            (WorkerInfo.from_json(str(_text(k)), v) for k, v in raw.items()),
            key=lambda w: w.worker_id,
        )

    def live_workers(self, within: float) -> list[WorkerInfo]:
        """Workers whose last beat is at most ``within`` seconds old."""
        now = server_time(self.client)
        return [w for w in self.workers() if now - w.beat <= within]

    # --- sites ----------------------------------------------------------------------------

    def claim_seeds(self, site: str, worker_id: str, claim_seconds: float = 60.0) -> bool:
        """Whether this worker enqueues the site's seeds (the first worker to open the site).
        The claim expires after ``claim_seconds`` unless the seeds are enqueued by then: a
        worker killed in between does not keep the site from ever being seeded."""
        seeded = self.site_keys(site).seeded
        px = max(1, int(claim_seconds * 1000))
        return bool(self.client.set(seeded, f"claimed:{worker_id}", nx=True, px=px))

    def seeds_are_enqueued(self, site: str) -> bool:
        return _text(self.client.get(self.site_keys(site).seeded)) == SEEDS_ENQUEUED

    def seeds_enqueued(self, site: str) -> None:
        self.client.set(self.site_keys(site).seeded, SEEDS_ENQUEUED)

    def site_state(self, site: str) -> dict[str, Any]:
        """What the site holds: queued and leased requests, seeded, done."""
        keys = self.site_keys(site)
        pipe = self.client.pipeline(transaction=False)
        pipe.zcard(keys.queue)
        pipe.zcard(keys.leases)
        pipe.get(keys.seeded)
        pipe.exists(keys.done)
        queued, leased, seeded, done = pipe.execute()
        return {
            "queued": int(queued),
            "leased": int(leased),
            "seeded": _text(seeded) == SEEDS_ENQUEUED,
            "done": bool(done),
        }

    def site_has_work(self, site: str) -> bool:
        """Whether the site may still get requests: its seeds are not yet enqueued, or requests
        wait in its queue or are leased to a worker (whose output may add more)."""
        state = self.site_state(site)
        return not state["seeded"] or bool(state["queued"] or state["leased"])

    def mark_site_done(self, site: str) -> None:
        keys = self.site_keys(site)
        pipe = self.client.pipeline(transaction=False)
        pipe.set(keys.done, datetime.now(UTC).isoformat(timespec="seconds"))
        # The queue's table of Referers (crawler/cluster/queue.py): the queue is empty.
        pipe.delete(f"{keys.prefix}:referers")
        pipe.execute()

    def site_done(self, site: str) -> bool:
        return bool(self.client.exists(self.site_keys(site).done))

    def all_sites_done(self) -> bool:
        return all(self.site_done(site) for site in self.sites)


def site_frontier_state(settings: BaseSettings, site: str) -> RedisFrontierState:
    """The frontier state a cluster crawler of ``site`` shares with every worker
    (``{S}:frontier:*``)."""
    client = shared_client(
        settings.get("CLUSTER_REDIS_URL"), settings.getfloat("CLUSTER_REDIS_RETRY_SECONDS")
    )
    crawl = ClusterCrawl(
        client, settings.get("CLUSTER_KEY_PREFIX"), settings.get("CLUSTER_CRAWL_ID"), {}
    )
    prefix = f"{crawl.site_keys(site).prefix}:frontier"
    base = ORIGIN.match(str(settings.get("SITE_BASE_URL") or ""))
    return RedisFrontierState(client, prefix, proposed=base.group(0) if base else "")
