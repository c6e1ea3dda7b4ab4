"""Where a crawl's wall time goes, from Linux's own accounts (``/proc``): each worker process's
CPU, the time it was ready to run but waited for a core (``schedstat``'s run-queue delay), the
machine's busy and stolen CPU, and PostgreSQL's CPU (its postmaster and every backend).

The many-portals benchmark (:mod:`tests.benchmarks.many_portals`) samples them over each crawl so
that the sizing model (:mod:`tests.benchmarks.sizing`) works from measured costs: the CPU a
worker spends before its first request and per request, the time it waits for a core on a
shared machine, and what the rest of the machine took meanwhile.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` after the command name (which may hold spaces); None once gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def process_cpu_s(pid: int, *, reaped_children: bool = False) -> float | None:
    """A process's user + system CPU (every thread), with ``reaped_children`` also that of its
    children it has waited for (a PostgreSQL backend's, once it exited)."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # after the name: state is field 3 of stat(5), so utime (14) is index 11 here
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICK


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def run_queue_wait_s(pid: int) -> float | None:
    """Time the process's main thread (a worker's reactor) was ready to run but waited for a
    core. Its other threads are left out: an exited thread's account leaves with it."""
    try:
        return int((PROC / str(pid) / "schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def machine_cpu_s() -> tuple[float, float]:
    """The machine's busy CPU seconds (every core, guests included in user) and its stolen
    seconds (a virtual machine's cores taken by the host) since boot."""
    values = [int(v) for v in (PROC / "stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / TICK, steal / TICK


def postgres_cpu_s(data_dir: Path) -> float | None:
    """Every PostgreSQL process's CPU so far: the postmaster's, its exited children's (reaped
    into its own account) and its live children's."""
    try:
        postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    own = process_cpu_s(postmaster, reaped_children=True)
    if own is None:
        return None
    return own + sum(process_cpu_s(child) or 0.0 for child in children(postmaster))


@dataclass
class WorkerTrace:
    """One worker process's CPU and run-queue wait over time (monotonic clock)."""

    pid: int
    times: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    wait_s: list[float] = field(default_factory=list)

    def cpu_at(self, moment: float) -> float:
        """Its CPU at ``moment``, interpolated between the samples around it."""
        return _interpolate(self.times, self.cpu_s, moment)

    def wait_at(self, moment: float) -> float:
        return _interpolate(self.times, self.wait_s, moment)


def _interpolate(times: list[float], values: list[float], moment: float) -> float:
    if not times:
        return 0.0
    if moment <= times[0]:
        return values[0] * max(moment, 0.0) / times[0] if times[0] > 0 else values[0]
    for (t0, v0), (t1, v1) in zip(
        zip(times, values, strict=True), zip(times[1:], values[1:], strict=True), strict=False
    ):
        if t0 <= moment <= t1:
            return v0 + (v1 - v0) * (moment - t0) / (t1 - t0) if t1 > t0 else v1
    return values[-1]


class CrawlClock(threading.Thread):
    """Samples, every ``interval`` seconds while a crawl runs, each worker process this process
    started (their command lines hold ``marker``) and the machine's CPU. Times are seconds since
    ``origin`` (the workers' launch)."""

    def __init__(self, origin: float, marker: bytes = b"cluster", interval: float = 0.1) -> None:
        super().__init__(daemon=True, name="crawl-clock")
        self.origin = origin
        self.marker = marker
        self.interval = interval
        self.workers: dict[int, WorkerTrace] = {}
        self.machine_start = machine_cpu_s()
        self.machine_end = self.machine_start
        self._stop_event = threading.Event()

    def _worker_pids(self) -> list[int]:
        pids = []
        for pid in children(os.getpid()):
            try:
                command = (PROC / str(pid) / "cmdline").read_bytes()
            except OSError:
                continue
            if self.marker in command and b"work" in command:
                pids.append(pid)
        return pids

    def sample(self) -> None:
        now = time.monotonic() - self.origin
        for pid in self._worker_pids():
            cpu, wait = process_cpu_s(pid), run_queue_wait_s(pid)
            if cpu is None or wait is None:
                continue
            trace = self.workers.setdefault(pid, WorkerTrace(pid))
            trace.times.append(now)
            trace.cpu_s.append(cpu)
            trace.wait_s.append(wait)
        self.machine_end = machine_cpu_s()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.sample()

    def finish(self) -> None:
        self._stop_event.set()
        self.join()
        self.machine_end = machine_cpu_s()
