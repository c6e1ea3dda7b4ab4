"""Subprocess plumbing for the benchmarks: the replica server in its own process, and measured
child runs (wall time, CPU seconds and peak RSS of exactly that child, via ``os.wait4``)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.crawl_runner import PROJECT_ROOT

READY_URL = re.compile(r"^http://127\.0\.0\.1:(\d+)$")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Measured:
    returncode: int
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_mb: float
    timed_out: bool
    processes: int = 1

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cpu_s": round(self.cpu_s, 3)}


def run_measured(
    cmd: list[str],
    *,
    cwd: Path,
    timeout: float,
    output_path: Path,
    env: dict[str, str] | None = None,
) -> Measured:
    """Run ``cmd`` to completion (killed at ``timeout``) and return what it cost; ``env`` is
    the child's whole environment (default: ours).

    ``os.wait4`` reports the rusage of this one child, so other children of the benchmark (the
    replica server) never leak into the numbers the way RUSAGE_CHILDREN deltas could. Its
    ``ru_maxrss`` is not the child's own peak, though: Linux keeps the higher of the forked image
    (this process's RSS) and the new program's, so a benchmark holding 300 MB would report 300 MB
    for any child. The peak is the child's own high-water mark (``VmHWM`` of
    ``/proc/<pid>/status``, read as it runs; a high-water mark, so any read after the peak holds
    it), with ``ru_maxrss`` only where /proc cannot be read. A command that starts processes of
    its own (an export's workers) is measured whole: the CPU of the children it waited for is in
    its rusage, and its peak is the higher of its own and the largest sum of the resident
    memory of it and its descendants seen as it runs (an upper bound: pages a forked worker
    shares with its parent count in each); ``processes`` is the most seen at once.
    """
    output_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with output_path.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env if env is not None else dict(os.environ),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    timed_out = False
    peak_kib = 0
    tree_kib = 0
    most = 1
    try:
        while True:
            peak_kib = max(peak_kib, own_peak_rss_kib(proc.pid))
            resident, processes = tree_rss_kib(proc.pid)
            if processes > 1:
                tree_kib = max(tree_kib, resident)
                most = max(most, processes)
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout:
                timed_out = True
                _kill_group(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
    except BaseException:
        _kill_group(proc.pid, signal.SIGKILL)
        os.waitpid(proc.pid, 0)
        proc.returncode = -9
        raise
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measured(
        returncode=proc.returncode,
        wall_s=round(wall, 3),
        user_s=round(usage.ru_utime, 3),
        sys_s=round(usage.ru_stime, 3),
        # Linux reports both in KiB.
        peak_rss_mb=round((max(peak_kib, tree_kib) or usage.ru_maxrss) / 1024, 1),
        timed_out=timed_out,
        processes=most,
    )


def tree_rss_kib(pid: int) -> tuple[int, int]:
    """The resident memory (``VmRSS``, KiB) of the process and its descendants summed, and how
    many they are (the children from ``/proc/<pid>/task/<tid>/children``); (0, 0) when /proc
    has none."""
    total = 0
    count = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        resident = _status_kib(current, b"VmRSS:")
        if resident is None:
            continue
        total += resident
        count += 1
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children", "rb") as children:
                    pending.extend(int(child) for child in children.read().split())
            except (OSError, ValueError):
                continue
    return total, count


def _status_kib(pid: int, field: bytes) -> int | None:
    """A ``/proc/<pid>/status`` field in KiB (``VmRSS:``, ``VmHWM:``); None when /proc has
    none (not Linux, or the process already exited)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def own_peak_rss_kib(pid: int) -> int:
    """The process's own peak resident memory so far (``VmHWM``, KiB); 0 when /proc has none
    (not Linux, or the process already exited)."""
    return _status_kib(pid, b"VmHWM:") or 0


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def process_cpu_seconds(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; fields after its ")" are fixed.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class ReplicaProcess:
    """``python -m tests.replica serve`` in its own process (own core, own GIL).

    Always use it as a context manager: the server is stopped on any exit.
    """

    def __init__(
        self,
        articles: int,
        workdir: Path,
        *,
        port: int = 0,
        extra_articles: int = 0,
        startup_timeout: float = 300,
        name: str = "replica",
        request_log: Path | None = None,
        reuse_port: bool = False,
    ) -> None:
        self.articles = articles
        # SO_REUSEPORT: several ReplicaProcess of the same site on one port (see replica_group)
        self.reuse_port = reuse_port
        self.port = port
        self.extra_articles = extra_articles
        self.startup_timeout = startup_timeout
        self.ready_file = workdir / f"{name}.ready"
        self.log_path = workdir / f"{name}.log"
        # Every request the server answers, one JSON line each (tests.replica's RequestRecord).
        self.request_log = request_log
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.startup_s = 0.0

    def __enter__(self) -> ReplicaProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> ReplicaProcess:
        # Restarting on a fixed port can race the old socket's release: retry a few times.
        attempts = 1 if self.port == 0 else 5
        for attempt in range(attempts):
            try:
                self._start_once()
                return self
            except RuntimeError:
                self.stop()
                if attempt == attempts - 1:
                    raise
                time.sleep(1.0)
        return self

    def _start_once(self) -> None:
        self.ready_file.parent.mkdir(parents=True, exist_ok=True)
        self.ready_file.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "tests.replica",
            "serve",
            "--port",
            str(self.port),
            "--articles",
            str(self.articles),
            "--ready-file",
            str(self.ready_file),
        ]
        if self.extra_articles:
            cmd += ["--extra-articles", str(self.extra_articles)]
        if self.request_log is not None:
            cmd += ["--request-log", str(self.request_log)]
        if self.reuse_port:
            cmd.append("--reuse-port")
        start = time.perf_counter()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        while time.perf_counter() - start < self.startup_timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"replica server exited with {self.proc.returncode}: {self._log_tail()}"
                )
            if self.ready_file.exists():
                match = READY_URL.match(self.ready_file.read_text(encoding="utf-8").strip())
                if match:
                    self.url = match.group(0)
                    self.port = int(match.group(1))
                    self.startup_s = round(time.perf_counter() - start, 3)
                    return
            time.sleep(0.05)
        raise RuntimeError(f"replica server not ready after {self.startup_timeout:.0f} s")

    def cpu_seconds(self) -> float | None:
        return process_cpu_seconds(self.proc.pid) if self.proc else None

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 80

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        except OSError:
            return "(no log)"


class ReplicaGroup:
    """``count`` replica server processes of the same site on one port (SO_REUSEPORT): one
    host:port to the crawl, the kernel spreading its connections between the processes.

    Always use it as a context manager: every server is stopped on any exit.
    """

    def __init__(
        self,
        articles: int,
        workdir: Path,
        count: int,
        *,
        name: str = "replica",
        request_logs: bool = False,
    ) -> None:
        if count < 1:
            raise ValueError(f"a replica group needs at least one server, not {count}")
        self.servers = [
            ReplicaProcess(
                articles,
                workdir,
                name=f"{name}-{n}",
                reuse_port=True,
                # each server its own log (``request_logs``): every request the group answers
                request_log=workdir / f"{name}-{n}.requests.jsonl" if request_logs else None,
            )
            for n in range(1, count + 1)
        ]

    def __enter__(self) -> ReplicaGroup:
        try:
            first = self.servers[0].start()
            for server in self.servers[1:]:
                server.port = first.port
                server.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.servers[0].url

    @property
    def startup_s(self) -> float:
        return round(sum(s.startup_s for s in self.servers), 3)

    def log_offsets(self) -> list[int]:
        """Where each server's request log ends now (see :meth:`requested_since`)."""
        return [
            s.request_log.stat().st_size if s.request_log and s.request_log.exists() else 0
            for s in self.servers
        ]

    def requested_since(self, offsets: list[int]) -> list[str]:
        """The path and query of every GET the group answered since ``offsets``."""
        paths: list[str] = []
        for server, offset in zip(self.servers, offsets, strict=True):
            if server.request_log is None or not server.request_log.exists():
                continue
            with server.request_log.open("rb") as log:
                log.seek(offset)
                for line in log.read().decode("utf-8").splitlines():
                    record = json.loads(line)
                    if record["method"] == "GET":
                        paths.append(record["path_and_query"])
        return paths

    def cpu_seconds(self) -> float | None:
        """CPU seconds of every server together so far (None when one cannot be read)."""
        seconds = [s.cpu_seconds() for s in self.servers]
        return None if any(s is None for s in seconds) else sum(s or 0.0 for s in seconds)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
