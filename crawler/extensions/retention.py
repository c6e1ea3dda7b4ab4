"""Retention: per-run feeds and run reports keep the last KEEP_FEEDS / KEEP_REPORTS files.

Runs at ``engine_stopped``, after every ``spider_closed`` handler finished: the feed exporter
has closed this run's feed and the run report is written. A run without its report (a side
command such as ``scrapy parse``, a report that could not be written) prunes nothing. Only
files named the way this project names them are candidates (a feed URI's template such as
``%(name)s-%(time)s.jsonl``, a report ``<run id>.json``); ``latest.json``, anything else in those
directories and this run's own files are never removed. An empty feed is this run's truthful
output (nothing was parsed), so it is kept and counts like any other. The ``.partial`` feeds
killed runs leave are pruned the same way, as a series of their own. 0 keeps every file.
Logs are rotated by ``hepza-run``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.extensions.feedexport import FeedExporter

from crawler.crawl.feeds import PARTIAL_SUFFIX
from crawler.setup.paths import series_pattern

if TYPE_CHECKING:
    from collections.abc import Iterable

    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

# The run report's file name: the run id (uuid4 hex) plus ".json".
REPORT_NAME = re.compile(r"[0-9a-f]{32}\.json")


def prune_series(
    directory: Path,
    pattern: re.Pattern[str],
    keep: int,
    protected: Iterable[Path] = (),
    since: float | None = None,
) -> list[Path]:
    """Remove the oldest files of ``directory`` whose name matches ``pattern`` beyond ``keep``.

    Protected files, and files modified at or after ``since`` (this run's own, say a batch
    feed already rotated away from the exporter), are never removed and count toward ``keep``
    first. Returns the removed files.
    """
    protect = {path.resolve() for path in protected}
    try:
        names = [p for p in directory.iterdir() if pattern.fullmatch(p.name)]
    except FileNotFoundError:
        return []
    except OSError as exc:
        logger.warning("retention: cannot list %s: %s", directory, exc)
        return []
    files: list[tuple[float, str, Path]] = []
    for path in names:
        with contextlib.suppress(FileNotFoundError):
            if path.is_file():
                files.append((path.stat().st_mtime, path.name, path))
    current = [
        f for f in files if f[2].resolve() in protect or (since is not None and f[0] >= since)
    ]
    others = [f for f in files if f not in current]
    # Newest first: by modification time, then by name (names carry a timestamp or a run id).
    others.sort(reverse=True)
    removed = []
    for _, _, path in others[max(keep - len(current), 0) :]:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            logger.warning("retention: cannot remove %s: %s", path, exc)
            continue
        removed.append(path)
    return removed


def local_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # s3://, ftp://... (one letter: a drive)
        return None
    return Path(uri)


class Retention:
    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.keep_feeds = settings.getint("KEEP_FEEDS", 0)
        self.keep_reports = settings.getint("KEEP_REPORTS", 0)
        if self.keep_feeds <= 0 and self.keep_reports <= 0:
            # KEEP_FEEDS and KEEP_REPORTS are 0: every file is kept, nothing to warn about.
            raise NotConfigured
        self.reports_dir = Path(settings.get("REPORTS_DIR") or "")
        # Per-run feed series: local feed URIs whose name changes every run.
        self.feed_templates = [
            path
            for uri in settings.getdict("FEEDS")
            if (path := local_path(uri)) is not None
            and "%(" in path.name
            and "%(" not in str(path.parent)
        ]
        self.current_feeds: list[Path] = []
        self.run_id: str | None = None
        self.started = time.time()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Retention:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(ext.engine_stopped, signal=signals.engine_stopped)
        return ext

    def spider_closed(self, spider: Spider, reason: str) -> None:
        # Read while the exporter still holds its slots: this run's feed files.
        exporter = self.crawler.get_extension(FeedExporter)
        for slot in getattr(exporter, "slots", []):
            path = local_path(slot.uri)
            if path is not None:
                self.current_feeds.append(path)
        self.run_id = str(self.crawler.stats.get_value("run/id") or "") or None
        # A feed named after the spider is this spider's series: other portals' feeds in the
        # same directory are theirs to keep.
        self.feed_templates = [
            template.with_name(template.name.replace("%(name)s", spider.name))
            for template in self.feed_templates
        ]

    def engine_stopped(self) -> None:
        this_report = self.reports_dir / f"{self.run_id}.json" if self.run_id else None
        if this_report is None or not this_report.is_file():
            # Not a recorded run (scrapy parse, shell, a run whose report failed): leave the
            # files of the recorded runs alone.
            logger.debug("retention: no report of this run, nothing pruned")
            return
        removed: list[Path] = []
        if self.keep_feeds > 0:
            for template in self.feed_templates:
                # The partial feeds of killed runs (crawler/crawl/feeds.py) are a series of their
                # own.
                for name in (template.name, template.name + PARTIAL_SUFFIX):
                    removed += prune_series(
                        template.parent,
                        series_pattern(name),
                        self.keep_feeds,
                        self.current_feeds,
                        self.started,
                    )
        if self.keep_reports > 0 and self.reports_dir.parts:
            removed += prune_series(
                self.reports_dir, REPORT_NAME, self.keep_reports, [this_report], self.started
            )
        if removed:
            logger.info(
                "retention: removed %d old file(s) (keeping the last %d feeds, %d reports)",
                len(removed),
                self.keep_feeds,
                self.keep_reports,
            )
