"""The cluster benchmark's arithmetic and verdicts (tests/benchmarks/cluster.py), without
running it: speed-up and efficiency, a wrong crawl failing the stage, the Redis key kinds."""

from __future__ import annotations

from typing import Any

from tests.benchmarks.cluster import (
    KEY_PREFIX,
    add_scaling,
    cluster_ok,
    crawl_correct,
    key_group,
    render_cluster_markdown,
)
from tests.test_bench_targets import EXACT

CRAWL = "0123456789abcdef0123456789abcdef"


def _score(**changes: Any) -> dict[str, Any]:
    # an exact feed's score, plus what a cluster crawl is also judged on
    return {**EXACT, "stored_twice": 0, "one_run_succeeded": True, **changes}


def _run(workers: int, wall_s: float, **score: Any) -> dict[str, Any]:
    run: dict[str, Any] = {
        "workers": workers,
        "wall_s": wall_s,
        "worker_returncodes": [0] * workers,
        "stored": 10,
        "correctness": _score(**score),
    }
    run["ok"] = crawl_correct(run)
    return run


def test_speedup_is_over_one_worker_and_efficiency_divides_it_by_the_workers() -> None:
    runs = [_run(1, 100.0), _run(2, 60.0), _run(4, 40.0)]
    add_scaling(runs)
    assert [(r["speedup"], r["efficiency"]) for r in runs] == [
        (1.0, 1.0),
        (1.67, 0.83),
        (2.5, 0.62),
    ]


def test_without_a_one_worker_run_there_is_no_speedup() -> None:
    runs = [_run(2, 60.0)]
    add_scaling(runs)
    assert (runs[0]["speedup"], runs[0]["efficiency"]) == (None, None)


def test_a_missing_an_extra_or_a_twice_stored_article_makes_the_crawl_wrong() -> None:
    assert crawl_correct(_run(1, 1.0))
    assert not crawl_correct(_run(1, 1.0, present=0.9, missing=1))
    assert not crawl_correct(_run(1, 1.0, stored_twice=1))
    assert not crawl_correct(_run(1, 1.0, body_exact=0.9))
    assert not crawl_correct(_run(1, 1.0, one_run_succeeded=False))


def test_a_run_counting_more_stores_than_articles_is_wrong() -> None:
    run = _run(2, 1.0)
    run["stored"] = 11
    assert not crawl_correct(run)


def test_a_failed_worker_makes_the_crawl_wrong() -> None:
    run = _run(2, 1.0)
    run["worker_returncodes"] = [0, 1]
    assert not crawl_correct(run)


def test_one_wrong_run_or_an_errored_size_fails_the_stage() -> None:
    good = {"per_size": {"100": {"runs": [_run(1, 1.0), _run(2, 1.0)]}}}
    assert cluster_ok(good)
    assert not cluster_ok(
        {"per_size": {"100": {"runs": [_run(1, 1.0), _run(2, 1.0, missing=1, present=0.9)]}}}
    )
    assert not cluster_ok({"per_size": {"100": {"size": 100, "error": "RuntimeError: boom"}}})


def test_key_kinds_drop_the_crawl_id_the_site_and_the_host() -> None:
    site = f"{KEY_PREFIX}:crawl:{CRAWL}:site:hepza"
    assert key_group(f"{site}:dupefilter", CRAWL) == "site:dupefilter"
    assert key_group(f"{site}:frontier:seen", CRAWL) == "site:frontier:seen"
    assert key_group(f"{KEY_PREFIX}:crawl:{CRAWL}:stats:vm-1:hepza", CRAWL) == "stats"
    assert key_group(f"{KEY_PREFIX}:host:127.0.0.1:8080:slots", CRAWL) == "host:slots"
    assert key_group(f"{KEY_PREFIX}:current", CRAWL) == "current"


def test_the_table_names_the_core_count_and_marks_a_wrong_crawl() -> None:
    wrong = _run(1, 10.0, missing=2, present=0.8)
    wrong |= {
        "articles_per_s": 1.0,
        "workers_cpu_s": 5.0,
        "outcome": "succeeded",
        "load_before": 1.0,
        "load_after": 1.0,
        "requests": 100,
        "distinct_urls": 100,
        "redis": {
            "used_memory_mb": 1.0,
            "used_memory_peak_mb": 2.0,
            "baseline_mb": 1.0,
            "keys_mb": 0.5,
            "urls_met": 100,
            "keys_kb_per_1000_urls": 5.0,
            "used_kb_per_1000_urls": 10.0,
            "commands_per_url": 50.0,
            "commands_per_request": 50.0,
            "bytes_per_url_end": 10_000,
            "bytes_per_url_peak": 20_000,
            "keys_kb_by_kind": {"site:dupefilter": 1.0},
        },
    }
    add_scaling([wrong])
    text = render_cluster_markdown(
        {"nproc": 2, "replica_servers": 4, "per_size": {"100": {"runs": [wrong]}}}
    )
    assert "**This machine has 2 CPU cores**" in text
    assert "**WRONG** (missing 2" in text
    # Redis bytes per URL at the end (and the peak), the distinct URLs (against one worker),
    # the requests
    assert "| 10,000 (20,000) | 100 (+0) | 100 |" in text
