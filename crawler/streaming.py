"""Bodies streamed to a temporary file instead of memory: Liferay's sitemaps (up to 50,000 URLs,
tens of megabytes in one document).

Scrapy's HTTP/1.1 handler gathers a body in a ``BytesIO`` and copies it into ``Response.body``:
a 43 MB sitemap then costs about twice its size at once, and the freed space stays in the
process (glibc keeps it). A request whose meta has ``STREAM_META`` set instead has each chunk of
a successful (2xx) body written, as it arrives, to an anonymous temporary file, decompressed on
the way when the response is gzip- or deflate-encoded (a gzip body of several members, as RFC 1952
allows and ``cat a.gz b.gz`` makes, is read to its last member, as Scrapy's own ``gunzip`` reads
an unstreamed one); the callback gets a
:class:`StreamedResponse` whose ``body`` is empty and whose ``body_file`` is that file, at
offset 0. The callback closes it when done (the file has no name on disk: closing deletes it),
and a response dropped before any callback reads it closes its file when it is freed.

Everything else is Scrapy's own path: the ``headers_received`` / ``bytes_received`` signals,
``download_maxsize`` (announced and received sizes, and the decompressed size; refused with
Scrapy's message, which ``crawler.middlewares.size`` counts), ``download_warnsize``,
``download_fail_on_dataloss`` (a truncated body, or a truncated gzip stream, fails the download
so it is retried), timeouts. A non-2xx answer (redirects, 404, 5xx) or an encoding other than
gzip/deflate (br, zstd) is read into memory as usual, so redirects, retries and
``HttpCompressionMiddleware`` see what they always see.
"""

from __future__ import annotations

import logging
import tempfile
import zlib
from functools import partial
from typing import IO, TYPE_CHECKING, Any, cast

from scrapy import signals
from scrapy.core.downloader.handlers.http11 import (
    HTTP11DownloadHandler,
    _ResponseReader,
    _ResultT,
    _ScrapyAgent,
)
from scrapy.exceptions import DownloadCancelledError, ResponseDataLossError
from scrapy.http import Response
from scrapy.utils._download_handlers import (
    check_stop_download,
    get_dataloss_msg,
    get_maxsize_msg,
    get_warnsize_msg,
    wrap_twisted_exceptions,
)
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.iweb import UNKNOWN_LENGTH

if TYPE_CHECKING:
    from scrapy import Request
    from twisted.web.client import Response as TxResponse

logger = logging.getLogger(__name__)

# request meta key: True to have a 2xx body written to a temporary file (StreamedResponse)
STREAM_META = "stream_body_to_file"
# Content-Encoding values decoded while streaming -> zlib window bits (gzip header; zlib header)
_DECODERS = {
    b"gzip": 16 + zlib.MAX_WBITS,
    b"x-gzip": 16 + zlib.MAX_WBITS,
    b"deflate": zlib.MAX_WBITS,
}


GZIP_MAGIC = b"\x1f\x8b"
# Members of one gzip body: far more than any real one has (bgzip's 64 KiB blocks make about a
# thousand in a 64 MiB body), far fewer than a hostile body of empty members would cost in CPU.
MAX_GZIP_MEMBERS = 100_000


class GzipMembers:
    """A gzip decoder that reads every member of a body: ``zlib``'s stops at the end of the first
    and leaves the rest in ``unused_data`` (half a sitemap read, and no error). NUL padding
    between or after members is skipped, as gzip(1) and Python's ``gzip`` skip it; bytes after
    a member that start no other are counted in ``ignored`` and dropped, as Scrapy's ``gunzip``
    drops them. The decoded size is bounded by whoever reads the output, across members."""

    def __init__(self) -> None:
        self._member: zlib._Decompress | None = zlib.decompressobj(16 + zlib.MAX_WBITS)
        # bytes after a member's end too few to tell whether another member starts there
        self._between = b""
        self.members = 0
        self.ignored = 0

    @property
    def eof(self) -> bool:
        """Whether the body read so far ends where a member ends (not inside one)."""
        return self._member is None

    def decompress(self, data: bytes) -> bytes:
        out: list[bytes] = []
        while data:
            if self.ignored:
                self.ignored += len(data)
                break
            if self._member is None:
                data = (self._between + data).lstrip(b"\0")
                self._between = b""
                if len(data) < len(GZIP_MAGIC):
                    self._between = data
                    break
                if not data.startswith(GZIP_MAGIC):
                    self.ignored = len(data)
                    break
                self._member = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out.append(self._member.decompress(data))
            if not self._member.eof:
                break
            data = self._member.unused_data
            self._member = None
            self.members += 1
            if self.members > MAX_GZIP_MEMBERS:
                raise zlib.error(f"more than {MAX_GZIP_MEMBERS} gzip members")
        return b"".join(out)

    def flush(self) -> bytes:
        self.ignored += len(self._between)
        self._between = b""
        return self._member.flush() if self._member is not None else b""


def _decoder_for(wbits: int) -> GzipMembers | zlib._Decompress:
    return GzipMembers() if wbits == 16 + zlib.MAX_WBITS else zlib.decompressobj(wbits)


class StreamedResponse(Response):
    """A response whose body is in ``body_file`` (a binary file at offset 0), not in ``body``."""

    attributes: tuple[str, ...] = (*Response.attributes, "body_file")
    __slots__ = ("body_file",)

    def __init__(self, *args: Any, body_file: IO[bytes], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.body_file = body_file


def _decoding(txresponse: TxResponse) -> tuple[bool, int | None]:
    """Whether the body can be streamed, and the zlib window bits to decode it with (None: as
    sent)."""
    raw = txresponse.headers.getRawHeaders(b"content-encoding") or []
    codings = [c.strip().lower() for value in raw for c in value.split(b",")]
    codings = [c for c in codings if c and c != b"identity"]
    if not codings:
        return True, None
    if len(codings) == 1 and codings[0] in _DECODERS:
        return True, _DECODERS[codings[0]]
    return False, None


class _FileResponseReader(_ResponseReader):
    """Scrapy's reader, writing the (decoded) body to a temporary file instead of a BytesIO."""

    def __init__(self, *args: Any, wbits: int | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="scrapy-body-")  # noqa: SIM115
        self._decoder = _decoder_for(wbits) if wbits is not None else None
        # deflate is sent both with and without its zlib header
        self._raw_deflate_fallback = wbits == zlib.MAX_WBITS
        self._decoded_size = 0

    def _finish_response(self, flags: list[str] | None = None, stop_download: Any = None) -> None:
        if self._decoder is not None:
            self._file.write(self._decoder.flush())
            if isinstance(self._decoder, GzipMembers) and self._decoder.ignored:
                logger.warning(
                    "ignored %d bytes after the gzip body of %s: they start no gzip member",
                    self._decoder.ignored,
                    self._request,
                )
        self._file.flush()
        self._file.seek(0)
        self._finished.callback(
            cast(
                "_ResultT",
                {
                    "txresponse": self._txresponse,
                    "body": b"",
                    "body_file": self._file,
                    "decoded": self._decoder is not None,
                    "flags": flags,
                    "certificate": self._certificate,
                    "ip_address": self._ip_address,
                    "stop_download": stop_download,
                },
            )
        )

    def _fail(self, exc: Exception, *, abort: bool = True) -> None:
        self._file.close()
        if abort:
            # The rest of the body is not wanted.
            self._txresponse._transport._producer.abortConnection()
        if not self._finished.called:
            self._finished.errback(Failure(exc))

    def _decode(self, data: bytes) -> bytes:
        assert self._decoder is not None
        try:
            return self._decoder.decompress(data)
        except zlib.error:
            # Only the first chunk may reveal a headerless deflate stream.
            if not self._raw_deflate_fallback or self._bytes_received > len(data):
                raise
            self._raw_deflate_fallback = False
            self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._decoder.decompress(data)

    def dataReceived(self, data: bytes) -> None:
        # This maybe called several times after cancel was called with buffered data.
        if self._finished.called:
            return
        assert self.transport
        self._bytes_received += len(data)
        if self._decoder is not None:
            try:
                data = self._decode(data)
            except zlib.error as exc:
                self._fail(ResponseDataLossError(f"undecodable body of {self._request}: {exc}"))
                return
        self._decoded_size += len(data)
        self._file.write(data)
        if stop_download := check_stop_download(
            signals.bytes_received, self._crawler, self._request, data=data
        ):
            self.transport.stopProducing()
            self.transport.loseConnection()  # type: ignore[misc]
            self._finish_response(stop_download=stop_download)
            return
        # Announced sizes were checked before reading; a decoded body counts at its full size.
        size = max(self._bytes_received, self._decoded_size)
        if self._maxsize and size > self._maxsize:
            message = get_maxsize_msg(size, self._maxsize, self._request, expected=False)
            logger.warning(message)
            self._fail(DownloadCancelledError(message))
            return
        if self._warnsize and size > self._warnsize and not self._reached_warnsize:
            self._reached_warnsize = True
            logger.warning(get_warnsize_msg(size, self._warnsize, self._request, expected=False))

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._finished.called:
            return
        if reason.check(ResponseDone) and self._decoder is not None and not self._decoder.eof:
            # The HTTP body ended, the compressed stream did not: a cut body.
            if self._fail_on_dataloss:
                message = f"truncated compressed body of {self._request}"
                self._fail(ResponseDataLossError(message), abort=False)
            else:
                self._finish_response(flags=["dataloss"])
            return
        if self._fail_on_dataloss and not reason.check(ResponseDone, PotentialDataLoss):
            # Scrapy fails the download: the partial file is not wanted.
            self._file.close()
        super().connectionLost(reason)


class _StreamingAgent(_ScrapyAgent):
    def _cb_bodyready(
        self, txresponse: TxResponse, request: Request
    ) -> _ResultT | Deferred[_ResultT]:
        streamable, wbits = _decoding(txresponse)
        if (
            not streamable
            or not 200 <= txresponse.code < 300
            or cast("int", txresponse.length) == 0
        ):
            return super()._cb_bodyready(txresponse, request)
        # As Scrapy's own, with the body read by _FileResponseReader.
        if stop_download := check_stop_download(
            signals.headers_received,
            self._crawler,
            request,
            headers=self._headers_from_twisted_response(txresponse),
            body_length=txresponse.length,
        ):
            txresponse._transport.stopProducing()
            txresponse._transport.loseConnection()
            return {"txresponse": txresponse, "stop_download": stop_download}
        maxsize = request.meta.get("download_maxsize", self._maxsize)
        warnsize = request.meta.get("download_warnsize", self._warnsize)
        expected = cast("int", txresponse.length) if txresponse.length != UNKNOWN_LENGTH else -1
        if maxsize and expected > maxsize:
            message = get_maxsize_msg(expected, maxsize, request, expected=True)
            logger.warning(message)
            txresponse._transport._producer.abortConnection()
            raise DownloadCancelledError(message)
        reached_warnsize = bool(warnsize and expected > warnsize)
        if reached_warnsize:
            logger.warning(get_warnsize_msg(expected, warnsize, request, expected=True))
        d: Deferred[_ResultT] = Deferred(partial(self._cancel, txresponse=txresponse))
        txresponse.deliverBody(
            _FileResponseReader(
                finished=d,
                txresponse=txresponse,
                request=request,
                maxsize=maxsize,
                warnsize=warnsize,
                reached_warnsize=reached_warnsize,
                fail_on_dataloss=request.meta.get(
                    "download_fail_on_dataloss", self._fail_on_dataloss
                ),
                crawler=self._crawler,
                tls_verbose_logging=self._tls_verbose_logging,
                wbits=wbits,
            )
        )
        self._txresponse = txresponse
        return d

    def _cb_bodydone(self, result: _ResultT, url: str) -> Response:
        response = super()._cb_bodydone(result, url)
        body_file = cast("dict[str, Any]", result).get("body_file")
        if body_file is None:
            return response
        headers = response.headers
        if cast("dict[str, Any]", result).get("decoded"):
            # Decoded here: HttpCompressionMiddleware must not decode it again.
            headers.pop(b"Content-Encoding", None)
        return StreamedResponse(
            url=response.url,
            status=response.status,
            headers=headers,
            body=b"",
            flags=response.flags,
            request=response.request,
            certificate=response.certificate,
            ip_address=response.ip_address,
            protocol=response.protocol,
            body_file=body_file,
        )


class StreamingDownloadHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 handler; requests with ``STREAM_META`` get a :class:`StreamedResponse`."""

    async def download_request(self, request: Request) -> Response:
        if not request.meta.get(STREAM_META):
            return await super().download_request(request)
        agent = _StreamingAgent(
            contextFactory=self._contextFactory,
            bindAddress=self._bind_address,
            pool=self._pool,
            maxsize=self._default_maxsize,
            warnsize=self._default_warnsize,
            fail_on_dataloss=self._fail_on_dataloss,
            crawler=self._crawler,
            tls_verbose_logging=self._tls_verbose_logging,
        )
        try:
            with wrap_twisted_exceptions():
                return await maybe_deferred_to_future(agent.download_request(request))
        except ResponseDataLossError:
            if not self._fail_on_dataloss_warned:
                logger.warning(get_dataloss_msg(request.url))
                self._fail_on_dataloss_warned = True
            raise
