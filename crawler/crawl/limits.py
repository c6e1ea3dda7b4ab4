"""Bounds on what discovery may cost, so that every crawl ends whatever the site offers.

A listing's pager walk ends on an empty page, on a page that repeats one already seen in the
same walk, and after ``MAX_LISTING_PAGES`` pages; navigation is followed at most
``MAX_LINK_DEPTH`` hops from the home page (pages a sitemap lists count as one hop, a listing's
further pages add none) and at most ``MAX_LINKS_PER_PAGE`` new pages from one page. Reaching one
of these bounds is a contained trap, not a failure: sitemaps and the other listings still lead
to every article. It is counted (``limits/<kind>``: requests held back) and logged once per kind.
The run-wide caps (requests, run time) are in :mod:`crawler.middlewares.run_limits`.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crawler.setup.config import parse_number

if TYPE_CHECKING:
    from collections.abc import Sequence

    from scrapy.settings import BaseSettings
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

# setting name -> the stat kind that counts what it held back
LIMIT_SETTINGS = {
    "MAX_LISTING_PAGES": "listing_pages",
    "MAX_LINK_DEPTH": "link_depth",
    "MAX_LINKS_PER_PAGE": "links_per_page",
}
WALK_ENDED_EMPTY = "empty"
WALK_ENDED_REPEATED = "repeated"


@dataclass(frozen=True)
class CrawlLimits:
    max_listing_pages: int = 2000
    max_link_depth: int = 10
    max_links_per_page: int = 500

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> CrawlLimits:
        values = {name: int(parse_number(name, settings.get(name))) for name in LIMIT_SETTINGS}
        return cls(
            max_listing_pages=values["MAX_LISTING_PAGES"],
            max_link_depth=values["MAX_LINK_DEPTH"],
            max_links_per_page=values["MAX_LINKS_PER_PAGE"],
        )


def entries_fingerprint(entry_urls: Sequence[str]) -> str:
    """The identity of a listing page: the set of entries it shows, whatever their order."""
    digest = hashlib.sha256()
    for url in sorted(set(entry_urls)):
        digest.update(url.encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
    return digest.hexdigest()


@dataclass
class _Walk:
    pages: int = 1  # the page the walk started from
    fingerprints: set[str] = field(default_factory=set)


class CrawlBounds:
    """The per-page bookkeeping of :class:`CrawlLimits`: which listing pages and links may be
    requested next. A walk is named by the URL of the listing page it started from."""

    def __init__(self, limits: CrawlLimits, stats: StatsCollector) -> None:
        self.limits = limits
        self.stats = stats
        self._walks: dict[str, _Walk] = {}
        self._warned: set[str] = set()

    def listing_page(self, walk: str, entry_urls: Sequence[str]) -> str | None:
        """Record a page of a walk; why the walk ends here (``empty``, ``repeated``) or None."""
        state = self._walks.setdefault(walk, _Walk())
        if not entry_urls:
            self.stats.inc_value(f"crawl/listing_walk_ended/{WALK_ENDED_EMPTY}")
            return WALK_ENDED_EMPTY
        fingerprint = entries_fingerprint(entry_urls)
        if fingerprint in state.fingerprints:
            self.stats.inc_value(f"crawl/listing_walk_ended/{WALK_ENDED_REPEATED}")
            return WALK_ENDED_REPEATED
        state.fingerprints.add(fingerprint)
        return None

    def admit_listing_page(self, walk: str, url: str) -> bool:
        """Whether one more page of the walk may be requested (and count it if so)."""
        state = self._walks.setdefault(walk, _Walk())
        if state.pages >= self.limits.max_listing_pages:
            self._reached("MAX_LISTING_PAGES", self.limits.max_listing_pages, url, 1)
            return False
        state.pages += 1
        return True

    def admit_links(self, urls: Sequence[str], depth: int, page_url: str) -> list[str]:
        """The new pages linked from ``page_url`` that may be followed at link depth ``depth``."""
        if not urls:
            return []
        if depth > self.limits.max_link_depth:
            self._reached("MAX_LINK_DEPTH", self.limits.max_link_depth, page_url, len(urls))
            return []
        cap = self.limits.max_links_per_page
        if len(urls) > cap:
            self._reached("MAX_LINKS_PER_PAGE", cap, page_url, len(urls) - cap)
            return list(urls[:cap])
        return list(urls)

    def _reached(self, setting: str, value: int, url: str, held_back: int) -> None:
        kind = LIMIT_SETTINGS[setting]
        self.stats.inc_value(f"limits/{kind}", held_back)
        if kind in self._warned:
            return
        self._warned.add(kind)
        logger.warning(
            "%s (%d) reached at %s: links past it are not followed "
            "(further occurrences are counted in limits/%s)",
            setting,
            value,
            url,
            kind,
        )
