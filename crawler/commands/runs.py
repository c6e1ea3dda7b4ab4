"""``scrapy runs``: past runs from ``crawl_runs``, newest first.

Text (default): one line per run: its id, site (with its kind when it is not a crawl:
``hepza (reparse)``), start (the site's local time and UTC),
duration, outcome, new/changed/rejected articles, requests, errors (failed requests plus
spider exceptions) and field coverage; a failed run's reasons follow on indented lines. A
run still running or abandoned has no counts (``-``). ``--format jsonl``: one JSON object
per run (``RunSummary.as_json``).

A database without runs prints ``runs: no runs yet in <database>`` on stderr and exits 0:
nothing went wrong, there is nothing to list. A database file that does not exist or holds no
crawler tables, or a ``--site`` the database does not know, is refused (exit 2); a database
that does not answer is one line, exit 1.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from scrapy.exceptions import UsageError

from crawler.ops.database_command import DatabaseCommand
from pipelines.storage.secrets import redact_url

if TYPE_CHECKING:
    import argparse

    from sqlalchemy import Engine

    from crawler.ledger.history import RunSummary

# The run history and the storage are imported where they are used: Scrapy imports every
# command module at any `scrapy` start-up, and they bring SQLAlchemy.


FORMATS = ("text", "jsonl")


def one_line(message: object) -> str:
    """A driver's multi-line message as the one line a command prints."""
    return " ".join(str(message).split())


def positive_int(option: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise UsageError(f"{option} wants a whole number of at least 1, got {value!r}")
    return number


def unknown_site(engine: Engine, site: str | None) -> str | None:
    """Why ``--site`` names nothing the database holds (None when it does, or is not given)."""
    if site is None:
        return None
    from crawler.ledger.history import known_sites  # noqa: PLC0415

    sites = known_sites(engine)
    if site in sites:
        return None
    held = ", ".join(sites) or "none"
    return f"--site {site!r}: the database holds no runs or articles of that site (sites: {held})"


def _number(value: int | None) -> str:
    return "-" if value is None else str(value)


def text_lines(run: RunSummary, timezone: str) -> list[str]:
    from crawler.ledger.history import format_coverage, format_duration, local_time  # noqa: PLC0415

    local = local_time(run.started_at, timezone)
    # A crawl is the usual run; any other kind (a reparse) is named after the site.
    site = run.site if run.kind == "crawl" else f"{run.site} ({run.kind})"
    line = (
        f"{run.run_id}  {site}  {local:%Y-%m-%d %H:%M:%S%z} "
        f"({run.started_at:%Y-%m-%d %H:%M:%S} UTC)  {format_duration(run.duration_seconds)}  "
        f"{run.outcome}  new {_number(run.new)}, changed {_number(run.changed)}, "
        f"rejected {_number(run.rejected)}, requests {_number(run.requests)}, "
        f"errors {_number(run.errors)}  coverage: {format_coverage(run.coverage)}"
    )
    lines = [line]
    # What a reparse is for: the fields its new versions changed.
    if run.kind == "reparse" and run.changed_fields:
        fields = ", ".join(f"{name} {count}" for name, count in run.changed_fields.items())
        lines.append(f"    changed fields: {fields}")
    return [*lines, *(f"    failure: {reason}" for reason in run.failures)]


class Command(DatabaseCommand):
    name = "runs"

    def syntax(self) -> str:
        return "[--last N] [--site NAME] [--format text|jsonl]"

    def short_desc(self) -> str:
        return "List past crawl runs, newest first"

    def long_desc(self) -> str:
        return (
            "List the runs recorded in the database (DATABASE_URL), newest first: start in the "
            "site's time and UTC, duration, outcome, new/changed/rejected articles, requests, "
            "errors, field coverage and a failed run's reasons. --last N keeps the newest N, "
            "--site one site's runs, --format jsonl one JSON object per run. A database "
            "without runs says so on stderr (exit status 0)."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--last", metavar="N", default=None)
        parser.add_argument("--site", metavar="NAME", default=None)
        parser.add_argument("-f", "--format", dest="format", choices=FORMATS, default="text")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        if args:
            raise UsageError(f"unexpected arguments: {' '.join(args)}")
        last = positive_int("--last", opts.last) if opts.last is not None else None
        database_url = self.database_url()
        if database_url is None:
            return
        from crawler.ledger.history import load_runs  # noqa: PLC0415
        from pipelines.storage.engine import StorageError  # noqa: PLC0415

        try:
            store = self.open_database(database_url)
            try:
                with store.guard("runs"):
                    unknown = unknown_site(store.engine, opts.site)
                    if unknown:
                        self.refuse(unknown)
                        return
                    runs = load_runs(store.engine, opts.site, last)
            finally:
                store.close()
        except StorageError as exc:
            print(f"runs failed: {one_line(exc)}", file=sys.stderr)
            self.exitcode = 1
            return
        if not runs:
            where = f" of {opts.site}" if opts.site else ""
            print(f"runs: no runs{where} yet in {redact_url(database_url)}", file=sys.stderr)
            return
        zones: dict[str, str] = {}
        for run in runs:
            timezone = zones.setdefault(run.site, self.site_timezone(run.site))
            if opts.format == "jsonl":
                print(json.dumps(run.as_json(timezone), ensure_ascii=False))
            else:
                print("\n".join(text_lines(run, timezone)))
