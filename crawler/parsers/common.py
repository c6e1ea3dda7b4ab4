"""Small extraction helpers shared by the page parsers (no normalization beyond whitespace)."""

from __future__ import annotations

import re
import threading
import weakref
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Self, cast
from urllib.parse import urljoin, urlsplit

import cssselect
from lxml import etree
from parsel import Selector
from parsel.csstranslator import css2xpath

from crawler.domain.locales import page_locale_of

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from lxml.etree import _Element
    from parsel import SelectorList

# XML whitespace: what XPath's normalize-space() splits a class attribute on.
_CLASS_TOKEN = re.compile(r"[^ \t\r\n]+")
# a CSS query that is one plain id (no escapes)
_ID_QUERY = re.compile(r"#([A-Za-z_][A-Za-z0-9_-]*)")
# Attributes whose holders the page's one walk records beside classes and ids: those the
# parsers' generic selectors test (Liferay's fragment editables, time[datetime]). A query on
# any other attribute runs as an XPath scan.
INDEXED_ATTRIBUTES = frozenset(("data-lfr-editable-type", "data-lfr-editable-id", "datetime"))


class PageSelector(Selector):
    """A page's Selector that answers at once a CSS query that cannot match.

    The parsers try many selectors per field, most of them absent from a given portal, and
    every one is an XPath scan of the whole document. A query needing a class or id that no
    element of the page has is known empty from the page's class and id sets, read in one pass;
    any other query runs as parsel runs it, once per page (the parsers never change the page:
    they edit copies), so results are the same. Selectors found in the page carry the page's
    class and id sets (not the page: a cycle would keep every parsed page alive until the
    garbage collector runs): a part of the page has no class the page lacks.
    """

    # the classes and ids of the page this selector was found in (None: this is the page)
    _page_known: tuple[frozenset[str], frozenset[str]] | None = None

    def xpath(
        self, query: str, namespaces: Mapping[str, str] | None = None, **kwargs: Any
    ) -> SelectorList[Self]:
        found = super().xpath(query, namespaces, **kwargs)
        known = self._classes_and_ids if self._page_known is None else self._page_known
        for selector in found:
            selector._page_known = known
        return found

    def css(self, query: str) -> SelectorList[Self]:
        if self._page_known is not None:
            if not _may_match(query, self._page_known):
                return cast("SelectorList[Self]", self.selectorlist_cls([]))
            return super().css(query)
        found = self._css_results.get(query)
        if found is None:
            found = list(super().css(query)) if _may_match(query, self._classes_and_ids) else []
            self._css_results[query] = found
        return cast("SelectorList[Self]", self.selectorlist_cls(found))

    def elements(self, query: str) -> list[_Element]:
        """The page's elements a CSS query selects, as lxml elements: what ``css`` finds,
        without a Selector per element nor a translation per call. For queries that select
        elements (no ``::text`` / ``::attr()``): the parsers' own selectors."""
        found = self._element_results.get(query)
        if found is None:
            if _may_match(query, self._classes_and_ids):
                found = self._by_id(query)
                if found is None:
                    found = self._by_classes(query)
                if found is None:
                    found = self._by_attribute(query)
                if found is None:
                    found = _compiled_css(query)(self.root)
            else:
                found = []
            self._element_results[query] = found
        return found

    def _by_id(self, query: str) -> list[_Element] | None:
        """A ``#id`` query from the page's holders of each id, gathered in one walk, instead of
        a scan of the page: the same elements in document order."""
        match = _ID_QUERY.fullmatch(query)
        if match is None:
            return None
        return list(self._page_index.ids.get(match[1], ()))

    def _by_classes(self, query: str) -> list[_Element] | None:
        """A query of classes and tags joined by descendant combinators (``h1.heading``,
        ``.categories .category``, ``.tags a``) answered from the page's elements by class,
        gathered in one walk, instead of an XPath scan of the page per query: the same elements
        in document order. None for any other query."""
        plan = _class_plan(query)
        if plan is None:
            return None
        index = self._class_index
        found: list[_Element] | None = None
        for tag, classes in plan:
            if found is None:
                found = [el for el in _candidates(index, classes) if _has(el, tag, classes)]
            elif classes:
                within = set(found)
                found = [
                    el
                    for el in _candidates(index, classes)
                    if _has(el, tag, classes) and any(a in within for a in el.iterancestors())
                ]
            elif _is_nested(found):
                # descendants of nested containers would repeat and leave document order
                return None
            else:
                found = [el for holder in found for el in holder.iterdescendants(tag)]
            if not found:
                break
        return found or []

    def _by_attribute(self, query: str) -> list[_Element] | None:
        """A query of one element with one attribute test on an indexed attribute
        (``[data-lfr-editable-id*=date]``, ``time[datetime]``) answered from the holders of
        that attribute, gathered in the one walk: the same elements in document order. None
        for any other query."""
        plan = _attribute_plan(query)
        if plan is None:
            return None
        tag, name, operator, value = plan
        holders = self._page_index.attributes.get(name, ())
        return [
            el
            for el in holders
            if (tag is None or el.tag == tag) and _attribute_matches(el.get(name), operator, value)
        ]

    @cached_property
    def _page_index(self) -> _PageIndex:
        return _PageIndex(self.root)

    @property
    def _class_index(self) -> dict[str, list[_Element]]:
        return self._page_index.classes

    @cached_property
    def _css_results(self) -> dict[str, list[Self]]:
        return {}

    @cached_property
    def _element_results(self) -> dict[str, list[_Element]]:
        return {}

    @cached_property
    def _classes_and_ids(self) -> tuple[frozenset[str], frozenset[str]]:
        # the page's classes and ids are those its index holds: one walk for both
        index = self._page_index
        return frozenset(index.classes), frozenset(index.ids)


class _PageIndex:
    """A page's elements by class, by id and by indexed attribute, in document order, read in
    one walk over the elements and their attributes."""

    __slots__ = ("attributes", "classes", "ids")

    def __init__(self, root: _Element) -> None:
        classes: dict[str, list[_Element]] = {}
        ids: dict[str, list[_Element]] = {}
        attributes: dict[str, list[_Element]] = {}
        for el in root.iter(etree.Element):
            for name, value in el.items():
                if name == "class":
                    if not value:
                        continue
                    # printable ASCII holds no whitespace but the space: str.split() splits
                    # there as XPath does; elsewhere it would also split at NBSP, FF, VT...
                    plain = value.isascii() and value.isprintable()
                    for token in value.split() if plain else _CLASS_TOKEN.findall(value):
                        holders = classes.get(token)
                        if holders is None:
                            classes[token] = [el]
                        elif holders[-1] is not el:
                            holders.append(el)
                elif name == "id":
                    holders = ids.get(value)
                    if holders is None:
                        ids[value] = [el]
                    else:
                        holders.append(el)
                elif name in INDEXED_ATTRIBUTES:
                    holders = attributes.get(name)
                    if holders is None:
                        attributes[name] = [el]
                    else:
                        holders.append(el)
        self.classes, self.ids, self.attributes = classes, ids, attributes


def page_selector(page: str | PageSelector) -> PageSelector:
    """The page's indexed selector. A caller that hands one page to several parsers (listing,
    navigation, alternates) parses it once and passes the selector: each parser takes either."""
    if isinstance(page, PageSelector):
        return page
    return PageSelector(root=parse_html(page), type="html")


_PARSERS = threading.local()


def parse_html(html: str) -> _Element:
    """The tree parsel builds from ``html`` (its input cleaning, libxml2 options and empty-page
    fallback) with plain lxml elements: lxml.html's parser would look every element proxy up
    through a Python class lookup, and the parsers need no HtmlElement method. One parser per
    thread, reused (lxml parsers are not thread-safe)."""
    parser = getattr(_PARSERS, "html", None)
    if parser is None:
        parser = _PARSERS.html = etree.HTMLParser(recover=True, encoding="utf-8", huge_tree=True)
    body = html.strip().replace("\x00", "").encode("utf-8") or b"<html/>"
    root = etree.fromstring(body, parser=parser)
    if root is None:
        root = etree.fromstring(b"<html/>", parser=parser)
    return root


@lru_cache(maxsize=1024)
def _compiled_css(query: str) -> etree.XPath:
    # parsel's own translation (HTMLTranslator), so the same elements in the same order
    return etree.XPath(css2xpath(query), smart_strings=False)


# per descendant step: the element name (None: any) and the classes it must have
_ClassPlan = tuple[tuple[str | None, frozenset[str]], ...]


def _single_selector(query: str) -> object | None:
    """The parsed tree of ``query`` when it is one selector without a pseudo element, else
    None (a query the page index does not answer: the XPath does)."""
    try:
        parts = cssselect.parse(query)
    except cssselect.SelectorError:
        return None
    if len(parts) != 1 or parts[0].pseudo_element is not None:
        return None
    tree: object = parts[0].parsed_tree
    return tree


@lru_cache(maxsize=1024)
def _class_plan(query: str) -> _ClassPlan | None:
    """``query`` as descendant steps of element names and classes (the first step with a
    class), or None when it uses anything else: other combinators, attributes, ids, pseudo
    classes, several comma-separated parts."""
    tree = _single_selector(query)
    if tree is None:
        return None
    steps: list[tuple[str | None, frozenset[str]]] = []
    node: object = tree
    while True:
        if isinstance(node, cssselect.parser.CombinedSelector):
            if node.combinator != " ":
                return None
            step = _class_step(node.subselector)
            node = node.selector
        else:
            step = _class_step(node)
            node = None
        if step is None:
            return None
        steps.append(step)
        if node is None:
            break
    steps.reverse()
    if not steps[0][1] or not all(tag or classes for tag, classes in steps):
        return None
    return tuple(steps)


def _class_step(node: object) -> tuple[str | None, frozenset[str]] | None:
    classes: set[str] = set()
    while isinstance(node, cssselect.parser.Class):
        if _CLASS_TOKEN.fullmatch(node.class_name) is None:
            return None
        classes.add(node.class_name)
        node = node.selector
    if not isinstance(node, cssselect.parser.Element) or node.namespace is not None:
        return None
    # the HTML translator's names are lower case, as the HTML parser's are
    return (node.element.lower() if node.element else None), frozenset(classes)


# operators whose test reads the attribute's value as a whole (no whitespace splitting)
_ATTRIBUTE_OPERATORS = frozenset(("exists", "=", "*=", "^=", "$="))


@lru_cache(maxsize=1024)
def _attribute_plan(query: str) -> tuple[str | None, str, str, str | None] | None:
    """``query`` as (element name or None, attribute, operator, value) when it is one element
    with one test on an indexed attribute, else None."""
    node = _single_selector(query)
    if not isinstance(node, cssselect.parser.Attrib) or node.namespace is not None:
        return None
    # the HTML translator's names are lower case, as the HTML parser's are
    name = node.attrib.lower()
    if name not in INDEXED_ATTRIBUTES or node.operator not in _ATTRIBUTE_OPERATORS:
        return None
    element = node.selector
    if not isinstance(element, cssselect.parser.Element) or element.namespace is not None:
        return None
    value = None if node.value is None else str(node.value.value)
    return (element.element.lower() if element.element else None), name, node.operator, value


def _attribute_matches(actual: str | None, operator: str, value: str | None) -> bool:
    # the HTML translator's tests: an empty value matches nothing but with "="
    if actual is None:
        return False
    if operator == "exists":
        return True
    if value is None:
        return False
    if operator == "=":
        return actual == value
    if not value:
        return False
    if operator == "*=":
        return value in actual
    if operator == "^=":
        return actual.startswith(value)
    return actual.endswith(value)


def _candidates(index: Mapping[str, list[_Element]], classes: frozenset[str]) -> list[_Element]:
    # the holders of the rarest class (the page's order): the others are checked on these
    return min((index.get(c, []) for c in classes), key=len)


def _has(el: _Element, tag: str | None, classes: frozenset[str]) -> bool:
    if tag is not None and el.tag != tag:
        return False
    return len(classes) == 1 or classes <= set(_CLASS_TOKEN.findall(el.get("class") or ""))


def _is_nested(elements: list[_Element]) -> bool:
    if len(elements) < 2:
        return False
    within = set(elements)
    return any(a in within for el in elements for a in el.iterancestors())


def _may_match(query: str, known: tuple[frozenset[str], frozenset[str]]) -> bool:
    needs = _needed_classes_and_ids(query)
    if needs is None:
        return True
    classes, ids = known
    return any(c <= classes and i <= ids for c, i in needs)


@lru_cache(maxsize=1024)
def _needed_classes_and_ids(
    query: str,
) -> tuple[tuple[frozenset[str], frozenset[str]], ...] | None:
    """Per comma-separated part of ``query``, the classes and ids some element of the page
    must have for it to match; None when the query is not understood well enough to say."""
    try:
        parts = cssselect.parse(query)
    except cssselect.SelectorError:
        return None
    needs = []
    for part in parts:
        classes: set[str] = set()
        ids: set[str] = set()
        if not _collect_needs(part.parsed_tree, classes, ids):
            return None
        needs.append((frozenset(classes), frozenset(ids)))
    return tuple(needs)


def _collect_needs(node: object, classes: set[str], ids: set[str]) -> bool:
    if isinstance(node, cssselect.parser.Element):
        return True
    if isinstance(node, cssselect.parser.Class):
        classes.add(node.class_name)
    elif isinstance(node, cssselect.parser.Hash):
        ids.add(node.id)
    elif isinstance(node, cssselect.parser.CombinedSelector):
        if not _collect_needs(node.subselector, classes, ids):
            return False
    elif not isinstance(
        node,
        # what these add narrows a match further; a :not() needs nothing
        cssselect.parser.Attrib
        | cssselect.parser.Function
        | cssselect.parser.Pseudo
        | cssselect.parser.Negation,
    ):
        return False
    return _collect_needs(node.selector, classes, ids)


def clean(text: str | None) -> str:
    # str.split() and the regex \s agree on what whitespace is; split and join is faster
    return " ".join((text or "").split())


_VISIBLE_TEXT = etree.XPath(
    ".//text()[not(ancestor::script or ancestor::style or ancestor::template "
    "or ancestor::noscript)]",
    smart_strings=False,
)


def text_of(node: Selector | SelectorList[Selector]) -> str:
    """Visible text of a node: scripts, styles and templates left out."""
    nodes = [node] if isinstance(node, Selector) else node
    parts: list[str] = []
    for one in nodes:
        if isinstance(one.root, etree._Element):
            # compiled once: parsel would compile the expression again for every node
            parts.extend(_visible_texts(one.root))
        else:
            parts.extend(one.xpath(_VISIBLE_TEXT.path).getall())
    return clean(" ".join(parts))


_HIDDEN_TAGS = ("script", "style", "template", "noscript")


def visible_text(element: _Element) -> str:
    """``text_of`` for an lxml element."""
    return clean(" ".join(_visible_texts(element)))


def _visible_texts(element: _Element) -> list[str]:
    # With nothing hidden in or around the element, its visible texts are all its texts:
    # itertext gives the same text nodes in the same order without an ancestor test per node.
    if next(element.iter(*_HIDDEN_TAGS), None) is None and not any(
        ancestor.tag in _HIDDEN_TAGS for ancestor in element.iterancestors()
    ):
        return list(element.itertext())
    return cast("list[str]", _VISIBLE_TEXT(element))


def visible_text_longer(element: _Element, limit: int) -> bool:
    """``len(visible_text(element)) > limit``, splitting only as many texts as it takes."""
    return _longer(_visible_texts(element), limit)


def longest_visible_text(elements: Sequence[_Element], limit: int) -> _Element | None:
    """The first of ``elements`` whose visible text is the longest, when longer than ``limit``:
    what ``max`` over ``len(visible_text(el))`` picks. A text is at most its parts joined by
    spaces (``visible_text`` only removes spaces): when one element's text is known longer
    than every other's bound, the long text is never split whole."""
    texts = [_visible_texts(el) for el in elements]
    if not texts:
        return None
    bounds = [sum(map(len, parts)) + len(parts) - 1 for parts in texts]
    top = bounds.index(max(bounds))
    rival = max((b for i, b in enumerate(bounds) if i != top), default=-1)
    if _longer(texts[top], max(limit, rival)):
        return elements[top]
    sizes = [len(clean(" ".join(parts))) for parts in texts]
    size = max(sizes)
    return elements[sizes.index(size)] if size > limit else None


def _longer(parts: list[str], limit: int) -> bool:
    # clean(" ".join(parts)): each part's words, one space between any two
    length = -1
    for part in parts:
        words = part.split()
        if words:
            length += sum(map(len, words)) + len(words)
            if length > limit:
                return True
    return False


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
    if href.isascii() and _PLAIN_HTTP_URL.fullmatch(href):
        # urljoin gives such a link back unchanged, whatever the base: no need to ask it.
        return href
    if href[0] == "/" and href[1:2] != "/" and not _URL_TABS.search(href):
        # A root-relative link (most links of a portal) resolves against the base's scheme and
        # host alone: remembered per origin, pages share their menus' and related links.
        return _absolute_rooted(_origin(base_url), href)
    url = urljoin(base_url, href)
    return url if url.startswith(("http://", "https://")) else None


# An http(s) URL with a host and nothing urlsplit would drop, strip or check (empty query or
# fragment, path parameters, IPv6 brackets, tabs and line breaks, spaces).
_PLAIN_HTTP_URL = re.compile(r"https?://[^/?#;\[\]\s][^?#;\[\]\s]*")
# removed by urlsplit wherever they are, which could turn "/" + tab + "/" into "//"
_URL_TABS = re.compile("[\t\r\n]")


@lru_cache(maxsize=256)
def _origin(base_url: str) -> str:
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}/"


@lru_cache(maxsize=4096)
def _absolute_rooted(origin: str, href: str) -> str | None:
    if origin.startswith(("http://", "https://")) and _joins_unchanged(href):
        return origin[:-1] + href
    url = urljoin(origin, href)
    return url if url.startswith(("http://", "https://")) else None


def _joins_unchanged(href: str) -> bool:
    """Whether urljoin would append this root-relative link to the origin as it is: no dot
    segments or path parameters to resolve, no empty query or fragment to drop (links to
    articles and documents are mostly new to the cache: urljoin costs microseconds each)."""
    head, hash_sign, fragment = href.partition("#")
    if hash_sign and not fragment:
        return False
    path, question_mark, query = head.partition("?")
    if question_mark and not query:
        return False
    return ";" not in path and "/." not in path
