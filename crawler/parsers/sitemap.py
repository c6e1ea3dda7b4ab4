"""robots.txt and XML sitemaps (Liferay's sitemap index and per-layout sub-sitemaps)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin

from scrapy.utils.sitemap import Sitemap


@dataclass
class SitemapEntry:
    url: str
    lastmod: str | None = None
    alternates: list[str] = field(default_factory=list)


@dataclass
class SitemapDocument:
    kind: str  # "sitemapindex", "urlset" or "" when the body is not a sitemap
    sitemaps: list[str] = field(default_factory=list)
    entries: list[SitemapEntry] = field(default_factory=list)


def parse_robots_sitemaps(text: str, base_url: str) -> list[str]:
    urls = []
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "sitemap" and value.strip():
            urls.append(urljoin(base_url, value.strip()))
    return urls


def parse_sitemap(body: bytes, base_url: str) -> SitemapDocument:
    # Liferay answers an empty sub-sitemap with a blank body.
    if not body.strip():
        return SitemapDocument(kind="")
    try:
        sitemap = Sitemap(body)
    except (StopIteration, SyntaxError, ValueError):
        return SitemapDocument(kind="")
    doc = SitemapDocument(kind=sitemap.type)
    for entry in sitemap:
        loc = urljoin(base_url, entry["loc"])
        if sitemap.type == "sitemapindex":
            doc.sitemaps.append(loc)
        elif sitemap.type == "urlset":
            alternates = [urljoin(base_url, a) for a in entry.get("alternate", [])]
            doc.entries.append(SitemapEntry(loc, entry.get("lastmod") or None, alternates))
    return doc
