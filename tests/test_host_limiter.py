"""The cluster's per-host limiter (crawler/cluster/limiter.py) on a real Redis server."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from typing import TYPE_CHECKING

import pytest
import redis

from crawler.cluster.limiter import HostLimiter, HostLimits, host_key

if TYPE_CHECKING:
    from multiprocessing.synchronize import Event

pytestmark = pytest.mark.redis

PREFIX = "test"
HOST = "portal.example.gov.vn"
PROBE = "probe:in_flight"
PROBE_SEEN = "probe:seen"


def _take(limiter: HostLimiter, limits: HostLimits) -> str:
    while True:
        answer = limiter.acquire(HOST, limits)
        if answer.token is not None:
            return answer.token
        time.sleep(answer.wait)


def _acquirer_process(url: str, limits: HostLimits, threads: int, rounds: int) -> None:
    """``threads`` acquirers in this process, each taking a slot ``rounds`` times and counting
    itself in flight (in Redis, so every process's count is one) while holding it."""
    client = redis.Redis.from_url(url)
    limiter = HostLimiter(client, PREFIX)

    def acquirer() -> None:
        for _ in range(rounds):
            token = _take(limiter, limits)
            client.rpush(PROBE_SEEN, client.incr(PROBE))
            time.sleep(0.005)
            client.decr(PROBE)
            limiter.release(HOST, token)

    workers = [threading.Thread(target=acquirer) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def _holder_process(url: str, limits: HostLimits, ready: Event) -> None:
    limiter = HostLimiter(redis.Redis.from_url(url), PREFIX)
    _take(limiter, limits)
    ready.set()
    time.sleep(600)


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def test_concurrency_is_never_exceeded_by_many_acquirers_in_several_processes(
    redis_url: str, client: redis.Redis
) -> None:
    limits = HostLimits(concurrency=3, delay=0.0, lease_seconds=30)
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_acquirer_process, args=(redis_url, limits, 4, 10)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    seen = [int(value) for value in client.lrange(PROBE_SEEN, 0, -1)]
    assert len(seen) == 4 * 4 * 10
    assert max(seen) <= 3
    assert HostLimiter(client, PREFIX).in_flight(HOST) == 0


def test_a_second_start_within_the_delay_is_refused_with_the_time_left_to_wait(
    client: redis.Redis,
) -> None:
    limits = HostLimits(concurrency=5, delay=30.0, lease_seconds=60)
    first, second = HostLimiter(client, PREFIX), HostLimiter(client, PREFIX)
    assert first.acquire(HOST, limits).granted
    refused = second.acquire(HOST, limits)
    assert not refused.granted
    assert 0 < refused.wait <= 30.0


def test_a_start_is_granted_once_the_delay_has_passed(client: redis.Redis) -> None:
    limits = HostLimits(concurrency=5, delay=0.2, lease_seconds=60)
    limiter = HostLimiter(client, PREFIX)
    assert limiter.acquire(HOST, limits).granted
    refused = limiter.acquire(HOST, limits)
    assert not refused.granted
    time.sleep(refused.wait)
    assert limiter.acquire(HOST, limits).granted


def test_the_delay_holds_per_host_not_across_hosts(client: redis.Redis) -> None:
    limits = HostLimits(concurrency=5, delay=30.0, lease_seconds=60)
    limiter = HostLimiter(client, PREFIX)
    assert limiter.acquire(HOST, limits).granted
    assert limiter.acquire("other.example.gov.vn", limits).granted


def test_release_frees_the_slot_for_the_next_acquirer(client: redis.Redis) -> None:
    limits = HostLimits(concurrency=1, delay=0.0, lease_seconds=60)
    limiter = HostLimiter(client, PREFIX)
    held = limiter.acquire(HOST, limits)
    assert held.token is not None
    assert not limiter.acquire(HOST, limits).granted
    assert limiter.release(HOST, held.token)
    assert limiter.in_flight(HOST) == 0
    assert limiter.acquire(HOST, limits).granted


def test_a_full_host_answers_a_short_poll_not_the_lease_time(client: redis.Redis) -> None:
    limits = HostLimits(concurrency=1, delay=0.0, lease_seconds=60)
    limiter = HostLimiter(client, PREFIX)
    assert limiter.acquire(HOST, limits).granted
    refused = limiter.acquire(HOST, limits)
    assert not refused.granted
    assert 0 < refused.wait < 1.0


def test_the_slot_of_a_killed_worker_comes_back_after_its_lease(
    redis_url: str, client: redis.Redis
) -> None:
    lease = 5.0
    limits = HostLimits(concurrency=1, delay=0.0, lease_seconds=lease)
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    holder = context.Process(target=_holder_process, args=(redis_url, limits, ready))
    holder.start()
    try:
        assert ready.wait(timeout=60)
    finally:
        assert holder.pid is not None
        os.kill(holder.pid, signal.SIGKILL)
        holder.join()
    limiter = HostLimiter(client, PREFIX)
    # The killed holder's slot is still leased: this acquirer waits until the lease ends.
    assert not limiter.acquire(HOST, limits).granted
    time.sleep(lease)
    assert limiter.acquire(HOST, limits).granted


def test_releasing_an_expired_lease_says_it_was_no_longer_held(client: redis.Redis) -> None:
    limits = HostLimits(concurrency=1, delay=0.0, lease_seconds=0.2)
    limiter = HostLimiter(client, PREFIX)
    held = limiter.acquire(HOST, limits)
    assert held.token is not None
    time.sleep(0.3)
    assert limiter.in_flight(HOST) == 0
    assert not limiter.release(HOST, held.token)


def test_the_limiter_keys_expire_when_the_host_is_left_alone(client: redis.Redis) -> None:
    limiter = HostLimiter(client, PREFIX)
    assert limiter.acquire(HOST, HostLimits(1, 0.5, 30)).granted
    slots, last = limiter.keys(HOST)
    assert 0 < client.ttl(slots) <= 31
    assert 0 < client.pttl(last) <= 1500


def test_a_host_is_its_name_and_its_port_unless_the_scheme_default() -> None:
    assert host_key("https://Portal.example.gov.vn/w/a") == "portal.example.gov.vn"
    assert host_key("https://portal.example.gov.vn:443/") == "portal.example.gov.vn"
    assert host_key("http://127.0.0.1:8081/w/a") == "127.0.0.1:8081"


@pytest.mark.parametrize(
    ("concurrency", "delay", "lease"), [(0, 1.0, 10.0), (1, -1.0, 10.0), (1, 1.0, 0.0)]
)
def test_limits_out_of_range_are_refused(concurrency: int, delay: float, lease: float) -> None:
    with pytest.raises(ValueError, match="must"):
        HostLimits(concurrency, delay, lease)
