"""Site navigation: the links a theme's menus offer (HEPZA theme, Liferay classic, generic)."""

from __future__ import annotations

from parsel import Selector

from crawler.parsers.common import absolute

NAV_LINK_SELECTORS = (
    "section.hmenu a[href]",
    "nav a[href]",
    "#navigation a[href]",
    ".navbar a[href]",
    "ul.nav a[href]",
    ".dropdown-menu a[href]",
    "footer a[href]",
)


def extract_navigation_links(html: str, url: str) -> list[str]:
    sel = Selector(text=html)
    links: list[str] = []
    for css in NAV_LINK_SELECTORS:
        for href in sel.css(css).xpath("@href").getall():
            link = absolute(url, href)
            if link and link not in links:
                links.append(link)
    return links
