from __future__ import annotations

import copy
import gc
import inspect
import weakref
from pathlib import Path
from urllib.parse import urljoin

import pytest
from lxml import etree
from parsel import Selector
from scrapy.utils.misc import load_object
from scrapy.utils.project import get_project_settings

from crawler.domain.items import ArticleItem
from crawler.parsers.article import (
    AUTHOR_SELECTORS,
    BODY_CONTAINERS,
    CATEGORY_SELECTORS,
    DATE_SELECTORS,
    GENERIC_CONTAINERS,
    RELATED_SELECTORS,
    RICH_TEXT_FRAGMENTS,
    TAG_SELECTORS,
    TITLE_SELECTORS,
    _Doc,
    _may_hold_related_heading,
    _related_headings,
    _short_content_texts,
    _text_content,
)
from crawler.parsers.common import (
    _VISIBLE_TEXT,
    PageSelector,
    absolute,
    clean,
    longest_visible_text,
    page_selector,
    visible_text,
    visible_text_longer,
)
from crawler.sites.profile import GENERIC
from pipelines.base import adapter_of


def test_item_pipelines_are_synchronous_so_few_concurrent_items_lose_nothing() -> None:
    settings = get_project_settings()
    for path in settings.getdict("ITEM_PIPELINES"):
        process_item = load_object(path).process_item
        assert not inspect.iscoroutinefunction(process_item), path
        assert not inspect.isasyncgenfunction(process_item), path


PAGES = Path(__file__).parent / "fixtures" / "pages"
QUERIES = (
    *TITLE_SELECTORS,
    *BODY_CONTAINERS,
    *DATE_SELECTORS,
    *AUTHOR_SELECTORS,
    *CATEGORY_SELECTORS,
    *TAG_SELECTORS,
    "#content",
    "#no-such-id h1",
    "body",
    ".no-such-class",
    "div:not(.no-such-class)",
    "p, .no-such-class",
    ".no-such-class, h1",
    "[data-lfr-editable-id*=title] h1",
    "a::attr(href)",
    "*::text",
)


@pytest.mark.parametrize("page", sorted(p.name for p in PAGES.glob("*.html")))
def test_page_selector_finds_what_parsel_finds(page: str) -> None:
    html = (PAGES / page).read_text(encoding="utf-8")
    plain, fast = Selector(text=html), PageSelector(text=html)
    for query in QUERIES:
        expected = plain.css(query).getall()
        assert fast.css(query).getall() == expected, query
        # asked again: the page's remembered answer
        assert fast.css(query).getall() == expected, query
        # and inside a part of the page
        for part in ("body", "#content", ".portlet-asset-publisher", ".asset-abstract"):
            assert fast.css(part).css(query).getall() == plain.css(part).css(query).getall()


# the parser's own selectors and the CSS forms a profile may give (combinators, attribute
# tests, groups, pseudo-classes)
ELEMENT_QUERIES = (
    *RICH_TEXT_FRAGMENTS.split(", "),
    *BODY_CONTAINERS,
    *GENERIC_CONTAINERS,
    *RELATED_SELECTORS,
    "*",
    "div",
    "DIV",
    "div > p",
    "body > div",
    "html",
    "html > body",
    "#content > div",
    "div div p",
    "ul > li > a",
    "a[href]",
    "a[href*=w]",
    "a[href*='']",
    "a[href='']",
    "[class]",
    "[id]",
    "meta[name=description]",
    "link[rel=canonical]",
    ".portlet .portlet-content",
    ".portlet.portlet-boundary",
    "div.portlet > .portlet-content-container",
    "h1, h2, h3",
    "p, div > p",
    "#content, body, #content",
    ".asset-abstract a, .asset-title",
    "li:first-child a",
    "a[href^=http]",
    "p ~ p",
    "p + p",
    "[data-lfr-editable-id*=title] h1",
    "section.hmenu a[href]",
)


@pytest.mark.parametrize("page", sorted(p.name for p in PAGES.glob("*.html")))
def test_page_elements_are_the_elements_parsel_css_selects(page: str) -> None:
    html = (PAGES / page).read_text(encoding="utf-8")
    plain, fast = Selector(text=html), PageSelector(text=html)
    for query in (*QUERIES, *ELEMENT_QUERIES):
        if "::" in query:
            continue
        expected = [node.root for node in plain.css(query)]
        found = fast.elements(query)
        assert [el.getroottree().getpath(el) for el in found] == [
            el.getroottree().getpath(el) for el in expected
        ], query
        # asked again: the page's remembered answer
        assert fast.elements(query) is found, query


@pytest.mark.parametrize("page", sorted(p.name for p in PAGES.glob("*.html")))
def test_visible_text_of_every_element_is_its_text_outside_scripts_and_styles(page: str) -> None:
    root = page_selector((PAGES / page).read_text(encoding="utf-8")).root
    for element in root.iter():
        if isinstance(element.tag, str):
            assert visible_text(element) == clean(" ".join(_VISIBLE_TEXT(element))), element


# what the date-line fallback's walk replaces: one XPath over the whole content area
_SHORT_CONTENT_TEXTS = etree.XPath(
    ".//text()[string-length() <= 80][normalize-space()][not(ancestor::header or ancestor::footer"
    " or ancestor::nav or ancestor::script or ancestor::style)]",
    smart_strings=False,
)
TEXT_WALK_PAGES = (
    "<div>a<nav>n<b>x</b></nav>t1<!--c-->t2<p>p<style>s</style>st</p>t3<?pi x?>t4 \xa0 "
    "<footer>f</footer> \n</div>",
    "<header><div id=c>in a header</div></header><p>out</p>",
    f"<body>{'x' * 81}<p>{'y' * 80}</p>\t\n<script>var a = 1;</script>tail</body>",
)


@pytest.mark.parametrize(
    "html",
    [
        *TEXT_WALK_PAGES,
        *((PAGES / page).read_text(encoding="utf-8") for page in sorted(PAGES.glob("*.html"))),
    ],
)
def test_short_content_texts_of_every_element_are_what_the_xpath_selects(html: str) -> None:
    # comments, processing instructions, skipped subtrees, tails, scopes inside a header
    root = page_selector(html).root
    for element in root.iter():
        if isinstance(element.tag, str):
            expected = _SHORT_CONTENT_TEXTS(element)
            assert list(_short_content_texts(element)) == expected, element


CLASS_PAGES = (
    # nested holders of one class, a class repeated in one attribute, XML and other whitespace
    '<div class="a"><div class="a b"><b class="b">x</b><p class="a">y<b>z</b></p></div></div>'
    '<span class="A a  a\tb">q</span><c class="b">k</c><i class="b\xa0c">n</i>'
    '<i class="f\x0cg h">ff</i>',
    '<div class="x"><div class="x"><i class="x">i</i><a>1</a></div><a>2</a></div><a>3</a>',
)
CLASS_QUERIES = (
    ".a",
    ".A",
    ".a .b",
    ".a.b",
    ".a b",
    "div.a b",
    "DIV.a",
    ".a .b b",
    ".x .x",
    ".x a",
    ".x .x a",
    ".b\\a0 c",
    ".missing a",
    ".f",
    ".h",
)


@pytest.mark.parametrize("html", CLASS_PAGES)
def test_class_queries_from_the_class_index_are_the_elements_parsel_selects(html: str) -> None:
    plain, fast = Selector(text=html), PageSelector(text=html)
    for query in CLASS_QUERIES:
        expected = [node.root for node in plain.css(query)]
        assert [el.getroottree().getpath(el) for el in fast.elements(query)] == [
            el.getroottree().getpath(el) for el in expected
        ], query


ATTRIBUTE_PAGES = (
    # repeated ids, empty and absent values, nested holders, upper-case markup, <a name>
    '<div id="a" data-lfr-editable-id="element-date"><p id="a" data-lfr-editable-id="">x</p>'
    '<TIME DATETIME="2024-01-02">d</TIME><time>t</time><time datetime="">e</time></div>'
    '<div data-lfr-editable-type="rich-text" data-lfr-editable-id="date-and-title">'
    '<div data-lfr-editable-type="rich-text"><a name="b">n</a><i id="b">i</i></div></div>'
    '<span data-lfr-editable-type="Rich-Text" data-lfr-editable-id="x y">s</span>',
)
ATTRIBUTE_QUERIES = (
    '[data-lfr-editable-type="rich-text"]',
    "[data-lfr-editable-id*=date]",
    '[data-lfr-editable-id*=""]',
    '[data-lfr-editable-id=""]',
    "[data-lfr-editable-id^=element]",
    "[data-lfr-editable-id$=date]",
    "[data-lfr-editable-id~=x]",
    "[data-lfr-editable-id]",
    "div[data-lfr-editable-id*=date]",
    "time[datetime]",
    "TIME[datetime]",
    "[DATETIME]",
    "#a",
    "#b",
    "#missing",
)


@pytest.mark.parametrize(
    "html",
    [
        *ATTRIBUTE_PAGES,
        *((PAGES / page).read_text(encoding="utf-8") for page in sorted(PAGES.glob("*.html"))),
    ],
)
def test_attribute_and_id_queries_from_the_page_index_are_the_elements_parsel_selects(
    html: str,
) -> None:
    plain, fast = Selector(text=html), PageSelector(text=html)
    for query in ATTRIBUTE_QUERIES:
        expected = [node.root for node in plain.css(query)]
        assert [el.getroottree().getpath(el) for el in fast.elements(query)] == [
            el.getroottree().getpath(el) for el in expected
        ], query


HEADING_PAGES = (
    # the heading inside the body, as a tail inside it, as the body's own tail, outside it
    '<div id="content"><div class="journal-content-article"><p>x</p><h3>Tin liên quan</h3>'
    '<a href="/w/a">a</a></div></div>',
    '<div id="content"><div class="journal-content-article"><p>x<b>y</b>Tin liên quan</p>'
    "</div></div>",
    '<div id="content"><div class="journal-content-article"><p>x</p></div>Tin liên quan'
    '<a href="/w/b">b</a></div>',
    '<body><div id="content"><div class="journal-content-article"><p>x</p></div></div>'
    '<h3>Related articles</h3><a href="/w/c">c</a></body>',
    '<body><div class="journal-content-article"><script>Tin liên quan</script><p>z</p></div>'
    "<div id=content><h2>Tin liên quan</h2></div></body>",
)


@pytest.mark.parametrize(
    "html",
    [
        *HEADING_PAGES,
        *((PAGES / page).read_text(encoding="utf-8") for page in sorted(PAGES.glob("*.html"))),
    ],
)
def test_body_skips_the_related_heading_search_only_where_it_would_find_none(html: str) -> None:
    doc = _Doc(page_selector(html))
    for container in doc.root.iter(etree.Element):
        if not _may_hold_related_heading(doc, container, GENERIC):
            assert _related_headings(copy.deepcopy(container)) == [], container


def test_body_looks_for_the_related_heading_when_its_container_holds_one() -> None:
    decisions = []
    for html in HEADING_PAGES:
        doc = _Doc(page_selector(html))
        container = doc.css(".journal-content-article")[0]
        decisions.append(_may_hold_related_heading(doc, container, GENERIC))
    assert decisions == [True, True, False, False, True]


_STRING = etree.XPath("string()", smart_strings=False)


@pytest.mark.parametrize(
    "html",
    [
        "<div>a<!--c-->b<?pi x?>c<p>d<script>s</script>e</p>f&amp;&#160;<p></p><p><!--x--></p>"
        "<p>&unknown;</p></div>t",
        *((PAGES / page).read_text(encoding="utf-8") for page in sorted(PAGES.glob("*.html"))),
    ],
)
def test_text_content_of_every_element_is_its_xpath_string_value(html: str) -> None:
    for element in page_selector(html).root.iter(etree.Element):
        assert _text_content(element) == _STRING(element), element


ORIGINS = ("https://hepza.hochiminhcity.gov.vn/", "http://127.0.0.1:8000/", "https://u@h:8443/")
ROOTED_LINKS = (
    "/",
    "/w/tin-tuc",
    "/w/h%E1%BB%99i-ngh%E1%BB%8B#main-content",
    "/documents/20122/0/a.pdf/uuid?t=1&download=true",
    "/w/tiếng-việt",
    "/a/./b",
    "/a/../b",
    "/a/..",
    "/.",
    "/.well-known/x",
    "/a;jsessionid=ABC",
    "/a;",
    "/a?",
    "/a#",
    "/a?#f",
    "/a?b#",
    "/a#f?",
    "/a?b?c#d#e",
    "/a//b",
    "/a b",
    "/a\x01",
    "/a?u=/../x;y",
)


@pytest.mark.parametrize("origin", ORIGINS)
def test_root_relative_links_resolve_as_urljoin_resolves_them(origin: str) -> None:
    # dot segments, path parameters, empty queries and fragments: urljoin's own answer
    for href in ROOTED_LINKS:
        expected = urljoin(origin, href)
        assert absolute(origin + "w/page", href) == expected, href


LENGTH_PAGES = (
    # ties, blank parts, no-break spaces, hidden text, an empty group
    "<div>ab cd</div><div><p>a  b</p><p>   </p><p>c\xa0d</p><script>x y z</script></div>"
    "<div>abcd e</div><div>ab\tcd</div>",
    "<p></p><p> </p>",
)


@pytest.mark.parametrize(
    "html",
    [
        *LENGTH_PAGES,
        *((PAGES / page).read_text(encoding="utf-8") for page in sorted(PAGES.glob("*.html"))),
    ],
)
def test_text_lengths_compared_lazily_are_those_of_the_whole_visible_text(html: str) -> None:
    elements = [el for el in page_selector(html).root.iter() if isinstance(el.tag, str)]
    for limit in (0, 3, 80):
        for element in elements:
            assert visible_text_longer(element, limit) == (len(visible_text(element)) > limit)
        for group in (elements, elements[::7], elements[-3:], elements[:2], []):
            sized = [(len(visible_text(el)), el) for el in group]
            size, biggest = max(sized, key=lambda pair: pair[0], default=(0, None))
            expected = biggest if size > limit else None
            assert longest_visible_text(group, limit) is expected, limit


ID_PAGES = (
    '<div id="content"><p>one</p></div>',
    '<div id="content"><p>one</p></div><div id="content"><p>two</p></div>',
    '<a name="content">anchor</a><div id="content"><p>one</p></div>',
    '<a name="content">anchor</a>',
    '<div id=" content "><p>spaced</p></div>',
    '<div id="Content"><p>case</p></div>',
    '<div><p id="content">x</p><p id="other">y</p><p id="other">z</p></div>',
)


@pytest.mark.parametrize("html", ID_PAGES)
def test_id_query_through_the_id_table_finds_what_parsel_finds(html: str) -> None:
    # repeated ids, an <a name> filed in libxml2's id table, ids that only nearly match
    plain, fast = Selector(text=html), PageSelector(text=html)
    for query in ("#content", "#other", "#missing"):
        expected = [node.root for node in plain.css(query)]
        assert [el.getroottree().getpath(el) for el in fast.elements(query)] == [
            el.getroottree().getpath(el) for el in expected
        ], query


@pytest.mark.parametrize(
    "html",
    [
        (PAGES / "home-vi.html").read_text(encoding="utf-8"),
        (PAGES / "not-found-404.html").read_text(encoding="utf-8"),
        "",
        "   ",
        "\x00",
        "plain text, no markup",
        "<p>a\x00b</p>",
        "<html lang=vi><body><p>Tiếng Việt</p>",
        "<!-- only a comment -->",
    ],
)
def test_the_shared_page_parse_builds_the_tree_parsel_builds(html: str) -> None:
    shared, plain = page_selector(html), Selector(text=html)
    assert shared.get() == plain.get()
    assert shared.xpath("//text()").getall() == plain.xpath("//text()").getall()


def test_a_parsed_page_is_freed_as_soon_as_unused_without_the_cycle_collector() -> None:
    html = (PAGES / "category-abstracts-regular-page1-vi.html").read_text(encoding="utf-8")
    gc.disable()
    try:
        page = PageSelector(text=html)
        assert page.css(".asset-abstract").css("a").xpath("@href").getall()
        assert page.xpath("//body").css("p")
        freed = weakref.ref(page)
        del page
        assert freed() is None
    finally:
        gc.enable()


def test_an_items_adapter_is_no_cache_the_module_keeps() -> None:
    import pipelines.base  # noqa: PLC0415

    first, second = ArticleItem(url="https://a/w/x"), ArticleItem(url="https://a/w/y")
    assert adapter_of(first)["url"] == "https://a/w/x"
    assert adapter_of(second)["url"] == "https://a/w/y"
    # nothing of either item outlives the call in module state
    held = [
        value
        for kept in vars(pipelines.base).values()
        if isinstance(kept, (tuple, list, dict))
        for value in (kept.values() if isinstance(kept, dict) else kept)
    ]
    assert not [value for value in held if value is first or value is second]
    first_ref = weakref.ref(first)
    del first
    gc.collect()
    assert first_ref() is None


def test_a_page_parsed_once_is_handed_to_each_parser_as_its_selector() -> None:
    from crawler.parsers import common  # noqa: PLC0415
    from crawler.parsers.listing import parse_listing  # noqa: PLC0415
    from crawler.parsers.navigation import extract_navigation_links  # noqa: PLC0415

    html = (PAGES / "category-abstracts-regular-page1-vi.html").read_text(encoding="utf-8")
    url = "https://hepza.hochiminhcity.gov.vn/tin-tuc"
    page = page_selector(html)
    assert page_selector(page) is page
    # a string is parsed anew each time: no module-level cache of pages
    assert page_selector(html) is not page
    assert etree.tostring(page_selector(html).root) == etree.tostring(page.root)
    assert not [name for name, value in vars(common).items() if isinstance(value, list) and value]
    assert parse_listing(page, url) == parse_listing(html, url)
    assert extract_navigation_links(page, url) == extract_navigation_links(html, url)
