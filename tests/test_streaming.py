"""The streaming reader (crawler/crawl/streaming.py): a sitemap body goes to a temporary file
chunk by
chunk, decoded on the way, with Scrapy's size and data-loss rules."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import pytest
from scrapy import Request
from scrapy.core.downloader.handlers.http11 import _ResponseReader
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.exceptions import DownloadCancelledError, ResponseDataLossError
from scrapy.http import Response
from scrapy.utils.test import get_crawler
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone
from twisted.web.http_headers import Headers as TxHeaders

from crawler.compat.http11 import _FileResponseReader, _StreamingAgent
from crawler.crawl import streaming
from crawler.crawl.streaming import STREAM_META, StreamedResponse, decoding
from crawler.middlewares.size import _SIZE_MESSAGE
from crawler.parsers.sitemap import SitemapEntry, SitemapStream

URL = "http://127.0.0.1:8000/sitemap.xml"
BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    + b"".join(b"<url><loc>http://127.0.0.1:8000/w/p%d</loc></url>" % i for i in range(2000))
    + b"</urlset>"
)


class _Producer:
    aborted = False

    def abortConnection(self) -> None:
        self.aborted = True


class _Transport:
    def __init__(self) -> None:
        self._producer = _Producer()

    def stopProducing(self) -> None:
        pass

    def loseConnection(self) -> None:
        pass


class _TxResponse:
    version = (b"HTTP", 1, 1)

    def __init__(self, encoding: str | None = None, code: int = 200) -> None:
        raw = {b"Content-Type": [b"text/xml;charset=UTF-8"]}
        if encoding:
            raw[b"Content-Encoding"] = [encoding.encode()]
        self.headers = TxHeaders(raw)
        self.code = code
        self.length = -1
        self._transport = _Transport()
        self.reader: object = None

    def deliverBody(self, protocol: object) -> None:
        self.reader = protocol


def _read(
    chunks: list[bytes],
    encoding: str | None = None,
    *,
    maxsize: int = 0,
    fail_on_dataloss: bool = True,
    end: Failure | None = None,
) -> tuple[Any, _TxResponse]:
    """What the reader's Deferred fires with: the result dict, or the Failure."""
    txresponse = _TxResponse(encoding)
    finished: Deferred[Any] = Deferred()
    outcome: list[Any] = []
    finished.addBoth(outcome.append)
    reader = _FileResponseReader(
        finished=finished,
        txresponse=txresponse,  # type: ignore[arg-type]
        request=Request(URL, meta={STREAM_META: True}),
        maxsize=maxsize,
        warnsize=0,
        fail_on_dataloss=fail_on_dataloss,
        crawler=get_crawler(),
        wbits=decoding(txresponse)[1],  # type: ignore[arg-type]
    )
    reader.transport = txresponse._transport  # type: ignore[assignment]
    for chunk in chunks:
        reader.dataReceived(chunk)
    reader.connectionLost(end or Failure(ResponseDone()))
    return outcome[0], txresponse


def _chunks(data: bytes, size: int = 1000) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_a_plain_body_is_written_to_the_file_not_kept_in_memory() -> None:
    result, _ = _read(_chunks(BODY))
    assert result["body"] == b""
    assert result["body_file"].read() == BODY


@pytest.mark.parametrize(
    ("encoding", "packed"),
    [
        ("gzip", gzip.compress(BODY)),
        ("x-gzip", gzip.compress(BODY)),
        ("deflate", zlib.compress(BODY)),
        # deflate without its zlib header, as some servers send it
        ("deflate", zlib.compress(BODY, wbits=-zlib.MAX_WBITS)),
    ],
)
def test_an_encoded_body_is_decoded_chunk_by_chunk(encoding: str, packed: bytes) -> None:
    result, _ = _read(_chunks(packed, 100), encoding)
    assert result["decoded"] is True
    assert result["body_file"].read() == BODY


def test_the_response_has_the_file_and_no_content_encoding_left() -> None:
    result, txresponse = _read(_chunks(gzip.compress(BODY)), "gzip")
    result["txresponse"] = txresponse
    agent = _StreamingAgent(contextFactory=None, crawler=get_crawler())  # type: ignore[arg-type]
    response = agent._cb_bodydone(result, URL)
    assert isinstance(response, StreamedResponse)
    assert response.body == b""
    assert b"Content-Encoding" not in response.headers
    entries = list(SitemapStream(response.body_file, URL))
    assert len(entries) == 2000
    assert entries[0] == SitemapEntry("http://127.0.0.1:8000/w/p0")
    # replace() (a middleware's copy) keeps the file
    assert response.replace(status=200).body_file is response.body_file


def test_a_decoded_body_over_the_limit_is_refused_with_scrapys_size_message() -> None:
    packed = gzip.compress(BODY)
    limit = len(BODY) // 2
    assert len(packed) < limit  # only the decoded size is over the limit
    failure, txresponse = _read(_chunks(packed, 100), "gzip", maxsize=limit)
    assert isinstance(failure, Failure) and failure.check(DownloadCancelledError)
    # the message crawler/middlewares/size.py reads to count fetch/too_large
    match = _SIZE_MESSAGE.search(str(failure.value))
    assert match is not None and int(match[2]) == limit and int(match[1]) > limit
    assert txresponse._transport._producer.aborted


def test_a_cut_gzip_stream_is_data_loss_so_the_download_is_retried() -> None:
    packed = gzip.compress(BODY)
    failure, _ = _read(_chunks(packed[: len(packed) // 2]), "gzip")
    assert isinstance(failure, Failure) and failure.check(ResponseDataLossError)


def test_a_cut_gzip_stream_is_flagged_when_data_loss_is_allowed() -> None:
    packed = gzip.compress(BODY)
    result, _ = _read(_chunks(packed[: len(packed) // 2]), "gzip", fail_on_dataloss=False)
    assert result["flags"] == ["dataloss"]


def test_an_undecodable_body_is_data_loss() -> None:
    failure, _ = _read([b"this is not gzip at all"], "gzip")
    assert isinstance(failure, Failure) and failure.check(ResponseDataLossError)


@pytest.mark.parametrize(
    ("encoding", "streamed"),
    [(None, True), ("identity", True), ("GZIP", True), ("br", False), ("gzip, br", False)],
)
def test_only_encodings_decoded_while_streaming_are_streamed(
    encoding: str | None, streamed: bool
) -> None:
    assert decoding(_TxResponse(encoding))[0] is streamed  # type: ignore[arg-type]


def _body_reader(txresponse: _TxResponse, **meta: Any) -> object:
    agent = _StreamingAgent(contextFactory=None, crawler=get_crawler())  # type: ignore[arg-type]
    request = Request(URL, meta={STREAM_META: True, **meta})
    agent._cb_bodyready(txresponse, request)  # type: ignore[arg-type]
    return txresponse.reader


def test_a_2xx_body_goes_to_the_file_reader() -> None:
    assert type(_body_reader(_TxResponse("gzip"))) is _FileResponseReader


@pytest.mark.parametrize(("encoding", "code"), [(None, 404), (None, 503), ("br", 200)])
def test_an_error_answer_or_an_undecodable_encoding_is_read_as_scrapy_reads_it(
    encoding: str | None, code: int
) -> None:
    assert type(_body_reader(_TxResponse(encoding, code))) is _ResponseReader


def test_an_announced_size_over_the_limit_is_refused_before_reading() -> None:
    txresponse = _TxResponse()
    txresponse.length = 5000
    with pytest.raises(DownloadCancelledError) as refused:
        _body_reader(txresponse, download_maxsize=1000)
    match = _SIZE_MESSAGE.search(str(refused.value))
    assert match is not None and (int(match[1]), int(match[2])) == (5000, 1000)
    assert txresponse.reader is None and txresponse._transport._producer.aborted


def _members(body: bytes, parts: int) -> bytes:
    """``body`` as a gzip stream of ``parts`` members (``cat a.gz b.gz``), valid per RFC 1952."""
    step = -(-len(body) // parts)
    return b"".join(gzip.compress(body[i : i + step]) for i in range(0, len(body), step))


@pytest.mark.parametrize("chunk", [1, 7, 100, 4096, 10**6])
def test_a_gzip_body_of_several_members_is_read_to_its_last_member(chunk: int) -> None:
    packed = _members(BODY, 3)
    result, _ = _read(_chunks(packed, chunk), "gzip")
    assert result["body_file"].read() == BODY


def test_nul_padding_between_and_after_gzip_members_is_skipped() -> None:
    first, second = BODY[:5000], BODY[5000:]
    packed = gzip.compress(first) + b"\0" * 9 + gzip.compress(second) + b"\0" * 512
    result, _ = _read(_chunks(packed, 3), "gzip")
    assert result["body_file"].read() == BODY


def test_bytes_after_the_last_gzip_member_are_dropped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    packed = _members(BODY, 2) + b"<trailing garbage>"
    result, _ = _read(_chunks(packed, 50), "gzip")
    assert result["body_file"].read() == BODY
    assert "ignored 18 bytes after the gzip body" in caplog.text


def test_a_body_cut_inside_its_second_gzip_member_is_data_loss() -> None:
    first = gzip.compress(BODY[:5000])
    second = gzip.compress(BODY[5000:])
    failure, _ = _read(_chunks(first + second[: len(second) // 2]), "gzip")
    assert isinstance(failure, Failure) and failure.check(ResponseDataLossError)


def test_the_decoded_size_limit_counts_every_gzip_member() -> None:
    # Each member alone is under the limit; together they are over it.
    packed = b"".join(gzip.compress(BODY) for _ in range(4))
    limit = len(BODY) * 3
    failure, _ = _read(_chunks(packed, 1000), "gzip", maxsize=limit)
    assert isinstance(failure, Failure) and failure.check(DownloadCancelledError)
    match = _SIZE_MESSAGE.search(str(failure.value))
    assert match is not None and int(match[2]) == limit and int(match[1]) > limit


def test_scrapys_own_gzip_decoding_reads_every_member_of_an_unstreamed_body() -> None:
    # A sitemap is not streamed when its answer is not a 2xx or its encoding is another:
    # HttpCompressionMiddleware decodes it then, and reads every member too.
    crawler = get_crawler()
    middleware = HttpCompressionMiddleware.from_crawler(crawler)
    request = Request(URL)
    response = Response(
        URL, body=_members(BODY, 3), headers={"Content-Encoding": "gzip"}, request=request
    )
    decoded = middleware.process_response(request, response)
    assert decoded.body == BODY


def test_a_body_of_endless_empty_gzip_members_is_refused_as_undecodable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(streaming, "MAX_GZIP_MEMBERS", 10)
    failure, _ = _read([gzip.compress(b"") * 11], "gzip")
    assert isinstance(failure, Failure) and failure.check(ResponseDataLossError)
    result, _ = _read([gzip.compress(b"") * 10], "gzip")
    assert result["body_file"].read() == b""
