"""Opening the database: the engine, its SQLite set-up, the schema brought to head, and
:class:`Database`, the opened database a command reads (ArticleStore adds the writes).

Core only, no ORM and no models: a reading command (``scrapy search``, the change feed) opens
its database through this module, and the ORM's import is a tenth of a second of its
start-up. Alembic (and the models its migrations compare with) is imported only when a database
is behind this code's schema revision.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from pipelines.storage.secrets import RedactSecretsFilter, redact_url, url_secrets

if TYPE_CHECKING:
    from collections.abc import Iterator

# The head of migrations/versions (tests/test_migrations.py checks it): a database already
# there is opened without running Alembic.
SCHEMA_REVISION = "0013"
# The table every reading command needs (pipelines/storage/models.Article's).
ARTICLES_TABLE = "articles"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key shared by every process that migrates this database ("HEPZA" + 1).
MIGRATION_LOCK_KEY = 0x4845505A41_01
SQLITE_BUSY_TIMEOUT_MS = 30_000


class StorageError(RuntimeError):
    """A database failure, its message scrubbed of the connection password. ``unreachable``:
    the database could not be reached at all (refused, restarting, shut down, the connection
    dropped), so the same write may succeed later; a refused statement never is."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class WorkerFailed(RuntimeError):
    """A process of a parallel export (pipelines/storage/export_jobs.py) raised (its
    message) or died (its exit status); :meth:`Database.guard` reports it as a storage
    failure, scrubbed."""


# SQLSTATEs of a server that is going away or not accepting connections yet: admin_shutdown,
# crash_shutdown, cannot_connect_now (PostgreSQL starting up or shutting down).
UNREACHABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
# SQLite's answer while another process holds the write lock past the busy timeout.
SQLITE_BUSY_NAMES = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED"})


def database_unreachable(exc: SQLAlchemyError) -> bool:
    """Whether ``exc`` says the database could not be reached, not that it refused the
    statement (constraint, data and SQL errors are never ``OperationalError``/``InterfaceError``
    with a disconnect)."""
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if isinstance(orig, sqlite3.Error):
        return getattr(orig, "sqlite_errorname", "") in SQLITE_BUSY_NAMES
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code:
        # class 08: connection exception
        return str(code).startswith("08") or code in UNREACHABLE_SQLSTATES
    # A server driver's error without a SQLSTATE: the server never answered (connection
    # refused, reset, closed unexpectedly).
    return True


def _json_default(value: object) -> object:
    # Scrapy stats hold datetimes (start_time, finish_time) and sometimes other objects.
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


_json_dumps = partial(json.dumps, ensure_ascii=False, default=_json_default)


def create_db_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    kwargs: dict[str, Any] = {
        "json_serializer": _json_dumps,
        # Error messages and echo logs then show statements without row values (bodies, URLs).
        "hide_parameters": True,
    }
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs["poolclass"] = StaticPool
            # One connection for every thread (the storage writer's among them); the writer
            # uses it one call at a time.
            kwargs["connect_args"] = {"check_same_thread": False}
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs["pool_pre_ping"] = True
    return create_engine(url, **kwargs)


def _enable_wal(cursor: Any) -> None:
    """WAL mode (it stays with the file once set). SQLite does not wait on its busy timeout
    while another connection switches a new database's journal at the same moment: "database
    is locked" at once, so the switch is tried again for up to the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling skips BEGIN before DDL and cannot BEGIN IMMEDIATE;
    # SQLAlchemy's documented recipe takes over so that migrations and batches are atomic.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A writer takes the lock up front: a deferred transaction that reads first and then
        # writes fails at once with SQLITE_BUSY when another writer got in between.
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def at_head(engine: Engine) -> bool:
    """Whether the database is at this code's schema revision already: a reading command then
    skips Alembic (a fifth of a second of imports and migration scripts at every start)."""
    try:
        with engine.connect() as conn:
            held = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        return held == [SCHEMA_REVISION]
    except SQLAlchemyError as exc:
        if database_unreachable(exc):
            raise
        return False  # no alembic_version table yet: a new database


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    if revision == "head" and at_head(engine):
        return
    from alembic import command  # noqa: PLC0415
    from alembic.config import Config  # noqa: PLC0415

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    with engine.connect() as raw_conn:
        sqlite_db = engine.dialect.name == "sqlite"
        if sqlite_db:
            # Batch migrations rebuild tables; with foreign keys on, dropping the old copy
            # would cascade-delete child rows. The pragma is ignored inside a transaction.
            raw_conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        conn = raw_conn.execution_options(sqlite_immediate=True)
        try:
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    # Released at commit or rollback, even if this process dies mid-upgrade.
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
        finally:
            if sqlite_db:
                raw_conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


class Database:
    """The database at ``database_url``, brought to this code's schema revision, its failures
    raised as :class:`StorageError` scrubbed of the password (:meth:`guard`)."""

    def __init__(self, database_url: str, *, engine: Engine | None = None) -> None:
        """``engine``: one already made by :func:`create_db_engine` for ``database_url`` (a
        command's check of the database), which this one then owns."""
        self.redacted_url = redact_url(database_url)
        self._scrubber = RedactSecretsFilter(url_secrets(database_url))
        with self.guard("open"):
            self._engine = engine if engine is not None else create_db_engine(database_url)
            self._dialect = self._engine.dialect.name
            self._upgrade(self._engine)

    def _upgrade(self, engine: Engine) -> None:
        upgrade_database(engine)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.redacted_url!r})"

    @property
    def engine(self) -> Engine:
        return self._engine

    @contextmanager
    def guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except WorkerFailed as exc:
            raise StorageError(
                f"storage {action} failed on {self.redacted_url}: {self._scrubber.scrub(str(exc))}"
            ) from None
        except SQLAlchemyError as exc:
            # Chaining would print the driver's message in tracebacks; scrub and cut the chain.
            message = self._scrubber.scrub(f"{type(exc).__name__}: {exc}")
            raise StorageError(
                f"storage {action} failed on {self.redacted_url}: {message}",
                unreachable=database_unreachable(exc),
            ) from None

    def close(self) -> None:
        # The engine stays usable (a later call opens new connections), but a crawl closes its
        # store once, after its last use (pipelines/storage/context.py).
        self._engine.dispose()
