"""Listing pages: Asset Publisher portlets (abstracts, title list, 6.2/7.0 variants) and their
pagers (legacy ``lfr-pagination`` in simple and regular forms, Clay/lexicon pagination).

Paging is read from the URLs, not from labels: the next page is the pager link whose ``cur``
parameter is the current page plus one, whatever the locale calls it. A profile's
``listing_title`` selectors are tried before the generic ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from crawler.parsers.common import (
    PageSelector,
    absolute,
    clean,
    first_text,
    page_locale,
    page_selector,
    text_of,
)
from crawler.sites.profile import GENERIC, ParserConfig

if TYPE_CHECKING:
    from parsel import Selector

PORTLET_SELECTORS = (
    ".portlet-asset-publisher",
    '[id^="p_p_id_com_liferay_asset_publisher_web_portlet_AssetPublisherPortlet"]',
    '[id^="p_p_id_101_INSTANCE_"]',
)
# (entry container, link inside it, date inside it), most specific first.
ENTRY_LAYOUTS = (
    (".asset-abstract", "a.asset-title", ".date-info, .asset-user-info, .metadata-publish-date"),
    (".asset-abstract", ".asset-title a", ".date-info, .asset-user-info, .asset-metadata"),
    (".asset-abstract", ".asset-details a, .asset-more a", ".date-info, .asset-metadata"),
    (".list-group-item", ".list-group-title a", ".list-group-subtitle"),
    (".asset-full-content", ".asset-title a", ".date-info"),
)
PAGER_LINKS = (
    "ul.lfr-pagination-buttons a[href]",
    ".lfr-pagination-page-selector a[href]",
    "ul.pagination a.page-link[href]",
    ".pagination-bar a[href]",
)
LISTING_TITLE_SELECTORS = (
    ".portlet-asset-publisher .portlet-title-text",
    ".portlet-asset-publisher .portlet-title",
    ".list-group-header-title",
    ".breadcrumb .breadcrumb-item.active",
    ".breadcrumb li:last-child",
)
FEED_LINKS = (
    'link[rel="alternate"][type="application/atom+xml"]::attr(href)',
    'link[rel="alternate"][type="application/rss+xml"]::attr(href)',
)
_CUR_PARAM = re.compile(r"(^|_)cur$")


@dataclass
class ListingEntry:
    url: str
    title: str | None = None
    date_raw: str | None = None


@dataclass
class ListingPage:
    is_listing: bool = False
    name: str | None = None
    locale: str | None = None
    entries: list[ListingEntry] = field(default_factory=list)
    current_page: int = 1
    next_url: str | None = None
    page_urls: list[str] = field(default_factory=list)
    feed_urls: list[str] = field(default_factory=list)


def parse_listing(
    html: str | PageSelector, url: str, config: ParserConfig = GENERIC
) -> ListingPage:
    sel = page_selector(html)
    portlets = [p for css in PORTLET_SELECTORS for p in sel.css(css)]
    page = ListingPage(is_listing=bool(portlets), locale=page_locale(sel))
    page.name = extract_listing_name(sel, config)
    page.entries = extract_entries(sel, url)
    page.current_page = page_number(url) or 1
    page.page_urls = extract_page_urls(sel, url)
    page.next_url = next(
        (u for u in page.page_urls if page_number(u) == page.current_page + 1), None
    )
    page.feed_urls = [
        link for href in sel.css(", ".join(FEED_LINKS)).getall() if (link := absolute(url, href))
    ]
    page.is_listing = page.is_listing or bool(page.entries)
    return page


def extract_listing_name(sel: Selector, config: ParserConfig = GENERIC) -> str | None:
    value, _ = first_text(sel, (*config.selectors_for("listing_title"), *LISTING_TITLE_SELECTORS))
    if value:
        return value
    title = clean(sel.xpath("//title/text()").get())
    return clean(title.split(" - ")[0]) if title else None


def extract_entries(sel: Selector, url: str) -> list[ListingEntry]:
    entries: list[ListingEntry] = []
    seen: set[str] = set()
    for container_css, link_css, date_css in ENTRY_LAYOUTS:
        for container in sel.css(container_css):
            link = container.css(link_css)
            href = absolute(url, link.attrib.get("href")) if link else None
            if not href or href in seen:
                continue
            seen.add(href)
            title = text_of(link) or text_of(container.css(".asset-title, .component-title"))
            date_raw, _ = first_text(container, tuple(date_css.split(", ")))
            entries.append(ListingEntry(url=href, title=title or None, date_raw=date_raw))
    return entries


def extract_page_urls(sel: Selector, url: str) -> list[str]:
    urls: dict[str, None] = {}
    for css in PAGER_LINKS:
        for href in sel.css(css).xpath("@href").getall():
            link = absolute(url, href)
            if link and link not in urls and page_number(link) is not None:
                urls[link] = None
    return list(urls)


@lru_cache(maxsize=1 << 14)
def page_number(url: str) -> int | None:
    """The Asset Publisher page in a URL (``_<portlet ns>_cur`` or ``cur``), if any."""
    for name, value in parse_qsl(urlsplit(url).query):
        if _CUR_PARAM.search(name) and value.isdigit():
            return int(value)
    return None
