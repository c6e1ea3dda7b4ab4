"""The benchmark's target evaluation and exit status, from given measurements (no crawl)."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.benchmarks.processes import run_measured
from tests.benchmarks.replay_spider import check_same_requests, replayed_targets
from tests.benchmarks.report import (
    NOT_APPLICABLE,
    NOT_REACHED,
    REACHED,
    evaluate_targets,
    exit_status,
    render_markdown,
)
from tests.benchmarks.truth_score import is_exact, score_feed, score_records

BASE = "http://127.0.0.1:8000"

EXACT = {
    "truth_articles": 10,
    "present": 1.0,
    "missing": 0,
    "duplicates": 0,
    "unexpected": 0,
    "title_exact": 1.0,
    "published_at_exact": 1.0,
    "body_exact": 1.0,
}


def size_result(
    *,
    replay_wall: float = 0.9,
    cpu_ms: float = 6.0,
    parser_ms: float = 0.8,
    speedup: float = 15.0,
    rss: float = 100.0,
    rerun_requests: int = 38,
    rerun_wall: float = 3.0,
) -> dict[str, Any]:
    return {
        "ours": {"cpu_ms_per_article": cpu_ms, "peak_rss_mb": rss, "outcome": "succeeded"},
        "ratio": {"replay_wall": replay_wall},
        "parser": {
            "ours_ms_per_page": parser_ms,
            "trafilatura_ms_per_page": parser_ms * speedup,
            "speedup_vs_trafilatura": speedup,
            "title_exact_ours": 1.0,
            "body_exact_ours": 1.0,
            "date_minute_ours": 1.0,
        },
        "rerun": {"requests": rerun_requests, "wall_s": rerun_wall},
        "correctness": dict(EXACT),
    }


def all_reached() -> dict[str, dict[str, Any]]:
    return {
        "500": size_result(rss=100.0, rerun_wall=3.0),
        "5000": size_result(rss=120.0, rerun_wall=4.0),
        "20000": size_result(rss=140.0, rerun_wall=5.0),
    }


def by_name(targets: list[dict[str, Any]], start: str) -> dict[str, Any]:
    found = [t for t in targets if t["target"].startswith(start)]
    assert len(found) == 1, [t["target"] for t in targets]
    return found[0]


def results_of(per_size: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "command": "python -m tests.benchmarks.run",
        "started_at": "2026-11-30T00:00:00+00:00",
        "total_seconds": 60.0,
        "machine": {"nproc": 2},
        "fast_settings": {"DOWNLOAD_DELAY": "0"},
        "per_size": per_size,
        "targets": evaluate_targets(per_size),
    }


def test_every_target_reached_exits_zero() -> None:
    targets = evaluate_targets(all_reached())
    assert [t["result"] for t in targets if t["result"] != REACHED] == []
    assert exit_status(targets) == 0


@pytest.mark.parametrize(
    ("size", "change", "target"),
    [
        ("5000", {"replay_wall": 0.79}, "our crawl >= 0.8"),
        ("20000", {"cpu_ms": 8.5}, "CPU per article"),
        ("500", {"parser_ms": 1.2}, "parser <= 1 ms"),
        ("5000", {"speedup": 9.0}, "parser >= 10 x"),
        ("20000", {"rss": 151.0}, "peak RSS"),
        ("5000", {"rerun_requests": 39}, "unchanged re-run: requests"),
        ("20000", {"rerun_wall": 6.1}, "unchanged re-run wall"),
    ],
)
def test_one_measurement_past_its_limit_misses_its_target_and_exits_one(
    size: str, change: dict[str, Any], target: str
) -> None:
    per_size = all_reached()
    base = {"500": 100.0, "5000": 120.0, "20000": 140.0}[size]
    walls = {"500": 3.0, "5000": 4.0, "20000": 5.0}[size]
    per_size[size] = size_result(**{"rss": base, "rerun_wall": walls, **change})
    targets = evaluate_targets(per_size)
    assert by_name(targets, target)["result"] == NOT_REACHED
    assert [t["target"] for t in targets if t["reached"] is False] == [
        by_name(targets, target)["target"]
    ]
    assert exit_status(targets) == 1


def test_no_fail_reports_a_miss_but_exits_zero() -> None:
    per_size = all_reached()
    per_size["5000"]["ratio"]["replay_wall"] = 0.4
    targets = evaluate_targets(per_size)
    assert by_name(targets, "our crawl >= 0.8")["result"] == NOT_REACHED
    assert exit_status(targets, fail_on_miss=False) == 0


def test_speed_ratio_is_judged_at_5000_and_shown_at_every_size() -> None:
    per_size = all_reached()
    per_size["500"]["ratio"]["replay_wall"] = 0.5
    per_size["20000"]["ratio"]["replay_wall"] = 0.6
    target = by_name(evaluate_targets(per_size), "our crawl >= 0.8")
    assert target["reached"] is True
    assert "at 5,000" in target["target"]
    assert "500: 0.50" in target["measured"]
    assert "20,000: 0.60" in target["measured"]


def test_stretch_ratio_is_reported_without_failing() -> None:
    per_size = all_reached()
    per_size["5000"]["ratio"]["replay_wall"] = 0.85
    target = by_name(evaluate_targets(per_size), "our crawl >= 0.8")
    assert target["reached"] is True
    assert f"stretch 0.9: {NOT_REACHED}" in target["measured"]


def test_cpu_per_article_is_not_judged_at_the_smallest_size() -> None:
    per_size = all_reached()
    per_size["500"]["ours"]["cpu_ms_per_article"] = 30.0
    target = by_name(evaluate_targets(per_size), "CPU per article")
    assert target["reached"] is True
    assert "5,000 and 20,000" in target["target"]


def test_quick_run_judges_speed_and_cpu_at_its_largest_size() -> None:
    per_size = {"200": size_result(cpu_ms=20.0), "1000": size_result(cpu_ms=9.0)}
    targets = evaluate_targets(per_size)
    assert "at 1,000" in by_name(targets, "our crawl >= 0.8")["target"]
    cpu = by_name(targets, "CPU per article")
    assert "at 1,000" in cpu["target"]
    assert cpu["reached"] is False


def test_a_missing_measurement_is_not_reached() -> None:
    per_size = all_reached()
    del per_size["5000"]["ratio"]["replay_wall"]
    del per_size["20000"]["parser"]["speedup_vs_trafilatura"]
    targets = evaluate_targets(per_size)
    assert by_name(targets, "our crawl >= 0.8")["reached"] is False
    assert by_name(targets, "parser >= 10 x")["reached"] is False
    assert exit_status(targets) == 1


def test_a_failed_size_misses_every_target_that_needs_it() -> None:
    per_size = all_reached()
    per_size["5000"] = {"size": 5000, "error": "RuntimeError: replica server not ready"}
    targets = evaluate_targets(per_size)
    assert by_name(targets, "every size measured")["reached"] is False
    assert "replica server not ready" in by_name(targets, "every size measured")["measured"]
    assert by_name(targets, "our crawl >= 0.8")["reached"] is False
    assert by_name(targets, "correctness")["reached"] is False
    assert exit_status(targets) == 1


def test_growth_targets_are_not_applicable_with_one_size() -> None:
    targets = evaluate_targets({"500": size_result()})
    assert by_name(targets, "peak RSS")["result"] == NOT_APPLICABLE
    assert by_name(targets, "unchanged re-run wall")["result"] == NOT_APPLICABLE
    assert by_name(targets, "unchanged re-run: requests")["result"] == NOT_APPLICABLE
    assert exit_status(targets) == 0


@pytest.mark.parametrize("field", ["present", "title_exact", "published_at_exact", "body_exact"])
def test_any_field_below_100_percent_misses_correctness(field: str) -> None:
    per_size = all_reached()
    per_size["20000"]["correctness"][field] = 0.9999
    targets = evaluate_targets(per_size)
    assert by_name(targets, "correctness")["reached"] is False
    assert exit_status(targets) == 1


def test_a_failed_crawl_misses_correctness_even_with_exact_fields() -> None:
    per_size = all_reached()
    per_size["500"]["ours"]["outcome"] = "failed"
    assert by_name(evaluate_targets(per_size), "correctness")["reached"] is False


def test_inexact_parser_field_misses_the_parser_exactness_target() -> None:
    per_size = all_reached()
    per_size["500"]["parser"]["title_exact_ours"] = 0.99
    assert by_name(evaluate_targets(per_size), "parser fields exact")["reached"] is False


def test_markdown_shows_each_target_with_its_result() -> None:
    per_size = all_reached()
    per_size["5000"]["ratio"]["replay_wall"] = 0.4
    text = render_markdown(results_of(per_size))
    assert f"**{NOT_REACHED}**" in text
    assert f"**{REACHED}**" in text
    assert "| **replay wall / our wall** | 0.90 | 0.40 | 0.90 |" in text


def truth_article(number: int) -> dict[str, Any]:
    return {
        "canonical_path": f"/w/bai-{number}",
        "title": f"Bài {number}",
        "published_at": "2024-01-02T08:30:00+07:00",
        "body_paragraphs": ["Đoạn một.", "Đoạn hai."],
    }


def record_of(article: dict[str, Any]) -> dict[str, Any]:
    return {
        "url": BASE + article["canonical_path"],
        "title": article["title"],
        "published_at": article["published_at"],
        "body_text": "\n\n".join(article["body_paragraphs"]),
    }


def test_feed_equal_to_truth_scores_exact() -> None:
    truth = [truth_article(n) for n in range(3)]
    score = score_records([record_of(a) for a in truth], truth, BASE)
    assert is_exact(score)
    assert score["present"] == 1.0


def test_missing_article_counts_against_every_field() -> None:
    truth = [truth_article(n) for n in range(4)]
    score = score_records([record_of(a) for a in truth[:3]], truth, BASE)
    assert (score["present"], score["missing"], score["body_exact"]) == (0.75, 1, 0.75)
    assert not is_exact(score)
    assert {"url": BASE + "/w/bai-3", "problem": "missing"} in score["examples"]


def test_wrong_body_duplicate_and_unknown_url_are_each_counted() -> None:
    truth = [truth_article(n) for n in range(2)]
    wrong = {**record_of(truth[1]), "body_text": "Đoạn một."}
    unknown = {**record_of(truth[0]), "url": BASE + "/w/khac"}
    score = score_records([record_of(truth[0]), record_of(truth[0]), wrong, unknown], truth, BASE)
    assert (score["body_exact"], score["title_exact"]) == (0.5, 1.0)
    assert (score["duplicates"], score["unexpected"]) == (1, 1)
    assert not is_exact(score)


def test_absent_feed_is_a_scored_error_not_exact(tmp_path: Path) -> None:
    score = score_feed(tmp_path / "feed.jsonl", [truth_article(1)], BASE)
    assert "no feed" in score["error"]
    assert not is_exact(score)


def test_replay_reads_every_get_of_the_request_log_in_order() -> None:
    lines = [
        json.dumps({"method": "GET", "path_and_query": "/robots.txt", "status": 200}),
        json.dumps({"method": "HEAD", "path_and_query": "/", "status": 200}),
        "",
        json.dumps({"method": "GET", "path_and_query": "/w/a?x=1", "status": 200}),
        json.dumps({"method": "GET", "path_and_query": "/w/a?x=1", "status": 200}),
    ]
    assert list(replayed_targets(iter(lines))) == ["/robots.txt", "/w/a?x=1", "/w/a?x=1"]


def test_replay_refuses_a_log_line_that_is_not_json() -> None:
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        list(replayed_targets(iter(['{"method": "GET", "path_and_query": "/"}', "GET /"])))


def test_plus10_rerun_request_count_is_shown_per_size_but_judges_no_target() -> None:
    per_size = all_reached()
    per_size["500"]["plus10"] = {"requests": 54}
    per_size["5000"]["plus10"] = {"requests": 55}
    targets = evaluate_targets(per_size)
    assert not [t for t in targets if "+10" in t["target"]]
    assert "| +10 articles: requests | 54 | 55 | - |" in render_markdown(results_of(per_size))


def write_log(path: Path, targets: list[str]) -> Path:
    lines = [json.dumps({"method": "GET", "path_and_query": t, "status": 200}) for t in targets]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_replay_with_the_same_requests_in_another_order_passes_the_check(tmp_path: Path) -> None:
    ours = write_log(tmp_path / "ours.jsonl", ["/robots.txt", "/w/a", "/w/b", "/w/a"])
    replay = write_log(tmp_path / "replay.jsonl", ["/w/a", "/robots.txt", "/w/a", "/w/b"])
    check_same_requests(ours, replay)


def test_replay_missing_or_adding_a_request_fails_the_check(tmp_path: Path) -> None:
    ours = write_log(tmp_path / "ours.jsonl", ["/robots.txt", "/w/a", "/w/a"])
    replay = write_log(tmp_path / "replay.jsonl", ["/robots.txt", "/w/a", "/w/c"])
    with pytest.raises(RuntimeError, match=r"1 extra \(e.g. \['/w/c'\]\), 1 missing"):
        check_same_requests(ours, replay)


def test_evaluation_does_not_change_the_measurements() -> None:
    per_size = all_reached()
    before = copy.deepcopy(per_size)
    evaluate_targets(per_size)
    assert per_size == before


def test_measured_peak_is_the_childs_own_not_the_benchmarks(tmp_path: Path) -> None:
    # ru_maxrss of a child counts the forked image of its parent: a benchmark holding 200 MB
    # would report 200 MB for a child that never used them.
    ballast = b"x" * (200 * 1024 * 1024)
    child = "b = b'y' * (40 * 1024 * 1024)\nimport time\ntime.sleep(0.5)\n"
    measured = run_measured(
        [sys.executable, "-c", child], cwd=tmp_path, timeout=60, output_path=tmp_path / "out"
    )
    assert ballast[-1:] == b"x"
    assert measured.returncode == 0
    assert 40 <= measured.peak_rss_mb < 150


def test_measured_peak_of_a_command_with_workers_sums_its_processes(tmp_path: Path) -> None:
    # an export's worker processes are the command's memory too
    child = (
        "import os, time\n"
        "pids = []\n"
        "for _ in range(2):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        b = b'y' * (60 * 1024 * 1024)\n"
        "        time.sleep(1.0)\n"
        "        os._exit(0)\n"
        "    pids.append(pid)\n"
        "for pid in pids:\n"
        "    os.waitpid(pid, 0)\n"
    )
    measured = run_measured(
        [sys.executable, "-c", child], cwd=tmp_path, timeout=60, output_path=tmp_path / "out"
    )
    assert measured.returncode == 0
    assert measured.processes == 3
    assert measured.peak_rss_mb >= 120
