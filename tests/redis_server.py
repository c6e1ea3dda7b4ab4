"""A throwaway Redis server for the test suite: Debian's ``redis-server`` in a temporary
directory, on 127.0.0.1 and a free port, started and stopped by the tests themselves.

Fault tests restart it (:meth:`RedisServer.restart`, append-only file on, the same port and
directory, so what was written survives) or kill it (:meth:`RedisServer.kill`)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

STARTUP_SECONDS = 10.0


class RedisUnavailable(RuntimeError):
    pass


class RedisNotInstalled(RedisUnavailable):
    """No ``redis-server`` on this machine: the Redis tests skip (``.ci/run`` forbids it)."""


def find_redis_server() -> str:
    path = shutil.which("redis-server")
    if path is None:
        raise RedisNotInstalled(
            "redis-server not found on PATH; install it (Debian/Ubuntu: apt-get install "
            "redis-server)"
        )
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """``redis-server`` on 127.0.0.1; ``appendonly``: persistence that survives a restart."""

    def __init__(
        self, *, appendonly: bool = True, appendfsync: str = "always", password: str = ""
    ) -> None:
        self.binary = find_redis_server()
        self.root = Path(tempfile.mkdtemp(prefix="hepza-redis-"))
        self.logfile = self.root / "redis.log"
        self.appendonly = appendonly
        # "always": every write on disk before the answer (the fault tests); "everysec": Redis's
        # own default, at most a second of writes lost (the cluster benchmark, as deployed).
        self.appendfsync = appendfsync
        # requirepass: clients authenticate with the URL's password (a deployed cluster's Redis)
        self.password = password
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if not self.port:
            self.port = _free_port()
        command = [
            self.binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.root),
            "--logfile",
            str(self.logfile),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.appendfsync,
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
        ]
        if self.password:
            command += ["--requirepass", self.password]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self.ping():
                return
            time.sleep(0.05)
        log = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
        self.stop()
        raise RedisUnavailable(f"redis-server did not start on port {self.port}:\n{log[-4000:]}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                if self.password:
                    password = self.password.encode()
                    sock.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(password), password))
                    if not sock.recv(64).startswith(b"+OK"):
                        return False
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: what is not in the append-only file is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        """Stopped and started again on the same port and directory (its data kept)."""
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
