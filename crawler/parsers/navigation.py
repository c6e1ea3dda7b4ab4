"""Site navigation: the links a theme's menus offer. A profile's selectors come first, then
what any Liferay 7.x theme renders (the navigation menu widget of the Classic theme and of
custom themes, Bootstrap navbars, footers)."""

from __future__ import annotations

from crawler.parsers.common import PageSelector, absolute, page_selector
from crawler.parsers.listing import page_number
from crawler.sites.profile import GENERIC, ParserConfig

NAV_LINK_SELECTORS = (
    # the navigation menu widget (SiteNavigationMenuPortlet): Classic theme, most ADTs
    ".navbar-site a[href]",
    "nav a[href]",
    "#navigation a[href]",
    ".navbar a[href]",
    "ul.nav a[href]",
    ".dropdown-menu a[href]",
    "footer a[href]",
)

# Links inside a portlet are content (listing entries, pagers), except those of the navigation
# menu widget, which the Classic theme embeds as a portlet in its header.
NOT_IN_PORTLET = (
    "self::*[not(ancestor::*[contains(@class, 'pagination')])]"
    "[not(ancestor::*[contains(concat(' ', normalize-space(@class), ' '), ' portlet-body ')]"
    "[not(ancestor::*[contains(concat(' ', normalize-space(@class), ' '), ' portlet-navigation ')"
    " or contains(@id, 'SiteNavigationMenuPortlet')])])]"
)


def extract_navigation_links(
    html: str | PageSelector, url: str, config: ParserConfig = GENERIC
) -> list[str]:
    sel = page_selector(html)
    links: list[str] = []
    for css in (*config.selectors_for("navigation"), *NAV_LINK_SELECTORS):
        # A pager's page selector is a dropdown menu too; paging is the listing's business.
        for href in sel.css(css).xpath(f"{NOT_IN_PORTLET}/@href").getall():
            link = absolute(url, href)
            if link and link not in links and page_number(link) is None:
                links.append(link)
    return links


def extract_locale_alternates(html: str | PageSelector, url: str) -> list[str]:
    """The page's hreflang alternates (the same page in other locales), x-default excluded."""
    sel = page_selector(html)
    links = []
    for link in sel.xpath('//link[@rel="alternate"][@hreflang][@href]'):
        if link.attrib["hreflang"] != "x-default":
            href = absolute(url, link.attrib["href"])
            if href and href != url:
                links.append(href)
    return links
