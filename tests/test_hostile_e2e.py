"""End-to-end against a hostile portal on 127.0.0.1 (tests/hostile_server.py): each answer a
portal may send that once made a run lose articles while it claimed success."""

from __future__ import annotations

import gzip
import html
import re
from typing import TYPE_CHECKING

import pytest

from tests.crawl_runner import run_crawl
from tests.hostile_server import Answer, HostileServer
from tests.replica.site import ReplicaConfig, ReplicaSite
from tests.test_e2e import truth_of
from tests.test_limits_e2e import run_stats, stored_urls

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = pytest.mark.e2e

ARTICLES = 12
CRAWL_TIMEOUT = 240
BASE = "http://replica.test"


def _gzip_members(body: bytes, parts: int = 3) -> bytes:
    step = -(-len(body) // parts)
    return b"".join(gzip.compress(body[i : i + step]) for i in range(0, len(body), step))


def _multi_member_sitemaps(target: str, base: str, replica: Callable[[], Answer]) -> Answer:
    answer = replica()
    if not target.startswith("/sitemap.xml") or not isinstance(answer.body, bytes):
        return answer
    headers = [*answer.headers, ("Content-Encoding", "gzip")]
    return Answer(answer.status, headers, _gzip_members(answer.body))


def _sitemap_entries(config: ReplicaConfig) -> int:
    """How many <url> entries the replica's sitemaps hold, every sub-sitemap of its index."""
    site = ReplicaSite(config)
    index = site.handle("GET", "/sitemap.xml", 1, base_url=BASE).body.decode()
    subs = [html.unescape(u).removeprefix(BASE) for u in re.findall(r"<loc>([^<]+)</loc>", index)]
    return sum(site.handle("GET", sub, 1, base_url=BASE).body.count(b"<url>") for sub in subs)


def test_a_multi_member_gzip_sitemap_is_read_whole(tmp_path: Path) -> None:
    config = ReplicaConfig(articles=ARTICLES)
    with HostileServer(config, _multi_member_sitemaps) as server:
        result = run_crawl(server.url, tmp_path, timeout=CRAWL_TIMEOUT)
        truth = sorted(truth_of(config, server.url))
    assert result.returncode == 0, result.log[-3000:]
    assert stored_urls(result) == truth
    stats = run_stats(result)
    assert stats["crawl/sitemaps_streamed"] == stats["crawl/sitemaps"] >= 2
    assert stats.get("crawl/sitemaps_empty", 0) == 0
    # Every entry of every sitemap was read, not only its first gzip member's (navigation
    # alone would still find the articles of this small portal).
    assert stats["crawl/sitemap_entries"] == _sitemap_entries(config) > ARTICLES
