"""Sitemaps streamed to a temporary file (crawler/crawl/streaming.py), end to end: a portal that
sends
its sitemaps gzip-encoded in many chunks is crawled exactly as one that sends them plainly."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.crawl_runner import run_crawl
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig
from tests.test_e2e import truth_of

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e


def _stat(log: str, name: str) -> int:
    found = re.search(rf"'{re.escape(name)}': (\d+)", log)
    return int(found[1]) if found else 0


def test_gzip_chunked_sitemaps_are_streamed_and_give_every_article(tmp_path: Path) -> None:
    config = ReplicaConfig(articles=40, sitemaps_gzip_chunked=True)
    with ReplicaServer(config) as server:
        result = run_crawl(server.url, tmp_path)
        truth = truth_of(config, server.url)
    assert result.returncode == 0, result.log[-3000:]
    assert sorted(r["url"] for r in result.feed()) == sorted(truth)
    sitemaps = _stat(result.log, "crawl/sitemaps")
    assert sitemaps >= 2
    assert _stat(result.log, "crawl/sitemaps_streamed") == sitemaps
    assert _stat(result.log, "crawl/sitemaps_empty") == 0


def test_plain_sitemaps_are_streamed_too(tmp_path: Path) -> None:
    config = ReplicaConfig(articles=20)
    with ReplicaServer(config) as server:
        result = run_crawl(server.url, tmp_path)
        truth = truth_of(config, server.url)
    assert result.returncode == 0, result.log[-3000:]
    assert sorted(r["url"] for r in result.feed()) == sorted(truth)
    sitemaps = _stat(result.log, "crawl/sitemaps")
    assert sitemaps >= 2
    assert _stat(result.log, "crawl/sitemaps_streamed") == sitemaps
