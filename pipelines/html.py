from __future__ import annotations

import html as html_lib
import unicodedata
from collections import Counter
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import lxml.html
import nh3

from crawler.domain.problems import add_problem, problem_codes
from crawler.domain.text import strip_controls
from pipelines.base import ArticlePipeline

if TYPE_CHECKING:
    from itemadapter import ItemAdapter

PROBLEM_CODES: dict[str, str] = problem_codes("body_html_sanitized")

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "p", "br", "strong", "b", "em", "i", "u", "a", "ul", "ol", "li",
        "h2", "h3", "h4", "h5", "h6", "blockquote",
        "table", "thead", "tbody", "tr", "th", "td",
        "img", "figure", "figcaption", "span", "div", "sub", "sup",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
}
URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"
# Removed with their content: their text is code or a fallback for a plugin, never article text.
_DROP_WITH_CONTENT = {"script", "style", "iframe", "noscript", "template", "object"}
# Wrappers that carry no content of their own, so a <p> made only of them and blanks is empty.
_INLINE_WRAPPERS = {"br", "span", "strong", "b", "em", "i", "u", "sub", "sup", "font"}
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\ufeff"))


def _parse_fragment(markup: str) -> lxml.html.HtmlElement:
    return lxml.html.fragment_fromstring(markup, create_parent="div")


def _serialize_children(root: lxml.html.HtmlElement) -> str:
    head = html_lib.escape(root.text or "", quote=False)
    return head + "".join(
        lxml.html.tostring(child, encoding="unicode", with_tail=True) for child in root
    )


def _is_empty_paragraph(element: lxml.html.HtmlElement) -> bool:
    if element.tag != "p":
        return False
    if (element.text or "").translate(_ZERO_WIDTH).strip():
        # text of its own: not empty, whatever it holds besides
        return False
    for descendant in element.iterdescendants():
        if not isinstance(descendant.tag, str):
            continue
        if descendant.tag not in _INLINE_WRAPPERS:
            return False
    return not element.text_content().translate(_ZERO_WIDTH).strip()


def _drop_empty_paragraphs(root: lxml.html.HtmlElement) -> None:
    for paragraph in list(root.iter("p")):
        if _is_empty_paragraph(paragraph):
            paragraph.drop_tree()


_URL_INVISIBLE = dict.fromkeys(map(ord, "\t\n\r"))
_C0_AND_SPACE = "".join(map(chr, range(0x21)))


def _clean_url(value: str) -> str:
    # As browsers do (WHATWG URL): "java\tscript:" is "javascript:" and must be seen so.
    return value.translate(_URL_INVISIBLE).strip(_C0_AND_SPACE)


def _make_links_absolute(root: lxml.html.HtmlElement, base_url: str) -> None:
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for attribute in ("href", "src"):
            value = element.get(attribute)
            if value is None:
                continue
            try:
                element.set(attribute, urljoin(base_url, _clean_url(value)))
            except ValueError:
                # An unparseable URL (e.g. "http://[broken") cannot be linked to; drop it.
                del element.attrib[attribute]


def sanitize_html(html: str, base_url: str) -> str:
    return sanitize_with_report(html, base_url)[0]


def sanitize_with_report(html: str, base_url: str) -> tuple[str, Counter[str]]:
    """The sanitized fragment and what sanitizing removed (as ``removed_elements`` counts it),
    counted on the trees sanitizing parses anyway."""
    # Control characters are not text and lxml refuses them ("must be XML compatible").
    html = strip_controls(html)
    if not html.strip():
        return "", Counter()
    root = _parse_fragment(html)
    before = _count_elements(root, skip_empty_paragraphs=True)
    _make_links_absolute(root, base_url)
    cleaned = nh3.clean(
        unicodedata.normalize("NFC", _serialize_children(root)),
        tags=set(ALLOWED_TAGS),
        clean_content_tags=_DROP_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )
    if not cleaned.strip():
        return "", before
    root = _parse_fragment(cleaned)
    _drop_empty_paragraphs(root)
    return _serialize_children(root).strip(), before - _count_elements(root)


def element_counts(html: str) -> Counter[str]:
    """Tags, plus on* handlers and javascript: URLs, of a fragment, empty paragraphs ignored."""
    counts: Counter[str] = Counter()
    html = strip_controls(html)
    if not html.strip():
        return counts
    return _count_elements(_parse_fragment(html), skip_empty_paragraphs=True)


def _count_elements(
    root: lxml.html.HtmlElement, *, skip_empty_paragraphs: bool = False
) -> Counter[str]:
    counts: Counter[str] = Counter()
    # An explicit stack: hostile markup may nest deeper than Python's recursion limit.
    stack = list(reversed(root))
    while stack:
        element = stack.pop()
        if not isinstance(element.tag, str):
            continue
        if skip_empty_paragraphs and _is_empty_paragraph(element):
            continue
        counts[element.tag] += 1
        for name, value in element.attrib.items():
            if name.lower().startswith("on"):
                counts[f"@{name.lower()}"] += 1
            elif name in ("href", "src") and _clean_url(value).lower().startswith("javascript:"):
                counts[f"{name}=javascript:"] += 1
        stack.extend(reversed(element))
    return counts


def removed_elements(before: str, after: str) -> Counter[str]:
    return element_counts(before) - element_counts(after)


class BodyHtmlPipeline(ArticlePipeline):
    def process_article(self, adapter: ItemAdapter) -> None:
        body = adapter.get("body_html")
        if not body:
            adapter["body_html"] = None
            return
        base_url = adapter.get("url") or adapter.get("fetched_url") or ""
        cleaned, removed = sanitize_with_report(body, base_url)
        adapter["body_html"] = cleaned or None
        self.stats.inc_value("normalize/body_html")
        if removed:
            self.stats.inc_value("normalize/body_html_removed_elements", sum(removed.values()))
            listing = ", ".join(f"{name} x{count}" for name, count in sorted(removed.items()))
            add_problem(adapter, "body_html_sanitized", f"removed: {listing}")
