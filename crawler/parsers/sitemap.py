"""robots.txt and XML sitemaps (Liferay's sitemap index and per-layout sub-sitemaps)."""

from __future__ import annotations

from dataclasses import dataclass, field
from io import BytesIO
from urllib.parse import urljoin

from lxml import etree


@dataclass
class SitemapEntry:
    url: str
    lastmod: str | None = None
    # (hreflang, absolute URL) from xhtml:link alternates
    alternates: list[tuple[str, str]] = field(default_factory=list)

    @property
    def default_url(self) -> str:
        """The x-default alternate (the site's default-locale page), else the entry's URL."""
        return self.default_for(None)

    def default_for(self, locale: str | None) -> str:
        """The x-default alternate, else the alternate in ``locale`` (the site's default
        locale: a sitemap without x-default still names one page per locale), else the
        entry's URL."""
        langs = {lang.lower(): href for lang, href in self.alternates}
        found = langs.get("x-default") or (langs.get(locale.lower()) if locale else None)
        return found or self.url


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


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def parse_sitemap(body: bytes, base_url: str) -> SitemapDocument:
    # Liferay answers an empty sub-sitemap with a blank body.
    if not body.strip():
        return SitemapDocument(kind="")
    events = etree.iterparse(
        BytesIO(body),
        events=("start", "end"),
        recover=True,
        resolve_entities=False,
        no_network=True,
        remove_comments=True,
        huge_tree=True,
    )
    doc = SitemapDocument(kind="")
    try:
        for event, elem in events:
            name = _local(elem.tag)
            if event == "start":
                if not doc.kind:
                    doc.kind = name if name in {"sitemapindex", "urlset"} else "?"
                continue
            if name == "sitemap" and doc.kind == "sitemapindex":
                loc = _child_text(elem, "loc")
                if loc:
                    doc.sitemaps.append(urljoin(base_url, loc))
                elem.clear()
            elif name == "url" and doc.kind == "urlset":
                loc = _child_text(elem, "loc")
                if loc:
                    alternates = [
                        (link.get("hreflang", ""), urljoin(base_url, link.get("href")))
                        for link in elem
                        if _local(link.tag) == "link" and link.get("href")
                    ]
                    lastmod = _child_text(elem, "lastmod") or None
                    doc.entries.append(SitemapEntry(urljoin(base_url, loc), lastmod, alternates))
                elem.clear()
    except etree.XMLSyntaxError:
        pass
    if doc.kind == "?":
        doc.kind = ""
    return doc


def _child_text(elem: etree._Element, name: str) -> str:
    for child in elem:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return ""
