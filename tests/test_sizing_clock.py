"""The measurements the sizing model is built from (tests/benchmarks/proc_clock.py and the
many-portals benchmark's phase split): a worker process's CPU and run-queue wait sampled from
/proc, the machine's busy time, and a crawl's wall split in start-up, requests and tail."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.benchmarks.many_portals import where_time_went
from tests.benchmarks.proc_clock import (
    CrawlClock,
    WorkerTrace,
    machine_cpu_s,
    postgres_cpu_s,
    process_cpu_s,
    run_queue_wait_s,
)
from tests.benchmarks.processes import Measured

BUSY = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"


def test_the_clock_samples_the_cpu_of_the_worker_processes_it_started_and_no_other() -> None:
    clock = CrawlClock(time.monotonic(), interval=0.05)
    clock.start()
    # the marker and "work" in its command line, as `scrapy cluster work` has them
    worker = subprocess.Popen([sys.executable, "-c", BUSY + "time.sleep(0.3)", "cluster", "work"])
    other = subprocess.Popen([sys.executable, "-c", BUSY + "time.sleep(0.3)"])
    worker.wait()
    other.wait()
    clock.finish()
    assert list(clock.workers) == [worker.pid]
    trace = clock.workers[worker.pid]
    assert trace.cpu_s[-1] >= 0.2
    assert trace.times == sorted(trace.times)
    # the machine was at least as busy as the worker over the clock's span
    assert clock.machine_end[0] - clock.machine_start[0] >= 0.2


def test_the_own_process_accounts_are_read_and_a_missing_postgres_has_none(
    tmp_path: Path,
) -> None:
    before = process_cpu_s(os.getpid())
    end = time.process_time() + 0.1
    while time.process_time() < end:
        pass
    after = process_cpu_s(os.getpid())
    assert before is not None and after is not None and after - before >= 0.05
    assert run_queue_wait_s(os.getpid()) is not None
    busy, steal = machine_cpu_s()
    assert busy > 0 and steal >= 0
    assert postgres_cpu_s(tmp_path) is None


def test_a_trace_interpolates_the_cpu_at_a_moment_between_its_samples() -> None:
    trace = WorkerTrace(1, times=[1.0, 2.0, 4.0], cpu_s=[1.0, 2.0, 2.0], wait_s=[0, 0, 1.0])
    assert trace.cpu_at(1.5) == 1.5
    assert trace.cpu_at(0.5) == 0.5  # from nothing at the launch
    assert trace.cpu_at(9.0) == 2.0
    assert trace.wait_at(3.0) == 0.5


def test_a_crawls_wall_splits_in_start_up_requests_and_tail_with_the_cpu_of_each() -> None:
    launched = 100.0
    clock = CrawlClock(launched)
    clock.workers = {
        7: WorkerTrace(7, times=[2.0, 12.0], cpu_s=[2.0, 10.0], wait_s=[0.0, 3.0]),
    }
    clock.machine_start, clock.machine_end = (0.0, 0.0), (20.0, 1.0)
    measured = [Measured(0, 15.0, 9.0, 2.0, 100.0, False)]
    # two portals: the first request at 2 s after the launch, the last at 12 s
    spans = [(102.0, 112.0, 30), (103.0, 108.0, 10)]
    run = {"replica_cpu_s": 1.0, "redis_cpu_s": 0.5, "postgres_cpu_s": 0.5}
    split = where_time_went(clock, measured, spans, launched, 40, run, cores=2)
    assert (split["startup_s"], split["crawl_s"], split["tail_s"]) == (2.0, 10.0, 3.0)
    # 11 s of the worker's CPU: 2 before the first request, 8 until the last, 1 after
    assert (split["startup_cpu_s"], split["crawl_cpu_s"], split["tail_cpu_s"]) == (2.0, 8.0, 1.0)
    assert split["worker_cpu_ms_per_request"] == 200.0
    assert split["other_cpu_ms_per_request"] == 50.0
    assert split["own_cpu_s"] == 13.0
    # the machine was busy 20 s, 13 of them the crawl's; 1 s stolen: 8 s over 15 s of wall
    assert (split["background_cpu_s"], split["background_cores"]) == (8.0, 0.53)
    assert (split["longest_portal_s"], split["portals_in_flight_mean"]) == (10.0, 1.5)
