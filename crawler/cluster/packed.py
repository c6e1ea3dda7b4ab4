"""URLs as the cluster keeps them in Redis: percent-decoded where quoting them again gives them
back exactly (a Vietnamese slug's ``%C3%B4`` is the two bytes of ``ô``, not six), whole
otherwise. What a crawl holds mid-way (its queue, the URLs held for an article, the articles
deferred for navigation) is mostly such URLs."""

from __future__ import annotations

from urllib.parse import unquote

from w3lib.url import safe_url_string

# A packed URL starts with one of these when it is percent-decoded, under the state's origin,
# or both (no URL starts with a control character).
PLAIN, RELATIVE, RELATIVE_PLAIN = "\x01", "\x02", "\x03"
_LINE_BREAKS = ("\n", "\r")
# A worker packs and unpacks the same URLs several times (met by the frontier, queued,
# leased, held for its article), and Scrapy's quoting is most of a worker's cost over a lone
# crawl's: the answers of :func:`decoded` and :func:`quoted` are kept, up to this many each
# (then forgotten all at once: a crawl meets its URLs in waves, the old ones are done).
CACHED = 8192
_DECODED: dict[tuple[str, str], str | None] = {}
_QUOTED: dict[tuple[str, str], str] = {}


def decoded(url: str, encoding: str = "utf-8") -> str | None:
    """``url`` percent-decoded, when Scrapy's quoting of it (``safe_url_string``, as
    ``Request`` does) gives ``url`` back exactly; None otherwise (nothing to decode, bytes that
    are not UTF-8 text, a quoted reserved character such as ``%2F``, lower-case escapes)."""
    if "%" not in url:
        return None
    if (url, encoding) in _DECODED:
        return _DECODED[(url, encoding)]
    try:
        plain: str | None = unquote(url, errors="strict")
    except UnicodeDecodeError:
        plain = None
    if plain is not None and (plain == url or quoted(plain, encoding) != url):
        plain = None
    if len(_DECODED) >= CACHED:
        _DECODED.clear()
    _DECODED[(url, encoding)] = plain
    return plain


def quoted(plain: str, encoding: str = "utf-8") -> str:
    """The URL :func:`decoded` gave ``plain`` for."""
    url = _QUOTED.get((plain, encoding))
    if url is None:
        url = safe_url_string(plain, encoding)
        if len(_QUOTED) >= CACHED:
            _QUOTED.clear()
        _QUOTED[(plain, encoding)] = url
    return url


def pack(url: str, origin: str = "") -> str:
    """``url`` as one line of text for Redis, a path when it is under ``origin`` (scheme and
    host, no escapes): :func:`unpack` with the same origin gives it back."""
    plain = decoded(url)
    if plain is not None and any(c in plain for c in _LINE_BREAKS):
        plain = None
    text = url if plain is None else plain
    if origin and "%" not in origin and under(url, origin) and text.startswith(origin):
        return (RELATIVE if plain is None else RELATIVE_PLAIN) + text[len(origin) :]
    return url if plain is None else PLAIN + plain


def under(url: str, origin: str) -> bool:
    """Whether ``url`` is of ``origin`` (not merely starting with it: ``h.test.other``)."""
    return url.startswith(origin) and url[len(origin) : len(origin) + 1] in ("", "/", "?", "#")


def unpack(text: str | bytes, origin: str = "") -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    marker, rest = text[:1], text[1:]
    if marker == PLAIN:
        return quoted(rest)
    if marker in (RELATIVE, RELATIVE_PLAIN):
        if not origin:
            raise ValueError(f"a URL packed under an origin, read without it: {text!r}")
        return origin + rest if marker == RELATIVE else quoted(origin + rest)
    return text
