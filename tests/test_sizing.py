"""The cluster's sizing model (tests/benchmarks/sizing.py): its arithmetic from given costs, and
its refusals; the many-portals stage it is fitted on (tests/benchmarks/many_portals.py), run
small on real portals, Redis and PostgreSQL."""

from __future__ import annotations

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
)


def test_a_polite_portal_bounds_a_backfill_whatever_the_workers() -> None:
    load = Workload(portals=10, articles=1000, delay=1.0, concurrency=2, latency=0.3)
    # 1,500 requests per portal, starts 1 s apart: 1,499 s; CPU: 15,000 x 10 ms = 150 s.
    one = predict(COSTS, load, 1, backfill=True)
    four = predict(COSTS, load, 4, backfill=True)
    assert (one["bound"], one["politeness_floor_s"], one["cpu_floor_s"]) == (
        "politeness",
        1499.0,
        150.0,
    )
    assert one["wall_s"] == four["wall_s"] == 1501.0


def test_without_delay_the_workers_divide_the_cpu() -> None:
    load = Workload(portals=100, articles=1000, delay=0.0, concurrency=2, latency=0.0)
    two = predict(COSTS, load, 2, backfill=True)
    assert two["bound"] == "cpu"
    # 150,000 requests x 10 ms / 2 workers
    assert two["cpu_floor_s"] == 750.0
    assert two["wall_s"] == 752.0


def test_on_a_shared_machine_the_other_processes_cpu_counts_against_the_cores() -> None:
    load = Workload(portals=100, articles=1000, delay=0.0, concurrency=2, latency=0.0)
    # 4 workers on 2 cores: the workers' 1,500 s on 2 cores, or all 2,250 s on 2 cores
    shared = predict(COSTS, load, 4, backfill=True, cores=2)
    assert shared["cpu_floor_s"] == 1125.0


def test_a_daily_run_is_the_fixed_requests_plus_the_new_articles() -> None:
    load = Workload(portals=10, articles=50_000, new_per_day=20, delay=0.0, latency=0.0)
    daily = predict(COSTS, load, 1, backfill=False)
    assert daily["requests"] == 10 * (40 + 20 * 1.5)


def test_workers_needed_fit_the_cpu_in_the_window_and_none_fit_a_polite_floor_too_long() -> None:
    load = Workload(portals=100, articles=1000, delay=0.0, latency=0.0)
    # 1,500 s of CPU in a 502 s window (2 s start-up): 3 workers
    assert workers_needed(COSTS, load, 502.0, backfill=True) == 3
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


FULL = {
    "workers": 1,
    "full": True,
    "ok": True,
    "wall_s": 10.0,
    "requests": 40,
    "cpu_ms_per_request": 100.0,
    "replica_cpu_s": 1.0,
    "redis_cpu_s": 1.0,
    "requests_per_article": 2.0,
    "redis_bytes_per_url_end": 300,
    "redis_bytes_per_url_peak": 600,
    "database_bytes_per_article": 9000,
    "startup_s": 3.0,
}
DAILY = {**FULL, "full": False, "requests": 20, "wall_s": 5.0}


def test_costs_come_from_the_correct_one_worker_crawl_and_its_daily_run() -> None:
    costs = Costs.from_many_portals(_results(FULL, DAILY))
    assert costs.other_cpu_ms_per_request == 50.0
    assert costs.daily_requests_per_portal == 10.0
    with pytest.raises(ValueError, match="no correct one-worker full crawl"):
        Costs.from_many_portals(_results({**FULL, "ok": False}, DAILY))


def test_the_check_predicts_every_measured_full_crawl_and_says_its_error() -> None:
    two = {**FULL, "workers": 2, "wall_s": 8.0}
    rows = check_model(_results(FULL, DAILY, two))
    assert [r["workers"] for r in rows] == [1, 2]
    # 40 requests x 100 ms = 4 s of worker CPU on 1 core; x 150 ms on 2 cores = 3 s;
    # politeness: 20 requests per portal 0.1 s apart = 1.9 s; + 3 s start-up
    assert rows[0]["predicted_wall_s"] == 7.0
    assert rows[0]["error"] == -0.3
    assert "| 2 | 8.0 |" in render_sizing_markdown(_results(FULL, DAILY, two))


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
    assert "| 1 | full |" in render_many_portals_markdown(results)
    assert "Checked against the measured crawls" in render_sizing_markdown(results)
