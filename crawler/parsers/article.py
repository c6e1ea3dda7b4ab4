"""Article pages: Liferay 7.4 display pages (/w/<slug>), Web Content Display and the Asset
Publisher full-content view.

Every field is extracted in layers, most trusted first: structured data (JSON-LD, og: meta),
then the fragment / template markup, then generic fallbacks, so that one missing element does
not lose the field. Values come out as the page shows them (whitespace folded); dates stay raw
strings: the date normalizer parses them with the page's locale.

A profile's ``ParserConfig`` (crawler/sites/profile.py) is tried first for every field and
label; the generic layers below know only what any Liferay 7.x portal renders (fragments,
journal content, the Asset Publisher views) and the words Liferay and news sites commonly print
in English and Vietnamese.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from lxml import etree
from lxml import html as lxml_html
from lxml.cssselect import CSSSelector

from crawler.domain.identity import is_article_url
from crawler.domain.items import ArticleItem, DateCandidate, ListingHint
from crawler.domain.locales import page_locale_of
from crawler.parsers.common import (
    PageSelector,
    absolute,
    clean,
    first_text,
    longest_visible_text,
    page_selector,
    text_of,
    visible_text,
    visible_text_longer,
)
from crawler.parsers.version import parser_version
from crawler.sites.profile import GENERIC, ParserConfig

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from lxml.etree import _Element

# --- selectors, most trusted first ---------------------------------------------------------

TITLE_SELECTORS = (
    "h1.component-heading",
    "[data-lfr-editable-id*=title] h1",
    ".asset-full-content .asset-title",
    ".asset-full-content .component-title",
    ".journal-content-article h1",
    "#content h1",
    # a web content template that heads the article with an h2 (the journal content portlet
    # shows the template alone): before any h1 of the theme's header (the site's name)
    ".journal-content-article h2",
    "h1",
)
# Containers that hold the article template's output (title, summary, body, byline).
BODY_CONTAINERS = (
    ".journal-content-article",
    ".asset-full-content .asset-content",
    ".asset-full-content",
)
RICH_TEXT_FRAGMENTS = '[data-lfr-editable-type="rich-text"]'
GENERIC_CONTAINERS = ("article", "main", "#content", "#main-content", "body")
DATE_SELECTORS = (
    "time[datetime]",
    "[data-lfr-editable-id*=date]",
    ".metadata-publish-date",
    ".date-info",
    ".publish-date",
    ".asset-user-info .date",
)
AUTHOR_SELECTORS = (
    ".metadata-author .user-info",
    ".asset-author",
    ".author-name",
    "[data-lfr-editable-id*=author]",
)
CATEGORY_SELECTORS = (
    ".asset-categories .asset-category",
    ".asset-categories a",
    ".taglib-asset-categories-summary a",
    ".taglib-asset-categories-summary .badge",
    ".breadcrumb .breadcrumb-item:nth-last-child(2) a",
)
# The Asset Publisher full-content view's related assets (asset-links taglib): found by its
# markup, whatever the portal's language calls the heading.
RELATED_SELECTORS = (".asset-full-content .asset-links",)
TAG_SELECTORS = (
    ".taglib-asset-tags-summary a",
    ".taglib-asset-tags-summary .badge",
    ".asset-tags a",
    ".asset-tag",
)
SUMMARY_CLASSES = ("summary", "sapo", "description", "lead", "abstract", "intro")
BYLINE_CLASSES = ("author", "byline", "signature")

# Liferay's "page not found" texts (portal language keys, en and vi) and common variants.
NOT_FOUND_TEXTS = (
    "the requested resource could not be found",
    "không tìm thấy tài nguyên được yêu cầu",
    "không tìm thấy trang",
)
RELATED_HEADING = re.compile(
    r"^(bài viết liên quan|tin liên quan|tin bài liên quan|các tin khác|tin khác|"
    r"related (assets|articles|news|posts|content)|other news)\s*:?$",
    re.IGNORECASE,
)
# A short string that is a whole date line in any form the site prints (numeric, Vietnamese
# "tháng", English month names), optionally behind a label. Parsing happens in the normalizer.
DATE_LINE = re.compile(
    r"^[^\d]{0,24}("
    r"\d{1,2}[:h]\d{2}.{0,6}\d{1,4}[/.-]\d{1,2}[/.-]\d{2,4}"
    r"|\d{1,4}[/.-]\d{1,2}[/.-]\d{2,4}(.{0,4}\d{1,2}:\d{2}(.{0,3}[AP]M)?)?"
    r"|.{0,12}\d{1,2} tháng \d{1,2}(,| năm) \d{4}.*"
    r"|[A-Z][a-z]{2,8}\.? \d{1,2}, \d{4}.*"
    r")\s*$",
    re.IGNORECASE,
)
ATTACHMENT_EXTENSIONS = re.compile(
    r"\.(pdf|docx?|xlsx?|pptx?|zip|rar|7z|odt|ods|csv|txt)(?:$|[/?#])", re.IGNORECASE
)
BLOCK_TAGS = {"p", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "table", "figure"}
HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
SENTENCE_END = (".", "!", "?", ":", ";", "…")


@dataclass
class ArticlePage:
    canonical_url: str | None = None
    alternate_urls: list[str] = field(default_factory=list)
    # hreflang -> URL of the hreflang alternates (x-default: the default-locale page)
    alternate_by_lang: dict[str, str] = field(default_factory=dict)
    locale: str | None = None
    title: str | None = None
    summary: str | None = None
    full_description: str | None = None
    body_text: str | None = None
    body_html: str | None = None
    author: str | None = None
    category: str | None = None
    tags: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    related_urls: list[str] = field(default_factory=list)
    date_candidates: list[DateCandidate] = field(default_factory=list)
    not_article_reason: str | None = None
    # The view whose main content is this one web content article (ARTICLE_VIEWS), None when
    # the page shows none: a listing, a home page, a filter, another portlet's page.
    view: str | None = None
    # which layer produced each field, for the run report's per-layer coverage and the probe
    # (``scrapy probe``): "profile:<css>" a profile's selector, "css:<css>" or "fragment:..."
    # Liferay's markup, "json_ld" / "meta:..." / "og:..." structured data, "generic:..." and
    # the other names the generic fallbacks
    layers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Body:
    paragraphs: list[str] = field(default_factory=list)
    html: str | None = None
    summary: str | None = None
    byline: str | None = None
    display_date: str | None = None
    images: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    related_urls: list[str] = field(default_factory=list)
    layer: str | None = None
    summary_layer: str | None = None


_TITLE_TEXT = etree.XPath("//title/text()", smart_strings=False)
# lxml.html's text_content(), for the plain elements of page_selector's tree
_STRING_VALUE = etree.XPath("string()", smart_strings=False)
_EMPHASIS_TEXTS = etree.XPath(".//strong//text() | .//b//text() | .//em//text()")
_CAPTION_EMPHASIS_TEXTS = etree.XPath(".//em//text() | .//i//text()")


def _text_content(el: _Element) -> str:
    # An element without child nodes holds its text alone: no XPath evaluation for it.
    if len(el):
        return cast("str", _STRING_VALUE(el))
    return el.text or ""


_LINK_HREFS = etree.XPath(".//a/@href", smart_strings=False)
_P_COUNT = etree.XPath("count(.//p)")
_CHILD_P_COUNT = etree.XPath("count(./p | ./*/p)")


class _Doc:
    """A parsed page as the article parser reads it: the shared page selector (for profile
    selectors, run as parsel runs them), its root, and its head data read once."""

    def __init__(self, sel: PageSelector) -> None:
        self.sel = sel
        self.root: _Element = sel.root
        self.meta: dict[str, str] = {}
        self.canonical_href: str | None = None
        self.alternates: list[tuple[str, str]] = []
        self.json_ld: list[str] = []
        # the related-heading texts of the page's related scope, and the config they are for
        self.heading_texts: tuple[ParserConfig, list[Any]] | None = None
        # The head data (meta tags, canonical and alternate links, JSON-LD) in one walk over
        # the three tags: each field reads it instead of querying the page again.
        for el in self.root.iter("meta", "link", "script"):
            tag = el.tag
            if tag == "meta":
                content = el.get("content")
                key = el.get("property") or el.get("name")
                value = content.strip() if content is not None else ""
                if key and value and key not in self.meta:
                    self.meta[key] = value
            elif tag == "link":
                rel, href = el.get("rel"), el.get("href")
                if href is None:
                    continue
                if rel == "canonical":
                    if self.canonical_href is None:
                        self.canonical_href = href
                elif rel == "alternate" and el.get("hreflang") is not None:
                    self.alternates.append((el.get("hreflang") or "", href))
            elif el.get("type") == "application/ld+json" and el.text is not None:
                self.json_ld.append(el.text)
        document = self.root.getroottree().getroot()
        self.lang = document.get("lang") if document.tag == "html" else None

    def meta_content(self, *names: str) -> str | None:
        for name in names:
            if name in self.meta:
                return self.meta[name]
        return None

    def css(self, query: str) -> list[_Element]:
        return self.sel.elements(query)

    def first_text(self, selectors: tuple[str, ...]) -> tuple[str | None, str | None]:
        """``first_text`` of the parser's own selectors."""
        for css in selectors:
            for node in self.css(css):
                value = visible_text(node)
                if value:
                    return value, css
        return None, None


def _texts_of(nodes: Iterable[_Element]) -> str:
    return clean(" ".join(visible_text(node) for node in nodes))


def parse_article(
    html: str | PageSelector, url: str, config: ParserConfig = GENERIC
) -> ArticlePage:
    sel = _Doc(page_selector(html))
    page = ArticlePage(locale=page_locale_of(sel.lang, sel.meta_content("og:locale")))
    if page.locale:
        page.layers["locale"] = "html:lang" if page_locale_of(sel.lang, None) else "og:locale"
    page.canonical_url, page.layers["url"] = extract_canonical_url(sel, url)
    page.alternate_by_lang = extract_alternates_by_lang(sel, url)
    page.alternate_urls = list(dict.fromkeys(page.alternate_by_lang.values()))
    page.full_description = sel.meta_content("og:description", "description")
    json_ld = _json_ld_articles(sel)

    page.title, page.layers["title"] = extract_title(sel, json_ld, config)
    body = extract_body(sel, url, page.title, config)
    if body.layer:
        page.layers["body_text"] = body.layer
    page.body_text = "\n\n".join(body.paragraphs) or None
    page.body_html = body.html
    page.summary, page.layers["summary"] = body.summary, body.summary_layer or ""
    if body.images:
        page.images, page.layers["images"] = body.images, "body"
    else:
        page.images = extract_og_images(sel, url)
        page.layers["images"] = "og:image" if page.images else ""
    page.attachments = body.attachments
    page.layers["attachments"] = "body" if body.attachments else ""
    if body.related_urls:
        page.related_urls, page.layers["related_urls"] = body.related_urls, "body:heading"
    else:
        page.related_urls, page.layers["related_urls"] = extract_related_urls(sel, url, config)
    page.author, page.layers["author"] = extract_author(sel, json_ld, body, config)
    page.category, page.layers["category"] = extract_category(sel, config)
    page.tags, page.layers["tags"] = extract_tags(sel, config)
    page.date_candidates = extract_date_candidates(sel, json_ld, body, page.locale, config)
    page.layers["published_at"] = page.date_candidates[0].source if page.date_candidates else ""
    page.not_article_reason = extract_not_article_reason(sel, page, config)
    page.view = extract_article_view(sel, page)
    page.layers = {k: v for k, v in page.layers.items() if v}
    return page


# The views in which Liferay shows one web content article as a page's main content, by the
# markup its own templates render: the Asset Publisher's full-content view
# (view_asset_entry_full_content.jsp: one entry; a listing in the full-content display style
# shows several), a display page template's fragments (a heading fragment, with the article's
# date and body), a journal content portlet showing one article that carries its date (a static
# page's web content, "About us", carries none).
ARTICLE_VIEWS = ("asset_full_content", "display_page", "journal_content")
_FULL_CONTENT = ".asset-full-content"
_FRAGMENT_HEADING = (
    "[class*=lfr-layout-structure-item] h1.component-heading, "
    "[class*=lfr-layout-structure-item] [data-lfr-editable-id*=title]"
)
_JOURNAL_CONTENT = ".journal-content-article"


def has_article_view_markup(page: PageSelector) -> bool:
    """Whether the page carries the markup of one of ARTICLE_VIEWS (a quick test before its
    full parse: most pages crawled as pages are listings and menus)."""
    return bool(
        page.elements(_FULL_CONTENT)
        or page.elements(_FRAGMENT_HEADING)
        or page.elements(_JOURNAL_CONTENT)
    )


def extract_article_view(sel: _Doc, page: ArticlePage) -> str | None:
    """Which of ARTICLE_VIEWS shows the page's one article; None when none does."""
    full = sel.css(_FULL_CONTENT)
    if len(full) == 1:
        return "asset_full_content"
    if full:
        return None
    if page.body_text and page.date_candidates and sel.css(_FRAGMENT_HEADING):
        return "display_page"
    journals = sel.css(_JOURNAL_CONTENT)
    if len(journals) == 1 and page.body_text and _shows_a_date(journals[0]):
        return "journal_content"
    return None


def _shows_a_date(scope: _Element) -> bool:
    if scope.xpath(".//time[@datetime]"):
        return True
    return any(_is_date_line(clean(text)) for text in _short_content_texts(scope))


def article_item(
    page: ArticlePage,
    fetched_url: str,
    *,
    site: str | None = None,
    source: str | None = None,
    hint: ListingHint | None = None,
    lastmod: str | None = None,
    met_urls: Sequence[str] = (),
    same_article: Callable[[str], bool] | None = None,
    stored_published_at: str | None = None,
) -> ArticleItem:
    """The record of a parsed article page: the one page-to-item mapping (the spider, the
    tests and the benchmarks use it). ``hint``: what the listing that led here said;
    ``lastmod``: the sitemap's; ``met_urls``: other URLs met for the article;
    ``same_article``: which of the page's alternate URLs are this article (default: all);
    ``stored_published_at``: the article's stored published_at, known to the minute (kept
    by the dates pipeline when this page shows that day without a time)."""
    candidates = list(page.date_candidates)
    listing_date = hint.date_candidate() if hint else None
    if listing_date:
        candidates.append(listing_date)
    if lastmod:
        candidates.append(DateCandidate("sitemap_lastmod", lastmod, None, "modified"))
    if stored_published_at:
        candidates.append(DateCandidate("stored", stored_published_at, None, "published"))
    alternates = [u for u in page.alternate_urls if same_article is None or same_article(u)]
    return ArticleItem(
        url=page.canonical_url or fetched_url,
        site=site,
        alternate_urls=[*alternates, *met_urls],
        title=page.title,
        summary=page.summary,
        body_text=page.body_text,
        body_html=page.body_html,
        author=page.author,
        language=page.locale,
        category=page.category or (hint.name if hint else None),
        tags=page.tags,
        images=page.images,
        attachments=page.attachments,
        related_urls=[u for u in page.related_urls if is_article_url(u)],
        source=source,
        parser_version=parser_version(),
        fetched_url=fetched_url,
        date_candidates=candidates,
        page_locale=page.locale,
        full_description=page.full_description,
        not_article_reason=page.not_article_reason,
    )


def extract_canonical_url(sel: _Doc, url: str) -> tuple[str | None, str]:
    for href, layer in (
        (sel.canonical_href, "link:canonical"),
        (sel.meta_content("og:url"), "og:url"),
    ):
        value = absolute(url, href)
        if value:
            return value, layer
    return None, ""


def extract_alternates_by_lang(sel: _Doc, url: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for hreflang, href in sel.alternates:
        value = absolute(url, href)
        if value:
            found.setdefault(hreflang, value)
    return found


def extract_title(
    sel: _Doc, json_ld: list[dict[str, Any]], config: ParserConfig = GENERIC
) -> tuple[str | None, str]:
    value, css = first_text(sel.sel, config.selectors_for("title"))
    if value:
        return value, f"profile:{css}"
    for data in json_ld:
        headline = data.get("headline") or data.get("name")
        if isinstance(headline, str) and clean(headline):
            return clean(headline), "json_ld"
    value, css = sel.first_text(TITLE_SELECTORS)
    if value:
        return value, f"css:{css}"
    og_title = sel.meta_content("og:title")
    if og_title:
        return _strip_site_suffix(og_title, sel), "og:title"
    page_title = clean(next(iter(_TITLE_TEXT(sel.root)), None))
    if page_title:
        return _strip_site_suffix(page_title, sel), "title"
    return None, ""


def _strip_site_suffix(title: str, sel: _Doc) -> str:
    # Liferay joins "Article - Site - Company" with " - ".
    site = sel.meta_content("og:site_name")
    if site and f" - {site}" in title:
        return clean(title.split(f" - {site}", maxsplit=1)[0])
    return clean(title)


def extract_body(sel: _Doc, url: str, title: str | None, config: ParserConfig = GENERIC) -> _Body:
    container, layer = _body_container(sel, config)
    if container is None:
        return _Body()
    root = copy.deepcopy(container)
    body = _Body(layer=layer)
    if _may_hold_related_heading(sel, container, config):
        _split_related(root, url, body, config)
    _collect_media(root, url, body)
    blocks = _blocks(root)
    kept: list[_Element] = []
    texts: list[str] = []
    title_key = clean(title).casefold() if title else None
    for block in blocks:
        text = clean(_text_content(block))
        if not text or _is_attachment_block(block, text, url):
            _drop(block)
            continue
        if title_key and text.casefold() == title_key and not texts:
            _drop(block)
            continue
        if not texts and body.display_date is None and _is_date_line(text):
            body.display_date = text
            _drop(block)
            continue
        if body.summary is None and not texts:
            body.summary_layer = _summary_layer(block, text, config)
            if body.summary_layer:
                body.summary = text
                _drop(block)
                continue
        kept.append(block)
        texts.append(text)
    if kept and _is_byline(kept[-1], texts[-1], config):
        body.byline = _strip_byline_label(texts[-1], config)
        _drop(kept.pop())
        texts.pop()
    # A summary cut with "..." repeats the start of the body: when the template printed it as
    # the first body paragraph instead of marking it, take it out here.
    if body.summary is None and len(texts) > 1 and _is_cut_prefix(texts[0], texts[1]):
        body.summary, body.summary_layer = texts.pop(0), "body:cut_prefix"
        _drop(kept.pop(0))
    body.paragraphs = texts
    for heading in list(root.iterdescendants("h1")):
        _drop(heading)
    body.html = lxml_html.tostring(root, encoding="unicode") if texts else None
    return body


def _body_container(
    sel: _Doc, config: ParserConfig = GENERIC
) -> tuple[_Element | None, str | None]:
    for css in config.selectors_for("body"):
        for node in sel.sel.css(css):
            if text_of(node):
                return node.root, f"profile:{css}"
    for css in BODY_CONTAINERS:
        for element in sel.css(css):
            if visible_text_longer(element, 80):
                return element, f"css:{css}"
    biggest = longest_visible_text(sel.css(RICH_TEXT_FRAGMENTS), 80)
    if biggest is not None:
        return biggest, "fragment:rich-text"
    for css in GENERIC_CONTAINERS:
        candidates = [n for n in sel.css(css) if _P_COUNT(n) >= 2 and visible_text_longer(n, 80)]
        if candidates:
            best = max(candidates, key=_CHILD_P_COUNT)
            if _CHILD_P_COUNT(best) >= 2:
                return best, f"generic:{css}"
    return None, None


def _blocks(root: _Element) -> list[_Element]:
    """Leaf-level text blocks in document order (a block inside another block is not repeated)."""
    found: list[_Element] = []
    # the found elements stay referenced, so lxml hands back these same proxies as ancestors
    taken: set[_Element] = set()
    for el in root.iter(*BLOCK_TAGS, "div"):
        if any(anc in taken for anc in el.iterancestors()):
            continue
        if el.tag == "div" and _has_block_child(el):
            continue
        found.append(el)
        taken.add(el)
    return found


def _has_block_child(el: _Element) -> bool:
    return next(el.iterdescendants(*BLOCK_TAGS, "div"), None) is not None


def _drop(el: _Element) -> None:
    parent = el.getparent()
    if parent is not None:
        parent.remove(el)


def _classes(el: _Element) -> str:
    return " ".join(
        (a.get("class") or "") + " " + (a.get("id") or "")
        for a in (el, *list(el.iterancestors())[:2])
    ).lower()


def _is_attachment_block(block: _Element, text: str, url: str) -> bool:
    """A list item or paragraph that is nothing but download links (collected as attachments)."""
    links = [a for a in block.iter("a") if _is_attachment(absolute(url, a.get("href")))]
    return bool(links) and clean(" ".join(_text_content(a) for a in links)) == text


def _is_attachment(href: str | None) -> bool:
    return bool(href) and bool(
        ATTACHMENT_EXTENSIONS.search(href or "") or "/documents/" in (href or "")
    )


def _is_date_line(text: str) -> bool:
    return len(text) <= 60 and DATE_LINE.match(text) is not None


def _summary_layer(block: _Element, text: str, config: ParserConfig = GENERIC) -> str | None:
    """The layer by which the body's first block is its summary, None when it is not one."""
    for css in config.selectors_for("summary"):
        if block in _matches(block, css):
            return f"profile:{css}"
    classes = _classes(block)
    for name in SUMMARY_CLASSES:
        if name in classes:
            return f"class:{name}"
    return "body:ellipsis" if text.endswith(("...", "…")) else None


def _is_cut_prefix(summary: str, paragraph: str) -> bool:
    if not summary.endswith(("...", "…")):
        return False
    stem = summary.rstrip(".… ").strip()
    return len(stem) > 20 and paragraph.startswith(stem)


def _is_byline(block: _Element, text: str, config: ParserConfig = GENERIC) -> bool:
    if len(text) > 60 or len(text.split()) > 7 or text.endswith(SENTENCE_END):
        return False
    classes = _classes(block)
    if any(c in classes for c in BYLINE_CLASSES):
        return True
    style = (block.get("style") or "").replace(" ", "").lower()
    if "text-align:right" in style or (block.get("align") or "").lower() == "right":
        return True
    emphasis = clean(" ".join(_EMPHASIS_TEXTS(block)))
    if emphasis and emphasis == text:
        return True
    stripped = _strip_byline_label(text, config)
    words = stripped.replace("-", " ").split()
    return stripped != text or (0 < len(words) <= 5 and all(w[:1].isupper() for w in words))


_BYLINE_LABEL = re.compile(r"^(tác giả|theo|bài|tin|bài và ảnh|tin, ảnh|by)\s*:?\s+", re.I)


def _strip_byline_label(text: str, config: ParserConfig = GENERIC) -> str:
    folded = text.casefold()
    for label in config.labels_for("byline"):
        if folded.startswith(label.casefold()) and len(text) > len(label):
            rest = text[len(label) :]
            if label.endswith(":") or rest[:1].isspace() or rest[:1] == ":":
                return clean(rest.lstrip(" :"))
    return clean(_BYLINE_LABEL.sub("", text))


def _is_related_heading(text: str, config: ParserConfig = GENERIC) -> bool:
    cleaned = clean(text)
    if cleaned.rstrip(":").strip().casefold() in _heading_keys(config.labels_for("related")):
        return True
    return RELATED_HEADING.match(cleaned) is not None


@lru_cache(maxsize=64)
def _heading_keys(labels: tuple[str, ...]) -> frozenset[str]:
    return frozenset(clean(label).rstrip(":").strip().casefold() for label in labels)


def _matches(el: _Element, css: str) -> list[_Element]:
    """Elements of el's document that a CSS selector selects (for profile selectors)."""
    return list(_css_selector(css)(el.getroottree().getroot()))


@lru_cache(maxsize=256)
def _css_selector(css: str) -> CSSSelector:
    return CSSSelector(css, translator="html")


def _split_related(root: _Element, url: str, body: _Body, config: ParserConfig = GENERIC) -> None:
    """Cut the "Bài viết liên quan" block (and everything after it) out of the body."""
    for el in _related_headings(root, config):
        text = clean(_text_content(el))
        if not _is_related_heading(text, config):
            continue
        heading = el
        # climb while the parent holds nothing but this heading's text
        while heading.getparent() is not None and heading.getparent() is not root:
            parent = heading.getparent()
            if clean(_text_content(parent)) != text:
                break
            heading = parent
        following = []
        sibling = heading.getnext()
        while sibling is not None:
            following.append(sibling)
            sibling = sibling.getnext()
        for node in following:
            for href in _LINK_HREFS(node):
                link = absolute(url, href)
                if link and link not in body.related_urls:
                    body.related_urls.append(link)
        for node in [heading, *following]:
            _drop(node)
        return


# only the short ones (string-length counts characters as len() does): a heading is short
_TEXT_NODES = etree.XPath(
    ".//text()[string-length() < 60][normalize-space()][not(ancestor::script)]"
)


def _related_headings(root: _Element, config: ParserConfig = GENERIC) -> list[_Element]:
    """Elements whose text is a "Bài viết liên quan" heading, found through the (short) text
    nodes rather than the text of every element."""
    return _heading_parents(_related_heading_texts(root, config))


def _related_heading_texts(root: _Element, config: ParserConfig = GENERIC) -> list[Any]:
    # lxml's smart strings: each knows its element (getparent) and whether it is a tail
    return [text for text in _TEXT_NODES(root) if _is_related_heading(text, config)]


def _heading_parents(texts: list[Any]) -> list[_Element]:
    found = []
    for text in texts:
        parent = text.getparent()
        if parent is not None and parent not in found:
            found.append(parent)
    return found


def _related_scope(sel: _Doc) -> _Element | None:
    """Where the related-articles heading is looked for outside the body."""
    scope = sel.css("#content") or sel.css("body")
    return scope[0] if scope else None


def _scope_heading_texts(sel: _Doc, config: ParserConfig) -> list[Any]:
    """The related-heading texts of the related scope, found once per page and config: the
    body's check and the links' fallback read the same scan."""
    if sel.heading_texts is not None and sel.heading_texts[0] is config:
        return sel.heading_texts[1]
    scope = _related_scope(sel)
    found = [] if scope is None else _related_heading_texts(scope, config)
    sel.heading_texts = (config, found)
    return found


def _may_hold_related_heading(sel: _Doc, container: _Element, config: ParserConfig) -> bool:
    """False when the body container is known to hold no related-articles heading: it lies
    in the related scope, whose scan found none of its heading texts inside it (the body is
    a copy of the container, unchanged until the heading is looked for)."""
    scope = _related_scope(sel)
    if scope is None or (scope is not container and scope not in container.iterancestors()):
        return True
    for text in _scope_heading_texts(sel, config):
        parent = text.getparent()
        if parent is None:
            return True
        # a tail lies inside the container when its element is a descendant of it
        if not text.is_tail and parent is container:
            return True
        if any(ancestor is container for ancestor in parent.iterancestors()):
            return True
    return False


def extract_related_urls(
    sel: _Doc, url: str, config: ParserConfig = GENERIC
) -> tuple[list[str], str]:
    """Links of the related-articles block outside the body: a profile's or the Asset
    Publisher's related-assets container, else the links after a related-articles heading;
    and the layer that found them."""
    for css in config.selectors_for("related"):
        links = [
            link
            for h in sel.sel.css(css).xpath(".//a/@href").getall()
            if (link := absolute(url, h))
        ]
        if links:
            return list(dict.fromkeys(links)), f"profile:{css}"
    for css in RELATED_SELECTORS:
        hrefs = (h for node in sel.css(css) for h in _LINK_HREFS(node))
        links = [link for h in hrefs if (link := absolute(url, h))]
        if links:
            return list(dict.fromkeys(links)), f"css:{css}"
    for found in _heading_parents(_scope_heading_texts(sel, config)):
        heading, text = found, clean(_text_content(found))
        # Climb to the block that holds only the heading (the fragment wrapper), then take
        # the links of what follows it; a level up when nothing follows at this one.
        for _ in range(6):
            for sibling in heading.itersiblings():
                links = [link for h in _LINK_HREFS(sibling) if (link := absolute(url, h))]
                if links:
                    return list(dict.fromkeys(links)), "heading"
            parent = heading.getparent()
            if parent is None or clean(_text_content(parent)) != text:
                break
            heading = parent
    return [], ""


def _collect_media(root: _Element, url: str, body: _Body) -> None:
    for img in root.iter("img"):
        src = absolute(url, img.get("src") or img.get("data-src"))
        if not src:
            continue
        body.images.append({"url": src, "caption": _caption(img)})
    for link in root.iter("a"):
        href = absolute(url, link.get("href"))
        if href and _is_attachment(href):
            title = clean(_text_content(link)) or None
            if not any(a["url"] == href for a in body.attachments):
                body.attachments.append({"url": href, "title": title})


def _caption(img: _Element) -> str | None:
    for fig in img.iterancestors("figure"):
        caption = fig.find(".//figcaption")
        if caption is not None and clean(_text_content(caption)):
            return clean(_text_content(caption))
    holder = img.getparent()
    while holder is not None and holder.tag not in {"p", "div", "td"}:
        holder = holder.getparent()
    if holder is not None:
        after = holder.getnext()
        if after is not None and isinstance(after.tag, str):
            text = clean(_text_content(after))
            cls = (after.get("class") or "").lower()
            emphasised = clean(" ".join(_CAPTION_EMPHASIS_TEXTS(after)))
            if text and ("caption" in cls or (emphasised and emphasised == text)):
                return text
    for attr in ("alt", "title"):
        value = clean(img.get(attr))
        if value:
            return value
    return None


def extract_og_images(sel: _Doc, url: str) -> list[dict[str, Any]]:
    src = absolute(url, sel.meta_content("og:image", "og:image:url"))
    return [{"url": src, "caption": sel.meta_content("og:image:alt")}] if src else []


def extract_author(
    sel: _Doc, json_ld: list[dict[str, Any]], body: _Body, config: ParserConfig = GENERIC
) -> tuple[str | None, str]:
    value, css = first_text(sel.sel, config.selectors_for("author"))
    if value:
        return _strip_byline_label(value, config), f"profile:{css}"
    for data in json_ld:
        author = data.get("author")
        if isinstance(author, list) and author:
            author = author[0]
        if isinstance(author, dict):
            author = author.get("name")
        if isinstance(author, str) and clean(author):
            return clean(author), "json_ld"
    value = sel.meta_content("author", "article:author")
    if value and not value.startswith("http"):
        return clean(value), "meta:author"
    if body.byline:
        return body.byline, "byline"
    value, css = sel.first_text(AUTHOR_SELECTORS)
    if value:
        return value, f"css:{css}"
    return None, ""


def extract_category(sel: _Doc, config: ParserConfig = GENERIC) -> tuple[str | None, str]:
    value, css = first_text(sel.sel, config.selectors_for("category"))
    if value:
        return value, f"profile:{css}"
    value = sel.meta_content("article:section")
    if value:
        return clean(value), "meta:article:section"
    value, css = sel.first_text(CATEGORY_SELECTORS)
    return (value, f"css:{css}") if value else (None, "")


def extract_tags(sel: _Doc, config: ParserConfig = GENERIC) -> tuple[list[str], str]:
    for css in config.selectors_for("tags"):
        tags = [t for t in (text_of(n) for n in sel.sel.css(css)) if t]
        if tags:
            return list(dict.fromkeys(tags)), f"profile:{css}"
    for css in TAG_SELECTORS:
        tags = [t for t in (visible_text(n) for n in sel.css(css)) if t]
        if tags:
            return list(dict.fromkeys(tags)), f"css:{css}"
    keywords = sel.meta_content("keywords", "news_keywords")
    if keywords:
        found = list(dict.fromkeys(k.strip() for k in keywords.split(",") if k.strip()))
        return found, ("meta:keywords" if found else "")
    return [], ""


def extract_date_candidates(
    sel: _Doc,
    json_ld: list[dict[str, Any]],
    body: _Body,
    locale: str | None,
    config: ParserConfig = GENERIC,
) -> list[DateCandidate]:
    """Every date the page states, most trusted first; the normalizer picks and cross-checks."""
    found: list[DateCandidate] = []

    def add(source: str, raw: str | None, kind: str = "published") -> None:
        raw = clean(raw)
        if raw and not any(c.raw == raw and c.kind == kind for c in found):
            found.append(DateCandidate(source, raw, locale, kind))

    for css in config.selectors_for("date"):
        for hit in sel.sel.css(css)[:1]:
            add("display_date", hit.attrib.get("datetime") or text_of(hit))
    for data in json_ld:
        add("json_ld", _str(data.get("datePublished")))
        add("json_ld", _str(data.get("dateModified")), "modified")
    add("meta", sel.meta_content("article:published_time", "datePublished", "dcterms.created"))
    add("meta", sel.meta_content("article:modified_time", "dateModified"), "modified")
    for css in DATE_SELECTORS:
        for node in sel.css(css):
            raw = node.get("datetime") or visible_text(node)
            if raw and (node.get("datetime") or _is_date_line(raw)):
                add("display_date", raw)
                break
        else:
            continue
        break
    if body.display_date:
        add("display_date", body.display_date)
    if not any(c.source == "display_date" for c in found):
        add("display_date", _first_date_line(sel))
    return found


# Texts in these are not the page's content: the date-line fallback skips them.
_NON_CONTENT_TAGS = frozenset(("header", "footer", "nav", "script", "style"))
# XPath's normalize-space() strips these only
_XML_SPACE = " \t\r\n"


def _short_content_texts(scope: _Element) -> Iterator[str]:
    """The text nodes under ``scope`` of at most 80 characters, not blank and outside
    ``_NON_CONTENT_TAGS``, in document order, one at a time: the date line sits near the top
    of the content, and the walk stops there instead of testing every text of the page."""
    if any(el.tag in _NON_CONTENT_TAGS for el in (scope, *scope.iterancestors())):
        return
    # the open elements, whose tails come once their children are done; lxml's sibling
    # links walk the children (comments and processing instructions too) without an iterator
    # object per element
    open_elements: list[_Element] = []
    text = scope.text
    node = scope[0] if len(scope) else None
    while True:
        if text and len(text) <= 80 and text.strip(_XML_SPACE):
            yield text
        if node is None:
            if not open_elements:
                return
            done = open_elements.pop()
            text, node = done.tail, done.getnext()
        elif isinstance(node.tag, str) and node.tag not in _NON_CONTENT_TAGS:
            open_elements.append(node)
            text = node.text
            node = node[0] if len(node) else None
        else:
            # skipped, a comment or a processing instruction: only its tail is a text here
            text, node = node.tail, node.getnext()


def _first_date_line(sel: _Doc) -> str | None:
    """Generic fallback: the first short text in the main content that is a whole date."""
    scope = sel.css("#content") or sel.css("main") or sel.css("body")
    for text in (text for node in scope for text in _short_content_texts(node)):
        value = clean(text)
        if _is_date_line(value):
            return value
    return None


def extract_not_article_reason(
    sel: _Doc, page: ArticlePage, config: ParserConfig = GENERIC
) -> str | None:
    if not page.body_text or len(page.body_text) < 400:
        # Liferay's not-found page can sit in an otherwise normal layout: look at its text.
        page_text = _texts_of(sel.css("#content") or sel.css("body")).casefold()
        profile_markers = [m.casefold() for m in config.labels_for("not_found")]
        for marker in dict.fromkeys([*profile_markers, *NOT_FOUND_TEXTS]):
            if marker in page_text:
                return f"soft_404: page says {marker!r}"
    if not page.title and not page.body_text:
        return "empty_shell: no title and no body"
    if not page.body_text:
        return "no_body: no article body found"
    return None


def _json_ld_articles(sel: _Doc) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for raw in sel.json_ld:
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        items = data if isinstance(data, list) else data.get("@graph", [data])
        for entry in items:
            kind = entry.get("@type") if isinstance(entry, dict) else None
            kinds = kind if isinstance(kind, list) else [kind]
            if any(k in {"NewsArticle", "Article", "BlogPosting", "Report"} for k in kinds):
                found.append(entry)
    return found


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
