"""``scrapy reparse``: extract the articles of archived responses again, with today's code,
without the network.

A reparse is a crawl of the site's spider (full mode: every archived article is re-extracted)
whose downloads are answered from WARC archives (``crawler.crawl.replay``): the same callbacks,
parsers, middlewares and pipelines as a crawl. The storage adds a version only where the
content changed, with its ``changed_fields``; the run is a ``crawl_runs`` row of kind
``reparse``, judged by the run ledger like any run, and its report's ``changed_fields`` counts
the new versions per field (printed at the end).

Archives: ``--warc FILE ...``, or every WARC under ``ARCHIVE_DIR`` (``<OUTPUT_DIR>/archive``;
files holding only other sites' captures are left out). ``--since DAY``: only the captures of
that day or later (the site's clock). ``--base-url URL``: the address the archived crawl used,
when it is not the profile's (a replica, a mirror).

Exit status: 0 the run succeeded; 1 it failed, or some archived records were unreadable (the
readable ones were used; one line per file names the rest); 2 bad usage: no WARC found, a WARC
of another site, a bad option (one line).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import UsageError

from crawler.commands.crawl import Command as CrawlCommand
from crawler.domain.errors import EXIT_BAD_USAGE, ConfigError
from crawler.domain.outcome import fail_run

if TYPE_CHECKING:
    import argparse

    from scrapy.crawler import Crawler

    from crawler.crawl.replay import ArchiveIndex

COMMAND = "scrapy reparse"
REPLAY_HANDLER = "crawler.crawl.replay.ReplayDownloadHandler"
# No network, so no politeness to keep: the archive answers as fast as it is read.
REPLAY_SETTINGS: dict[str, Any] = {
    "RUN_KIND": "reparse",
    # The archives are the input: answers replayed from them are not archived a second time,
    # and each version points to the record it was read from (response.meta["archive_record"]).
    "ARCHIVE_ENABLED": False,
    "DOWNLOAD_HANDLERS": {"http": REPLAY_HANDLER, "https": REPLAY_HANDLER},
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "CONCURRENT_REQUESTS": 16,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
    # An archived error is the same answer every time.
    "RETRY_ENABLED": False,
    "HTTPCACHE_ENABLED": False,
    # The articles' record is the database and the run report: no per-run feed.
    "FEEDS": {},
}


class Command(CrawlCommand):
    def syntax(self) -> str:
        return "[--site NAME] [--since DAY] [--warc FILE ...] [--base-url URL]"

    def short_desc(self) -> str:
        return "Extract archived responses (WARC) again with the current code, no network"

    def long_desc(self) -> str:
        return (
            "Run the site's crawl with every download answered from WARC archives (--warc FILE, "
            "or every WARC under ARCHIVE_DIR): the same parsers and pipelines as a crawl, a new "
            "version only where an extracted field changed (with changed_fields), recorded as "
            "a run of kind reparse. --since DAY keeps the captures of that day or later. "
            "--base-url URL: the address the archived crawl used, when not the profile's. "
            "Exit 1 when the run failed or records were unreadable, 2 on bad usage."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--site", metavar="NAME", default="hepza")
        parser.add_argument("--since", metavar="DAY", default=None)
        parser.add_argument("--warc", metavar="FILE", nargs="+", action="extend", default=None)
        parser.add_argument("--base-url", dest="base_url", metavar="URL", default=None)

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        # Imported here: Scrapy imports every command module for every command (`scrapy runs`
        # too), and the replay brings warcio, the preflight SQLAlchemy.
        from crawler.crawl.replay import (  # noqa: PLC0415
            ArchiveRefused,
            find_archives,
            index_archives,
        )
        from crawler.setup.config import parse_base_url, parse_since, parse_site_name  # noqa: PLC0415
        from crawler.setup.preflight import check_set_options, stop  # noqa: PLC0415
        from crawler.sites.profile import find_profile, profile_dirs  # noqa: PLC0415

        assert self.settings is not None
        check_set_options(self.settings, opts.set, COMMAND)
        if args:
            stop(self.settings, "", f"unexpected arguments: {' '.join(args)}", 2, COMMAND)
        try:
            site = parse_site_name(opts.site, "--site")
            since = parse_since(opts.since) if opts.since is not None else None
            base_url = parse_base_url(opts.base_url, "--base-url") if opts.base_url else None
            profile = find_profile(site, profile_dirs(self.settings))
        except ConfigError as exc:
            stop(self.settings, "", str(exc), EXIT_BAD_USAGE, COMMAND)
        for name, value in REPLAY_SETTINGS.items():
            self.settings.set(name, value, priority="cmdline")
        # As `scrapy crawl SITE -a full=1 [-a base_url=URL]` would give them: every archived
        # article is extracted again, whatever the database already holds.
        opts.spargs = [*(opts.spargs or []), "full=1"]
        if base_url:
            opts.spargs.append(f"base_url={base_url}")
        super().process_options([site], opts)
        self.site = site
        origin = base_url or profile.base_url
        archive_dir = Path(str(self.settings.get("ARCHIVE_DIR") or "output/archive"))
        explicit = [Path(name) for name in opts.warc or []]
        missing = [str(path) for path in explicit if not path.is_file()]
        if missing:
            stop(self.settings, "", f"--warc {missing[0]}: no such file", EXIT_BAD_USAGE, COMMAND)
        paths = explicit or find_archives(archive_dir)
        if not paths:
            stop(
                self.settings,
                "",
                f"no WARC found under {archive_dir} (ARCHIVE_DIR): crawl with archiving on, "
                "or give --warc FILE",
                EXIT_BAD_USAGE,
                COMMAND,
            )
        try:
            index = index_archives(
                paths,
                origin=origin,
                archive_dir=archive_dir,
                since=since,
                timezone=profile.timezone,
                skip_foreign=not explicit,
            )
        except ArchiveRefused as exc:
            stop(self.settings, "", str(exc), EXIT_BAD_USAGE, COMMAND)
        if not index.files:
            stop(self.settings, "", f"no WARC of {origin} under {archive_dir}", 2, COMMAND)
        self.index: ArchiveIndex = index
        self.settings.set("REPLAY_INDEX", index.register(), priority="cmdline")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        from crawler.crawl.replay import INDEXES  # noqa: PLC0415
        from crawler.extensions.run import verdict_of  # noqa: PLC0415
        from crawler.ledger import exit_status  # noqa: PLC0415

        if args:
            raise UsageError(f"unexpected arguments: {' '.join(args)}")
        assert self.crawler_process is not None and self.settings is not None
        index = self.index
        self.problems = index.problem_lines()
        for line in self.problems:
            sys.stderr.write(f"{COMMAND}: unreadable: {line}\n")
        crawler = self.crawler_process.create_crawler(self.site)
        self.crawler = crawler
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        try:
            self.crawler_process.crawl(crawler, **opts.spargs)
            self.crawler_process.start()
        finally:
            INDEXES.pop(str(self.settings.get("REPLAY_INDEX")), None)
        self.exitcode = exit_status(
            verdict_of(crawler), bootstrap_failed=self.crawler_process.bootstrap_failed
        )
        stats = crawler.stats
        usage_error = stats.get_value("run/usage_error") if stats is not None else None
        if usage_error:
            sys.stderr.write(f"{COMMAND}: error: {usage_error}\n")
            self.exitcode = EXIT_BAD_USAGE
            return
        print(summary_line(crawler, index))

    def spider_opened(self) -> None:
        if self.problems:
            # Not everything archived was read: the run says so (a run never claims what did
            # not happen), and exits 1.
            fail_run(
                self.crawler,
                "archive_unreadable",
                f"{len(self.problems)} archive file(s) not wholly readable: "
                + "; ".join(self.problems),
            )


def summary_line(crawler: Crawler, index: ArchiveIndex) -> str:
    """What the reparse did, in one line: the run, the archives, the articles, the fields."""
    from crawler.extensions.run import RunOwner  # noqa: PLC0415

    owner = crawler.get_extension(RunOwner)
    stats = crawler.stats.get_stats() if crawler.stats is not None else {}
    report = (owner.report if owner is not None else None) or {}
    fields = report.get("changed_fields") or {}
    changed = ", ".join(f"{name} {count}" for name, count in sorted(fields.items())) or "none"
    return (
        f"reparse {report.get('run_id', '?')} {report.get('outcome', 'failed')}: "
        f"{len(index.files)} WARC file(s), {index.records} records, "
        f"{stats.get('reparse/responses', 0)} responses replayed, "
        f"{stats.get('reparse/not_archived', 0)} not archived; articles parsed "
        f"{stats.get('coverage/articles', 0)}, new {stats.get('storage/new', 0)}, changed "
        f"{stats.get('storage/changed', 0)}, unchanged {stats.get('storage/unchanged', 0)}; "
        f"changed fields: {changed}"
    )
