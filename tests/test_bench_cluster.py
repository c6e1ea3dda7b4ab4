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
    median_run,
    pair_entry,
    paired_ratios,
    render_cluster_markdown,
    render_pairs,
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


def _lone(rate: float, cpu: float) -> dict[str, Any]:
    return {"wall_s": 100 / rate, "articles_per_s": rate, "cpu_s": cpu, "ok": True}


def _one(rate: float, cpu: float, **score: Any) -> dict[str, Any]:
    run = _run(1, 100 / rate, **score) | {"articles_per_s": rate, "workers_cpu_s": cpu}
    run["load_before"] = run["load_after"] = 1.0
    return run


def test_one_worker_against_the_lone_crawl_is_the_median_of_the_back_to_back_pairs() -> None:
    # The machine slowed down between the pairs: each worker run is 0.9 of the lone crawl it
    # ran next to, whatever the load; a ratio of runs minutes apart would say 0.45 or 1.8.
    pairs = [
        pair_entry(_lone(60.0, 20.0), _one(54.0, 21.0), ["lone", "one_worker"]),
        pair_entry(_lone(30.0, 20.0), _one(27.0, 22.0), ["one_worker", "lone"]),
        pair_entry(_lone(40.0, 20.0), _one(38.0, 20.0), ["lone", "one_worker"]),
    ]
    assert [p["rate_ratio"] for p in pairs] == [0.9, 0.9, 0.95]
    assert [p["cpu_ratio"] for p in pairs] == [1.05, 1.1, 1.0]
    paired = paired_ratios(pairs)
    assert (paired["rate_ratio_median"], paired["cpu_ratio_median"]) == (0.9, 1.05)
    lone = median_run([_lone(60.0, 20.0), _lone(30.0, 20.0), _lone(40.0, 20.0)])
    assert lone["articles_per_s"] == 40.0
    one = median_run([_one(54.0, 21.0), _one(27.0, 22.0), _one(38.0, 20.0)])
    assert one["articles_per_s"] == 38.0
    runs = [one, _run(2, 1.0) | {"articles_per_s": 80.0}]
    add_scaling(runs, lone, paired)
    assert [r["vs_lone"] for r in runs] == [0.9, 2.0]


def test_the_pairs_are_shown_with_their_medians_and_a_wrong_paired_run_fails_the_stage() -> None:
    wrong = _one(27.0, 22.0, missing=1, present=0.9)
    pairs = [
        pair_entry(_lone(60.0, 20.0), _one(54.0, 21.0), ["lone", "one_worker"]),
        pair_entry(_lone(30.0, 20.0), wrong, ["one_worker", "lone"]),
    ]
    size = {"runs": [_one(54.0, 21.0)], "pairs": pairs, "paired": paired_ratios(pairs)}
    assert not cluster_ok({"per_size": {"100": size}})
    assert cluster_ok({"per_size": {"100": {**size, "pairs": pairs[:1]}}})
    text = "\n".join(render_pairs(100, size))
    assert "back to back (100 articles, 2 pairs): median *x lone crawl* **0.90**" in text
    assert (
        "| 1 | lone | 1.7 | 60.0 | 20.0 | 1.9 | 54.0 | 21.0 | 0.90 | 1.05 | - / 1.0 | correct |"
        in text
    )
    assert "| 2 | worker |" in text and "**WRONG**" in text
