"""The streaming download path, built on Scrapy 2.19's private HTTP/1.1 classes.

Imported only by :mod:`crawler.compat` when the running Scrapy is one this was checked against
(:data:`crawler.compat.CHECKED_SCRAPY`); see :mod:`crawler.crawl.streaming` for what it does.
Scrapy's
``_ScrapyAgent`` and ``_ResponseReader`` are subclassed: the reader writes a 2xx body to a
temporary file instead of a ``BytesIO``, the agent builds a ``StreamedResponse`` from it.
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

from crawler.crawl.streaming import GzipMembers, StreamedResponse, decoder_for, decoding

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy import Request
    from scrapy.http import Response
    from twisted.web.client import Response as TxResponse

logger = logging.getLogger(__name__)


class _FileResponseReader(_ResponseReader):
    """Scrapy's reader, writing the (decoded) body to a temporary file instead of a BytesIO."""

    def __init__(self, *args: Any, wbits: int | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="scrapy-body-")  # noqa: SIM115
        self._decoder = decoder_for(wbits) if wbits is not None else None
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
        streamable, wbits = decoding(txresponse)
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


async def download_streamed(handler: HTTP11DownloadHandler, request: Request) -> Response:
    """``handler``'s download of ``request``, its 2xx body streamed to a temporary file."""
    agent = _StreamingAgent(
        contextFactory=handler._contextFactory,
        bindAddress=handler._bind_address,
        pool=handler._pool,
        maxsize=handler._default_maxsize,
        warnsize=handler._default_warnsize,
        fail_on_dataloss=handler._fail_on_dataloss,
        crawler=handler._crawler,
        tls_verbose_logging=handler._tls_verbose_logging,
    )
    try:
        with wrap_twisted_exceptions():
            return await maybe_deferred_to_future(agent.download_request(request))
    except ResponseDataLossError:
        if not handler._fail_on_dataloss_warned:
            logger.warning(get_dataloss_msg(request.url))
            handler._fail_on_dataloss_warned = True
        raise


async def close_pool(handler: HTTP11DownloadHandler, scrapy_close: Callable[[], Any]) -> None:
    """Close ``handler``'s pool of cached connections, waiting at most its disconnect timeout
    with a give-up timer that is harmless once the pool has closed
    (:meth:`crawler.compat.StreamingDownloadHandler.close` says why); Scrapy's own close
    (``scrapy_close``) where the handler has no such pool or timeout."""
    from twisted.internet import reactor  # noqa: PLC0415 - the installed reactor

    from crawler.compat import wait_closed  # noqa: PLC0415 - the package imports this module

    pool = getattr(handler, "_pool", None)
    timeout = getattr(handler, "_disconnect_timeout", None)
    if pool is None or timeout is None:
        await scrapy_close()
        return
    await wait_closed(pool.closeCachedConnections(), timeout, reactor)
