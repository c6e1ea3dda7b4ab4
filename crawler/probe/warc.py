"""The probe's pages as a WARC file (ISO 28500, WARC/1.1), written with ``warcio``.

Every HTTP exchange the probe makes (robots.txt, sitemaps, pages, redirects and error answers
alike) becomes a ``request`` record and a ``response`` record that names it
(``WARC-Concurrent-To``), after a ``warcinfo`` record that says which software wrote the file.
Each record is its own gzip member, so a probe killed midway leaves every record before the
cut readable (``warcio index``, ``warcio check``, pywb read such a file).

:class:`WarcRecorder` is a downloader middleware placed next to the downloader: it sees each
response as it came off the wire (still compressed when the server compressed it, the
``Content-Encoding`` header with it), before Scrapy decodes it. Twisted has already undone a
chunked ``Transfer-Encoding``: that header is dropped and ``Content-Length`` set to the body
kept, so the record is an HTTP message a reader can trust. The request record holds the headers
Scrapy's middlewares gave the request, the ``Host`` the client adds included.

The file is the probe's own (``scrapy probe --warc PATH``); the crawl's archive is a separate
matter (issue 23, part 1).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.defer import deferred_from_coro
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.domain.outcome import fail_run

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Headers, Request, Response

logger = logging.getLogger(__name__)

# Headers Twisted's client undid before Scrapy saw the body: kept, they would misdescribe it.
_UNDONE_HEADERS = frozenset({"transfer-encoding"})
WARC_FAILED = "warc_unwritable"


def _header_list(headers: Headers) -> list[tuple[str, str]]:
    pairs = []
    for name, values in headers.items():
        key = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        for value in values:
            pairs.append((key, value.decode("latin-1") if isinstance(value, bytes) else value))
    return pairs


def _target(url: str) -> tuple[str, str]:
    """(the request target ``/path?query``, the Host header) of an absolute URL."""
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    return target, parts.netloc


class WarcFile:
    """One WARC file being written: :meth:`write_exchange` per response, :meth:`close` once."""

    def __init__(self, path: Path, software: str) -> None:
        self.path = path
        self.records = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._out: BinaryIO = path.open("wb")
        self._writer = WARCWriter(self._out, gzip=True, warc_version="1.1")
        info = self._writer.create_warcinfo_record(
            path.name, {"software": software, "format": "WARC File Format 1.1"}
        )
        self._write(info)

    def write_exchange(self, request: Request, response: Response) -> None:
        target, host = _target(request.url)
        request_headers = _header_list(request.headers)
        if not any(name.lower() == "host" for name, _ in request_headers):
            request_headers.insert(0, ("Host", host))
        sent = self._writer.create_warc_record(
            request.url,
            "request",
            payload=BytesIO(request.body or b""),
            length=len(request.body or b""),
            http_headers=StatusAndHeaders(
                f"{request.method} {target} HTTP/1.1", request_headers, is_http_request=True
            ),
        )
        body = response.body
        headers = _header_list(response.headers)
        if any(name.lower() in _UNDONE_HEADERS for name, _ in headers):
            headers = [
                (name, value)
                for name, value in headers
                if name.lower() not in _UNDONE_HEADERS and name.lower() != "content-length"
            ]
            headers.append(("Content-Length", str(len(body))))
        protocol = response.protocol or "HTTP/1.1"
        status = f"{response.status} {_reason(response.status)}".rstrip()
        received = self._writer.create_warc_record(
            response.url,
            "response",
            payload=BytesIO(body),
            length=len(body),
            http_headers=StatusAndHeaders(status, headers, protocol=protocol.upper()),
            warc_headers_dict=_ip_header(response),
        )
        # The response first (its id is what the request names), then the request.
        self._writer.write_request_response_pair(sent, received)
        self._out.flush()
        self.records += 2

    def _write(self, record: Any) -> None:
        self._writer.write_record(record)
        self._out.flush()
        self.records += 1

    def close(self) -> None:
        self._out.close()


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _ip_header(response: Response) -> dict[str, str]:
    address = getattr(response, "ip_address", None)
    return {"WARC-IP-Address": str(address)} if address is not None else {}


class WarcRecorder:
    """Downloader middleware: every response the crawl receives, with its request, into the
    WARC file ``PROBE_WARC_PATH``. A record that cannot be written fails the run
    (``warc_unwritable``) and stops it: the probe never says it archived what it did not."""

    def __init__(self, crawler: Crawler, path: Path) -> None:
        self.crawler = crawler
        self.path = path
        self.warc: WarcFile | None = None
        self.failed = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        value = crawler.settings.get("PROBE_WARC_PATH")
        if not value:
            raise NotConfigured("PROBE_WARC_PATH is not set")
        recorder = cls(crawler, Path(value))
        crawler.signals.connect(recorder.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(recorder.spider_closed, signal=signals.spider_closed)
        return recorder

    def spider_opened(self) -> None:
        software = "hepza-crawler scrapy probe (warcio)"
        try:
            self.warc = WarcFile(self.path, software)
        except OSError as exc:
            self._fail(exc)

    def spider_closed(self) -> None:
        if self.warc is not None:
            self.warc.close()

    @property
    def records(self) -> int:
        return self.warc.records if self.warc is not None else 0

    def process_response(self, request: Request, response: Response) -> Response:
        if self.warc is None:
            if self.failed:
                raise IgnoreRequest(f"the WARC file {self.path} cannot be written")
            return response
        try:
            self.warc.write_exchange(request, response)
        except OSError as exc:
            self._fail(exc)
            raise IgnoreRequest(f"the WARC file {self.path} cannot be written") from exc
        return response

    def _fail(self, exc: OSError) -> None:
        self.failed = True
        self.warc = None
        fail_run(
            self.crawler,
            WARC_FAILED,
            f"the WARC file {self.path} cannot be written: {exc.strerror or exc}",
        )
        if self.crawler.crawling and self.crawler.engine is not None:
            deferred_from_coro(self.crawler.engine.close_spider_async(reason=WARC_FAILED))
