"""Pages whose declared charset is wrong, which would otherwise be stored as mojibake or U+FFFD:

- **UTF-8 bytes under a single-byte declaration** (``Content-Type`` or ``<meta charset>``:
  ISO-8859-1, windows-1252, windows-1258...): "Há»™i nghá»‹" for "Hội nghị". Bytes that are valid
  UTF-8 and hold a non-ASCII character are UTF-8 whatever is declared (a single-byte text that
  happens to be valid UTF-8 is vanishingly rare): re-decoded as UTF-8, problem
  ``charset_corrected``.
- **A UTF-8 declaration over bytes that are not UTF-8** (a Latin-1 or windows-1258 page behind
  a server that says UTF-8): each such byte would become U+FFFD. Decoded instead as the
  charset the page's other declaration names (the ``<meta charset>`` when the header said
  UTF-8, or the header when the meta did), else as windows-1258 when the bytes read as
  Vietnamese there (its combining tone marks after vowels), else as windows-1252 (a superset
  of ISO-8859-1, what browsers read Latin-1 pages as); problem ``charset_not_utf8``, naming the
  charset chosen and why. Text decoded from windows-1258 keeps combining tone marks; the text
  pipeline composes them (NFC).
- **Mostly UTF-8 with a few bytes that are not** (a paragraph pasted from elsewhere): more
  valid UTF-8 characters than invalid bytes means the page is UTF-8; it is left so (those bytes
  U+FFFD) with problem ``charset_invalid_bytes``, counting them, since re-reading the whole page
  as a single-byte charset would garble every correct character.

The downloader middleware re-decodes and counts (``fetch/charset_corrected``,
``fetch/charset_not_utf8``, ``fetch/charset_invalid_bytes``); the spider middleware puts the
problem on the article records read from the page. A page whose bytes are not valid UTF-8
under a single-byte declaration is left as declared: the declaration may then be right, and
guessing would corrupt it.
"""

from __future__ import annotations

import codecs
import itertools
import logging
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.http import TextResponse
from scrapy.spidermiddlewares.base import BaseSpiderMiddleware
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding

from crawler.domain.items import ArticleItem
from crawler.domain.problems import add_problem, problem_codes

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

PROBLEM_CODES: dict[str, str] = problem_codes(
    "charset_corrected", "charset_not_utf8", "charset_invalid_bytes"
)
# request meta key: the charset the page declared, when it was corrected
CORRECTED_META = "charset_corrected_from"
# request meta key: (problem code, message) of a page declared UTF-8 whose bytes are not
CHARSET_PROBLEM_META = "charset_problem"
_ALL_BYTES = bytes(range(256))
REPLACEMENT = "\ufffd"
# windows-1258's combining tone marks (grave, acute, hook above, tilde, dot below): Vietnamese
# written in it puts one after most accented vowels.
_CP1258_TONE_MARKS = frozenset(b"\xcc\xec\xd2\xde\xf2")
# Letters a Vietnamese tone mark follows in windows-1258 (ASCII vowels, â ê ô ơ ư ă and their
# capitals).
_CP1258_VOWELS = frozenset(b"aeiouyAEIOUY\xe2\xea\xf4\xf5\xfd\xe3\xc2\xca\xd4\xd5\xdd\xc3")
# The share of a page's non-ASCII bytes that must be tone marks after vowels for it to read
# as windows-1258 (Vietnamese text has several in most sentences; Latin-1 text almost none:
# ì, ò and Ì, Ò, Þ after a vowel).
_CP1258_SHARE = 0.2


def is_single_byte(encoding: str) -> bool:
    """Whether every byte is one character in ``encoding`` (ISO-8859-x, windows-125x, ...)."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    if name.startswith("utf"):
        return False
    return len(_ALL_BYTES.decode(name, errors="replace")) == len(_ALL_BYTES)


def is_multibyte_utf8(body: bytes) -> bool:
    """Valid UTF-8 holding at least one non-ASCII character: text a single-byte charset garbles."""
    if body.isascii():
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def wrong_single_byte_charset(response: TextResponse) -> str | None:
    """The declared charset when the response is UTF-8 declared as a single-byte charset."""
    declared = response.encoding
    if not is_single_byte(declared) or not is_multibyte_utf8(response.body):
        return None
    return declared


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def reads_as_vietnamese_cp1258(body: bytes) -> bool:
    """Whether ``body`` (not UTF-8) reads as Vietnamese in windows-1258: enough of its non-ASCII
    bytes are combining tone marks that follow a vowel."""
    non_ascii = sum(1 for b in body if b > 0x7F)
    if not non_ascii:
        return False
    marks = sum(
        1
        for before, byte in itertools.pairwise(body)
        if byte in _CP1258_TONE_MARKS and before in _CP1258_VOWELS
    )
    return marks >= _CP1258_SHARE * non_ascii


def utf8_declared_over_other_bytes(response: TextResponse) -> tuple[str, str, str] | None:
    """For a page read as UTF-8 whose bytes are not valid UTF-8: (problem code, charset to read
    it as, the message); None for any other page. The charset is the response's own (UTF-8)
    when the page is mostly valid UTF-8 (``charset_invalid_bytes``)."""
    if _codec(response.encoding) != "utf-8" or response.body.isascii():
        return None
    text = response.text
    # Scrapy decoded it with U+FFFD for every invalid byte: none, and the page is UTF-8 (a
    # page may hold U+FFFD itself: the bytes decide).
    if REPLACEMENT not in text:
        return None
    body = response.body
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return None
    invalid = text.count(REPLACEMENT)
    valid = sum(1 for char in text if char > "\x7f") - invalid
    if valid > invalid:
        return (
            "charset_invalid_bytes",
            "utf-8",
            f"the page is UTF-8 but {invalid} of its bytes are not; they read as U+FFFD",
        )
    header = _codec(http_content_type_encoding(_content_type(response)))
    meta = _codec(html_body_declared_encoding(body))
    other = next((c for c in (meta, header) if c and c != "utf-8" and is_single_byte(c)), None)
    if other is not None:
        charset, why = other, "its other declaration"
    elif reads_as_vietnamese_cp1258(body):
        charset, why = "cp1258", "its bytes read as Vietnamese there"
    else:
        charset, why = "cp1252", "the single-byte charset browsers read Latin-1 pages as"
    message = f"the page declared UTF-8 but its bytes are not UTF-8; read as {charset} ({why})"
    return "charset_not_utf8", charset, message


def _content_type(response: TextResponse) -> str | None:
    value = response.headers.get(b"Content-Type")
    return value.decode("latin-1") if value else None


class CharsetMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        if not isinstance(response, TextResponse):
            return response
        declared = wrong_single_byte_charset(response)
        if declared is None:
            return self._utf8_declared(request, response)
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("fetch/charset_corrected")
        logger.warning(
            "charset corrected: %s declares %s but is UTF-8; decoded as UTF-8",
            response.url,
            declared,
        )
        request.meta[CORRECTED_META] = declared
        return response.replace(encoding="utf-8")

    def _utf8_declared(self, request: Request, response: TextResponse) -> Response:
        found = utf8_declared_over_other_bytes(response)
        if found is None:
            return response
        code, charset, message = found
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(f"fetch/{code}")
        logger.warning("%s: %s", message, response.url)
        request.meta[CHARSET_PROBLEM_META] = (code, message)
        if charset == "utf-8":
            return response
        return response.replace(encoding=charset)


class CharsetProblemMiddleware(BaseSpiderMiddleware):
    def get_processed_item(self, item: Any, response: Response | None) -> Any:
        if response is None or not isinstance(item, ArticleItem):
            return item
        declared = response.meta.get(CORRECTED_META)
        if declared:
            adapter = ItemAdapter(item)
            add_problem(
                adapter,
                "charset_corrected",
                f"the page declared {declared} but is UTF-8; read as UTF-8",
            )
        found = response.meta.get(CHARSET_PROBLEM_META)
        if found:
            code, message = found
            add_problem(ItemAdapter(item), code, message)
        return item
