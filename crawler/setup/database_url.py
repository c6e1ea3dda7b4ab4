"""``DATABASE_URL`` checked before anything connects: a URL of a known backend, its port a
number, its driver installed; else one line naming what is wrong (the password redacted).

Every command that takes a database URL starts here: the reading commands (export, search,
runs, report) without the crawl's preflight (crawler/setup/preflight.py), which they do not
need and whose imports are a share of their start-up."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from crawler.domain.errors import ConfigError
from pipelines.storage.secrets import redact_url

KNOWN_BACKENDS = ("sqlite", "postgresql")
_EXPECTED_DATABASE_URL = (
    "expected sqlite:///path/to/file.sqlite3 or postgresql+psycopg://user:password@host:5432/db"
)


def parse_database_url(value: str) -> URL:
    """``DATABASE_URL`` parsed, its port a number from 1 to 65535; else :class:`ConfigError`
    (the password redacted). Every command that takes a database URL starts here."""
    shown = redact_url(str(value))
    expected = _EXPECTED_DATABASE_URL
    try:
        url = make_url(str(value))
    except ArgumentError:
        raise ConfigError(f"DATABASE_URL={shown!r} is not a database URL: {expected}") from None
    except ValueError:  # SQLAlchemy's int() of the port
        raise ConfigError(f"DATABASE_URL={shown!r}: its port is not a number: {expected}") from None
    port = url.port
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"DATABASE_URL={shown!r} has the port {port}: expected 1 to 65535")
    return url


def check_database_url(value: str) -> URL:
    """A parsed SQLAlchemy URL of a known backend whose driver is installed."""
    shown = redact_url(str(value))
    expected = _EXPECTED_DATABASE_URL
    url = parse_database_url(value)
    backend = url.get_backend_name()
    if backend not in KNOWN_BACKENDS:
        raise ConfigError(
            f"DATABASE_URL={shown!r} names the unknown database {backend!r}: {expected}"
        )
    try:
        url.get_dialect().import_dbapi()
    except (ImportError, NoSuchModuleError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"DATABASE_URL={shown!r}: the driver {url.drivername!r} is not installed ({reason})"
        ) from None
    return url
