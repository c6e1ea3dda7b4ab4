"""URLs as the cluster keeps them in Redis: percent-decoded where quoting them again gives them
back exactly (a Vietnamese slug's ``%C3%B4`` is the two bytes of ``ô``, not six), whole
otherwise. What a crawl holds mid-way (its queue, the URLs held for an article, the articles
deferred for navigation) is mostly such URLs."""

from __future__ import annotations

from urllib.parse import unquote

from w3lib.url import safe_url_string

# A packed URL that is percent-decoded starts with this (no URL does).
PLAIN = "\x01"
_LINE_BREAKS = ("\n", "\r")


def decoded(url: str, encoding: str = "utf-8") -> str | None:
    """``url`` percent-decoded, when Scrapy's quoting of it (``safe_url_string``, as
    ``Request`` does) gives ``url`` back exactly; None otherwise (nothing to decode, bytes that
    are not UTF-8 text, a quoted reserved character such as ``%2F``, lower-case escapes)."""
    if "%" not in url:
        return None
    try:
        plain = unquote(url, errors="strict")
    except UnicodeDecodeError:
        return None
    if plain == url or safe_url_string(plain, encoding) != url:
        return None
    return plain


def quoted(plain: str, encoding: str = "utf-8") -> str:
    """The URL :func:`decoded` gave ``plain`` for."""
    return safe_url_string(plain, encoding)


def pack(url: str) -> str:
    """``url`` as one line of text for Redis (:func:`unpack` gives it back)."""
    plain = decoded(url)
    if plain is None or any(c in plain for c in _LINE_BREAKS):
        return url
    return PLAIN + plain


def unpack(text: str | bytes) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return quoted(text[1:]) if text.startswith(PLAIN) else text
