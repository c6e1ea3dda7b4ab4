"""What ``scrapy crawl`` checks before a crawl starts, so that a bad value is one line, not a
traceback from deep inside a half-started crawl.

Bad usage (exit status 2): an unknown or malformed spider argument, a setting that does not
parse (``DATABASE_URL``, ``SITE_TIMEZONE``, numbers), an output place (SQLite file, reports,
rejects, feeds, log) that cannot be created or written. A database that refuses connections is
a failed run instead (exit status 1): the command was right and cron should simply try again.
So is another run of the same site on the same database (exit status 1): the crawl takes the
site's run lock here, before it requests anything, and holds it until its process ends
(pipelines/storage/run_lock.py).

The line goes to stderr as ``scrapy crawl <spider>: error: <message>`` and into ``LOG_FILE``
when one is set; the traceback is printed too only at ``LOG_LEVEL=DEBUG``. Database URLs are
always shown redacted (no password).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import unquote, urlsplit

from scrapy.spiderloader import get_spider_loader
from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from crawler.domain.errors import EXIT_BAD_USAGE, EXIT_FAILED_RUN
from crawler.ledger.alerts import alert_without_report, parse_alert_config
from crawler.ledger.checks import BadRunChecks, load_checks
from crawler.setup.config import (
    ConfigError,
    check_settings,
    parse_base_url,
    parse_spider_args,
    parse_timezone,
    setting_checks,
    shown_name,
)
from crawler.setup.database_url import check_database_url
from crawler.sites.profile import load_profiles, profile_dirs
from crawler.sites.resolve import resolve_site
from pipelines.storage.run_lock import RunLock, RunLockHeld, acquire_run_lock
from pipelines.storage.secrets import RedactSecretsFilter, redact_url, url_secrets

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from scrapy import Spider
    from scrapy.settings import BaseSettings
    from sqlalchemy.engine import URL

logger = logging.getLogger(__name__)

DATABASE_CONNECT_TIMEOUT = 10  # seconds
# Drivers that take libpq's connect_timeout.
_LIBPQ_DRIVERS = {"psycopg", "psycopg2", "psycopg2cffi"}
_URI_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):")


class DatabaseUnreachable(Exception):
    """The database refused or did not answer: a failed run (exit status 1), not bad usage."""


# The run locks this process holds (one: this crawl's); released when the process ends.
_HELD_RUN_LOCKS: list[RunLock] = []


class PreflightFailed(SystemExit):
    """Raised after the one-line error is printed; its code is the command's exit status."""


def check_database_reachable(value: str, url: URL) -> None:
    """Connect once (PostgreSQL); SQLite needs only its directory, checked with the others."""
    if url.get_backend_name() == "sqlite":
        return
    connect_args: dict[str, Any] = {}
    if url.get_driver_name() in _LIBPQ_DRIVERS:
        connect_args["connect_timeout"] = DATABASE_CONNECT_TIMEOUT
    engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
        reason = RedactSecretsFilter(url_secrets(value)).scrub(
            lines[0] if lines else type(cause).__name__
        )
        # The driver's error stays chained for the DEBUG traceback (scrubbed there).
        raise DatabaseUnreachable(
            f"the database {redact_url(value)} cannot be reached: {reason}"
        ) from exc
    finally:
        engine.dispose()


def _feed_directory(uri: str) -> Path | None:
    """The local directory a feed URI writes into (None: not a local file)."""
    match = _URI_SCHEME.match(uri)
    if match and len(match["scheme"]) > 1:  # one letter: a Windows drive
        if match["scheme"].lower() != "file":
            return None
        uri = unquote(urlsplit(uri).path)
    parent = Path(uri).parent
    # %(time)s, %(name)s...: the directory above the first templated part is created by Scrapy.
    for index, part in enumerate(parent.parts):
        if "%(" in part:
            return Path(*parent.parts[:index]) if index else Path()
    return parent


def output_places(settings: BaseSettings, database: URL) -> list[tuple[str, Path]]:
    """(what, directory) for every place the run writes into."""
    places: list[tuple[str, Path]] = []
    # The log first: once its directory exists, the other errors reach LOG_FILE too.
    if settings.get("LOG_FILE"):
        places.append(("the directory of LOG_FILE", Path(settings.get("LOG_FILE")).parent))
    if database.get_backend_name() == "sqlite":
        name = database.database or ""
        if name and name != ":memory:" and not name.startswith("file:"):
            places.append(("the directory of the SQLite database", Path(name).expanduser().parent))
    if settings.get("REPORTS_DIR"):
        places.append(("REPORTS_DIR", Path(settings.get("REPORTS_DIR"))))
    if settings.get("REJECTS_PATH"):
        places.append(("the directory of REJECTS_PATH", Path(settings.get("REJECTS_PATH")).parent))
    if settings.get("JOBDIR"):
        places.append(("JOBDIR", Path(settings.get("JOBDIR"))))
    for uri in settings.getdict("FEEDS"):
        directory = _feed_directory(str(uri))
        if directory is not None:
            places.append((f"the directory of the feed {uri}", directory))
    return places


def ensure_writable(what: str, directory: Path) -> None:
    """Create the directory when missing and prove a file can be written into it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(
            f"{what} {str(directory)!r} cannot be created: it or a folder above it is a file"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{what} {str(directory)!r} cannot be created: {exc.strerror or exc}"
        ) from None
    try:
        # Permission bits do not tell (root, read-only mounts): writing a file does.
        with tempfile.TemporaryFile(dir=directory, prefix=".hepza-preflight-"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"{what} {str(directory)!r} is not writable: {exc.strerror or exc}"
        ) from None


def check_run(
    settings: BaseSettings, spidercls: type[Spider], spider_args: Mapping[str, str]
) -> str | None:
    """Every check, in the order a person fixes things; raises the first problem found. The
    run's site, when the spider has one."""
    known = getattr(spidercls, "arguments", None)
    arguments = parse_spider_args(spider_args, known) if known is not None else None
    # Every setting of a known type (numbers, yes/no, log levels, JSON), named as it was given
    # (-s NAME, or its HEPZA_* environment variable).
    check_settings(settings)
    if arguments is None or arguments.base_url is None:
        base_url = settings.get("HEPZA_BASE_URL")
        if base_url:
            parse_base_url(str(base_url), shown_name(settings, "HEPZA_BASE_URL"))
    parse_timezone(settings.get("SITE_TIMEZONE", "UTC"), shown_name(settings, "SITE_TIMEZONE"))
    # Every profile file must be right (a wrong field names itself), then the run's site must
    # resolve: a known profile, or a base_url for a portal without one.
    load_profiles(profile_dirs(settings))
    site = None
    if arguments is not None and hasattr(spidercls, "profile_name"):
        site = resolve_site(arguments, settings, spidercls.profile_name).name
    # The run ledger's checks must load: a run judged without them could not succeed.
    try:
        load_checks(settings)
    except BadRunChecks as exc:
        raise ConfigError(str(exc)) from None
    # E-mail addresses, SMTP security, the webhook URL and the SMTP password's presence.
    parse_alert_config(settings, os.environ)
    database_value = str(settings.get("DATABASE_URL") or "")
    database = check_database_url(database_value)
    for what, directory in output_places(settings, database):
        ensure_writable(what, directory)
    check_database_reachable(database_value, database)
    return site


def run_preflight(settings: BaseSettings, spider_name: str, spider_args: Mapping[str, str]) -> None:
    """Run :func:`check_run` for ``scrapy crawl``; on a problem print one line and exit."""
    try:
        # The site profiles first: the spider loader makes a spider of each.
        load_profiles(profile_dirs(settings))
    except ConfigError as exc:
        stop(settings, spider_name, str(exc), EXIT_BAD_USAGE)
    loader = get_spider_loader(settings)
    try:
        spidercls = loader.load(spider_name)
    except KeyError:
        stop(settings, spider_name, unknown_spider(spider_name, loader.list()), EXIT_BAD_USAGE)
    try:
        site = check_run(settings, spidercls, spider_args)
    except ConfigError as exc:
        stop(settings, spider_name, str(exc), EXIT_BAD_USAGE)
    except DatabaseUnreachable as exc:
        # A failed run that no run report will hold: the operators hear of it now.
        for error in alert_without_report(settings, os.environ, spider_name, str(exc)):
            sys.stderr.write(f"scrapy crawl {spider_name}: alert not delivered: {error}\n")
        stop(settings, spider_name, str(exc), EXIT_FAILED_RUN)
    # A cluster's crawlers share their site by design (coordinated through Redis).
    if site is not None and not settings.get("CLUSTER_CRAWL_ID"):
        _take_run_lock(settings, spider_name, site)


def _take_run_lock(settings: BaseSettings, spider_name: str, site: str) -> None:
    """Hold the site's run lock until this process ends, or stop: another run holds it."""
    database_url = str(settings.get("DATABASE_URL") or "")
    try:
        lock = acquire_run_lock(database_url, site)
    except RunLockHeld as exc:
        # Nothing wrong with the command: it may simply run again later (exit status 1).
        stop(settings, spider_name, str(exc), EXIT_FAILED_RUN)
    except (SQLAlchemyError, OSError) as exc:
        scrubber = RedactSecretsFilter(url_secrets(database_url))
        reason = scrubber.scrub(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        stop(
            settings,
            spider_name,
            f"the run lock of site {site} was not taken: {reason}",
            EXIT_FAILED_RUN,
        )
    if lock is not None:
        _HELD_RUN_LOCKS.append(lock)


def check_set_options(settings: BaseSettings, pairs: Sequence[str], command: str) -> None:
    """The ``-s NAME=VALUE`` options, before Scrapy applies them: Scrapy's own refusal of a
    JSON setting it keeps as a dictionary is a usage screen without the setting's name."""
    checks = setting_checks()
    # Where the refusal is logged: the -s log settings are not applied yet.
    logged = settings.copy()
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if sep and name in LOG_PLACE_SETTINGS:
            logged.set(name, value, priority="cmdline")
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            stop(logged, "", f"-s {pair!r} is not NAME=VALUE", EXIT_BAD_USAGE, command)
        check = checks.get(name)
        if check is None:
            continue
        try:
            check(name, value)
        except ConfigError as exc:
            stop(logged, "", str(exc), EXIT_BAD_USAGE, command)


LOG_PLACE_SETTINGS = frozenset(
    {"LOG_FILE", "LOG_FILE_APPEND", "LOG_ENCODING", "LOG_FORMAT", "LOG_DATEFORMAT"}
)


def unknown_spider(name: str, known: list[str]) -> str:
    return f"no spider named {name!r} (known: {', '.join(sorted(known))}; `scrapy list` lists them)"


def stop(
    settings: BaseSettings, spider_name: str, message: str, code: int, command: str = ""
) -> NoReturn:
    """Print ``<command>: error: <message>`` (and log it), then exit with ``code``."""
    line = f"{command or f'scrapy crawl {spider_name}'}: error: {message}"
    if str(settings.get("LOG_LEVEL", "")).upper() == "DEBUG":
        scrubber = RedactSecretsFilter(url_secrets(str(settings.get("DATABASE_URL") or "")))
        sys.stderr.write(scrubber.scrub(traceback.format_exc()))
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
    _log_to_file(settings, message)
    raise PreflightFailed(code)


def _log_to_file(settings: BaseSettings, message: str) -> None:
    """The same line in LOG_FILE (Scrapy has not opened it yet), when it can be written."""
    log_file = settings.get("LOG_FILE")
    if not log_file:
        return
    mode = "a" if settings.getbool("LOG_FILE_APPEND", True) else "w"
    try:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, mode=mode, encoding=settings.get("LOG_ENCODING"))
    except OSError:
        return  # the unwritable log directory is the message itself
    handler.setFormatter(
        logging.Formatter(settings.get("LOG_FORMAT"), settings.get("LOG_DATEFORMAT"))
    )
    record = logger.makeRecord(logger.name, logging.ERROR, __file__, 0, message, (), None)
    try:
        handler.emit(record)
    finally:
        handler.close()
