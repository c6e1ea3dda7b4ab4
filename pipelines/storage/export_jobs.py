"""An export's work shared by worker processes, all reading one snapshot of the database.

At a million articles an export is bound by the Python work per row (decoding the driver's
rows, converting, encoding JSON, CSV or Arrow), which one process does on one core whatever
threads it runs. :func:`parallel_payloads` takes the rows' ids in export order in the parent
(an index walk: cheap), hands them ``UNIT_ROWS`` at a time to ``jobs`` forked workers, which
read the rows of their ids and encode them (``work``), and gives the encoded payloads back in
the ids' order: the file is the same, byte for byte, as one process writes.

Every worker reads the parent's snapshot, so the export is what the database held at one
instant, as a single transaction's is:

- PostgreSQL: the parent's REPEATABLE READ transaction exports its snapshot
  (``pg_export_snapshot``) and each worker's transaction imports it (``SET TRANSACTION
  SNAPSHOT``), as ``pg_dump --jobs`` does.
- SQLite cannot share a snapshot between connections, so the parent checks that none was
  needed: ``PRAGMA data_version`` of a connection of its own, read before the parent's read
  transaction starts and again once every worker's has, changes when any other connection
  commits in between. Unchanged: all the transactions see the same database. Changed (a
  crawl committed in that tenth of a second): the workers are stopped and the caller exports
  in one process (:class:`SnapshotMoved`).

A worker's failure is raised in the parent with its message; a worker that dies (killed, out
of memory) fails the export with its exit status. The workers are forked: they inherit the
code and the engine, and open connections of their own (``Engine.dispose(close=False)``, as
SQLAlchemy documents for a forked process).
"""

from __future__ import annotations

import multiprocessing
import os
from contextlib import ExitStack, suppress
from itertools import chain
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator, Sequence
    from multiprocessing.connection import Connection as Pipe

    from sqlalchemy import Connection, Engine

# SQLAlchemy and the storage are imported in the functions that use them: the export command
# imports this module's default_jobs at every `scrapy` start-up.

# Ids per unit of work: a worker's batch (one IN query), the serial export's batch size.
UNIT_ROWS = 1000
# Units handed to each worker ahead of the one the parent waits for: the worker reads the
# next one while the parent writes, and memory stays a few payloads per worker.
AHEAD = 2
# The most workers the default asks for: past four, the database and the writing parent are
# the bound, and each worker is another process's memory.
MAX_DEFAULT_JOBS = 4


class SnapshotMoved(RuntimeError):
    """Another connection committed while the workers' SQLite transactions started: they
    could not be known to read the parent's snapshot."""


def default_jobs() -> int:
    """The cores this process may run on, at most ``MAX_DEFAULT_JOBS``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_JOBS))


def parallel_payloads(
    engine: Engine,
    ids: Callable[[Connection], Iterator[Sequence[Any]]],
    work: Callable[[Connection, Sequence[Any]], tuple[int, bytes]],
    jobs: int,
) -> Generator[tuple[int, bytes], None, None]:
    """``work(conn, unit)`` of every unit of ids ``ids(conn)`` yields in the parent's
    snapshot, done by ``jobs`` worker processes, in the units' order: (rows, payload) each.
    An export of one unit or less is done in the parent alone (no process started).

    Raises :class:`SnapshotMoved` before yielding anything where the workers could not share
    the parent's SQLite snapshot, :class:`WorkerFailed` where a worker failed."""
    sqlite = engine.dialect.name == "sqlite"
    with ExitStack() as stack:
        moved: Connection | None = None
        before = None
        if sqlite:
            moved = stack.enter_context(engine.connect())
            before = _data_version(moved)
        conn = stack.enter_context(engine.connect())
        snapshot = _export_snapshot(conn) if not sqlite else None
        units = ids(conn)
        first = next(units, None)
        if first is None:
            return
        second = next(units, None)
        if second is None:
            # one unit: no worker would pay for its start
            yield work(conn, first)
            return
        pool = stack.enter_context(_Workers(engine, work, jobs, snapshot))
        if moved is not None and _data_version(moved) != before:
            raise SnapshotMoved("the database changed while the export's workers started")
        if moved is not None:
            moved.close()  # the check's connection is needed no more
        yield from pool.run(chain((first, second), units))


def _data_version(conn: Connection) -> int:
    # outside a transaction: the pragma then reads the database's state now
    value = conn.exec_driver_sql("PRAGMA data_version").scalar()
    conn.rollback()
    return int(value or 0)


def _export_snapshot(conn: Connection) -> str:
    """The parent's PostgreSQL transaction, REPEATABLE READ, and its snapshot's name."""
    from sqlalchemy import text  # noqa: PLC0415

    conn.execution_options(isolation_level="REPEATABLE READ")
    return str(conn.execute(text("SELECT pg_export_snapshot()")).scalar())


def _import_snapshot(conn: Connection, snapshot: str | None) -> None:
    """The worker's transaction on the parent's snapshot (PostgreSQL), or its SQLite read
    transaction started (the parent then checks nothing committed meanwhile)."""
    if snapshot is not None:
        _read_binary(conn)
        conn.execution_options(isolation_level="REPEATABLE READ")
        # the snapshot's name comes from the server (pg_export_snapshot), quoted as a literal
        conn.exec_driver_sql("SET TRANSACTION SNAPSHOT '" + snapshot.replace("'", "''") + "'")
        # times come as UTC (what the export writes), not converted one by one
        conn.exec_driver_sql("SET TIME ZONE 'UTC'")
        return
    conn.exec_driver_sql("SELECT 1 FROM sqlite_master LIMIT 1").all()


def _read_binary(conn: Connection) -> None:
    """The worker's PostgreSQL connection (its own, gone with it) asks for every result in
    the binary format: the same Python values, with no text of times to parse and no hex of
    the texts' bytes (export_rows reads them as bytea) to undo; a fifth of the reading."""
    import psycopg  # noqa: PLC0415

    class BinaryCursor(psycopg.Cursor[Any]):
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            kwargs.setdefault("binary", True)
            return super().execute(query, params, **kwargs)

    driver = conn.connection.driver_connection
    if isinstance(driver, psycopg.Connection):
        driver.cursor_factory = BinaryCursor


class _Workers:
    """``jobs`` forked processes, each serving units from its pipe until told to stop."""

    def __init__(
        self,
        engine: Engine,
        work: Callable[[Connection, Sequence[Any]], tuple[int, bytes]],
        jobs: int,
        snapshot: str | None,
    ) -> None:
        self.engine = engine
        self.work = work
        self.snapshot = snapshot
        self.jobs = max(1, jobs)
        self.pipes: list[Pipe] = []
        self.processes: list[Any] = []

    def __enter__(self) -> _Workers:
        context = multiprocessing.get_context("fork")
        try:
            for index in range(self.jobs):
                parent_end, child_end = context.Pipe()
                process = context.Process(
                    target=_serve,
                    args=(self.engine, self.work, self.snapshot, child_end),
                    name=f"export-worker-{index + 1}",
                    daemon=True,
                )
                process.start()
                child_end.close()
                self.pipes.append(parent_end)
                self.processes.append(process)
            for index in range(self.jobs):
                self._receive(index)  # each worker's "ready": its transaction has started
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for pipe in self.pipes:
            with suppress(OSError):  # a worker gone already
                pipe.send(None)
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
        for pipe in self.pipes:
            pipe.close()

    def run(self, units: Iterator[Sequence[Any]]) -> Iterator[tuple[int, bytes]]:
        """Unit ``i`` goes to worker ``i % jobs``; each worker does its units in the order it
        gets them, so the payloads come back in the units' order."""
        sent = 0
        for _ in range(self.jobs * AHEAD):
            unit = next(units, None)
            if unit is None:
                break
            self._send(sent % self.jobs, unit)
            sent += 1
        received = 0
        while received < sent:
            index = received % self.jobs
            rows, payload = self._receive(index)
            received += 1
            unit = next(units, None)
            if unit is not None:
                self._send(sent % self.jobs, unit)
                sent += 1
            yield rows, payload

    def _send(self, index: int, unit: Sequence[Any]) -> None:
        try:
            self.pipes[index].send(list(unit))
        except OSError:
            # The worker stopped (it failed on an earlier unit, or died): its reason is the
            # last thing in its pipe, after the payloads the parent has not read yet.
            while True:
                self._receive(index)

    def _receive(self, index: int) -> Any:
        from pipelines.storage.engine import WorkerFailed  # noqa: PLC0415

        pipe = self.pipes[index]
        try:
            kind, value = pipe.recv()
            if kind == "ok":
                # a payload follows as raw bytes: no pickling of megabytes on either side
                return value, pipe.recv_bytes()
        except (EOFError, OSError):
            process = self.processes[index]
            process.join(timeout=5)
            raise WorkerFailed(
                f"export worker {index + 1} died (exit status {process.exitcode})"
            ) from None
        if kind == "error":
            raise WorkerFailed(f"export worker {index + 1} failed: {value}")
        return value


def _serve(
    engine: Engine,
    work: Callable[[Connection, Sequence[Any]], tuple[int, bytes]],
    snapshot: str | None,
    pipe: Pipe,
) -> None:
    """A worker: its own connection on the parent's snapshot, then each unit's work sent
    back, until the parent sends None. An error is sent as its one-line message."""
    engine.dispose(close=False)  # the parent's pooled connections are the parent's
    try:
        with engine.connect() as conn:
            _import_snapshot(conn, snapshot)
            pipe.send(("ready", None))
            while True:
                unit = pipe.recv()
                if unit is None:
                    break
                rows, payload = work(conn, unit)
                pipe.send(("ok", rows))
                pipe.send_bytes(payload)
    except (EOFError, BrokenPipeError):
        return  # the parent is gone or done
    except BaseException as exc:
        with suppress(OSError):
            pipe.send(("error", f"{type(exc).__name__}: {exc}".splitlines()[0]))
