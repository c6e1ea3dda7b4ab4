"""The archive stage of ``make bench`` (tests/benchmarks/archive.py): how it renders and is
judged, on numbers as the stage returns them; and that run.py puts it in the page."""

from __future__ import annotations

import copy
from typing import Any

from tests.benchmarks.archive import render_archive_markdown
from tests.benchmarks.run import render_all


def crawl(archive: bool, cpu_s: float, archive_bytes: int) -> dict[str, Any]:
    return {
        "archive": archive,
        "outcome": "succeeded",
        "cpu_s": cpu_s,
        "wall_s": 40.0,
        "articles": 1000,
        "responses": 1400,
        "archive_bytes": archive_bytes,
    }


RESULTS: dict[str, Any] = {
    "size": 1000,
    "repeats": 1,
    "gzip_level": 6,
    "ok": True,
    "runs": [crawl(False, 13.0, 0), crawl(True, 14.3, 7_400_000)],
    "rerun": crawl(True, 13.2, 1_800_000),
    "cpu_ms_per_article_off": 13.0,
    "cpu_ms_per_article_on": 14.3,
    "cpu_overhead": 0.1,
    "cpu_target": 0.15,
    "target_met": True,
    "bytes_per_article_first": 7400,
    "bytes_per_article_rerun": 1800,
    "first_run_bytes": 7_400_000,
    "rerun_bytes": 1_800_000,
}


def test_the_archive_section_shows_cpu_overhead_against_its_target_and_bytes_per_article() -> None:
    text = render_archive_markdown(RESULTS)
    assert "**+10.0%** (met)" in text
    assert "| archive bytes per article, first run | | 7400 |" in text
    assert "unchanged re-run (revisits) | | 1800 |" in text
    assert "| re-run | on | succeeded |" in text


def test_a_missed_target_or_a_failed_crawl_is_said_in_the_section() -> None:
    missed = {**copy.deepcopy(RESULTS), "cpu_overhead": 0.2, "target_met": False, "ok": False}
    text = render_archive_markdown(missed)
    assert "**+20.0%** (MISSED)" in text
    assert "did not succeed" in text


def test_render_all_puts_the_archive_section_in_the_benchmarks_page() -> None:
    results = {
        "command": "python -m tests.benchmarks.run",
        "started_at": "2026-12-07T11:00:00+00:00",
        "total_seconds": 60.0,
        "machine": {"cpus": 2},
        "archive": RESULTS,
    }
    assert "## Archive cost (WARC, issue 23)" in render_all(results)
