"""The rejects file: one JSON line per rejected page (the URL fetched), however many runs
rejected it.

Each line: ``url``, ``fetched_url``, ``count`` (rejections over all runs), ``first_rejected_at``,
``last_rejected_at``, and from the last rejection ``run_id``, ``reasons`` and ``record``. The
file is loaded when the run opens, updated in memory, and rewritten atomically (a temporary
file, then ``os.replace``) when the run closes, and also every ``FLUSH_EVERY`` new rejections or
``FLUSH_SECONDS`` so that a killed run loses little. Lines in the older one-line-per-rejection
form (``rejected_at``) are merged into this form when read. A line that cannot be read is
logged and counted (``rejects/unreadable_lines``) and the others are kept.

A file that cannot be written fails the run (``rejects_unwritable``): pages the run says it
set aside would otherwise be nowhere.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crawler.domain.outcome import fail_run

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

FLUSH_EVERY = 50
FLUSH_SECONDS = 30.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RejectsFile:
    def __init__(
        self,
        path: Path,
        crawler: Crawler | None = None,
        *,
        flush_every: int = FLUSH_EVERY,
        flush_seconds: float = FLUSH_SECONDS,
        clock: Callable[[], str] = _now,
    ) -> None:
        self.path = path
        self.crawler = crawler
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self.clock = clock
        self.entries: dict[str, dict[str, Any]] = {}
        self.pending = 0
        self.loaded = False
        # When the existing file cannot be read, rewriting it would lose its history.
        self.writable = True
        self._last_flush = time.monotonic()

    def load(self) -> None:
        self.loaded = True
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except (FileNotFoundError, NotADirectoryError):
            return  # nothing yet; a place that cannot be written fails the run at the flush
        except OSError as exc:
            self.writable = False
            fail_run(
                self.crawler,
                "rejects_unwritable",
                f"cannot read rejects file {self.path}: {exc.strerror or exc}",
            )
            return
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict):
                    raise ValueError("not a JSON object")
                self._merge(entry)
            except (ValueError, TypeError) as exc:
                self._count("rejects/unreadable_lines")
                logger.warning(
                    "rejects file %s: line %d is not a reject record (%s), dropped: %.200s",
                    self.path,
                    number,
                    exc,
                    line,
                )

    def add(
        self,
        url: str | None,
        fetched_url: str | None,
        run_id: str | None,
        reasons: list[dict[str, str]],
        record: dict[str, Any],
    ) -> None:
        if not self.loaded:
            self.load()
        now = self.clock()
        key = fetched_url or url or ""
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = {"url": url, "count": 0, "first_rejected_at": now}
        entry.update(
            {
                "url": url or entry.get("url"),
                "fetched_url": fetched_url,
                "count": int(entry.get("count", 0)) + 1,
                "last_rejected_at": now,
                "run_id": run_id,
                "reasons": reasons,
                "record": record,
            }
        )
        self.entries[key] = _ordered(entry)
        self.pending += 1
        if (
            self.pending >= self.flush_every
            or time.monotonic() - self._last_flush >= self.flush_seconds
        ):
            self.flush()

    def flush(self) -> bool:
        """Write every entry to the file (atomically); False when it could not be written."""
        self._last_flush = time.monotonic()
        if not self.pending or not self.writable:
            return self.writable
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
            )
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                    for entry in self.entries.values():
                        fh.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
                os.replace(temp, self.path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
        except OSError as exc:
            fail_run(
                self.crawler,
                "rejects_unwritable",
                f"cannot write rejects file {self.path}: {exc.strerror or exc}",
            )
            return False
        self.pending = 0
        return True

    def close(self) -> None:
        self.flush()

    def _merge(self, entry: dict[str, Any]) -> None:
        key = entry.get("fetched_url") or entry.get("url") or ""
        # The older form: one line per rejection, its time in rejected_at.
        first = entry.get("first_rejected_at") or entry.get("rejected_at")
        last = entry.get("last_rejected_at") or entry.get("rejected_at")
        count = int(entry.get("count", 1))
        known = self.entries.get(key)
        merged = {
            **(known or {}),
            **{k: v for k, v in entry.items() if k != "rejected_at"},
            "count": count + int(known["count"]) if known else count,
            "first_rejected_at": min(
                filter(None, [first, known and known["first_rejected_at"]]), default=None
            ),
            "last_rejected_at": max(
                filter(None, [last, known and known["last_rejected_at"]]), default=None
            ),
        }
        self.entries[key] = _ordered(merged)

    def _count(self, key: str) -> None:
        stats = self.crawler.stats if self.crawler is not None else None
        if stats is not None:
            stats.inc_value(key)


FIELD_ORDER = (
    "url",
    "fetched_url",
    "count",
    "first_rejected_at",
    "last_rejected_at",
    "run_id",
    "reasons",
    "record",
)


def _ordered(entry: dict[str, Any]) -> dict[str, Any]:
    head = {name: entry.get(name) for name in FIELD_ORDER}
    return {**head, **{k: v for k, v in entry.items() if k not in head}}
