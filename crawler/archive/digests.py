"""Which full copies a run's ``revisit`` records may refer to, and which retention must keep.

One small JSON file per site in the archive directory, ``<site>.digests.json``:

- ``urls``: for every URL archived in full, the newest full copy of it: its payload digest,
  ``WARC-Date``, ``WARC-Record-ID`` and location (``<file>:<offset>``). A run loads it once at
  its start (a dictionary lookup per response after that; at 50,000 URLs the file is a few
  MB) and adds the copies it writes, so a page unchanged since an earlier run, or met twice in
  this one, is a revisit record.
- ``refs``: for every file a revisit record referred to, the newest run (its token) that did.

Retention (:func:`prune`) keeps the newest ``keep`` runs' sets, and an older file only while a
kept run's revisit records refer to it. So that old sets do expire, a run refers only to copies
in the sets that stay after it (``keep - 1`` runs before it, and its own): a copy older than
that is written in full again, once, and becomes the newest copy.

The file is only ever an optimisation: a missing or unreadable one makes the run write full
copies (never a revisit to a copy it cannot name). It is written at the end of a run, merged
under a lock with what another process of the same site (a cluster worker) wrote meanwhile,
and replaced atomically.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.archive.writer import FILE_NAME, split_location

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator

logger = logging.getLogger(__name__)

INDEX_SUFFIX = ".digests.json"
FORMAT = 1


@dataclass(frozen=True, slots=True)
class Copy:
    """The newest full copy of a URL's payload."""

    digest: str
    date: str
    location: str
    record_id: str


def index_path(directory: Path, site: str) -> Path:
    return directory / f"{site}{INDEX_SUFFIX}"


def run_sets(directory: Path, site: str) -> dict[str, list[str]]:
    """Run token -> the names of that run's files, for every WARC file of ``site``."""
    sets: dict[str, list[str]] = {}
    with contextlib.suppress(FileNotFoundError):
        for path in directory.iterdir():
            match = FILE_NAME.fullmatch(path.name)
            if match and match["site"] == site:
                sets.setdefault(match["token"], []).append(path.name)
    return sets


def token_of(name: str) -> str | None:
    match = FILE_NAME.fullmatch(name)
    return match["token"] if match else None


@contextlib.contextmanager
def _locked(directory: Path, site: str) -> Iterator[None]:
    with (directory / f".{site}.digests.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read(path: Path) -> tuple[dict[str, Copy], dict[str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}")
        urls = {url: Copy(*entry) for url, entry in data["urls"].items()}
        refs = {str(k): str(v) for k, v in data["refs"].items()}
    except FileNotFoundError:
        return {}, {}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        logger.warning(
            "archive: %s unreadable (%s): unchanged pages are archived in full", path, exc
        )
        return {}, {}
    return urls, refs


class DigestIndex:
    """One site's digest index, as one run sees and extends it."""

    def __init__(self, directory: Path, site: str, token: str, keep: int) -> None:
        self.directory = directory
        self.site = site
        self.token = token
        self.keep = keep
        self.path = index_path(directory, site)
        self.urls, self.refs = _read(self.path)
        # Runs whose files this run may refer to: the sets retention keeps after it.
        tokens = sorted((t for t in run_sets(directory, site) if t < token), reverse=True)
        self.referable = set(tokens if keep <= 0 else tokens[: keep - 1]) | {token}
        self.files = {name for names in run_sets(directory, site).values() for name in names}
        self.added: dict[str, Copy] = {}
        self.referred_files: set[str] = set()

    def original(self, url: str, digest: str) -> Copy | None:
        copy = self.urls.get(url)
        if copy is None or copy.digest != digest:
            return None
        name, _ = split_location(copy.location)
        token = token_of(name)
        if token is None or token not in self.referable:
            return None
        if token != self.token and name not in self.files:
            return None  # removed by hand: never refer to a copy that is gone
        return copy

    def add(self, url: str, digest: str, date: str, location: str, record_id: str) -> None:
        copy = Copy(digest, date, location, record_id)
        self.urls[url] = copy
        self.added[url] = copy
        self.files.add(split_location(location)[0])

    def referred(self, location: str) -> None:
        self.referred_files.add(split_location(location)[0])

    def save(self, removed: Collection[str] = ()) -> None:
        """Merge this run's copies and references into the file (raises OSError)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with _locked(self.directory, self.site):
            urls, refs = _read(self.path)
            urls.update(self.added)
            for name in self.referred_files:
                if refs.get(name, "") < self.token:
                    refs[name] = self.token
            if removed:
                urls = {
                    url: copy
                    for url, copy in urls.items()
                    if split_location(copy.location)[0] not in removed
                }
                refs = {name: t for name, t in refs.items() if name not in removed}
            data: dict[str, Any] = {
                "format": FORMAT,
                "urls": {
                    url: [c.digest, c.date, c.location, c.record_id] for url, c in urls.items()
                },
                "refs": refs,
            }
            fd, temp = tempfile.mkstemp(dir=self.directory, prefix=f".{self.site}.digests.")
            try:
                # mkstemp's 0600 would hide the index from the archive's other readers
                os.fchmod(fd, 0o644)
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(data, out, ensure_ascii=False, separators=(",", ":"))
                    out.flush()
                    os.fsync(out.fileno())
                Path(temp).replace(self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    Path(temp).unlink()
                raise
            self.urls, self.refs = urls, refs


def prune(directory: Path, site: str, keep: int, index: DigestIndex) -> list[Path]:
    """Remove the WARC files of ``site``'s runs older than the newest ``keep``, but any file a
    kept run's revisit records refer to; returns the removed files (0 keeps every file)."""
    if keep <= 0:
        return []
    sets = run_sets(directory, site)
    tokens = sorted(sets, reverse=True)
    kept = set(tokens[:keep]) | {index.token}
    oldest_kept = min(kept)
    refs = {**index.refs}
    for name in index.referred_files:
        refs[name] = max(refs.get(name, ""), index.token)
    removed: list[Path] = []
    for token, names in sets.items():
        if token in kept:
            continue
        for name in names:
            if refs.get(name, "") >= oldest_kept:
                continue
            path = directory / name
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                logger.warning("archive retention: cannot remove %s: %s", path, exc)
                continue
            removed.append(path)
    return removed
