"""What the commands that read the database share (``scrapy export``, ``search``, ``runs``,
``report``): the project's output places resolved, ``DATABASE_URL`` checked and redacted from
every message, a database that is not there refused in one line (exit status 2) instead of being
created empty, and the time zone a site's local times are read and shown in.

It lives outside ``crawler/commands/``: Scrapy makes a command of every ``ScrapyCommand``
subclass it finds in ``COMMANDS_MODULE``, this base included."""

from __future__ import annotations

import atexit
import gc
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar
from zoneinfo import ZoneInfo

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from crawler.domain.errors import ConfigError
from crawler.setup.paths import resolve_output_paths

if TYPE_CHECKING:
    import argparse

    from scrapy.settings import BaseSettings
    from sqlalchemy import Engine

    from pipelines.storage.engine import Database


def check_database(database_url: str) -> tuple[str | None, Engine | None]:
    """Why ``database_url`` holds no crawl to read (None when it does), and the engine that
    looked when it does: the command reads through it (one connection to open, not two).

    A command that reads must not create an empty database at a mistyped path and report
    "0 articles" as if the crawl had found none.
    """
    # Imported here, as every database module of these commands: Scrapy imports every command
    # module at any `scrapy` start-up, and `scrapy search --help` needs no database.
    from sqlalchemy import inspect, make_url  # noqa: PLC0415
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError  # noqa: PLC0415

    from pipelines.storage.engine import ARTICLES_TABLE, create_db_engine  # noqa: PLC0415
    from pipelines.storage.secrets import redact_url  # noqa: PLC0415

    try:
        url = make_url(database_url)
    except ArgumentError:
        return f"DATABASE_URL is not a database URL: {redact_url(database_url)}", None
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database).expanduser()
            if not path.is_file():
                return f"no database at {path}", None
    try:
        engine = create_db_engine(database_url)
    except (SQLAlchemyError, ImportError):
        return None, None  # opening the database reports it with the driver's reason
    try:
        has_articles = inspect(engine).has_table(ARTICLES_TABLE)
    except SQLAlchemyError:
        engine.dispose()
        return None, None  # unreachable: opening it reports it with the driver's reason
    if not has_articles:
        engine.dispose()
        return f"no articles table in the database at {redact_url(database_url)}", None
    return None, engine


# Days a date option takes: one day inside Python's range on every clock (UTC+-14 h at most), so
# that no conversion between the site's clock and UTC overflows.
EARLIEST_DAY = date(1, 1, 2)
LATEST_DAY = date(9999, 12, 30)
DAY_RANGE = f"from {EARLIEST_DAY.isoformat()} to {LATEST_DAY.isoformat()}"


def check_day_in_range(day: date, option: str, value: str) -> None:
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ConfigError(f"{option} {value!r} is out of range: expected a day {DAY_RANGE}")


def since_instant(since: date, site_timezone: str, option: str = "--since") -> datetime:
    """Start of the given day on the site's clock, as UTC."""
    check_day_in_range(since, option, since.isoformat())
    return datetime.combine(since, time(0), tzinfo=ZoneInfo(site_timezone)).astimezone(UTC)


def site_timezone(settings: BaseSettings, site: str | None) -> str:
    """The zone of a site's local times: its profile's, else SITE_TIMEZONE (a portal crawled
    without a profile, by the generic spider, or every site at once)."""
    if site is not None:
        from crawler.sites.profile import find_profile, profile_dirs  # noqa: PLC0415

        try:
            return find_profile(site, profile_dirs(settings)).timezone
        except ConfigError:
            pass
    return str(settings.get("SITE_TIMEZONE") or "Asia/Ho_Chi_Minh")


class DatabaseCommand(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False
    default_settings = {"LOG_LEVEL": "WARNING"}  # noqa: RUF012
    # The command's name: the first word of its one-line errors.
    name: ClassVar[str] = ""
    _checked_engine: Engine | None = None

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        # The interpreter's last collections at exit walk every object of the libraries the
        # command loaded (Scrapy, Twisted, SQLAlchemy, psycopg): 0.08 s of `--help`, 0.15 s of
        # a search. A reading command leaves them nothing to do (its files closed, its engine
        # disposed, its memory going back with the process): frozen, they skip it all. Here
        # (only the chosen command's options are added) so that `--help` has it too.
        atexit.register(gc.freeze)

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        assert self.settings is not None
        resolve_output_paths(self.settings)

    def refuse(self, reason: str, exitcode: int = 2) -> None:
        """One line on stderr, and the exit status (2: bad usage)."""
        print(f"{self.name}: {reason}", file=sys.stderr)
        self.exitcode = exitcode

    def database_url(self) -> str | None:
        """``DATABASE_URL``, its password kept out of every message from now on; None when the
        database is not there (refused: one line, exit status 2)."""
        assert self.settings is not None
        from crawler.setup.database_url import check_database_url  # noqa: PLC0415
        from pipelines.storage.secrets import install_redaction  # noqa: PLC0415

        database_url = self.settings.get("DATABASE_URL")
        if not database_url:
            raise UsageError("DATABASE_URL is empty")
        install_redaction(url=database_url)
        try:
            # The one check of every command's DATABASE_URL (scrapy crawl's preflight too).
            check_database_url(str(database_url))
        except ConfigError as exc:
            self.refuse(str(exc))
            return None
        missing, self._checked_engine = check_database(database_url)
        if missing:
            self.refuse(missing)
            return None
        return str(database_url)

    def open_database(self, database_url: str) -> Database:
        """The database :meth:`database_url` checked, brought to this code's schema (a
        failure raises ``StorageError``), through the engine that checked it."""
        from pipelines.storage.engine import Database  # noqa: PLC0415

        engine, self._checked_engine = self._checked_engine, None
        return Database(database_url, engine=engine)

    def site_timezone(self, site: str | None) -> str:
        assert self.settings is not None
        return site_timezone(self.settings, site)

    def since_option(self, value: str | None, site: str | None) -> datetime | None:
        """``--since YYYY-MM-DD``: the start of that day on the site's clock, as UTC."""
        if not value:
            return None
        try:
            day = date.fromisoformat(value)
            return since_instant(day, self.site_timezone(site))
        except ConfigError as exc:
            reason = str(exc)
        except ValueError:
            reason = f"--since wants YYYY-MM-DD, got {value!r}"
        # One line and exit status 2 (a UsageError would print the usage screen too).
        self.refuse(reason)
        raise SystemExit(self.exitcode)
