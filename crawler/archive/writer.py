"""WARC files of one run: request and response records, ``revisit`` records for unchanged pages.

A run writes ``<site>-<run token>-<serial>.warc.gz`` files into its archive directory, the next
serial once a file reaches ``max_bytes``; each file starts with a ``warcinfo`` record
(:meth:`ArchiveWriter.one_file` writes one named file instead, ``scrapy probe --warc PATH``: no
rotation, no digest index). Every record is its own gzip member, written and flushed before the
next one starts: a process killed in the middle of a record leaves every earlier record readable
(the gzip reader stops at the cut member), and a write that fails (disk full) is cut back to the
last whole record.

A response whose payload (the HTTP body) has the digest of the newest full copy of the same URL
in the digest index is written as a ``revisit`` record (profile *identical payload digest*,
``WARC-Refers-To-Target-URI``/``-Date`` naming that copy) with the response's status line and
headers only. Every exchange is located by ``"<file name>:<byte offset>"`` of the record that
holds its payload: its own ``response`` record, or the earlier one its ``revisit`` refers to.

The HTTP payload is stored as the crawl received it. Two header changes keep a record
consistent with it: a body the HTTP client de-chunked loses its ``Transfer-Encoding``, and a
``Content-Length`` that does not give the stored length (a sitemap the crawl decoded while
streaming it) is set to it.
"""

from __future__ import annotations

import base64
import hashlib
import http
import io
import os
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

if TYPE_CHECKING:
    from pathlib import Path

    from crawler.archive.digests import DigestIndex

# zlib level of each record's gzip member: 6, zlib's default. On the replica's 921 records of a
# 300-article crawl (8.7 MB), warcio's 9 saved 0.1% of the bytes for 7% more compression time,
# and 1 cost 9% more bytes for a third less; compressing is about 2% of the crawl's CPU.
GZIP_LEVEL = 6
# Heritrix's default rotation size
DEFAULT_MAX_BYTES = 1_000_000_000
WARC_SUFFIX = ".warc.gz"
# <site>-<run token>-<serial>.warc.gz; the run token (start time to the microsecond, UTC, and
# the process id) sorts in the order runs started.
FILE_NAME = re.compile(
    r"(?P<site>[a-z0-9][a-z0-9-]*?)-(?P<token>\d{8}T\d{12}Z-\d+)-(?P<serial>\d{5})\.warc\.gz"
)
CHUNK = 1 << 16
# Payloads this small are written whole again rather than as a revisit (an empty redirect body:
# a revisit record would be no smaller).
MIN_REVISIT_PAYLOAD = 1


def run_token(started: datetime, pid: int | None = None) -> str:
    moment = started.astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%S%f}Z-{os.getpid() if pid is None else pid}"


def file_name(site: str, token: str, serial: int) -> str:
    return f"{site}-{token}-{serial:05d}{WARC_SUFFIX}"


def location(name: str, offset: int) -> str:
    """The pointer the crawl carries (``response.meta["archive_record"]``) and stores."""
    return f"{name}:{offset}"


def split_location(pointer: str) -> tuple[str, int]:
    name, _, offset = pointer.rpartition(":")
    return name, int(offset)


def payload_digest(payload: bytes | IO[bytes]) -> str:
    """``sha1:<base32>``, the digest warcio, Heritrix and wget write (WARC-Payload-Digest)."""
    # SHA-1: the WARC convention, not a security use
    digester = hashlib.sha1()
    if isinstance(payload, bytes):
        digester.update(payload)
    else:
        start = payload.tell()
        while chunk := payload.read(CHUNK):
            digester.update(chunk)
        payload.seek(start)
    return "sha1:" + base64.b32encode(digester.digest()).decode("ascii")


@dataclass(frozen=True, slots=True)
class Exchange:
    """One HTTP exchange as the crawl saw it. ``payload``: the body, or a binary file at its
    start (a streamed sitemap) of ``payload_length`` bytes."""

    url: str
    method: str
    request_headers: list[tuple[str, str]]
    status: int
    response_headers: list[tuple[str, str]]
    payload: bytes | IO[bytes]
    payload_length: int
    request_body: bytes = b""
    protocol: str = "HTTP/1.1"
    ip_address: str | None = None


@dataclass
class Written:
    """What a writer wrote: per kind of record, and the bytes of its files."""

    records: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    files: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Records of every kind, ``warcinfo`` included."""
        return sum(self.records.values())

    def count(self, kind: str) -> None:
        self.records[kind] = self.records.get(kind, 0) + 1


class _GzipMembers:
    """A file object for warcio: each record (everything up to warcio's ``flush`` at its end)
    becomes one gzip member, flushed to the operating system."""

    def __init__(self, file: IO[bytes], level: int) -> None:
        self.file = file
        self.level = level
        self._member: Any = None

    def write(self, data: bytes) -> int:
        if self._member is None:
            self._member = zlib.compressobj(self.level, zlib.DEFLATED, zlib.MAX_WBITS + 16)
        self.file.write(self._member.compress(data))
        return len(data)

    def flush(self) -> None:
        if self._member is not None:
            self.file.write(self._member.flush())
            self._member = None
        self.file.flush()

    def abandon(self) -> None:
        self._member = None


def _status_line(status: int) -> str:
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    return f"{status} {reason}".rstrip()


def _response_headers(headers: list[tuple[str, str]], length: int) -> list[tuple[str, str]]:
    kept = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
    lengths = [v for k, v in kept if k.lower() == "content-length"]
    if lengths != [str(length)]:
        kept = [(k, v) for k, v in kept if k.lower() != "content-length"]
        kept.append(("Content-Length", str(length)))
    return kept


def _request_target(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return target, parts.netloc


class ArchiveWriter:
    """The WARC files of one run of one site. Not thread-safe: the crawl writes from its
    reactor thread."""

    def __init__(
        self,
        directory: Path,
        site: str,
        token: str,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        info: dict[str, str] | None = None,
        digests: DigestIndex | None = None,
        level: int = GZIP_LEVEL,
        name: str | None = None,
    ) -> None:
        self.directory = directory
        self.site = site
        self.token = token
        self.max_bytes = max_bytes
        self.info = dict(info or {})
        self.digests = digests
        self.level = level
        # the one file to write (one_file), instead of the run's rotated set
        self.fixed_name = name
        self.written = Written()
        self._serial = -1
        self._file: IO[bytes] | None = None
        self._out: _GzipMembers | None = None
        self._writer: WARCWriter | None = None
        self._name = ""

    @classmethod
    def one_file(cls, path: Path, *, info: dict[str, str] | None = None) -> ArchiveWriter:
        """A writer of the one file ``path``, replaced if it exists: never rotated, and without
        a digest index, so every response is a full copy (no ``revisit`` records)."""
        return cls(path.parent, "", "", info=info, name=path.name)

    @property
    def current_file(self) -> str:
        return self._name

    def open(self) -> None:
        """Create the directory and the run's first file (raises OSError when it cannot)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._next_file()

    def _next_file(self) -> None:
        self._close_file()
        self._serial += 1
        if self.fixed_name is not None:
            # the file its caller named (a probe run again on the same path replaces it)
            self._name = self.fixed_name
            self._file = (self.directory / self._name).open("wb")
        else:
            self._name = file_name(self.site, self.token, self._serial)
            # "x": never another run's file, whatever the clock did
            self._file = (self.directory / self._name).open("xb")
        self._out = _GzipMembers(self._file, self.level)
        self._writer = WARCWriter(self._out, gzip=False, warc_version="1.1")
        self.written.files.append(self._name)
        info = {"software": "hepza-crawler (warcio)", "format": "WARC File Format 1.1"}
        info.update(self.info)
        self._write(self._writer.create_warcinfo_record(self._name, info), "warcinfo")

    def _close_file(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            file.close()

    def close(self) -> None:
        self._close_file()

    def _write(self, record: Any, kind: str) -> int:
        """Write one record as one gzip member; its offset. A failed write is cut back to the
        previous record, so the file stays a sequence of whole records."""
        assert self._file is not None and self._writer is not None and self._out is not None
        offset = self._file.tell()
        try:
            self._writer.write_record(record)
        except BaseException:
            self._out.abandon()
            try:
                self._file.flush()
                self._file.truncate(offset)
                self._file.seek(offset)
            except OSError:
                pass
            raise
        self.written.bytes += self._file.tell() - offset
        self.written.count(kind)
        return offset

    def write(self, exchange: Exchange) -> str:
        """Archive one exchange (its response or revisit record, then its request record);
        the location of the record that holds its payload."""
        if self._file is None:
            raise OSError("the archive is closed")
        if self.fixed_name is None and self._file.tell() >= self.max_bytes:
            self._next_file()
        assert self._writer is not None
        digest = payload_digest(exchange.payload)
        http_headers = StatusAndHeaders(
            _status_line(exchange.status),
            _response_headers(exchange.response_headers, exchange.payload_length),
            protocol=exchange.protocol or "HTTP/1.1",
        )
        warc_headers = {"WARC-Payload-Digest": digest}
        if exchange.ip_address:
            warc_headers["WARC-IP-Address"] = exchange.ip_address
        original = None
        if self.digests is not None and exchange.payload_length >= MIN_REVISIT_PAYLOAD:
            original = self.digests.original(exchange.url, digest)
        if original is not None:
            warc_headers["WARC-Refers-To"] = original.record_id
            record = self._writer.create_revisit_record(
                exchange.url,
                digest,
                exchange.url,
                original.date,
                http_headers=http_headers,
                warc_headers_dict=warc_headers,
            )
            kind = "revisit"
        else:
            payload = (
                io.BytesIO(exchange.payload)
                if isinstance(exchange.payload, bytes)
                else exchange.payload
            )
            record = self._writer.create_warc_record(
                exchange.url,
                "response",
                payload=payload,
                length=exchange.payload_length,
                http_headers=http_headers,
                warc_headers_dict=warc_headers,
            )
            kind = "response"
        name = self._name
        start = None if isinstance(exchange.payload, bytes) else exchange.payload.tell()
        try:
            offset = self._write(record, kind)
        finally:
            if start is not None:
                # the crawl reads the body from its file next (a streamed sitemap)
                exchange.payload.seek(start)  # type: ignore[union-attr]
        if original is not None:
            self.digests.referred(original.location)  # type: ignore[union-attr]
            pointer = original.location
        else:
            pointer = location(name, offset)
            if self.digests is not None and exchange.payload_length >= MIN_REVISIT_PAYLOAD:
                self.digests.add(
                    exchange.url,
                    digest,
                    record.rec_headers.get_header("WARC-Date"),
                    pointer,
                    record.rec_headers.get_header("WARC-Record-ID"),
                )
        self._write(self._request_record(exchange, record), "request")
        return pointer

    def _request_record(self, exchange: Exchange, response: Any) -> Any:
        assert self._writer is not None
        target, host = _request_target(exchange.url)
        headers = list(exchange.request_headers)
        if not any(k.lower() == "host" for k, _ in headers):
            headers.insert(0, ("Host", host))
        request = self._writer.create_warc_record(
            exchange.url,
            "request",
            payload=io.BytesIO(exchange.request_body),
            length=len(exchange.request_body),
            http_headers=StatusAndHeaders(
                f"{exchange.method} {target} {exchange.protocol or 'HTTP/1.1'}",
                headers,
                is_http_request=True,
            ),
            warc_headers_dict={
                "WARC-Date": response.rec_headers.get_header("WARC-Date"),
                "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID"),
            },
        )
        return request
