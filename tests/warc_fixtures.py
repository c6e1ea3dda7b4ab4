"""Pages from a WARC file as Scrapy responses: what ``scrapy probe`` fetched from a portal (or
any WARC) becomes parser fixtures, without the network.

    responses = warc_responses(path)             # every response record, in file order
    pages = warc_pages(path)                     # URL -> its last 200 response
    page = parse_article(pages[url].text, url)

A record's body is given decoded (chunked transfer and gzip/deflate content encoding undone, as
Scrapy's middlewares would), with ``Content-Encoding`` and ``Content-Length`` left out of its
headers; the response class follows the headers and body, as Scrapy's downloader picks it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.http import Headers, Request, Response
from scrapy.responsetypes import responsetypes
from warcio.archiveiterator import ArchiveIterator

if TYPE_CHECKING:
    from pathlib import Path

# headers that describe the body as it was sent, not as it is given here
_SENT_FORM = frozenset({"content-encoding", "transfer-encoding", "content-length"})


def warc_responses(path: Path) -> list[Response]:
    """Every ``response`` record of the WARC file, as a Scrapy response with its request."""
    responses: list[Response] = []
    with path.open("rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type != "response" or record.http_headers is None:
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            headers = Headers(
                [
                    (name, value)
                    for name, value in record.http_headers.headers
                    if name.lower() not in _SENT_FORM
                ]
            )
            body = record.content_stream().read()
            cls = responsetypes.from_args(headers=headers, url=url, body=body)
            responses.append(
                cls(
                    url=url,
                    status=int(record.http_headers.get_statuscode()),
                    headers=headers,
                    body=body,
                    request=Request(url),
                )
            )
    return responses


def warc_pages(path: Path) -> dict[str, Response]:
    """URL -> the last 200 response the WARC file holds for it."""
    return {r.url: r for r in warc_responses(path) if r.status == 200}
