"""The suite's own Redis server: started on 127.0.0.1, its data kept across a restart."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.redis_server import RedisServer

redis = pytest.importorskip("redis")

pytestmark = pytest.mark.redis


def test_redis_url_is_an_empty_database_on_loopback(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert redis_url.startswith("redis://127.0.0.1:")
        assert client.dbsize() == 0
        client.set("probe", "1")
        assert client.get("probe") == b"1"
    finally:
        client.close()


def test_restarted_server_keeps_what_was_written(own_redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(own_redis_server.url)
    try:
        client.rpush("queue", "a", "b")
        own_redis_server.restart()
        assert client.lrange("queue", 0, -1) == [b"a", b"b"]
    finally:
        client.close()


def test_killed_server_refuses_connections(own_redis_server: RedisServer) -> None:
    own_redis_server.kill()
    assert not own_redis_server.ping()
    client = redis.Redis.from_url(own_redis_server.url, socket_connect_timeout=0.5)
    try:
        with pytest.raises(redis.ConnectionError):
            client.ping()
    finally:
        client.close()
