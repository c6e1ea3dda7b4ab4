"""A test helper: a crawl that writes what it fetched as a WARC file, for ``scrapy reparse``.

Not the crawler's archiving (that is its own feature): the smallest standard WARC a test needs,
written by warcio, one ``request`` and one ``response`` record (HTTP status line and headers,
``WARC-Target-URI``, ``WARC-Date``, payload digest) per response the downloader received, gzip
per record. Enabled in a test crawl with ``-s ADDONS=...`` (:data:`RECORDER_ADDONS`) and
``-s TEST_WARC_PATH=<file>``.
"""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Self

from scrapy import signals
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

# Next to the downloader: the response as it came, before decompression and redirects.
RECORDER_ORDER = 950
RECORDER_ADDONS = json.dumps(
    {"crawler.cluster.addon.HostLimitAddon": 0, "tests.warc_recorder.WarcRecorderAddon": 0}
)


class WarcRecorder:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO = path.open("wb")
        self._writer = WARCWriter(self._file, gzip=True)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        recorder = cls(Path(crawler.settings["TEST_WARC_PATH"]))
        crawler.signals.connect(recorder.close, signal=signals.engine_stopped)
        return recorder

    def process_response(self, request: Request, response: Response) -> Response:
        self._writer.write_record(request_record(self._writer, request))
        self._writer.write_record(response_record(self._writer, response))
        return response

    def close(self) -> None:
        self._file.close()


def _pairs(headers: Any) -> list[tuple[str, str]]:
    return [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, values in headers.items()
        for value in values
    ]


def request_record(writer: WARCWriter, request: Request) -> Any:
    path = request.url.split("/", 3)[3] if request.url.count("/") >= 3 else ""
    http = StatusAndHeaders(f"{request.method} /{path} HTTP/1.1", _pairs(request.headers))
    return writer.create_warc_record(
        request.url, "request", payload=BytesIO(request.body), http_headers=http
    )


def response_record(writer: WARCWriter, response: Response) -> Any:
    body = response.body
    streamed = getattr(response, "body_file", None)
    if streamed is not None:
        # A sitemap streamed to a file (crawler/crawl/streaming.py), decoded on the way.
        body = streamed.read()
        streamed.seek(0)
    pairs = _pairs(response.headers)
    if streamed is not None:
        pairs = [
            (k, v) for k, v in pairs if k.lower() not in {"content-encoding", "content-length"}
        ]
    http = StatusAndHeaders(f"{response.status} OK", pairs, protocol="HTTP/1.1")
    return writer.create_warc_record(
        response.url, "response", payload=BytesIO(body), http_headers=http
    )


class WarcRecorderAddon:
    def update_settings(self, settings: BaseSettings) -> None:
        settings.set_in_component_priority_dict(
            "DOWNLOADER_MIDDLEWARES", WarcRecorder, RECORDER_ORDER
        )
