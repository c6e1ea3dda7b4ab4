"""A DNS resolver for end-to-end crawls that answers ``127.0.0.1`` for every ``*.localhost``
name (``www.localhost``), which the system resolver does not know: the replica can then be
crawled under a ``www.`` spelling of its host. Given to a crawl as
``-s TWISTED_DNS_RESOLVER=tests.loopback_resolver.LoopbackResolver``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.resolver import CachingThreadedResolver
from twisted.internet import defer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from twisted.internet.defer import Deferred

LOOPBACK = "127.0.0.1"


class LoopbackResolver(CachingThreadedResolver):
    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:
        if name.lower().endswith(".localhost"):
            return defer.succeed(LOOPBACK)
        return super().getHostByName(name, timeout)
