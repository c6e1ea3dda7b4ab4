"""``scrapy crawl``: records the run, exits with the status the run ledger's verdict gives
(``crawler.ledger``), and keeps job state (``JOBDIR``) only for a run that was interrupted.

Exit status: 0 the run succeeded (a verdict reached), 1 the run failed, was interrupted or was
never judged (the report and the log say why), 2 bad usage.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, ClassVar

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError
from scrapy.settings import SETTINGS_PRIORITIES

from crawler.domain.errors import EXIT_BAD_USAGE
from crawler.setup.paths import DEFAULT_OUTPUT_DIR, default_feeds, resolve_output_paths

if TYPE_CHECKING:
    import argparse


class Command(ScrapyCrawlCommand):
    # Only a crawl records a run (crawl_runs row, run report); parse, shell and check do not.
    default_settings: ClassVar[dict[str, Any]] = {
        **ScrapyCrawlCommand.default_settings,
        "RECORD_RUN": True,
    }

    def short_desc(self) -> str:
        return "Run a spider; exit status 1 when the run failed (see the run report)"

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        # Imported here: Scrapy imports every command module for every command, and the
        # preflight brings SQLAlchemy and the site profiles (`scrapy search` needs neither).
        from crawler.setup.preflight import check_set_options, run_preflight  # noqa: PLC0415

        # Before Scrapy applies -s: its own refusal of a JSON setting is a usage screen
        # without the setting's name.
        assert self.settings is not None
        check_set_options(
            self.settings, opts.set, f"scrapy crawl {args[0]}" if args else "scrapy crawl"
        )
        super().process_options(args, opts)
        assert self.settings is not None
        resolve_output_paths(self.settings)
        given = (self.settings.getpriority("FEEDS") or 0) >= SETTINGS_PRIORITIES["cmdline"]
        if not given and not self.settings.getdict("FEEDS"):
            # The per-run feed, unless -o/-O or -s FEEDS name others (which then replace it;
            # `-s FEEDS={}` writes no feed).
            feeds = default_feeds(self.settings.get("OUTPUT_DIR") or DEFAULT_OUTPUT_DIR)
            self.settings.set("FEEDS", feeds, priority="project")
        # Here, not in run(): building the crawler process (which comes before run) already
        # opens LOG_FILE and installs the reactor. A bad value exits with one line (status 2).
        if len(args) == 1 and self.settings is not None:
            run_preflight(self.settings, args[0], opts.spargs)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError("give exactly one spider name, e.g. 'scrapy crawl hepza'")
        assert self.crawler_process
        crawler = self.crawler_process.create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        # Imported here: every command module loads at any `scrapy` start-up, and the run
        # extension brings the storage and the ledger with it.
        from crawler.extensions.run import verdict_of  # noqa: PLC0415
        from crawler.ledger import discard_ended_jobdir, exit_status  # noqa: PLC0415

        # The exit status is the ledger's verdict, relayed: a run it never judged (a crash
        # between the engine stopping and the verdict) is a failed run.
        self.exitcode = exit_status(
            verdict_of(crawler), bootstrap_failed=self.crawler_process.bootstrap_failed
        )
        try:
            stats = crawler.stats
        except RuntimeError:  # the crawl failed before its stats existed
            stats = None
        usage_error = stats.get_value("run/usage_error") if stats is not None else None
        if usage_error:
            # Found by the crawl itself (not a Liferay portal): bad usage, one line.
            sys.stderr.write(f"scrapy crawl {args[0]}: error: {usage_error}\n")
            self.exitcode = EXIT_BAD_USAGE
        if stats is not None:
            discard_ended_jobdir(crawler.settings, stats.get_value("finish_reason"))
