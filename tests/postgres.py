"""A throwaway PostgreSQL server for the test suite (initdb + pg_ctl in a temporary directory)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

USER = "hepza_test"
# Every character that must be percent-encoded in a URL, plus a non-ASCII one.
PASSWORD = "p@ss:w/rd?#%&=+ ü"
STARTUP_ATTEMPTS = 3


class PostgresUnavailable(RuntimeError):
    pass


class PostgresNotInstalled(PostgresUnavailable):
    """No server binaries on this machine: the PostgreSQL tests skip (``.ci/run`` forbids it)."""


def find_bindir() -> Path:
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    candidates += [
        Path(p)
        for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    ]
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise PostgresNotInstalled(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in "
        "/usr/lib/postgresql/*/bin; install them (Debian/Ubuntu: apt-get install postgresql)"
    )


def _version_key(path: str) -> int:
    version = Path(path).parent.name
    return int(version) if version.isdigit() else 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    def __init__(self, root: Path | None = None, *, max_connections: int = 100) -> None:
        """A server in a temporary directory, removed by :meth:`stop`; or, with ``root``, one
        whose data stays there between uses (the benchmarks' cached databases).
        ``max_connections``: PostgreSQL's own default; a cluster benchmark of many sites needs
        more (each site's crawler in each worker holds connections of its own)."""
        self.max_connections = max_connections
        self.bindir = find_bindir()
        self.as_postgres = os.geteuid() == 0
        self.keep = root is not None
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        self.root = root if root is not None else Path(tempfile.mkdtemp(prefix="hepza-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.logfile = self.root / "server.log"
        self.port = 0

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_postgres:
            # initdb and postgres refuse to run as root.
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
            raise PostgresUnavailable(
                f"{' '.join(args[:2])} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}\n{log[-4000:]}"
            )
        return result

    def start(self) -> None:
        self.sockets.mkdir(exist_ok=True)
        if self.as_postgres:
            shutil.chown(self.sockets, "postgres", "postgres")
        if self.keep and (self.data / "PG_VERSION").exists():
            self._listen()
            return
        pwfile = self.root / "pwfile"
        pwfile.write_text(PASSWORD + "\n", encoding="utf-8")
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        pwfile.chmod(0o600)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "--username",
            USER,
            "--pwfile",
            str(pwfile),
            "--auth",
            "scram-sha-256",
            "--encoding",
            "UTF8",
            "--no-locale",
        )
        pwfile.unlink()
        self._listen()

    def _listen(self) -> None:
        last_error: Exception | None = None
        for _ in range(STARTUP_ATTEMPTS):
            self.port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                f"-c max_connections={self.max_connections}"
            )
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-o", options,
                          "-w", "-t", "60", "start")  # fmt: skip
                return
            except PostgresUnavailable as exc:  # the free port was taken in between
                last_error = exc
        raise PostgresUnavailable(f"PostgreSQL did not start: {last_error}")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                # A kept server's data must survive: a fast stop writes it all out.
                mode = "fast" if self.keep else "immediate"
                self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        finally:
            if not self.keep:
                shutil.rmtree(self.root, ignore_errors=True)

    def pause(self) -> None:
        """Stop the server, dropping every client at once but keeping what was committed
        (``-m fast``: with ``synchronous_commit=off`` a crash could lose the last commits),
        its data and its port."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        """Start a paused server again on the same port."""
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off "
            f"-c max_connections={self.max_connections}"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-o", options,
                  "-w", "-t", "60", "start")  # fmt: skip

    def url(self, database: str, password: str = PASSWORD, driver: str = "psycopg") -> str:
        return (
            f"postgresql+{driver}://{USER}:{quote(password, safe='')}"
            f"@127.0.0.1:{self.port}/{database}"
        )

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=USER,
            password=PASSWORD,
            dbname="postgres",
            autocommit=True,
        )

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        with self._admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def stored_articles(self, database: str) -> int:
        """The articles stored in ``database`` (a crawl's)."""
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=USER, password=PASSWORD, dbname=database
        ) as conn:
            row = conn.execute("SELECT count(*) FROM articles").fetchone()
        return int(row[0]) if row else 0

    def wait_for_articles(self, database: str, count: int, timeout: float = 120) -> None:
        """Until ``database`` holds ``count`` articles (a crawl writing into it) or ``timeout``
        seconds passed; its tables may not be there yet."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.stored_articles(database) >= count:
                    return
            except psycopg.Error:
                pass  # the tables are not there yet
            time.sleep(0.2)

    def drop_database(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
