"""A crawl answered from WARC archives instead of the network (``scrapy reparse``).

:func:`index_archives` reads WARC files (ISO 28500, gzip per record or not) once and keeps, per
URL, where its newest capture lies: a ``response`` record, or a ``revisit`` record resolved to
the response it refers to (same payload digest, else its ``WARC-Refers-To-Target-URI`` and
date). :class:`ReplayDownloadHandler` is the download handler of ``http`` and ``https`` in such
a crawl: it answers each request with its capture, so the spider's callbacks, the middlewares
and the item pipelines run exactly as in a crawl, and sets ``response.meta["archive_record"]``
to ``"<file relative to ARCHIVE_DIR>:<byte offset>"`` (the archive's contract). A URL that no
selected capture holds is refused with :class:`NotArchived` (``reparse/not_archived``): the
crawl that wrote the archives did not fetch it, and a reparse never fetches anything.

A file is read up to its first unreadable byte: a truncated or corrupt record ends what is used
of that file (one line per file says where and why), the records before it are used.
"""

from __future__ import annotations

import io
import itertools
import logging
import os
from contextlib import redirect_stderr
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from scrapy.core.downloader.handlers.base import BaseDownloadHandler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Headers, Response
from scrapy.responsetypes import responsetypes
from scrapy.utils.asyncio import run_in_thread
from w3lib.url import canonicalize_url
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from crawler.domain.identity import url_identity

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from scrapy import Request
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

WARC_SUFFIXES = (".warc", ".warc.gz")
# The headers that described the body as it travelled: the body given to Scrapy is decoded.
TRANSFER_HEADERS = frozenset({b"content-encoding", b"transfer-encoding", b"content-length"})
DEFAULT_PORTS = {"http": 80, "https": 443}

# The indexes of the reparse crawls of this process, by key (the REPLAY_INDEX setting names
# one): Scrapy deep-copies its settings, an index of a large archive is not copied with them.
INDEXES: dict[str, ArchiveIndex] = {}
_keys = itertools.count(1)


class NotArchived(IgnoreRequest):
    """The URL has no capture in the archives a reparse reads."""


class ArchiveRefused(ValueError):
    """Archives a reparse must not read (none found, another site's): one line, exit 2."""


@dataclass(frozen=True, slots=True)
class Capture:
    """Where a URL's capture is read: a response record (``path``, ``offset``), captured at
    ``captured_at``; ``label`` is the record as the archive contract names it (the revisit's own
    record for a revisit)."""

    path: Path
    offset: int
    captured_at: datetime
    label: str


@dataclass
class FileProblem:
    path: Path
    records: int
    message: str

    def line(self) -> str:
        return f"{self.path}: {self.message} ({self.records} readable records before it used)"


@dataclass
class ArchiveIndex:
    files: list[Path] = field(default_factory=list)
    # lookup key -> newest selected capture
    captures: dict[str, Capture] = field(default_factory=dict)
    problems: list[FileProblem] = field(default_factory=list)
    # revisits whose original response none of the files holds, per file
    unresolved: dict[Path, list[str]] = field(default_factory=dict)
    records: int = 0
    # article identity key -> the archived URL of that article's page (a 200 capture; its
    # canonical display page when archived)
    articles: dict[str, str] = field(default_factory=dict)

    def register(self) -> str:
        """Make the index reachable by the crawl's download handler; returns its key."""
        key = f"replay-{os.getpid()}-{next(_keys)}"
        INDEXES[key] = self
        return key

    def lookup(self, url: str) -> Capture | None:
        return self.captures.get(_key(url)) or self.captures.get(canonicalize_url(url))

    def article_page(self, url: str) -> str | None:
        """The archived URL of the article ``url`` is a URL of (a locale prefix, an Asset
        Publisher view), when the archive holds the article under another of its URLs."""
        _, is_article, key = url_identity(url)
        if not is_article:
            return None
        found = self.articles.get(key)
        return found if found is not None and found != _key(url) else None

    def problem_lines(self) -> list[str]:
        """One line per file whose records were not all used."""
        lines = [problem.line() for problem in self.problems]
        for path, urls in self.unresolved.items():
            lines.append(
                f"{path}: {len(urls)} revisit record(s) refer to a response none of the archives "
                f"holds, not used (e.g. {urls[0]})"
            )
        return lines


def _key(url: str) -> str:
    return url.split("#", 1)[0]


def origin_of(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the default port spelled out: ``https://x`` is ``https://x:443``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or DEFAULT_PORTS.get(scheme)


def find_archives(archive_dir: Path) -> list[Path]:
    """Every WARC file under ``archive_dir``, oldest name first (run files sort by time)."""
    if not archive_dir.is_dir():
        return []
    return sorted(
        path
        for path in archive_dir.rglob("*")
        if path.is_file() and path.name.endswith(WARC_SUFFIXES)
    )


@dataclass
class _Record:
    kind: str
    url: str
    offset: int
    captured_at: datetime
    status: int
    payload_digest: str | None
    refers_to_url: str | None
    refers_to_date: str | None


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _status(record: Any) -> int:
    http = record.http_headers
    try:
        return int(http.get_statuscode()) if http is not None else 200
    except (TypeError, ValueError):
        return 0


def _read_file(path: Path) -> tuple[list[_Record], str | None]:
    """The file's response and revisit records, and why reading stopped early (None: whole)."""
    records: list[_Record] = []
    size = path.stat().st_size
    end = 0
    # warcio prints its doubts about a record on stderr: they become the file's one line.
    doubts = io.StringIO()
    try:
        with path.open("rb") as stream, redirect_stderr(doubts):
            archive = ArchiveIterator(stream, check_digests=True)
            for record in archive:
                offset = archive.get_record_offset()
                if record.format != "warc":
                    return records, f"not a WARC record at byte {offset}"
                record.content_stream().read()
                if getattr(record.raw_stream, "limit", 0):
                    return records, f"record at byte {offset} is truncated"
                if record.digest_checker.passed is False:
                    return records, f"record at byte {offset} fails its digest (corrupt)"
                end = offset + archive.get_record_length()
                headers = record.rec_headers
                url = headers.get_header("WARC-Target-URI")
                captured_at = _parse_date(headers.get_header("WARC-Date"))
                if record.rec_type not in {"response", "revisit"} or not url:
                    continue
                if captured_at is None:
                    return records, f"record at byte {offset} has no valid WARC-Date"
                records.append(
                    _Record(
                        kind=record.rec_type,
                        url=url,
                        offset=offset,
                        captured_at=captured_at,
                        status=_status(record),
                        payload_digest=headers.get_header("WARC-Payload-Digest"),
                        refers_to_url=headers.get_header("WARC-Refers-To-Target-URI"),
                        refers_to_date=headers.get_header("WARC-Refers-To-Date"),
                    )
                )
    except (ArchiveLoadFailed, OSError, EOFError, ValueError) as exc:
        message = " ".join(str(exc).split())[:120]
        return records, f"unreadable from byte {end}: {type(exc).__name__}: {message}"
    if end < size:
        # A gzip member cut short ends the iteration without an error.
        return records, f"unreadable from byte {end} of {size} (truncated)"
    return records, None


def index_archives(
    paths: Iterable[Path],
    *,
    origin: str,
    archive_dir: Path,
    since: date | None = None,
    timezone: str = "UTC",
    skip_foreign: bool = False,
) -> ArchiveIndex:
    """Index ``paths`` for a reparse of the site at ``origin``. Raises :class:`ArchiveRefused`
    when a file holds captures of another origin (``skip_foreign``: a file holding only other
    origins' captures is left out instead, as in a directory shared by sites). ``since``: only
    captures of that day or later (in ``timezone``) answer requests; every file still resolves
    revisits."""
    site = origin_of(origin)
    tz = ZoneInfo(timezone)
    index = ArchiveIndex()
    responses_by_digest: dict[str, Capture] = {}
    responses_by_url: dict[str, list[Capture]] = {}
    revisits: list[tuple[Path, _Record, str]] = []
    chosen: list[tuple[str, Capture]] = []
    statuses: dict[tuple[Path, int], int] = {}
    for path in paths:
        records, problem = _read_file(path)
        foreign = sorted({r.url for r in records if origin_of(r.url) != site})
        if foreign and len(foreign) == len({r.url for r in records}) and skip_foreign:
            logger.info("reparse: %s holds another site's captures, left out", path)
            continue
        if foreign:
            raise ArchiveRefused(
                f"{path} holds captures of another site ({foreign[0]}), not of {origin}: "
                "give the site's archives (--site, --base-url)"
            )
        index.files.append(path)
        if problem is not None:
            index.problems.append(FileProblem(path, len(records), problem))
        label_path = _label_path(path, archive_dir)
        for record in records:
            index.records += 1
            label = f"{label_path}:{record.offset}"
            capture = Capture(path, record.offset, record.captured_at, label)
            statuses[(path, record.offset)] = record.status
            if record.kind == "response":
                if record.payload_digest:
                    responses_by_digest.setdefault(record.payload_digest, capture)
                responses_by_url.setdefault(_key(record.url), []).append(capture)
            if since is not None and record.captured_at.astimezone(tz).date() < since:
                continue
            if record.kind == "revisit":
                revisits.append((path, record, label))
            else:
                chosen.append((record.url, capture))
    for path, record, label in revisits:
        original = _original(record, responses_by_digest, responses_by_url)
        if original is None:
            index.unresolved.setdefault(path, []).append(record.url)
            continue
        chosen.append(
            (record.url, Capture(original.path, original.offset, record.captured_at, label))
        )
    for url, capture in chosen:
        _, is_article, article_key = url_identity(url)
        page = is_article and statuses.get((capture.path, capture.offset)) == 200
        # the article's own display page wins over its other URLs
        if page and (_key(url) == article_key or article_key not in index.articles):
            index.articles[article_key] = _key(url)
        key = _key(url)
        held = index.captures.get(key)
        if held is None or held.captured_at <= capture.captured_at:
            index.captures[key] = capture
            index.captures[canonicalize_url(url)] = capture
    return index


def _original(
    revisit: _Record,
    by_digest: dict[str, Capture],
    by_url: dict[str, list[Capture]],
) -> Capture | None:
    """The response a revisit stands for: the same payload, else its referred URI and date."""
    if revisit.payload_digest and revisit.payload_digest in by_digest:
        return by_digest[revisit.payload_digest]
    candidates = by_url.get(_key(revisit.refers_to_url or revisit.url), [])
    wanted = _parse_date(revisit.refers_to_date)
    for capture in candidates:
        if wanted is not None and capture.captured_at == wanted:
            return capture
    return None if wanted is not None or not candidates else candidates[-1]


def _label_path(path: Path, archive_dir: Path) -> str:
    try:
        return str(path.resolve().relative_to(archive_dir.resolve()))
    except ValueError:
        return str(path)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def read_capture(capture: Capture) -> Answer:
    """The HTTP status, headers and decoded body of the response record at the capture."""
    with capture.path.open("rb") as stream:
        stream.seek(capture.offset)
        record = next(iter(ArchiveIterator(stream)))
        body = record.content_stream().read()
        http = record.http_headers
        if http is None:
            return Answer(200, [], body)
        status = int(http.get_statuscode() or 200)
        return Answer(status, list(http.headers), body)


def _headers(pairs: list[tuple[str, str]]) -> Headers:
    headers = Headers()
    for name, value in pairs:
        if name.lower().encode() not in TRANSFER_HEADERS:
            headers.appendlist(name, value)
    return headers


class ReplayDownloadHandler(BaseDownloadHandler):
    """The ``http``/``https`` download handler of a reparse: every answer from the archives."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        key = crawler.settings.get("REPLAY_INDEX")
        if key not in INDEXES:
            raise RuntimeError(f"REPLAY_INDEX {key!r} names no archive index of this process")
        self.index = INDEXES[key]

    def _inc(self, name: str) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(f"reparse/{name}")

    async def download_request(self, request: Request) -> Response:
        capture = self.index.lookup(request.url)
        if capture is None:
            page = self.index.article_page(request.url)
            if page is not None:
                # The archived crawl met this article under another of its URLs first: the
                # archive answers with where it holds the article, as a redirect would.
                self._inc("redirected_to_capture")
                return Response(
                    url=request.url,
                    status=301,
                    headers=Headers({"Location": page}),
                    request=request,
                    flags=["archived"],
                )
        if capture is None:
            self._inc("not_archived")
            logger.debug("reparse: not in the archives: %s", request.url)
            raise NotArchived(f"not in the archives: {request.url}")
        answer = await run_in_thread(read_capture, capture)
        self._inc("responses")
        request.meta["archive_record"] = capture.label
        request.meta["archive_date"] = capture.captured_at.isoformat()
        headers = _headers(answer.headers)
        respcls = responsetypes.from_args(headers=headers, url=request.url, body=answer.body)
        return respcls(
            url=request.url,
            status=answer.status,
            headers=headers,
            body=answer.body,
            request=request,
            flags=["archived"],
        )
