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

The reading itself is built on Scrapy's private HTTP/1.1 classes, so it lives behind the
compat door (``crawler/compat/http11.py``, installed as
``crawler.compat.StreamingDownloadHandler``): on a Scrapy version it was not checked against,
sitemaps are read into memory as any page is.
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
import zlib
from typing import IO, TYPE_CHECKING, Any

from scrapy.http import Response

if TYPE_CHECKING:
    from twisted.web.client import Response as TxResponse

logger = logging.getLogger(__name__)

# request meta key: True to have a 2xx body written to a temporary file (StreamedResponse)
STREAM_META = "stream_body_to_file"
# The largest sitemap read into memory where streaming is not available (a body costs about
# twice its size while Scrapy gathers it).
SITEMAP_MAXSIZE_UNSTREAMED = 64 * 1024 * 1024
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


def decoder_for(wbits: int) -> GzipMembers | zlib._Decompress:
    return GzipMembers() if wbits == 16 + zlib.MAX_WBITS else zlib.decompressobj(wbits)


class StreamedResponse(Response):
    """A response whose body is in ``body_file`` (a binary file at offset 0), not in ``body``."""

    attributes: tuple[str, ...] = (*Response.attributes, "body_file")
    __slots__ = ("body_file",)

    def __init__(self, *args: Any, body_file: IO[bytes], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.body_file = body_file


def decoding(txresponse: TxResponse) -> tuple[bool, int | None]:
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
