"""``scrapy crawl`` that exits non-zero when the run report judged the run a failure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from crawler.preflight import run_preflight

if TYPE_CHECKING:
    import argparse


class Command(ScrapyCrawlCommand):
    def short_desc(self) -> str:
        return "Run a spider; exit status 1 when the run failed (see the run report)"

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        # Here, not in run(): building the crawler process (which comes before run) already
        # opens LOG_FILE and installs the reactor. A bad value exits with one line (status 2).
        if len(args) == 1 and self.settings is not None:
            run_preflight(self.settings, args[0], opts.spargs)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError("give exactly one spider name, e.g. 'scrapy crawl hepza'")
        assert self.crawler_process
        crawler = self._create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        failed = crawler.stats.get_value("run/failed") if crawler.stats else False
        if self.crawler_process.bootstrap_failed or failed:
            self.exitcode = 1
