"""The replica's opt-in SO_REUSEPORT (``ReplicaServer(reuse_port=True)``, ``serve
--reuse-port``): several server processes of one site on one port, as the cluster benchmark
serves its replica (tests/benchmarks/cluster.py)."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest

from tests.replica import ReplicaConfig, ReplicaServer

CONFIG = ReplicaConfig(articles=3)
CONNECTIONS = 64


def _port(server: ReplicaServer) -> int:
    return int(urlsplit(server.url).port or 0)


def test_two_reuse_port_servers_share_one_port_and_both_answer() -> None:
    with ReplicaServer(CONFIG, reuse_port=True) as first:
        port = _port(first)
        with ReplicaServer(CONFIG, port, reuse_port=True) as second:
            assert second.url == first.url
            # A new connection each time: the kernel picks a listener per connection (by its
            # source port), so 64 connections reach both (all on one: odds 2 in 2**64).
            for _ in range(CONNECTIONS):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                try:
                    conn.request("GET", "/robots.txt")
                    response = conn.getresponse()
                    response.read()
                    assert response.status == 200
                finally:
                    conn.close()
    assert len(first.requests) + len(second.requests) == CONNECTIONS
    assert first.requests
    assert second.requests


def test_without_reuse_port_a_second_server_cannot_take_the_port() -> None:
    with ReplicaServer(CONFIG, reuse_port=True) as first, pytest.raises(OSError):
        ReplicaServer(CONFIG, _port(first)).start()
