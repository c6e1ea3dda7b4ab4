"""Site navigation: the links a theme's menus offer (HEPZA theme, Liferay classic, generic)."""

from __future__ import annotations

from parsel import Selector

from crawler.parsers.common import absolute
from crawler.parsers.listing import page_number

NAV_LINK_SELECTORS = (
    "section.hmenu a[href]",
    "nav a[href]",
    "#navigation a[href]",
    ".navbar a[href]",
    "ul.nav a[href]",
    ".dropdown-menu a[href]",
    "footer a[href]",
)

NOT_IN_PORTLET = (
    "self::*[not(ancestor::*[contains(concat(' ', normalize-space(@class), ' '), ' portlet-body ')"
    " or contains(@class, 'lfr-pagination') or contains(@class, 'pagination')])]"
)


def extract_navigation_links(html: str, url: str) -> list[str]:
    sel = Selector(text=html)
    links: list[str] = []
    for css in NAV_LINK_SELECTORS:
        # A pager's page selector is a dropdown menu too; paging is the listing's business.
        for href in sel.css(css).xpath(f"{NOT_IN_PORTLET}/@href").getall():
            link = absolute(url, href)
            if link and link not in links and page_number(link) is None:
                links.append(link)
    return links


def extract_locale_alternates(html: str, url: str) -> list[str]:
    """The page's hreflang alternates (the same page in other locales), x-default excluded."""
    sel = Selector(text=html)
    links = []
    for link in sel.xpath('//link[@rel="alternate"][@hreflang][@href]'):
        if link.attrib["hreflang"] != "x-default":
            href = absolute(url, link.attrib["href"])
            if href and href != url:
                links.append(href)
    return links
