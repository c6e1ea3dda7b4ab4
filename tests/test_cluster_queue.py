"""The lease queue and the crawl's meta in a real Redis server (crawler/cluster/)."""

from __future__ import annotations

import json
import logging
import os
import pickle
from typing import TYPE_CHECKING

import pytest
from scrapy import Request, Spider
from scrapy.utils.test import get_crawler

from crawler.cluster import serializer
from crawler.cluster.connection import ClusterUnavailable, check_reachable, redis_client
from crawler.cluster.crawl import ClusterCrawl, ClusterRefused, WorkerInfo
from crawler.cluster.queue import LEASE_META, LeaseQueue
from crawler.setup.fingerprint import source_fingerprint

if TYPE_CHECKING:
    from pathlib import Path

    import redis

pytestmark = pytest.mark.redis


class QueueSpider(Spider):
    name = "queue-test"

    def parse_article(self, response: object) -> None:
        return None


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis_client(redis_url, retry_seconds=1)


@pytest.fixture
def crawl(client: redis.Redis) -> ClusterCrawl:
    return ClusterCrawl.create(
        client,
        "test",
        sites=["alpha", "beta"],
        args={"full": "1"},
        fingerprint=source_fingerprint(),
        database="sqlite:///x",
    )


def lease_queue(client: redis.Redis, crawl: ClusterCrawl, lease: float = 60) -> LeaseQueue:
    return LeaseQueue(client, QueueSpider(), crawl.site_keys("alpha"), lease)


def test_a_pop_moves_the_highest_priority_request_to_the_leases(
    client: redis.Redis, crawl: ClusterCrawl
) -> None:
    queue = lease_queue(client, crawl)
    queue.push(Request("http://a.test/low", priority=0))
    queue.push(Request("http://a.test/high", priority=20))
    popped = queue.pop()
    assert popped is not None and popped.url == "http://a.test/high"
    token = popped.meta[LEASE_META]
    assert len(queue) == 1
    assert queue.leased_count() == 1
    assert client.hexists(crawl.site_keys("alpha").leased, token)


class ShellPayload:
    """The crafted entry that ran ``id`` on a worker: unpickling it runs a shell command."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


def test_a_pickle_pushed_into_the_queue_is_refused_and_never_runs(
    client: redis.Redis, crawl: ClusterCrawl, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "ran"
    stats = get_crawler().stats
    assert stats is not None
    queue = LeaseQueue(client, QueueSpider(), crawl.site_keys("alpha"), 60, stats=stats)
    queue.push(Request("http://a.test/after", priority=0))
    # first in line: what anyone who can write to Redis could push
    client.zadd(queue.key, {pickle.dumps(ShellPayload(f"touch {marker}")): -100})
    with caplog.at_level(logging.WARNING, logger="crawler.cluster.queue"):
        popped = queue.pop()
    assert not marker.exists()
    assert popped is not None and popped.url == "http://a.test/after"
    [warning] = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name == "crawler.cluster.queue"
    ]
    assert "refused a queue entry that is not a request" in warning.getMessage()
    assert "never run" in warning.getMessage()
    assert stats.get_value("cluster/queue_refused") == 1
    # a request dropped fails the run: it must not claim a page it never saw
    assert stats.get_value("run/failure/cluster_queue_refused") == 1
    # dropped: only the good request's lease is left, nothing is queued
    assert queue.leased_count() == 1 and len(queue) == 0
    assert queue.pop() is None


def test_a_pickle_swapped_into_a_lease_is_refused_when_reaped_and_never_runs(
    client: redis.Redis, crawl: ClusterCrawl, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    stats = get_crawler().stats
    assert stats is not None
    queue = LeaseQueue(client, QueueSpider(), crawl.site_keys("alpha"), 0, stats=stats)
    queue.push(Request("http://a.test/1"))
    popped = queue.pop()
    assert popped is not None
    token = popped.meta[LEASE_META]
    client.hset(queue.keys.leased, token, pickle.dumps(ShellPayload(f"touch {marker}")))
    assert queue.reap() == 0
    assert not marker.exists()
    assert stats.get_value("cluster/queue_refused") == 1
    assert stats.get_value("run/failure/cluster_queue_refused") == 1
    assert queue.leased_count() == 0 and len(queue) == 0


def test_queue_entries_in_redis_are_compact_records_the_serializer_reads(
    client: redis.Redis, crawl: ClusterCrawl
) -> None:
    queue = lease_queue(client, crawl)
    spider = QueueSpider()
    queue.push(Request("http://a.test/x", callback=spider.parse_article, meta={"depth": 2}))
    [raw] = client.zrange(queue.key, 0, -1)
    assert raw.startswith(serializer.MARKER)
    entry = serializer.loads(raw)
    assert (entry["url"], entry["callback"], entry["meta"]) == (
        "http://a.test/x",
        "parse_article",
        {"depth": 2},
    )


def test_a_json_entry_queued_by_the_code_before_is_popped_and_run(
    client: redis.Redis, crawl: ClusterCrawl
) -> None:
    queue = lease_queue(client, crawl)
    old = {"v": 1, "url": "http://a.test/old", "callback": "parse_article", "priority": 20}
    client.zadd(queue.key, {json.dumps(old): -20})
    popped = queue.pop()
    assert popped is not None
    assert (popped.url, popped.callback.__name__, popped.priority) == (
        "http://a.test/old",
        "parse_article",
        20,
    )


def test_an_ack_removes_the_lease(client: redis.Redis, crawl: ClusterCrawl) -> None:
    queue = lease_queue(client, crawl)
    queue.push(Request("http://a.test/1"))
    popped = queue.pop()
    assert popped is not None
    queue.ack(popped.meta[LEASE_META])
    assert queue.leased_count() == 0
    assert client.hlen(crawl.site_keys("alpha").leased) == 0
    assert len(queue) == 0 and queue.pop() is None


def test_an_expired_lease_returns_to_the_queue_with_its_priority(
    client: redis.Redis, crawl: ClusterCrawl
) -> None:
    queue = lease_queue(client, crawl, lease=0)
    queue.push(Request("http://a.test/article", priority=20, callback=QueueSpider().parse_article))
    popped = queue.pop()
    assert popped is not None and queue.pop() is None
    assert queue.reap() == 1
    assert queue.leased_count() == 0
    assert client.zscore(crawl.site_keys("alpha").queue, client.zrange(queue.key, 0, 0)[0]) == -20
    again = queue.pop()
    assert again is not None
    assert (again.url, again.priority, again.callback.__name__) == (
        "http://a.test/article",
        20,
        "parse_article",
    )


def test_a_live_lease_is_not_reaped_and_a_renewed_one_stays_leased(
    client: redis.Redis, crawl: ClusterCrawl
) -> None:
    queue = lease_queue(client, crawl, lease=60)
    queue.push(Request("http://a.test/1"))
    popped = queue.pop()
    assert popped is not None
    assert queue.reap() == 0
    assert queue.renew([popped.meta[LEASE_META]]) == 1
    assert queue.leased_count() == 1 and len(queue) == 0


def test_a_killed_consumer_s_requests_are_served_to_another(
    client: redis.Redis, crawl: ClusterCrawl
) -> None:
    killed = lease_queue(client, crawl, lease=0)
    for n in range(3):
        killed.push(Request(f"http://a.test/{n}"))
    taken = [killed.pop() for _ in range(2)]
    assert all(r is not None for r in taken)
    # the consumer dies holding two leases; another worker's queue of the same site reaps them
    other = lease_queue(redis_client_of(client), crawl, lease=60)
    assert other.reap() == 2
    served = sorted(r.url for r in iter(other.pop, None))
    assert served == ["http://a.test/0", "http://a.test/1", "http://a.test/2"]


def redis_client_of(client: redis.Redis) -> redis.Redis:
    kwargs = client.connection_pool.connection_kwargs
    return redis_client(f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs['db']}", 1)


def test_a_released_lease_is_back_in_the_queue_at_once(
    client: redis.Redis, crawl: ClusterCrawl
) -> None:
    queue = lease_queue(client, crawl, lease=60)
    queue.push(Request("http://a.test/1"))
    popped = queue.pop()
    assert popped is not None
    assert queue.release(popped.meta[LEASE_META])
    assert len(queue) == 1 and queue.leased_count() == 0


def test_a_pushed_copy_of_a_leased_request_leaves_its_lease_token_behind(
    client: redis.Redis, crawl: ClusterCrawl
) -> None:
    queue = lease_queue(client, crawl)
    queue.push(Request("http://a.test/1"))
    popped = queue.pop()
    assert popped is not None
    queue.push(popped.replace(url="http://a.test/redirected"))
    again = queue.pop()
    assert again is not None and again.meta[LEASE_META] != popped.meta[LEASE_META]


# --- the crawl ---------------------------------------------------------------------------------


def test_a_created_crawl_is_the_current_one_and_loads_with_its_meta(
    client: redis.Redis, crawl: ClusterCrawl
) -> None:
    loaded = ClusterCrawl.load(client, "test", fingerprint=source_fingerprint())
    assert loaded.id == crawl.id
    assert (loaded.sites, loaded.args, loaded.status) == (
        ["alpha", "beta"],
        {"full": "1"},
        "running",
    )


def test_loading_without_a_started_crawl_is_refused(client: redis.Redis) -> None:
    with pytest.raises(ClusterRefused, match="no cluster crawl has been started"):
        ClusterCrawl.load(client, "test")


def test_an_unknown_crawl_id_is_refused(client: redis.Redis, crawl: ClusterCrawl) -> None:
    with pytest.raises(ClusterRefused, match=f"crawl {'0' * 32} does not exist"):
        ClusterCrawl.load(client, "test", "0" * 32)
    with pytest.raises(ClusterRefused, match="is not a crawl id"):
        ClusterCrawl.load(client, "test", "nope")


def test_a_crawl_started_by_other_code_is_refused(client: redis.Redis, crawl: ClusterCrawl) -> None:
    with pytest.raises(ClusterRefused, match=r"started by crawler code .* this worker runs abc"):
        ClusterCrawl.load(client, "test", crawl.id, fingerprint="abc")


def test_workers_register_and_beat_on_the_server_clock(
    client: redis.Redis, crawl: ClusterCrawl
) -> None:
    crawl.beat(WorkerInfo("host-1", "host", 1, "2026-01-01T00:00:00+00:00", 0.0, ["alpha"]))
    (worker,) = crawl.live_workers(within=60)
    assert (worker.worker_id, worker.sites) == ("host-1", ["alpha"])
    assert worker.beat > 0
    assert crawl.live_workers(within=-1) == []


def test_a_site_has_work_until_its_seeds_are_enqueued_and_its_queue_and_leases_empty(
    client: redis.Redis, crawl: ClusterCrawl
) -> None:
    assert crawl.site_has_work("alpha")
    assert crawl.claim_seeds("alpha", "w1") and not crawl.claim_seeds("alpha", "w2")
    assert crawl.site_has_work("alpha")
    crawl.seeds_enqueued("alpha")
    assert not crawl.site_has_work("alpha")
    queue = lease_queue(client, crawl)
    queue.push(Request("http://a.test/1"))
    assert crawl.site_has_work("alpha")
    popped = queue.pop()
    assert popped is not None and crawl.site_has_work("alpha")
    queue.ack(popped.meta[LEASE_META])
    assert not crawl.site_has_work("alpha")


def test_an_unreachable_redis_is_one_line_naming_the_server_without_its_password() -> None:
    url = "redis://user:secret@127.0.0.1:1/0"
    client = redis_client(url, retry_seconds=0)
    with pytest.raises(ClusterUnavailable) as raised:
        check_reachable(client, url)
    message = str(raised.value)
    assert "\n" not in message and "secret" not in message
    assert message.startswith("Redis at redis://user:***@127.0.0.1:1/0 is unavailable: ")


def test_requests_of_one_page_share_one_referer_entry_read_back_by_another_worker(
    client: redis.Redis, crawl: ClusterCrawl
) -> None:
    keys = crawl.site_keys("alpha")
    one = lease_queue(client, crawl)
    sitemap = "http://a.test/sitemap.xml?p_l_id=31&groupId=20122"
    for n in range(3):
        one.push(Request(f"http://a.test/w/{n}", headers={"Referer": sitemap}))
    one.push_and_ack([(Request("http://a.test/w/3", headers={"Referer": sitemap}), b"fp3")], [])
    assert client.hlen(one.referers_key) == 1
    assert all(b"sitemap.xml" not in raw for raw in client.zrange(keys.queue, 0, -1))
    other = lease_queue(client, crawl)  # knows no Referer yet
    popped = [other.pop() for _ in range(4)]
    assert [r.headers["Referer"] for r in popped if r is not None] == [sitemap.encode()] * 4
    # the site done, its table goes
    crawl.mark_site_done("alpha")
    assert not client.exists(one.referers_key)


def test_a_reaped_request_keeps_its_referer(client: redis.Redis, crawl: ClusterCrawl) -> None:
    queue = lease_queue(client, crawl, lease=0)
    queue.push(Request("http://a.test/w/1", headers={"Referer": "http://a.test/list"}))
    assert queue.pop() is not None
    assert lease_queue(client, crawl, lease=0).reap() == 1
    again = lease_queue(client, crawl).pop()
    assert again is not None and again.headers["Referer"] == b"http://a.test/list"


def test_a_queued_url_under_the_site_s_origin_is_its_path_and_comes_back_whole(
    client: redis.Redis, crawl: ClusterCrawl
) -> None:
    keys = crawl.site_keys("alpha")
    one = LeaseQueue(client, QueueSpider(), keys, 0, origin="http://a.test")
    one.push(Request("http://a.test/w/công-ty", headers={"Referer": "http://a.test/list"}))
    [raw] = client.zrange(keys.queue, 0, -1)
    assert b"a.test" not in raw
    popped = LeaseQueue(client, QueueSpider(), keys, 0, origin="http://a.test").pop()
    assert popped is not None and popped.url == "http://a.test/w/c%C3%B4ng-ty"
    # put back by a reaper, popped again the same
    assert LeaseQueue(client, QueueSpider(), keys, 0, origin="http://a.test").reap() == 1
    again = LeaseQueue(client, QueueSpider(), keys, 60, origin="http://a.test").pop()
    assert again is not None and again.url == popped.url
    assert again.headers["Referer"] == b"http://a.test/list"
