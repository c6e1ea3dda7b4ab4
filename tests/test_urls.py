from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scrapy.utils.test import get_crawler

from crawler.domain import urls as urls_module
from crawler.domain.items import ArticleItem, ArticleUrlItem
from crawler.domain.urls import (
    _full_identity,
    _normalize,
    _split_normal,
    article_address,
    article_id,
    canonical_article_url,
    is_article_url,
    is_journal_content_url,
    is_shared_article_form,
    normalize_url,
    url_identity,
)
from pipelines.urls import PROBLEM_CODES, UrlNormalizationPipeline

HOST = "https://hepza.hochiminhcity.gov.vn"
SLUG_TEXT = "hội-nghị-sơ-kết-công-tác-đảng-bộ-9-tháng-đầu-năm"
SLUG = quote(SLUG_TEXT)  # upper-case hex, NFC
CANONICAL = f"{HOST}/w/{SLUG}"
AP = "/tin-tuc-su-kien/-/asset_publisher/q4USy75NdpUZ/content"
LISTING = f"{HOST}/tin-tuc-su-kien"
REDIRECT = quote(
    f"{LISTING}?p_p_id=com_liferay_asset_publisher_web_portlet_AssetPublisherPortlet_INSTANCE_"
    "q4USy75NdpUZ&p_p_lifecycle=0",
    safe="",
)
NS = "_com_liferay_asset_publisher_web_portlet_AssetPublisherPortlet_INSTANCE_q4USy75NdpUZ_"

VARIANTS = [
    CANONICAL,
    f"{HOST}/w/{SLUG_TEXT}",
    f"{HOST}/w/{SLUG.lower()}",
    f"{HOST}/w/{quote(unicodedata.normalize('NFD', SLUG_TEXT))}",
    f"{HOST}/w/{unicodedata.normalize('NFD', SLUG_TEXT)}",
    f"{HOST}/en/w/{SLUG}",
    f"{HOST}/vi/w/{SLUG}",
    f"{HOST}/en-US/w/{SLUG}",
    f"{HOST}/en_US/w/{SLUG}",
    f"{HOST}/vi-VN/w/{SLUG}",
    f"{HOST}/zh-Hant-TW/w/{SLUG}",
    f"{HOST}/w/{SLUG};jsessionid=88E523AA090895947D45A00896B3DAE7",
    f"{HOST}/en/w/{SLUG};jsessionid=88E523AA090895947D45A00896B3DAE7?redirect={REDIRECT}",
    f"{HOST}/w/{SLUG}?redirect={REDIRECT}&inheritRedirect=true",
    f"{HOST}/w/{SLUG}?p_p_id=x&p_p_lifecycle=0&p_l_id=12&p_r_p_resetCur=false&{NS}cur=2",
    f"{HOST}{AP}/{SLUG}",
    f"{HOST}{AP}/{SLUG}?redirect={REDIRECT}",
    f"{HOST}{AP}/{SLUG}?redirect={REDIRECT}&inheritRedirect=true",
    f"{HOST}/en{AP}/{SLUG}?redirect={REDIRECT}&inheritRedirect=true",
    f"{HOST}/web/guest{AP}/{SLUG}",
    f"{HOST}{AP}/{SLUG}/40615",
    f"{HOST}/web/guest/w/{SLUG}",
    f"{HOST}/en/web/guest/w/{SLUG}",
    f"HTTPS://HEPZA.HochiMinhCity.gov.vn/w/{SLUG}",
    f"https://hepza.hochiminhcity.gov.vn:443/w/{SLUG}",
    f"{HOST}/w/{SLUG}/",
    f"{HOST}/w/{SLUG}#bai-viet-lien-quan",
    f"  {HOST}/en/w/{SLUG}/#top ",
]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_maps_to_one_canonical_url(variant: str) -> None:
    assert canonical_article_url(variant) == CANONICAL
    assert is_article_url(variant)


def test_canonical_url_is_a_fixed_point() -> None:
    assert canonical_article_url(CANONICAL) == CANONICAL
    assert normalize_url(CANONICAL) == CANONICAL


def test_http_keeps_its_scheme_and_drops_port_80() -> None:
    assert canonical_article_url("HTTP://Host:80/en/w/Abc") == "http://host/w/abc"
    assert normalize_url("http://host:8080/w/a") == "http://host:8080/w/a"
    assert normalize_url("https://host:80/w/a") == "https://host:80/w/a"


def test_ascii_slug_letters_are_lower_cased_but_not_escapes() -> None:
    assert canonical_article_url(f"{HOST}/w/Tin-%c4%90ang") == f"{HOST}/w/tin-%C4%90ang"


def test_other_sites_keep_their_web_prefix() -> None:
    assert canonical_article_url(f"{HOST}/web/hepza-eng/w/a") == f"{HOST}/web/hepza-eng/w/a"
    assert (
        canonical_article_url(f"{HOST}/web/hepza-eng{AP}/a?redirect=x")
        == f"{HOST}/web/hepza-eng/w/a"
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (f"{HOST}/w/hoi-nghi", f"{HOST}/w/hoi-nghi-2"),
        (f"{HOST}/w/{quote('hội-nghị')}", f"{HOST}/w/{quote('hoi-nghi')}"),
        (f"{HOST}/w/a", f"{HOST}/web/other/w/a"),
        (f"{HOST}/w/a", "https://other.example/w/a"),
    ],
)
def test_different_articles_stay_different(a: str, b: str) -> None:
    assert canonical_article_url(a) != canonical_article_url(b)
    assert article_id(canonical_article_url(a)) != article_id(canonical_article_url(b))


@pytest.mark.parametrize(
    "url",
    [
        f"{HOST}/",
        f"{HOST}/web/guest/trang-chu",
        LISTING,
        f"{LISTING}?p_p_id=x&p_p_lifecycle=0&{NS}delta=20&p_r_p_resetCur=false&{NS}cur=2",
        f"{HOST}/tin-tuc/w/a",
        f"{HOST}/w/",
        f"{HOST}/w/a/b",
        f"{HOST}/tin-tuc-su-kien/-/asset_publisher/q4USy75NdpUZ/rss",
        f"{HOST}/tin-tuc-su-kien/-/asset_publisher/q4USy75NdpUZ/journal_article/id/40615",
        f"{HOST}/documents/20122/0/a.pdf/9f0c",
        f"{HOST}/sitemap.xml?p_l_id=1&layoutUuid=2&groupId=20122&privateLayout=false",
    ],
)
def test_non_article_urls(url: str) -> None:
    assert not is_article_url(url)


def test_listing_urls_keep_paging_params_in_order() -> None:
    url = f"{LISTING}?p_p_id=x&p_p_lifecycle=0&{NS}delta=20&p_r_p_resetCur=false&{NS}cur=2#top"
    assert normalize_url(url) == url.removesuffix("#top")
    assert canonical_article_url(url) == url.removesuffix("#top")


def test_normalize_url_percent_encoding() -> None:
    # Unreserved escapes are decoded, reserved ones kept, hex upper-cased; the Unicode form is
    # kept (Liferay matches a urlTitle's bytes) unless asked for, as canonical URLs do.
    assert normalize_url("https://h/a%7eb%2fc%3Fd%41") == "https://h/a~b%2Fc%3FdA"
    assert normalize_url("https://h/s?q=a%2bb&r=%e1%bb%87&s=a+b") == (
        "https://h/s?q=a%2Bb&r=%E1%BB%87&s=a+b"
    )
    assert normalize_url("https://h/e%CC%82") == "https://h/e%CC%82"
    assert normalize_url("https://h/e%cc%82", unicode_nfc=True) == "https://h/%C3%AA"
    assert normalize_url("https://h/a b") == "https://h/a%20b"
    assert normalize_url("https://h/100%") == "https://h/100%25"
    # Not UTF-8: the bytes cannot be decoded, only their hex case is fixed.
    assert normalize_url("https://h/caf%e9") == "https://h/caf%E9"


def test_normalize_url_host_port_fragment_and_session() -> None:
    assert normalize_url("HTTPS://Example.COM") == "https://example.com/"
    assert normalize_url("https://Example.com:443/x;JSESSIONID=abc;v=1#f") == (
        "https://example.com/x;v=1"
    )
    assert normalize_url("https://user@Example.com:8443/") == "https://user@example.com:8443/"


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30))
def test_normalize_url_is_idempotent(path: str) -> None:
    url = normalize_url(f"https://h/{quote(path)}")
    assert normalize_url(url) == url
    assert canonical_article_url(canonical_article_url(url)) == canonical_article_url(url)


def test_article_id_is_sha256_prefix() -> None:
    expected = hashlib.sha256(CANONICAL.encode("utf-8")).hexdigest()[:20]
    assert article_id(CANONICAL) == expected
    assert len(expected) == 20


def _pipeline() -> tuple[UrlNormalizationPipeline, dict[str, Any]]:
    crawler = get_crawler()
    assert crawler.stats is not None
    return UrlNormalizationPipeline.from_crawler(crawler), crawler.stats.get_stats()


def test_pipeline_sets_url_id_and_alternates() -> None:
    pipeline, stats = _pipeline()
    fetched = f"{HOST}/en/w/{SLUG};jsessionid=88E523AA090895947D45A00896B3DAE7"
    original = f"{HOST}{AP}/{SLUG}?redirect={REDIRECT}&inheritRedirect=true"
    item = ArticleItem(
        url=original,
        fetched_url=fetched,
        alternate_urls=[f"{HOST}/w/{SLUG}", f"{HOST}/en/w/{SLUG}#x", f"{HOST}/vi/w/{SLUG}"],
        related_urls=[
            "/en/w/other;jsessionid=88E523AA090895947D45A00896B3DAE7",
            f"{HOST}/w/other#top",
            f"{HOST}{AP}/third?redirect=x",
            "",
        ],
        images=[{"url": "HTTPS://HEPZA.hochiminhcity.gov.vn:443/documents/1/2/a b.jpg#x"}],
        attachments=[{"url": "/documents/1/2/van-ban.pdf/uuid", "title": "Văn bản"}],
    )
    pipeline.process_item(item)
    assert item.url == CANONICAL
    assert item.id == article_id(CANONICAL)
    assert item.alternate_urls == sorted(
        [f"{HOST}/en/w/{SLUG}", f"{HOST}/vi/w/{SLUG}", normalize_url(original)]
    )
    assert item.related_urls == [f"{HOST}/w/other", f"{HOST}/w/third"]
    assert item.images == [{"url": f"{HOST}/documents/1/2/a%20b.jpg"}]
    assert item.attachments == [
        {"url": f"{HOST}/documents/1/2/van-ban.pdf/uuid", "title": "Văn bản"}
    ]
    assert item.problems == []
    assert stats["normalize/url_canonicalized"] == 1


def test_pipeline_uses_fetched_url_when_url_is_empty() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(url="", fetched_url=f"{HOST}/en/w/{SLUG}")
    pipeline.process_item(item)
    assert item.url == CANONICAL
    assert item.alternate_urls == [f"{HOST}/en/w/{SLUG}"]


def test_pipeline_flags_non_article_and_missing_urls() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(url=f"{LISTING}/")
    pipeline.process_item(item)
    assert item.url == LISTING
    assert [p["code"] for p in item.problems] == ["url_not_article"]
    empty = ArticleItem(url="")
    pipeline.process_item(empty)
    assert [p["code"] for p in empty.problems] == ["missing_url"]
    assert empty.id is None
    codes = {p["code"] for p in [*item.problems, *empty.problems]}
    assert codes <= set(PROBLEM_CODES)


def test_pipeline_is_idempotent() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(url=f"{HOST}/en/w/{SLUG}", fetched_url=f"{HOST}/en/w/{SLUG}#a")
    pipeline.process_item(item)
    first = (item.url, item.id, list(item.alternate_urls))
    pipeline.process_item(item)
    assert (item.url, item.id, item.alternate_urls) == first


def test_other_items_pass_through_untouched() -> None:
    pipeline, _ = _pipeline()
    other = ArticleUrlItem(url=f"{HOST}/en/w/{SLUG}", canonical_url=CANONICAL)
    assert pipeline.process_item(other) is other
    assert other.url == f"{HOST}/en/w/{SLUG}"


DOT_SLUGS = ["..", ".", "%2e%2e", "%2E%2e", "%2E", ".%2E", "%2e.", "..;jsessionid=AB12", "..;x=1"]


@pytest.mark.parametrize("slug", DOT_SLUGS)
@pytest.mark.parametrize(
    "prefix", ["/w/", "/en/w/", "/web/guest/w/", "/tin/-/asset_publisher/a/content/"]
)
def test_dot_segment_slugs_are_not_article_urls(prefix: str, slug: str) -> None:
    assert not is_article_url(f"{HOST}{prefix}{slug}")


@pytest.mark.parametrize("slug", DOT_SLUGS)
def test_canonicalization_never_produces_a_dot_segment(slug: str) -> None:
    for url in (f"{HOST}/w/{slug}", f"{HOST}/w/{slug}/", f"{HOST}/a/{slug}/w/b"):
        for form in (canonical_article_url(url), normalize_url(url)):
            segments = urlsplit(form).path.split("/")
            assert not {".", ".."} & {s.split(";")[0] for s in segments}, form


def test_dot_segments_resolve_as_a_browser_resolves_them() -> None:
    assert normalize_url(f"{HOST}/w/%2e%2e") == f"{HOST}/"
    assert normalize_url(f"{HOST}/tin/%2E%2E/w/bai-viet") == f"{HOST}/w/bai-viet"
    assert normalize_url(f"{HOST}/a/./b/") == f"{HOST}/a/b/"


@pytest.mark.parametrize("slug", ["...", "a..b", "v1.2", ".htaccess-khong-phai"])
def test_slugs_with_dots_that_are_not_dot_segments_stay_articles(slug: str) -> None:
    assert is_article_url(f"{HOST}/w/{slug}")


def _requoted_the_long_way(component: str, safe: str, nfc: bool) -> str:
    """What _normalize_component answers without its shortcuts."""
    try:
        return urls_module._requote(component, safe, nfc)
    except UnicodeDecodeError:
        return urls_module._ESCAPE_RUN.sub(lambda m: m.group().upper(), component)


_COMPONENT_PIECES = [
    "tin-tuc", "a", "-", "~", ".", "%C3%A1", "%c3%a1", "%E1%BA%AD", "%e1%ba%ad",
    "a%CC%81",  # NFD: "a" and a combining acute
    "%CC%81", "%FF", "%C3", "%2F", "%2f", "%20", " ", "á", "ậ", "/", "?", "=", "&",
    "%41", "%7E", ";", "%25", "%E2%80%8B",
]  # fmt: skip


@given(
    st.lists(st.sampled_from(_COMPONENT_PIECES), min_size=1, max_size=8).map("".join),
    st.sampled_from([urls_module._PATH_SAFE, urls_module._QUERY_SAFE]),
    st.booleans(),
)
def test_component_shortcuts_answer_what_requoting_answers(
    component: str, safe: str, nfc: bool
) -> None:
    assert urls_module._normalize_component(component, safe, nfc) == _requoted_the_long_way(
        component, safe, nfc
    )


# The fast path of normalize_url (a URL already in normal form is returned as is) must agree
# with the full normalization on every URL, the ones near its edges above all.
URL_PIECES = st.sampled_from(
    [
        "a",
        "Z",
        "-",
        ".",
        "..",
        "/",
        "/.",
        "/..",
        ";",
        ";jsessionid=1",
        "?",
        "&",
        "=",
        "+",
        "~",
        "_",
        "%",
        "%E1%BB%87",
        "%e1%bb%87",
        "%C3%AA",
        "e%CC%82",
        "%CC%82",
        "%41",
        "%2F",
        "%2f",
        "%3F",
        "%20",
        "%25",
        "%E1",
        "%FF%FE",
        "#",
        "#x",
        " ",
        "ệ",
        ":",
        "@",
        "%7E",
    ]
)
URL_HEADS = st.sampled_from(
    [
        "http://h",
        "https://h",
        "HTTP://h",
        "http://H",
        "http://h:80",
        "https://h:443",
        "http://h:8080",
        "https://h:80",
        "http://h:080",
        "http://h:99999",
        "http://u@h",
        "http://[::1]",
        "http://h.",
        "ftp://h",
        "",
    ]
)


@settings(max_examples=3000)
@given(head=URL_HEADS, pieces=st.lists(URL_PIECES, max_size=8), nfc=st.booleans())
def test_normalize_url_fast_path_agrees_with_full_normalization(
    head: str, pieces: list[str], nfc: bool
) -> None:
    url = head + "/" + "".join(pieces)
    assert normalize_url(url, unicode_nfc=nfc) == _normalize(url, nfc)


def test_normalize_url_keeps_a_normal_vietnamese_url_as_the_same_string() -> None:
    assert normalize_url(CANONICAL) is CANONICAL
    assert normalize_url(CANONICAL, unicode_nfc=True) is CANONICAL


def test_canonical_article_url_lowers_ascii_but_not_escapes_of_a_normal_slug() -> None:
    assert canonical_article_url(f"{HOST}/w/Tin-%C4%90ang") == f"{HOST}/w/tin-%C4%90ang"
    assert canonical_article_url(f"{HOST}/w/tin-%C4%90ang") == f"{HOST}/w/tin-%C4%90ang"


@settings(max_examples=1000)
@given(head=URL_HEADS, pieces=st.lists(URL_PIECES, max_size=8), nfc=st.booleans())
def test_split_of_a_normalized_url_is_urlsplit(head: str, pieces: list[str], nfc: bool) -> None:
    url = normalize_url(head + "/" + "".join(pieces), unicode_nfc=nfc)
    assert _split_normal(url) == tuple(urlsplit(url))[:4]


def _identity_asked_separately(url: str) -> tuple[str, bool, str]:
    """What url_identity answers, asked the long way: each question normalizes and splits the
    URL on its own (urlsplit, the full normalization)."""
    normal = urlsplit(_normalize(url, False))
    match = urls_module._article_match(urls_module._strip_locale(normal.path), normal.query)
    article = match is not None and bool(match[1]) and not _is_dot(match[1])
    parts = urlsplit(_normalize(url, True))
    keyed = urls_module._strip_locale(parts.path)
    found = urls_module._article_match(keyed, parts.query)
    query = parts.query
    if found is not None:
        site, slug = found
        prefix = f"/web/{site}" if site and site != "guest" else ""
        keyed = f"{prefix}/w/{urls_module._lower_ascii_outside_escapes(slug)}"
        query = ""
    elif len(keyed) > 1:
        keyed = keyed.rstrip("/") or "/"
    return (
        _normalize(url, False),
        article,
        f"{parts.scheme}://{parts.netloc}{keyed}" + (f"?{query}" if query else ""),
    )


def _is_dot(segment: str) -> bool:
    return segment.split(";", 1)[0] in {".", ".."}


ARTICLE_PATH_PIECES = st.sampled_from(
    ["w/", "en/", "vi/", "web/guest/", "web/other/", "-/asset_publisher/x/content/", "/", "?p=1"]
)


@settings(max_examples=2000)
@given(
    head=st.sampled_from(["http://h", "https://h", "HTTP://H:80", "http://h:8080"]),
    pieces=st.lists(st.one_of(ARTICLE_PATH_PIECES, URL_PIECES), max_size=8),
)
def test_url_identity_answers_what_each_question_answers_alone(
    head: str, pieces: list[str]
) -> None:
    url = head + "/" + "".join(pieces)
    assert url_identity(url) == _identity_asked_separately(url)
    assert is_article_url(url) is url_identity(url)[1]
    assert canonical_article_url(url) == url_identity(url)[2]


# Locale prefixes and look-alikes: a page's copies in each locale are asked one after another.
LOCALE_PREFIXES = st.sampled_from(
    [
        *("", "en/", "vi/", "en-US/", "en_US/", "zh-Hant-TW/", "fil-PH/", "en/vi/", "/en/"),
        *("EN/", "en", "en?", "en#", "tin/", "e/", "web/guest/", "en/web/other/"),
    ]
)


@settings(max_examples=3000)
@given(
    head=st.sampled_from(["http://h", "https://h", "HTTP://H:80", "http://h:8080", "http://h?"]),
    prefixes=st.lists(LOCALE_PREFIXES, min_size=1, max_size=4),
    pieces=st.lists(st.one_of(ARTICLE_PATH_PIECES, URL_PIECES), max_size=8),
)
def test_locale_copies_asked_one_after_another_answer_what_each_answers_alone(
    head: str, prefixes: list[str], pieces: list[str]
) -> None:
    # Nothing cached from other examples: each copy reaches the record its copies share.
    url_identity.cache_clear()
    tail = "".join(pieces)
    for prefix in prefixes:
        url = f"{head}/{prefix}{tail}"
        assert url_identity(url) == _identity_asked_separately(url) == _full_identity(url)


def test_url_identity_of_a_locale_url_is_the_url_an_article_and_its_display_page() -> None:
    assert url_identity(CANONICAL) == (CANONICAL, True, CANONICAL)
    assert url_identity(f"{HOST}/en/w/{SLUG}") == (f"{HOST}/en/w/{SLUG}", True, CANONICAL)
    assert url_identity(f"{HOST}/en/tin-tuc") == (f"{HOST}/en/tin-tuc", False, f"{HOST}/tin-tuc")


@settings(max_examples=2000)
@given(slug=st.text(alphabet="aAbBeEfFgG019%-", max_size=12))
def test_slug_lower_casing_answers_what_stripping_the_escapes_first_answers(slug: str) -> None:
    # the long way: the escapes removed, then any upper-case letter left means lower-casing
    if not re.search("[A-Z]", re.sub("%[0-9A-Fa-f]{2}", "", slug)):
        expected = slug
    else:
        expected = "".join(
            part if part.startswith("%") else part.lower()
            for part in re.split("(%[0-9A-Fa-f]{2})", slug)
        )
    assert urls_module._lower_ascii_outside_escapes(slug) == expected


@pytest.mark.parametrize(
    "variant",
    [
        f"{CANONICAL}#main-content",
        CANONICAL.replace("%C4", "%c4"),
        f"{CANONICAL.lower().replace('https://hepza.hochiminhcity.gov.vn', HOST)}#x",
    ],
)
def test_fragment_and_lower_case_escape_variants_normalize_as_the_full_normalization_does(
    variant: str,
) -> None:
    assert normalize_url(variant) == _normalize(variant, False)
    assert normalize_url(variant, unicode_nfc=True) == _normalize(variant, True)


# --- every Liferay form of one article (issue 21) -----------------------------------------------

GROUP = f"{HOST}/web/dpi"
KEY = f"{GROUP}/w/city-reviews"
AP_NS = "_com_liferay_asset_publisher_web_portlet_AssetPublisherPortlet_INSTANCE_pR3ss_"
ARTICLE_FORMS = (
    f"{GROUP}/w/city-reviews",
    f"{GROUP}/-/city-reviews",
    f"{GROUP}/-/City-Reviews",
    f"{GROUP}/press-releases/-/city-reviews",
    f"{GROUP}/press-releases/-/city-reviews?redirect=%2Fweb%2Fdpi%2Fhome",
    f"{GROUP}/press-releases/-/asset_publisher/pR3ss/content/city-reviews",
    f"{GROUP}/press-releases/-/asset_publisher/pR3ss/content/city-reviews?inheritRedirect=true"
    "&redirect=%2Fweb%2Fdpi%2Fpress-releases",
    f"{HOST}/vi/web/dpi/-/city-reviews",
    f"{HOST}/en-US/web/dpi/press-releases/-/city-reviews",
    f"{GROUP}/press-releases?p_p_id=com_liferay_asset_publisher_web_portlet_AssetPublisherPortlet"
    f"_INSTANCE_pR3ss&p_p_lifecycle=0&p_p_state=maximized&{AP_NS}mvcPath=%2Fview_content.jsp"
    f"&{AP_NS}urlTitle=city-reviews",
    f"{GROUP}/home?p_p_id=101_INSTANCE_aB1&p_p_lifecycle=0&_101_INSTANCE_aB1_struts_action="
    "%2Fasset_publisher%2Fview_content&_101_INSTANCE_aB1_urlTitle=city-reviews",
)


@pytest.mark.parametrize("url", ARTICLE_FORMS)
def test_every_liferay_form_of_an_article_is_that_article(url: str) -> None:
    assert is_article_url(url)
    assert canonical_article_url(url) == KEY
    assert url_identity(url)[1:] == (True, KEY)


@pytest.mark.parametrize(
    "url",
    [
        f"{GROUP}/press-releases/-/categories/40100",
        f"{GROUP}/press-releases/-/tags/investment",
        f"{GROUP}/-/blogs/city-reviews",
        f"{GROUP}/-/document_library/view_file/123",
        f"{GROUP}/-/asset_publisher/pR3ss/rss",
        f"{GROUP}/press-releases/-/asset_publisher",
        f"{GROUP}/press-releases/-/search",
        f"{GROUP}/about-us/-/journal_content/56_INSTANCE_ab/10180/30042",
        f"{GROUP}/home?p_p_id=com_liferay_blogs_web_portlet_BlogsPortlet"
        "&_com_liferay_blogs_web_portlet_BlogsPortlet_urlTitle=city-reviews",
    ],
)
def test_filters_and_other_portlets_friendly_urls_are_not_article_urls(url: str) -> None:
    assert not is_article_url(url)


def test_an_article_read_at_a_legacy_display_page_is_recorded_there() -> None:
    assert article_address(f"{GROUP}/-/City-Reviews?redirect=x") == f"{GROUP}/-/city-reviews"
    assert (
        article_address(f"{HOST}/vi/web/dpi/press-releases/-/city-reviews")
        == f"{GROUP}/press-releases/-/city-reviews"
    )
    # the portlet URL is read only with its parameters
    portlet = ARTICLE_FORMS[9]
    assert article_address(portlet) == normalize_url(portlet)


def test_only_the_forms_other_pages_share_are_left_to_the_page() -> None:
    shared = {url for url in ARTICLE_FORMS if is_shared_article_form(url)}
    assert shared == {u for u in ARTICLE_FORMS if "/w/" not in u and "/-/asset_publisher/" not in u}
    assert is_journal_content_url(f"{GROUP}/about-us/-/journal_content/56_INSTANCE_ab/10180/30042")
    assert is_journal_content_url(
        f"{GROUP}/about-us?p_p_id=com_liferay_journal_content_web_portlet_JournalContentPortlet"
        "_INSTANCE_x&_com_liferay_journal_content_web_portlet_JournalContentPortlet_INSTANCE_x"
        "_articleId=30042"
    )
    assert not is_journal_content_url(f"{GROUP}/about-us")


def test_an_article_at_a_legacy_display_page_keeps_its_other_forms_as_aliases() -> None:
    crawler = get_crawler()
    pipeline = UrlNormalizationPipeline.from_crawler(crawler)
    item = ArticleItem(
        url=f"{GROUP}/-/city-reviews",
        fetched_url=f"{GROUP}/-/city-reviews",
        alternate_urls=[ARTICLE_FORMS[3], ARTICLE_FORMS[6], ARTICLE_FORMS[7]],
    )
    pipeline.process_item(item)
    assert item.url == f"{GROUP}/-/city-reviews"
    assert item.id == article_id(KEY)
    assert set(item.alternate_urls) == {normalize_url(u) for u in ARTICLE_FORMS[6:8]} | {
        normalize_url(ARTICLE_FORMS[3])
    }
    assert not any(p["code"] == "url_not_article" for p in item.problems)
