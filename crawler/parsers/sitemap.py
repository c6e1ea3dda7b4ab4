"""robots.txt and XML sitemaps (Liferay's sitemap index and per-layout sub-sitemaps)."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from io import BytesIO
from typing import IO, TYPE_CHECKING
from urllib.parse import urljoin

from lxml import etree

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass(slots=True)
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
        # Asked of every entry: one pass, the last alternate of a language winning.
        wanted = locale.lower() if locale else None
        default = in_locale = None
        for lang, href in self.alternates:
            name = lang.lower()
            if name == "x-default":
                default = href
            elif name == wanted:
                in_locale = href
        return default or in_locale or self.url


@dataclass(slots=True)
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


_ABSOLUTE = ("https://", "http://")


def _absolute(base_url: str, url: str) -> str:
    # Sitemaps write absolute URLs: urljoin (a parse and a rebuild of each) only for the rest.
    # What urljoin would still change in an absolute URL (an empty "?" or "#") the frontier's
    # normalization removes anyway.
    if url.startswith(_ABSOLUTE):
        return url
    return urljoin(base_url, url)


# Every element of a sitemap has one of a handful of tags: each is split once.
_LOCAL_NAMES: dict[str, str] = {}


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = tag.rsplit("}", 1)[-1]
        if len(_LOCAL_NAMES) < 64:  # a hostile sitemap's made-up tags are not kept
            _LOCAL_NAMES[tag] = name
    return name


class SitemapStream:
    """A sitemap read entry by entry: iterating yields each sub-sitemap URL (a ``str``, in a
    sitemap index) or :class:`SitemapEntry` (in a urlset) as its element ends, and drops the
    element, so neither the whole tree nor every entry is ever held (Liferay's sitemaps reach
    tens of megabytes). ``kind`` is known once the root element is read.

    ``body``: the document's bytes, or a binary file holding it (a streamed download,
    crawler/crawl/streaming.py), read from its current offset in chunks, so that the document itself
    is never held whole either."""

    def __init__(self, body: bytes | IO[bytes], base_url: str) -> None:
        self.body = body
        self.base_url = base_url
        self.kind = ""

    def __iter__(self) -> Iterator[str | SitemapEntry]:
        source: IO[bytes]
        if isinstance(self.body, bytes):
            # Liferay answers an empty sub-sitemap with a blank body.
            if not self.body or self.body.isspace():
                return
            source = BytesIO(self.body)
        else:
            # A blank file is no document: lxml's syntax error below says so.
            source = self.body
        # The end of each entry only (lxml filters the events, not Python): the root is the
        # first entry's topmost ancestor, or, when no entry came, the document's root.
        events = etree.iterparse(
            source,
            events=("end",),
            tag=("{*}url", "{*}sitemap"),
            recover=True,
            resolve_entities=False,
            no_network=True,
            remove_comments=True,
            huge_tree=True,
        )
        root: etree._Element | None = None
        try:
            for _, elem in events:
                parent = elem.getparent()
                if root is None:
                    root = elem
                    while (above := root.getparent()) is not None:
                        root = above
                    if not self._kind_of(root):
                        return
                if parent is not root:
                    continue
                found = self._read(elem)
                # The element and every sibling before it are done: free them.
                elem.clear()
                while elem.getprevious() is not None:
                    del root[0]
                if found is not None:
                    yield found
        except etree.XMLSyntaxError:
            pass
        if root is None:
            with contextlib.suppress(AttributeError, etree.XMLSyntaxError):
                self._kind_of(events.root)

    def _kind_of(self, root: etree._Element | None) -> str:
        name = _local(root.tag) if root is not None else ""
        self.kind = name if name in {"sitemapindex", "urlset"} else ""
        return self.kind

    def _read(self, elem: etree._Element) -> str | SitemapEntry | None:
        name = _local(elem.tag)
        if name == "sitemap" and self.kind == "sitemapindex":
            sitemap = _child_text(elem, "loc")
            return _absolute(self.base_url, sitemap) if sitemap else None
        if name != "url" or self.kind != "urlset":
            return None
        # One pass over the entry's children: its loc, lastmod and alternates.
        loc: str | None = None
        lastmod: str | None = None
        links: list[tuple[str, str]] = []
        names = _LOCAL_NAMES
        for child in elem:
            tag = child.tag
            child_name = names.get(tag) if isinstance(tag, str) else None
            if child_name is None:
                child_name = _local(tag)
            if child_name == "link":
                href = child.get("href")
                if href:
                    links.append((child.get("hreflang", ""), href))
            elif child_name == "loc" and loc is None:
                loc = (child.text or "").strip()
            elif child_name == "lastmod" and lastmod is None:
                lastmod = (child.text or "").strip()
        if not loc:
            return None
        url = _absolute(self.base_url, loc)
        alternates = []
        for hreflang, link in links:
            href = link if link.startswith(_ABSOLUTE) else _absolute(self.base_url, link)
            # The same string object as the entry's URL when it is (x-default often is).
            alternates.append((sys.intern(hreflang), url if href == url else href))
        return SitemapEntry(url, lastmod or None, alternates)


def parse_sitemap(body: bytes | IO[bytes], base_url: str) -> SitemapDocument:
    stream = SitemapStream(body, base_url)
    doc = SitemapDocument(kind="")
    for found in stream:
        if isinstance(found, str):
            doc.sitemaps.append(found)
        else:
            doc.entries.append(found)
    doc.kind = stream.kind
    return doc


def _child_text(elem: etree._Element, name: str) -> str:
    for child in elem:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return ""
