"""The cluster's Redis client (crawler/cluster/connection.py): once a call waited its whole
retry bound in vain, the server counts as lost and later calls try once, until one is answered."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import pytest
import redis

from crawler.cluster import connection
from crawler.cluster.connection import redis_client

if TYPE_CHECKING:
    from tests.redis_server import RedisServer

pytestmark = pytest.mark.redis


def test_a_server_that_stays_down_is_lost_for_every_client_until_it_answers_again(
    own_redis_server: RedisServer,
) -> None:
    url = own_redis_server.url
    first = connection.redis_client(url, 0.3)
    other = connection.redis_client(url, 0.3)
    assert first.ping()
    own_redis_server.kill()
    with pytest.raises(redis.ConnectionError):
        first.get("key")
    assert connection.is_lost(url)
    with pytest.raises(redis.ConnectionError):
        other.get("key")  # lost: one attempt, no backoff
    own_redis_server.start()
    assert other.ping()
    assert not connection.is_lost(url)


def test_a_server_back_within_the_bound_is_never_lost(own_redis_server: RedisServer) -> None:
    url = own_redis_server.url
    client = connection.redis_client(url, 30)
    client.set("key", "kept")
    own_redis_server.restart()
    assert client.get("key") == b"kept"
    assert not connection.is_lost(url)


def test_a_client_s_url_password_is_masked_in_every_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = "redis://:cluster-s3cret@127.0.0.1:1/0"
    redis_client(url, 0.1)
    with caplog.at_level(logging.INFO):
        logging.getLogger("crawler.test").info("connecting to %s", url)
    assert "cluster-s3cret" not in caplog.text
    assert "redis://:***@127.0.0.1:1/0" in caplog.text


def test_a_lost_server_costs_a_connection_made_before_the_loss_no_wait(
    own_redis_server: RedisServer,
) -> None:
    # redis-py's pool first "connects" a pooled connection whose socket the dead server
    # closed (a no-op that succeeds): that must not count as the server back, or each such
    # connection (a worker has several per site) waits the whole bound again.
    url = own_redis_server.url
    lost_first = connection.redis_client(url, 1.0)
    pooled = connection.redis_client(url, 1.0)
    assert lost_first.ping() and pooled.ping()
    own_redis_server.kill()
    with pytest.raises(redis.ConnectionError):
        lost_first.get("key")
    assert connection.is_lost(url)
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        pooled.get("key")
    assert time.monotonic() - started < 0.5
    assert connection.is_lost(url)


def test_a_stopping_process_waits_for_no_server(
    own_redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "_STOPPING", [])
    url = own_redis_server.url
    client = connection.redis_client(url, 30)
    own_redis_server.kill()
    connection.stop_waiting()
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        client.get("key")
    assert time.monotonic() - started < 0.5


def test_a_worker_s_users_of_one_server_share_one_client_and_its_connections(
    redis_server: RedisServer,
) -> None:
    url = redis_server.url
    scheduler = connection.shared_client(url, 2.0)
    limiter = connection.shared_client(url, 2.0)
    assert scheduler is limiter
    assert connection.shared_client(url, 0.0) is not scheduler  # another bound, another client
    once = connection.once_client(scheduler)  # type: ignore[arg-type]
    assert once.connection_pool is scheduler.connection_pool
    assert once.ping() and scheduler.ping()


def test_a_once_client_raises_at_once_where_its_shared_client_waits_the_server_out(
    own_redis_server: RedisServer,
) -> None:
    url = own_redis_server.url
    client = connection.redis_client(url, 30)
    once = connection.once_client(client)  # type: ignore[arg-type]
    assert once.ping()
    own_redis_server.kill()
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        once.get("key")
    assert time.monotonic() - started < 0.5
    assert not connection.is_lost(url)  # tried once is no verdict on the server
    own_redis_server.start()
    assert client.get("key") is None and once.ping()
