"""Small extraction helpers shared by the page parsers (no normalization beyond whitespace)."""

from __future__ import annotations

import re
import weakref
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from crawler.locales import page_locale_of

if TYPE_CHECKING:
    from parsel import Selector, SelectorList

_WS = re.compile(r"\s+")


def clean(text: str | None) -> str:
    return _WS.sub(" ", text or "").strip()


def text_of(node: Selector | SelectorList[Selector]) -> str:
    """Visible text of a node: scripts, styles and templates left out."""
    parts = node.xpath(
        ".//text()[not(ancestor::script or ancestor::style or ancestor::template "
        "or ancestor::noscript)]"
    ).getall()
    return clean(" ".join(parts))


def first_text(sel: Selector, selectors: tuple[str, ...]) -> tuple[str | None, str | None]:
    """Text of the first selector (CSS) that matches with non-empty text, and that selector."""
    for css in selectors:
        for node in sel.css(css):
            value = text_of(node)
            if value:
                return value, css
    return None, None


# A page's <meta> tags, read once per document: the parsers ask for a dozen of them.
_META_CACHE: weakref.WeakKeyDictionary[Selector, dict[str, str]] = weakref.WeakKeyDictionary()


def _meta_map(sel: Selector) -> dict[str, str]:
    found = _META_CACHE.get(sel)
    if found is None:
        found = {}
        for meta in sel.xpath("//meta[@content]"):
            key = meta.attrib.get("property") or meta.attrib.get("name")
            value = meta.attrib["content"].strip()
            if key and value and key not in found:
                found[key] = value
        _META_CACHE[sel] = found
    return found


def meta_content(sel: Selector, *names: str) -> str | None:
    metas = _meta_map(sel)
    for name in names:
        if name in metas:
            return metas[name]
    return None


def page_locale(sel: Selector) -> str | None:
    """The page's locale as a W3C id (vi-VN), from html lang, then og:locale."""
    return page_locale_of(sel.xpath("/html/@lang").get(), meta_content(sel, "og:locale"))


def absolute(base_url: str, href: str | None) -> str | None:
    """An absolute http(s) URL, or None for mailto:, javascript:, tel: and empty links."""
    if not href:
        return None
    href = href.strip()
    if not href or href.startswith("#"):
        return None
    url = urljoin(base_url, href)
    return url if url.startswith(("http://", "https://")) else None
