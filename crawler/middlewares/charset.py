"""Pages whose declared charset is wrong: UTF-8 bytes under an ISO-8859-1 (or other single-byte)
``Content-Type`` or ``<meta charset>``, which would otherwise be stored as mojibake ("Há»™i
nghá»‹" for "Hội nghị").

The downloader middleware re-decodes such a page as UTF-8 and counts it; the spider middleware
puts a ``charset_corrected`` problem on the article records read from it, so analysts know the
site sent a wrong header. A page whose bytes are not valid UTF-8 is left as declared: the
declaration may then be right, and guessing would corrupt it.
"""

from __future__ import annotations

import codecs
import logging
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.http import TextResponse
from scrapy.spidermiddlewares.base import BaseSpiderMiddleware

from crawler.items import ArticleItem
from pipelines.problems import add_problem, problem_codes

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

PROBLEM_CODES: dict[str, str] = problem_codes("charset_corrected")
# request meta key: the charset the page declared, when it was corrected
CORRECTED_META = "charset_corrected_from"
_ALL_BYTES = bytes(range(256))


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
            return response
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("fetch/charset_corrected")
        logger.warning(
            "charset corrected: %s declares %s but is UTF-8; decoded as UTF-8",
            response.url,
            declared,
        )
        request.meta[CORRECTED_META] = declared
        return response.replace(encoding="utf-8")


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
        return item
