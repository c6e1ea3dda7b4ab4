"""URL rules: normalization, Liferay's article paths and the identity of an article's URL.
The pipeline that applies them to a record is pipelines/urls.py."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache
from urllib.parse import quote, unquote_to_bytes, urlsplit, urlunsplit

from crawler.domain.locales import LOCALE_SEGMENT, split_locale_prefix

_DEFAULT_PORTS = {"http": 80, "https": 443}
_JSESSIONID = re.compile(r";jsessionid=[^/?#;]*", re.IGNORECASE)
_ESCAPE_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
# RFC 3986 gen-delims + sub-delims, plus "%": decoding any of these would change what the URL
# means, so their escapes are kept (upper-cased) while every other escape is decoded.
_RESERVED = frozenset(b":/?#[]@!$&'()*+,;=%")
_KEPT_ESCAPE = re.compile(
    "%(?:" + "|".join(f"{byte:02X}" for byte in sorted(_RESERVED)) + ")", re.IGNORECASE
)
_RESERVED_BYTE = re.compile(b"[" + re.escape(bytes(sorted(_RESERVED))) + b"]")
_PATH_SAFE = "/:@!$&'()*+,;="
_QUERY_SAFE = "/?:@!$&'()*+,;="

_SITE_PREFIX = r"(?:/web/(?P<site>[^/]+))?"
_DISPLAY_PAGE = re.compile(rf"^{_SITE_PREFIX}/w/(?P<slug>[^/]+)/?$")
# Older Liferay versions append the group id after the urlTitle: .../content/<slug>/40615.
_ASSET_PUBLISHER_CONTENT = re.compile(
    rf"^{_SITE_PREFIX}(?:/[^/]+)*/-/asset_publisher/[^/]+/content/(?P<slug>[^/]+)(?:/\d+)?/?$"
)
# Liferay's friendly URL separator ("/-/", JournalArticleConstants.CANONICAL_URL_SEPARATOR)
# followed by one segment: the urlTitle of an article shown by a (legacy, 6.2/7.0 layoutUuid)
# display page, under the site (``/web/<site>/-/<urlTitle>``, what 7.4's sitemap writes) or any
# layout (``<layout>/-/<urlTitle>``). Other portlets' friendly URLs after "/-/" name their
# mapping then parameters (``/-/categories/12``, ``/-/tags/x``, ``/-/blogs/<urlTitle>``), so they
# are never one segment, but for their mapping's root: those names are not urlTitles here.
# Only a candidate: whether the fetched page is an article is the page's to say.
_LEGACY_DISPLAY_PAGE = re.compile(rf"^{_SITE_PREFIX}(?:/[^/]+)*?/-/(?P<slug>[^/]+)/?$")
_PORTLET_MAPPINGS = frozenset(
    (
        "asset_publisher",
        "blogs",
        "bookmarks",
        "calendar",
        "categories",
        "document_library",
        "dynamic_data_lists",
        "journal",
        "journal_content",
        "knowledge_base",
        "message_boards",
        "polls",
        "rss",
        "search",
        "tags",
        "wiki",
    )
)
# The portlet-URL form of an article's view (no friendly URL mapping applied): the Asset
# Publisher's, the journal content or journal portlet's ``_<portlet id>_urlTitle=<urlTitle>``
# parameter (6.x ids 101, 56, 15; 7.x class-name ids), on any layout of the site.
_PORTLET_URL_TITLE = re.compile(r"(?:^|&)_(?P<portlet>[^=&]*?)_urlTitle=(?P<slug>[^&]+)")
_ARTICLE_PORTLET = re.compile(
    r"AssetPublisherPortlet|JournalContentPortlet|JournalPortlet|^(?:101|56|15)(?:_INSTANCE_|$)"
)
_SITE_OF_PATH = re.compile(r"^/web/(?P<site>[^/]+)")
# The guest group is the site served at the virtual host's root (HEPZA's login link points at
# /web/guest/trang-chu), so /web/guest/w/x and /w/x are one page. Any other group is another
# site with its own urlTitle namespace and keeps its /web/<site> prefix.
_ROOT_SITE = "guest"


def _requote(component: str, safe: str, nfc: bool) -> str:
    def form(text: str) -> str:
        return unicodedata.normalize("NFC", text) if nfc else text

    if not _KEPT_ESCAPE.search(component):
        # Every escape is decoded: the whole component at once (same UTF-8 check).
        return quote(form(unquote_to_bytes(component).decode("utf-8", errors="strict")), safe)
    chunks: list[tuple[bool, str]] = []  # (is a kept escape, text)
    pos = 0
    for match in _ESCAPE_RUN.finditer(component):
        chunks.append((False, component[pos : match.start()]))
        chunks.extend(_decode_run(match.group()))
        pos = match.end()
    chunks.append((False, component[pos:]))

    out: list[str] = []
    text: list[str] = []
    for kept, value in chunks:
        if kept:
            out.append(quote(form("".join(text)), safe=safe))
            text = []
            out.append(value)
        else:
            text.append(value)
    out.append(quote(form("".join(text)), safe=safe))
    return "".join(out)


def _decode_run(run: str) -> list[tuple[bool, str]]:
    raw = bytes.fromhex(run.replace("%", ""))
    if not _RESERVED_BYTE.search(raw):
        # the usual run: the UTF-8 bytes of letters (a Vietnamese slug), decoded whole
        return [(False, raw.decode("utf-8", errors="strict"))]
    chunks: list[tuple[bool, str]] = []
    pending = bytearray()
    for byte in raw:
        if byte in _RESERVED:
            chunks.append((False, pending.decode("utf-8", errors="strict")))
            pending.clear()
            chunks.append((True, f"%{byte:02X}"))
        else:
            pending.append(byte)
    chunks.append((False, pending.decode("utf-8", errors="strict")))
    return chunks


# A component of only these characters (no escape, nothing quote() would escape) comes out of
# _requote unchanged: most links, so they skip it.
_UNCHANGED = {
    safe: re.compile(rf"[A-Za-z0-9_.~{re.escape(safe)}-]*") for safe in (_PATH_SAFE, _QUERY_SAFE)
}


# ...and, most other links (a Vietnamese slug), of those plus upper-case escapes of non-ASCII
# bytes only: decoding and re-quoting them gives them back as they are, whether or not they are
# UTF-8, so only the NFC form (for identity keys) can change them.
_CANONICAL_ESCAPES = {
    safe: re.compile(rf"(?:[A-Za-z0-9_.~{re.escape(safe)}-]|%[89A-F][0-9A-F])*")
    for safe in (_PATH_SAFE, _QUERY_SAFE)
}


def _normalize_component(component: str, safe: str, nfc: bool = False) -> str:
    unchanged = _UNCHANGED.get(safe)
    if unchanged is not None and unchanged.fullmatch(component):
        return component
    canonical = _CANONICAL_ESCAPES.get(safe)
    if canonical is not None and canonical.fullmatch(component):
        if not nfc:
            return component
        try:
            text = unquote_to_bytes(component).decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            return component
        if unicodedata.is_normalized("NFC", text):
            return component
    try:
        return _requote(component, safe, nfc)
    except UnicodeDecodeError:
        # Not UTF-8 (a Latin-1 link from an old page): leave the bytes alone, only fix hex case.
        return _ESCAPE_RUN.sub(_upper, component)


def _netloc(scheme: str, netloc: str) -> str:
    parts = urlsplit(f"//{netloc}")
    try:
        port = parts.port
    except ValueError:
        return netloc.lower()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    userinfo = netloc.rpartition("@")[0]
    result = f"{userinfo}@{host}" if userinfo else host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        result = f"{result}:{port}"
    return result


def _is_dot_segment(segment: str) -> bool:
    # Tomcat (Liferay's server) ignores path parameters, so "..;x=1" climbs a level too.
    return segment.split(";", 1)[0] in {".", ".."}


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, as browsers apply it: "/w/.." is "/", never a page called "..".
    Run after the escapes are decoded, so "%2e%2E" is a dot segment as well."""
    segments = path.split("/")
    if not any(_is_dot_segment(segment) for segment in segments):
        return path
    out: list[str] = []
    for segment in segments[1:] if path.startswith("/") else segments:
        if segment.split(";", 1)[0] == "..":
            if out:
                out.pop()
        elif segment.split(";", 1)[0] != ".":
            out.append(segment)
    # A path ending in a dot segment names a directory: keep its trailing slash.
    if _is_dot_segment(segments[-1]):
        out.append("")
    joined = "/".join(out)
    return "/" + joined if path.startswith("/") else joined


# A URL that normalize_url returns unchanged: lower-case scheme and host, a port only when not
# the default one, no dot segment, no path parameter (";jsessionid"), no fragment, a non-empty
# query if any, and only characters quote() keeps or escapes it would write itself (upper-case
# hex of a non-ASCII byte, or of a reserved byte, which is kept). Sitemaps and stored URLs are
# nearly all of this form: they skip the decode/re-encode of every escape.
_KEPT_HEX = "|".join(f"{byte:02X}" for byte in sorted(_RESERVED))
_NORMAL_URL = re.compile(
    r"(?P<scheme>https?)://[a-z0-9.-]+(?::(?P<port>[1-9][0-9]{0,4}))?"
    rf"(?P<path>/(?:[A-Za-z0-9_.~{re.escape(_PATH_SAFE.replace(';', ''))}-]++"
    rf"|%[89A-F][0-9A-F]|%(?:{_KEPT_HEX}))*+)"
    rf"(?:\?(?:[A-Za-z0-9_.~{re.escape(_QUERY_SAFE)}-]++|%[89A-F][0-9A-F]|%(?:{_KEPT_HEX}))++)?"
)


def _already_normal(url: str, nfc: bool) -> bool:
    match = _NORMAL_URL.fullmatch(url)
    if match is None or "/." in match["path"]:
        return False
    port = match["port"]
    if port is not None and (int(port) > 65535 or int(port) == _DEFAULT_PORTS[match["scheme"]]):
        return False
    if not nfc or "%" not in url:
        return True
    # Its escapes decoded in C: "%E1" -> "\xE1" -> the byte, then UTF-8 (no backslash can be
    # in a URL of this form, so no other escape is read).
    raw = url.replace("%", "\\x").encode("ascii").decode("unicode_escape").encode("latin-1")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        # Not UTF-8 somewhere: the full normalization says which component it leaves alone.
        return False
    return unicodedata.is_normalized("NFC", text)


# The crawler meets the same URLs many times (every listing, sitemap entry and related link);
# these are pure functions of the string, so they are cached. The repeats come close together
# (a sitemap entry and its alternates, a listing and its pager): a cache bounded well below a
# large site's URL count keeps the hits without growing with the site (a full cache of 65,536
# entries held ~20-50 MB per function at 20,000 articles).
URL_CACHE_SIZE = 1 << 12


@lru_cache(maxsize=URL_CACHE_SIZE)
def normalize_url(url: str, *, unicode_nfc: bool = False) -> str:
    """A URL that still fetches the same resource; ``unicode_nfc`` also folds the Unicode form
    of its escapes, which is only right for identity keys: Liferay matches the bytes of a
    urlTitle, so an NFD slug must be requested as NFD."""
    if _already_normal(url, unicode_nfc):
        return url
    # The usual variants of a normal URL in a page's links: a fragment (#main-content), escapes
    # in lower case. Without them it is normal: that is what the full normalization gives.
    head = url.partition("#")[0]
    if "%" in head:
        head = _ESCAPE_RUN.sub(_upper, head)
    if head != url and _already_normal(head, unicode_nfc):
        return head
    return _normalize(url, unicode_nfc)


def _upper(match: re.Match[str]) -> str:
    return match.group().upper()


def _normalize(url: str, unicode_nfc: bool) -> str:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    netloc = _netloc(scheme, parts.netloc) if parts.netloc else ""
    path = _normalize_component(_JSESSIONID.sub("", parts.path), _PATH_SAFE, unicode_nfc)
    path = remove_dot_segments(path)
    if netloc and not path:
        path = "/"
    query = _normalize_component(parts.query, _QUERY_SAFE, unicode_nfc)
    return urlunsplit((scheme, netloc, path, query, ""))


def _split_normal(url: str) -> tuple[str, str, str, str]:
    """``urlsplit`` of a URL normalize_url returned (no fragment; a path after any host),
    without urlsplit's generic work: (scheme, netloc, path, query)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in _DEFAULT_PORTS:
        parts = urlsplit(url)
        return parts.scheme, parts.netloc, parts.path, parts.query
    netloc, slash, tail = rest.partition("/")
    if "?" in netloc or "#" in netloc:
        parts = urlsplit(url)
        return parts.scheme, parts.netloc, parts.path, parts.query
    path, _, query = (slash + tail).partition("?")
    return scheme, netloc, path, query


def _strip_locale(path: str) -> str:
    return split_locale_prefix(path)[1]


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


# A slug with no upper-case ASCII letter outside its escapes (%XX, read left to right;
# possessive: an escape once read is never re-read as letters).
_NO_UPPER_OUTSIDE_ESCAPES = re.compile(r"(?:[^A-Z%]++|%[0-9A-Fa-f]{2}|%)*+")


def _lower_ascii_outside_escapes(slug: str) -> str:
    # Liferay lower-cases urlTitles; the hex digits of escapes must stay upper-case.
    if _NO_UPPER_OUTSIDE_ESCAPES.fullmatch(slug):
        return slug
    return "".join(
        part if part.startswith("%") else part.translate(_ASCII_LOWER)
        for part in re.split(r"(%[0-9A-Fa-f]{2})", slug)
    )


# (site group or None, urlTitle) of an article URL form
_ArticleRef = tuple[str | None, str]


def _article_match(path: str, query: str = "") -> _ArticleRef | None:
    """The article a URL's path (and query) names, whichever of Liferay's forms it is in."""
    match = _DISPLAY_PAGE.match(path) or _ASSET_PUBLISHER_CONTENT.match(path)
    if match is None and "/-/" in path:
        match = _LEGACY_DISPLAY_PAGE.match(path)
        if match is not None and match["slug"].lower() in _PORTLET_MAPPINGS:
            return None
    if match is not None:
        return match["site"], match["slug"]
    if query and "_urlTitle=" in query:
        return _portlet_url_title(path, query)
    return None


def _portlet_url_title(path: str, query: str) -> _ArticleRef | None:
    for found in _PORTLET_URL_TITLE.finditer(query):
        if _ARTICLE_PORTLET.search(found["portlet"]):
            site = _SITE_OF_PATH.match(path)
            return (site["site"] if site else None), found["slug"]
    return None


@lru_cache(maxsize=URL_CACHE_SIZE)
def url_identity(url: str) -> tuple[str, bool, str]:
    """One record per URL string: (``normalize_url(url)``, ``is_article_url(url)``, its
    canonical article URL). A sitemap entry, its alternates and the frontier ask all three of
    the same strings: the URL is normalized, split and matched once, not once per question
    (the usual URL, already normal with NFC escapes, once for both normalizations)."""
    unprefixed = _without_locale(url)
    if unprefixed is not None:
        # A page's locale copies (/w/x, /en/w/x) share one record of their unprefixed URL.
        found = _normal_identity(unprefixed)
        if found is not None:
            return url, *found
    return _full_identity(url)


def _full_identity(url: str) -> tuple[str, bool, str]:
    """:func:`url_identity` of the URL on its own (what a locale copy's shared record must
    answer)."""
    if _already_normal(url, True):
        return url, *_article_identity(*_split_normal(url), strip=True)
    normal = normalize_url(url)
    # A page's link with a fragment or lower-case escapes: its normal form, when that is in
    # NFC already, is its NFC form too.
    if normal != url and _already_normal(normal, True):
        keyed = normal
    else:
        keyed = normalize_url(url, unicode_nfc=True)
    article, key = _article_identity(*_split_normal(keyed), strip=True)
    if keyed != normal:
        _, _, path, query = _split_normal(normal)
        article = _is_article_match(_article_match(_strip_locale(path), query))
    return normal, article, key


def _without_locale(url: str) -> str | None:
    """The URL with its path's locale prefix taken out (``http://h/en/w/x`` ->
    ``http://h/w/x``), the URL itself when its path has none; None when the URL is not of
    the plain ``scheme://host/...`` form this is decided on."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in _DEFAULT_PORTS:
        return None
    netloc, slash, tail = rest.partition("/")
    if not slash or "?" in netloc or "#" in netloc or tail.startswith("/"):
        return None
    first, sep, _ = tail.partition("/")
    if not sep or not LOCALE_SEGMENT.fullmatch(first):
        # No locale prefix (or a bare "/en", with nothing after it to share).
        return None if _LOCALE_PREFIXED.match(tail) else url
    return f"{scheme}://{netloc}/{tail[len(first) + 1 :]}"


# A path starting with a locale segment and nothing after it but a query or fragment (or the
# segment's end): left to the full identity.
_LOCALE_PREFIXED = re.compile(rf"(?:{LOCALE_SEGMENT.pattern})(?:[?#]|$)")


# The last _normal_identity answer: a page's locale copies come one after another (a sitemap
# entry's alternates, the entry of each locale). One entry, replaced as a whole: nothing grows,
# and a thread reading it sees an old pair or a new one, never half of each.
_last_normal: tuple[str, tuple[bool, str] | None] = ("", None)


def _normal_identity(unprefixed: str) -> tuple[bool, str] | None:
    """(is an article, canonical article URL) of a URL without locale prefix that normalizes
    to itself (NFC escapes included); None for any other. A locale prefix neither makes a URL
    normal nor stops it being so (its characters are kept as they are, and it is no dot
    segment), and the identity is read from the path without it."""
    global _last_normal  # noqa: PLW0603 (the one-entry memo above)
    last_url, found = _last_normal
    if last_url == unprefixed:
        return found
    found = None
    if _already_normal(unprefixed, True):
        found = _article_identity(*_split_normal(unprefixed), strip=False)
    _last_normal = (unprefixed, found)
    return found


def _article_identity(
    scheme: str, netloc: str, path: str, query: str, *, strip: bool
) -> tuple[bool, str]:
    """Whether the split NFC-normal URL is an article, and its canonical article URL;
    ``strip``: its path may still carry a locale prefix."""
    if strip:
        path = _strip_locale(path)
    match = _article_match(path, query)
    article = _is_article_match(match)
    if match is not None:
        site, slug = match
        prefix = f"/web/{site}" if site and site != _ROOT_SITE else ""
        path = f"{prefix}/w/{_lower_ascii_outside_escapes(slug)}"
        # A display page renders the same article whatever the portlet, paging or redirect
        # parameters say, so none of them belong in its identity.
        if scheme and netloc:
            # what urlunsplit writes for an absolute URL without query
            return article, f"{scheme}://{netloc}{path}"
        query = ""
    elif len(path) > 1:
        path = path.rstrip("/") or "/"
    return article, urlunsplit((scheme, netloc, path, query, ""))


def _is_article_match(match: _ArticleRef | None) -> bool:
    return match is not None and bool(match[1]) and not _is_dot_segment(match[1])


@lru_cache(maxsize=URL_CACHE_SIZE)
def is_article_url(url: str) -> bool:
    # Not through url_identity: a page's links are tested without building their keys.
    _, _, path, query = _split_normal(normalize_url(url))
    return _is_article_match(_article_match(_strip_locale(path), query))


def canonical_article_url(url: str) -> str:
    return url_identity(url)[2]


@lru_cache(maxsize=URL_CACHE_SIZE)
def article_address(url: str) -> str:
    """Where an article can be read, as the record's ``url``.

    A display page (``/w/<slug>``) is the article's own address and its identity key at once.
    A portal without display pages shows an article only through Asset Publisher content URLs
    (``/<page>/-/asset_publisher/<id>/content/<slug>``): the one met is kept, without its locale
    prefix, query or fragment, since the key's ``/w/<slug>`` would answer 404 there. The
    article's id comes from the key (:func:`canonical_article_url`) either way, so it does not
    change with the listing the article was found in.

    A legacy display page (``<site or layout>/-/<slug>``) is kept the same way. The
    portlet-URL form (``?p_p_id=...&_<portlet>_urlTitle=<slug>``) is read only with its
    parameters: it is kept whole, less its locale prefix.
    """
    parts = urlsplit(normalize_url(url, unicode_nfc=True))
    path = _strip_locale(parts.path)
    if _DISPLAY_PAGE.match(path):
        return canonical_article_url(url)
    match = _ASSET_PUBLISHER_CONTENT.match(path)
    if match is None and "/-/" in path:
        match = _LEGACY_DISPLAY_PAGE.match(path)
        if match is not None and match["slug"].lower() in _PORTLET_MAPPINGS:
            match = None
    if match is None:
        if _portlet_url_title(path, parts.query) is not None:
            return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
        return canonical_article_url(url)
    start, end = match.span("slug")
    path = path[:start] + _lower_ascii_outside_escapes(match["slug"]) + path[end:]
    return urlunsplit((parts.scheme, parts.netloc, path.rstrip("/"), "", ""))


def is_shared_article_form(url: str) -> bool:
    """Whether an article URL is of a form other pages share: ``/-/<one segment>`` (some
    portlets' friendly URL roots) or a portlet's ``urlTitle`` parameter. Such a URL is fetched as
    an article's, but only its page says whether it is one."""
    _, _, path, query = _split_normal(normalize_url(url))
    path = _strip_locale(path)
    if _DISPLAY_PAGE.match(path) or _ASSET_PUBLISHER_CONTENT.match(path):
        return False
    return _is_article_match(_article_match(path, query))


# The journal content portlet's own URLs of one article, by its article id (6.x/7.0 friendly
# URL ``/-/journal_content/<portlet id>/<group id>/<article id>``, or its portlet URL with an
# ``_articleId`` parameter): no urlTitle to key them by, so the page names the article (its
# canonical link); crawled as pages, a page of them showing one article is that article.
_JOURNAL_CONTENT_PATH = re.compile(r"/-/journal_content/[^/]+/\d+/[^/]+/?$")
_JOURNAL_CONTENT_QUERY = re.compile(
    r"(?:^|&)_[^=&]*(?:JournalContentPortlet|56_INSTANCE_)[^=&]*_articleId=[^&]+"
)


def is_journal_content_url(url: str) -> bool:
    """Whether the URL is the journal content portlet's view of one article by its id."""
    _, _, path, query = _split_normal(normalize_url(url))
    if _JOURNAL_CONTENT_PATH.search(path):
        return True
    return bool(query) and _JOURNAL_CONTENT_QUERY.search(query) is not None


def is_display_page(url: str) -> bool:
    """Whether the URL is a display page (``/w/<slug>``, any locale or group prefix)."""
    return _DISPLAY_PAGE.match(_strip_locale(urlsplit(normalize_url(url)).path)) is not None


# The scheme every identity key is spelled with: the HEPZA portal's own (its ids, computed from
# https URLs before the scheme was folded, are unchanged), and the one portals move to.
_IDENTITY_SCHEME = "https"
_WWW = "www."


def identity_key(url: str) -> str:
    """The spelling of a URL that names one resource whatever the host's spelling: the scheme
    written as ``https``, the host in lower case without a ``www.`` prefix, no default port
    (:80 for http, :443 for https), the path and query as :func:`normalize_url` gives them.

    A portal that moves from http to https, gains or drops ``www.``, or is written with an
    explicit default port or an upper-case host, keeps the identity of every page. A host is
    otherwise itself: ``localhost`` and ``127.0.0.1`` are two hosts. A URL without a host
    (relative) is its normal form.
    """
    normal = normalize_url(url)
    scheme, netloc, path, query = _split_normal(normal)
    if scheme not in _DEFAULT_PORTS or not netloc:
        return normal
    # normalize_url already dropped the default port of the URL's own scheme and lower-cased
    # the host; a port left is a real one, kept even where it is the other scheme's default.
    userinfo, at, hostport = netloc.rpartition("@")
    if hostport.startswith(_WWW) and len(hostport) > len(_WWW):
        hostport = hostport[len(_WWW) :]
    netloc = f"{userinfo}{at}{hostport}"
    return urlunsplit((_IDENTITY_SCHEME, netloc, path or "/", query, ""))


def site_relative(url: str, page_url: str) -> str:
    """``url`` as compared within the site of ``page_url``: its path and query (``/documents/
    a.jpg?t=1``) when both are on one host (:func:`identity_key`), else its identity key.
    Images and attachments are compared this way, so a host spelling change edits nothing."""
    key = identity_key(url)
    if not page_url:
        return key
    site = _origin(identity_key(page_url))
    origin = _origin(key)
    if origin and origin == site:
        return key[len(origin) :] or "/"
    return key


def _origin(key: str) -> str:
    scheme, netloc, _, _ = _split_normal(key)
    return f"{scheme}://{netloc}" if scheme and netloc else ""


def respelled(url: str, origin: str) -> str:
    """``url`` under ``origin`` (``https://www.example.gov.vn``) when its own origin is another
    spelling of that host (:func:`identity_key`), else ``url`` as it is: what a URL stored
    before a portal moved to https (or gained ``www.``) is called now."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, tail = rest.partition("/")
    own = f"{scheme}{sep}{netloc}"
    if not sep or own == origin or _origin_key(own) != _origin_key(origin):
        return url
    return f"{origin}{slash}{tail}"


@lru_cache(maxsize=64)
def _origin_key(origin: str) -> str:
    # a site's URLs share a handful of origins: each is folded once
    return _origin(identity_key(f"{origin}/"))


def article_id(canonical_url: str) -> str:
    """The first 20 hex digits of the SHA-256 of the canonical URL's :func:`identity_key`: the
    same article under another host spelling (scheme, host case, ``www.``, default port) has
    the same id. Ids of https URLs without ``www.`` are those of the earlier scheme (the hash
    of the URL as written)."""
    return hashlib.sha256(identity_key(canonical_url).encode("utf-8")).hexdigest()[:20]
