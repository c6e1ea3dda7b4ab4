"""``scrapy report``: one self-contained HTML page about the stored articles and the runs.

Per site (every site of the database, or ``--site NAME``): articles published per month and
category, runs over time (new/changed, errors, duration, field coverage), the table of runs,
and the latest finished run's failures, problems and rejected pages (from its report, the
articles it stored and ``REJECTS_PATH``). Charts are matplotlib figures written as inline SVG
(``crawler/ledger/html_report.py``): the page needs no network to be viewed.

The default output is ``<REPORTS_DIR>/report-<site>-<time>.html`` (``report-<time>.html``
for every site), under OUTPUT_DIR like every output place. A database without runs or
articles has nothing to report: one line, exit 1. A database file that does not exist or
holds no crawler tables, or an unknown ``--site``, is refused (exit 2), as ``scrapy export``
does; a database that does not answer, or an output that cannot be written, is one line,
exit 1.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from scrapy.exceptions import UsageError

from crawler.commands.runs import one_line, unknown_site
from crawler.ops.database_command import DatabaseCommand, site_timezone
from crawler.setup.paths import DEFAULT_OUTPUT_DIR, PLACES_BY_SETTING
from pipelines.storage.secrets import redact_url

if TYPE_CHECKING:
    import argparse

    from scrapy.settings import BaseSettings
    from sqlalchemy import Engine

    from crawler.ledger.html_report import SiteSection


def default_report_path(
    reports_dir: str | Path | None, site: str | None, now: datetime | None = None
) -> Path:
    """``<REPORTS_DIR>/report-<site>-<time>.html``, or ``report-<time>.html`` for every site."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    directory = Path(reports_dir or PLACES_BY_SETTING["REPORTS_DIR"].under(DEFAULT_OUTPUT_DIR))
    name = f"report-{site}-{stamp}.html" if site else f"report-{stamp}.html"
    return directory / name


def build_sections(
    engine: Engine, settings: BaseSettings, sites: list[str], rejects_path: Path
) -> list[SiteSection]:
    # matplotlib comes with the page's module: imported when a report is made, not with this
    # module, since Scrapy imports every command's module for every command (a crawl included).
    from crawler.ledger.history import (  # noqa: PLC0415
        load_runs,
        monthly_counts,
        run_article_problems,
        run_rejects,
    )
    from crawler.ledger.html_report import SiteSection  # noqa: PLC0415

    sections: list[SiteSection] = []
    for site in sites:
        runs = load_runs(engine, site)
        monthly = monthly_counts(engine, site)
        latest = next((run for run in runs if run.finished), None)
        problems = run_article_problems(engine, latest.run_id) if latest else (0, [])
        rejects = run_rejects(rejects_path, latest.run_id) if latest else (0, [])
        sections.append(
            SiteSection(site, site_timezone(settings, site), monthly, runs, problems, rejects)
        )
    return sections


def write_atomically(path: Path, text: str) -> None:
    """Written whole or not at all: a reader never opens half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


class Command(DatabaseCommand):
    name = "report"

    def syntax(self) -> str:
        return "[--output FILE.html] [--site NAME]"

    def short_desc(self) -> str:
        return "Write an HTML report of the stored articles and the runs, with charts"

    def long_desc(self) -> str:
        return (
            "Write one self-contained HTML page (inline SVG charts, no network needed): "
            "articles published per month and category, runs over time (new/changed, errors, "
            "duration, field coverage) and the latest run's problems and rejected pages, per "
            "site (--site for one). The database is DATABASE_URL; the default output is under "
            "OUTPUT_DIR/reports (-s OUTPUT_DIR=... or -s REPORTS_DIR=...). A database without "
            "runs or articles is refused (exit status 1)."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--site", metavar="NAME", default=None)
        parser.add_argument("-o", "--output", metavar="FILE.html", default=None)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        if args:
            raise UsageError(f"unexpected arguments: {' '.join(args)}")
        database_url = self.database_url()
        if database_url is None:
            return
        rejects_path = Path(self.settings.get("REJECTS_PATH") or "")
        # Imported here: Scrapy imports every command module at any `scrapy` start-up, and the
        # history and the storage bring SQLAlchemy.
        from crawler.ledger.history import known_sites  # noqa: PLC0415
        from pipelines.storage.engine import StorageError  # noqa: PLC0415

        try:
            store = self.open_database(database_url)
            try:
                with store.guard("report"):
                    unknown = unknown_site(store.engine, opts.site)
                    if unknown:
                        self.refuse(unknown)
                        return
                    sites = known_sites(store.engine)
                    if not sites:
                        self.refuse(
                            f"nothing to report: the database at {redact_url(database_url)} "
                            "holds no runs and no articles",
                            exitcode=1,
                        )
                        return
                    chosen = [opts.site] if opts.site else sites
                    sections = build_sections(store.engine, self.settings, chosen, rejects_path)
            finally:
                store.close()
        except StorageError as exc:
            print(f"report failed: {one_line(exc)}", file=sys.stderr)
            self.exitcode = 1
            return
        output = (
            Path(opts.output)
            if opts.output
            else default_report_path(self.settings.get("REPORTS_DIR"), opts.site)
        )
        from crawler.ledger.html_report import render_report  # noqa: PLC0415

        page = render_report(sections, redact_url(database_url), datetime.now(UTC))
        try:
            write_atomically(output, page)
        except OSError as exc:
            print(f"report: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
            self.exitcode = 1
            return
        print(f"report of {len(sections)} site(s) written to {output}")
