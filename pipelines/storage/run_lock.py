"""One run of a site at a time on one database.

Two ``scrapy crawl`` processes of the same site on the same database would both classify every
article against the same stored index, both count them as ``new`` and interleave their batches.
So a crawl takes the site's run lock before it requests anything and holds it until its process
ends; a second crawl is refused in one line naming the run that holds it.

The lock dies with its process, whatever the way it ends (SIGKILL included): nothing stale is
left to clean up.

- SQLite: an exclusive ``flock`` on ``<database file>.<site>.run-lock``, next to the database
  (the file holds the holder's host and pid, for the refusal's message).
- PostgreSQL: a session advisory lock keyed by the site, on a connection of its own kept open
  for the run.

A cluster crawl (``scrapy cluster work``) runs many crawlers of one site at once, coordinated
through Redis: it does not take this lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import Connection, create_engine, make_url, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from pipelines.storage.models import CrawlRun
from pipelines.storage.secrets import redact_url

if TYPE_CHECKING:
    from sqlalchemy import Engine

# pg_try_advisory_lock's first key for run locks ("HEPZA" + 2; the migrations use + 1); the
# second is the site's CRC-32.
RUN_LOCK_NAMESPACE = 0x48455A02
LOCK_FILE_SUFFIX = ".run-lock"


class RunLockHeld(RuntimeError):
    """Another process runs a crawl of the site on the database; the message says which."""


@dataclass(frozen=True)
class Holder:
    host: str | None = None
    pid: int | None = None
    run_id: str | None = None

    def describe(self) -> str:
        parts = [f"run {self.run_id}"] if self.run_id else []
        if self.pid is not None:
            where = f" on {self.host}" if self.host and self.host != socket.gethostname() else ""
            parts.append(f"pid {self.pid}{where}")
        return ", ".join(parts) or "a process that has not said which"


class RunLock:
    """The held lock; released by :meth:`release` or when the process ends."""

    def __init__(self, *, file: IO[str] | None = None, connection: Connection | None = None):
        self._file = file
        self._connection = connection

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor releases the flock
            self._file = None
        if self._connection is not None:
            engine = self._connection.engine
            with contextlib.suppress(SQLAlchemyError):
                self._connection.close()  # ending the session releases the advisory lock
            engine.dispose()
            self._connection = None


def site_lock_key(site: str) -> int:
    """The site's advisory lock key, a signed 32-bit integer as PostgreSQL wants it."""
    value = zlib.crc32(site.encode("utf-8"))
    return value - (1 << 32) if value >= 1 << 31 else value


def sqlite_lock_path(database: Path, site: str) -> Path:
    return database.with_name(f"{database.name}.{site}{LOCK_FILE_SUFFIX}")


def acquire_run_lock(database_url: str, site: str) -> RunLock | None:
    """The run lock of ``site`` on the database (None: an in-memory SQLite database, which no
    other process can share). Raises :class:`RunLockHeld` when another run holds it."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return _lock_sqlite(database_url, Path(database).expanduser(), site)
    return _lock_postgres(database_url, site)


def _lock_sqlite(database_url: str, database: Path, site: str) -> RunLock:
    path = sqlite_lock_path(database, site)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = _holder_from_file(handle.read())
        handle.close()
        raise RunLockHeld(_refusal(database_url, site, holder)) from None
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}) + "\n")
    handle.flush()
    return RunLock(file=handle)


def _holder_from_file(content: str) -> Holder:
    try:
        data = json.loads(content)
    except ValueError:
        return Holder()
    if not isinstance(data, dict):
        return Holder()
    pid = data.get("pid")
    return Holder(host=data.get("host"), pid=pid if isinstance(pid, int) else None)


def _lock_postgres(database_url: str, site: str) -> RunLock:
    engine = create_engine(database_url, poolclass=NullPool)
    connection: Connection | None = None
    try:
        connection = engine.connect()
        got = connection.scalar(
            text("SELECT pg_try_advisory_lock(:namespace, :key)"),
            {"namespace": RUN_LOCK_NAMESPACE, "key": site_lock_key(site)},
        )
        # Committed at once: the session lock stays, no transaction stays open for hours.
        connection.commit()
    except BaseException:
        if connection is not None:
            connection.close()
        engine.dispose()
        raise
    if not got:
        connection.close()
        engine.dispose()
        raise RunLockHeld(_refusal(database_url, site, Holder()))
    return RunLock(connection=connection)


def _refusal(database_url: str, site: str, holder: Holder) -> str:
    holder = _with_run(database_url, site, holder)
    return (
        f"another run of site {site} holds the database {redact_url(database_url)} "
        f"({holder.describe()}); one run of a site at a time"
    )


def _with_run(database_url: str, site: str, holder: Holder) -> Holder:
    """``holder`` completed by its ``crawl_runs`` row, when the database tells which (a run
    records itself once its crawl has started)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").expanduser().is_file():
        return holder  # not created yet by the holder: connecting would create it empty
    try:
        engine: Engine = create_engine(database_url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(CrawlRun.run_id, CrawlRun.report)
                    .where(CrawlRun.site == site, CrawlRun.outcome == "running")
                    .order_by(CrawlRun.started_at.desc())
                ).all()
        finally:
            engine.dispose()
    except SQLAlchemyError:
        return holder
    for run_id, report in rows:
        process: dict[str, Any] = (report or {}).get("process") or {}
        pid = process.get("pid")
        if holder.pid is None or pid == holder.pid:
            host = holder.host or process.get("host")
            return Holder(host=host, pid=pid if isinstance(pid, int) else holder.pid, run_id=run_id)
    return holder
