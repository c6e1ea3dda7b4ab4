"""The cluster's sizing model (tests/benchmarks/sizing.py): its arithmetic from given costs, and
its refusals; the many-portals stage it is fitted on (tests/benchmarks/many_portals.py), run
small on real portals, Redis and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.benchmarks.many_portals import (
    many_portals_ok,
    render_many_portals_markdown,
    run_many_portals_benchmark,
)
from tests.benchmarks.sizing import (
    Costs,
    Workload,
    check_model,
    main,
    plan,
    predict,
    render_sizing_markdown,
    resources,
    workers_needed,
)

COSTS = Costs(
    cpu_ms_per_request=10.0,
    other_cpu_ms_per_request=5.0,
    requests_per_article=1.5,
    daily_requests_per_portal=40.0,
    redis_bytes_per_url_end=200.0,
    redis_bytes_per_url_peak=500.0,
    database_bytes_per_article=20_000.0,
    startup_s=2.0,
    startup_cpu_s=1.0,
    tail_s=1.0,
    tail_cpu_s=0.5,
)


def test_a_polite_portal_bounds_a_backfill_whatever_the_workers() -> None:
    load = Workload(portals=10, articles=1000, delay=1.0, concurrency=2, latency=0.3)
    # 1,500 requests per portal, starts 1 s apart: 1,499 s; CPU: 15,000 x 10 ms = 150 s, plus
    # a worker's 1.5 s of start-up and tail CPU.
    one = predict(COSTS, load, 1, backfill=True)
    four = predict(COSTS, load, 4, backfill=True)
    assert (one["bound"], one["politeness_floor_s"], one["cpu_floor_s"]) == (
        "politeness",
        1499.0,
        151.5,
    )
    # the politeness between the measured start-up (2 s) and tail (1 s)
    assert one["wall_s"] == four["wall_s"] == 1502.0


def test_without_delay_the_workers_divide_the_requests_cpu_and_each_pays_its_own_start() -> None:
    load = Workload(portals=100, articles=1000, delay=0.0, concurrency=2, latency=0.0)
    two = predict(COSTS, load, 2, backfill=True)
    assert two["bound"] == "cpu"
    # 150,000 requests x 10 ms / 2 workers + 1.5 s of start-up and tail CPU each
    assert two["cpu_floor_s"] == 751.5
    assert two["workers_cpu_s"] == 1503.0
    # + what the start-up and tail wait besides CPU: 1 s + 0.5 s
    assert two["wall_s"] == 753.0


def test_on_a_shared_machine_the_other_processes_and_other_jobs_cpu_count_against_the_cores() -> (
    None
):
    load = Workload(portals=100, articles=1000, delay=0.0, concurrency=2, latency=0.0)
    # 4 workers on 2 cores: 4 x 1.5 + 1,500 s of the workers and 750 s of the others' CPU
    shared = predict(COSTS, load, 4, backfill=True, cores=2)
    assert (shared["own_cpu_s"], shared["cpu_floor_s"]) == (2256.0, 1128.0)
    # other jobs taking one of the two cores halve what is left to the crawl
    busy = predict(COSTS, load, 4, backfill=True, cores=2, background_cores=1.0)
    assert busy["cpu_floor_s"] == 2256.0
    # one worker on an idle machine runs on one core: its own CPU bounds it
    one = predict(COSTS, load, 1, backfill=True, cores=2)
    assert one["cpu_floor_s"] == 1501.5


def test_a_daily_run_is_the_fixed_requests_plus_the_new_articles() -> None:
    load = Workload(portals=10, articles=50_000, new_per_day=20, delay=0.0, latency=0.0)
    daily = predict(COSTS, load, 1, backfill=False)
    assert daily["requests"] == 10 * (40 + 20 * 1.5)


def test_workers_needed_fit_the_cpu_in_the_window_and_none_fit_a_polite_floor_too_long() -> None:
    load = Workload(portals=100, articles=1000, delay=0.0, latency=0.0)
    # 1,500 s of requests' CPU in a 506 s window less 1.5 s of waits and 1.5 s of each
    # worker's start-up and tail CPU: 3 workers (503 s each); in 502 s (499 s each), 4
    assert workers_needed(COSTS, load, 506.0, backfill=True) == 3
    assert workers_needed(COSTS, load, 502.0, backfill=True) == 4
    polite = Workload(portals=1, articles=1000, delay=1.0)
    assert workers_needed(COSTS, polite, 600.0, backfill=True) is None
    assert plan(COSTS, polite, 600.0, backfill=True)["workers"] is None


def test_resources_are_per_url_and_per_stored_article() -> None:
    load = Workload(portals=2, articles=1000, new_per_day=10)
    backfill = resources(COSTS, load, backfill=True)
    assert backfill == {"redis_peak_mb": 1.5, "redis_end_mb": 0.6, "postgres_mb": 40.0}
    assert resources(COSTS, load, backfill=False)["postgres_mb"] == 0.4


def _results(*runs: dict[str, Any]) -> dict[str, Any]:
    return {
        "portals": 2,
        "truth_articles": 20,
        "host_delay_s": 0.1,
        "host_concurrency": 2,
        "nproc": 2,
        "runs": list(runs),
    }


FULL: dict[str, Any] = {
    "workers": 1,
    "full": True,
    "ok": True,
    "wall_s": 10.0,
    "requests": 40,
    "requests_per_article": 2.0,
    "redis_bytes_per_url_end": 300,
    "redis_bytes_per_url_peak": 600,
    "database_bytes_per_article": 9000,
    "time": {
        "startup_s": 3.0,
        "startup_cpu_s": 2.0,
        "startup_queued_s": 0.5,
        "crawl_s": 5.0,
        "crawl_cpu_s": 4.0,
        "crawl_queued_s": 0.5,
        "tail_s": 2.0,
        "tail_cpu_s": 0.5,
        "tail_queued_s": 0.0,
        "worker_cpu_ms_per_request": 100.0,
        "other_cpu_ms_per_request": 50.0,
        "own_cpu_s": 8.5,
        "background_cores": 0.0,
        "cores": 2,
        "longest_portal_s": 5.0,
        "median_portal_s": 4.0,
        "most_requests_per_portal": 20,
        "portals_in_flight_mean": 2.0,
    },
}
DAILY = {**FULL, "full": False, "requests": 20, "wall_s": 5.0}


def test_costs_come_from_the_correct_one_worker_crawl_its_phases_and_its_daily_run() -> None:
    costs = Costs.from_many_portals(_results(FULL, DAILY))
    assert (costs.cpu_ms_per_request, costs.other_cpu_ms_per_request) == (100.0, 50.0)
    assert (costs.startup_cpu_s, costs.tail_cpu_s) == (2.0, 0.5)
    # of the 3 s start-up, 2 s are the worker's CPU and 0.5 s a wait for a core; of the 2 s
    # tail, 0.5 s CPU: 2 s that no core shortens
    assert costs.waits_s == 2.0
    assert costs.daily_requests_per_portal == 10.0
    with pytest.raises(ValueError, match="no correct one-worker full crawl"):
        Costs.from_many_portals(_results({**FULL, "ok": False}, DAILY))
    untimed = {k: v for k, v in FULL.items() if k != "time"}
    with pytest.raises(ValueError, match="measure the many-portals stage again"):
        Costs.from_many_portals(_results(untimed, DAILY))


def test_the_check_predicts_every_measured_full_crawl_on_the_machine_as_busy_as_it_was() -> None:
    two = {
        **FULL,
        "workers": 2,
        "wall_s": 20.0,
        "time": {**FULL["time"], "background_cores": 1.5, "own_cpu_s": 12.0},
    }
    rows = check_model(_results(FULL, DAILY, two))
    assert [r["workers"] for r in rows] == [1, 2]
    # one worker: 2 + 40 x 100 ms + 0.5 s of its CPU on one core, + 2 s of waits;
    # politeness: 20 requests per portal 0.1 s apart = 1.9 s after 2 s of CPU and 2 s of waits
    assert (rows[0]["predicted_wall_s"], rows[0]["bound"], rows[0]["error"]) == (8.5, "cpu", -0.15)
    # two workers with 0.5 core left by other jobs: 2 x 2.5 + 4 s of the workers' CPU and
    # 40 x 50 ms of the others' = 11 s over 0.5 core, + 2 s of waits
    assert (rows[1]["predicted_own_cpu_s"], rows[1]["measured_own_cpu_s"]) == (11.0, 12.0)
    assert (rows[1]["predicted_wall_s"], rows[1]["error"]) == (24.0, 0.2)
    # the same on the machine as the one-worker crawl found it (2 cores free): the 11 s over
    # 2 cores (more than each worker's 4.5 s on its own), + 2 s
    assert rows[1]["predicted_at_one_worker_load_s"] == 7.5
    page = render_sizing_markdown(_results(FULL, DAILY, two))
    assert "| 2 | 20.0 | 3.0 + 5.0 + 2.0 | 1.50 | 12.0 / 11.0 | 24.0 | cpu | +20% | 7.5 |" in page
    assert "Where the one-worker crawl's 10.0 s went" in page
    # of the 5 s of requests, 4 s of CPU and 0.5 s waiting for a core: 0.5 s with nothing to run
    assert "was idle about 0.5 s" in page


def test_the_command_prints_the_daily_and_backfill_plans_from_the_measured_costs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    costs = tmp_path / "results.json"
    costs.write_text(json.dumps({"many_portals": _results(FULL, DAILY)}), encoding="utf-8")
    args = ["--portals", "3", "--articles", "100", "--delay", "0", "--latency", "0"]
    assert main([*args, "--costs", str(costs)]) == 0
    out = capsys.readouterr().out
    # 3 x 100 articles x 2 requests x 100 ms = 60 s of CPU + 2.5 s of a worker's start-up and
    # tail CPU, + 2 s of waits
    assert "| 3 x 100 | backfill | 7.0 d | 600 | 1 | 64 s (cpu) |" in out
    assert "| 3 x 100 | daily (+20/portal) |" in out


def test_the_command_refuses_missing_costs_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--portals", "5", "--articles", "100", "--costs", str(tmp_path / "none.json")])
    assert exit_info.value.code == 2
    assert "no measured costs" in capsys.readouterr().err


@pytest.mark.e2e
@pytest.mark.postgres
@pytest.mark.redis
def test_many_portals_stage_crawls_every_portal_correctly_and_politely(tmp_path: Path) -> None:
    results = run_many_portals_benchmark(tmp_path, portals=3, articles=6, workers_list=[1])
    assert many_portals_ok(results), results["runs"]
    full, daily = results["runs"]
    assert (full["full"], daily["full"]) == (True, False)
    assert full["portals_held"] == 3
    assert full["max_in_flight"] <= results["host_concurrency"]
    assert full["correctness"]["articles"] == results["truth_articles"]
    # the model's inputs: the worker's CPU before its first request and per request after it,
    # PostgreSQL's CPU among the others'
    assert full["time"]["startup_cpu_s"] > 0 and full["postgres_cpu_s"] > 0
    assert Costs.from_many_portals(results).cpu_ms_per_request > 0
    assert "| 1 | full |" in render_many_portals_markdown(results)
    assert "Checked against the measured crawls" in render_sizing_markdown(results)
