"""The documentation's benchmark page (tests/benchmarks/run.py): each stage's section is its
latest run, with that run's command and date; a run of some stages leaves the others."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.benchmarks import run

MACHINE = {"nproc": 2, "cpu": "test"}


def _run(started: str, command: str, **stages: Any) -> dict[str, Any]:
    return {"command": command, "started_at": started, "machine": MACHINE, "sizes": [], **stages}


def test_a_later_run_of_one_stage_replaces_its_section_and_keeps_the_others(
    tmp_path: Path, monkeypatch: Any
) -> None:
    page, data = tmp_path / "benchmarks.md", tmp_path / "benchmarks.json"
    monkeypatch.setitem(run.RENDERERS, "archive", lambda r: f"## Archive\n\nbytes {r['bytes']}")
    monkeypatch.setitem(run.RENDERERS, "analysts", lambda r: f"## Analysts\n\nsearch {r['s']}")
    run.write_docs_page(
        _run("2026-12-01T10:00:00+00:00", "bench all", archive={"bytes": 1}, analysts={"s": 9}),
        page,
        data,
    )
    run.write_docs_page(
        _run("2026-12-07T12:00:00+00:00", "bench --analysts", analysts={"s": 2}), page, data
    )
    text = page.read_text(encoding="utf-8")
    assert text.startswith(run.DOCS_PREAMBLE)
    # the archive section from the first run, with its own date and command
    assert "## Archive\n\nbytes 1\n\n*Measured 2026-12-01T10:00:00+00:00 by `bench all`" in text
    # the analysts' section from the second
    assert "search 9" not in text
    assert (
        "## Analysts\n\nsearch 2\n\n*Measured 2026-12-07T12:00:00+00:00 by `bench --analysts`"
        in text
    )
    # in the page's order, whatever order the runs came in
    assert text.index("## Archive") < text.index("## Analysts")
    stored = json.loads(data.read_text(encoding="utf-8"))["stages"]
    assert sorted(stored) == ["analysts", "archive"]


def test_the_crawl_tables_become_one_section_of_the_page(tmp_path: Path, monkeypatch: Any) -> None:
    page, data = tmp_path / "benchmarks.md", tmp_path / "benchmarks.json"
    monkeypatch.setattr(
        run, "render_markdown", lambda r: "# Benchmarks\n\nCommand: x\n\n## Targets\n\nrows"
    )
    results = {**_run("2026-12-07T12:00:00+00:00", "bench"), "sizes": [500], "per_size": {}}
    run.write_docs_page({**results, "targets": [], "total_seconds": 1.0}, page, data)
    text = page.read_text(encoding="utf-8")
    assert text.count("# Benchmarks\n") == 1  # the preamble's title only
    assert "## Crawl, parser and re-runs (issue 11)\n\nCommand: x\n\n### Targets" in text


def test_portals_only_measures_the_many_portals_stage_alone_by_the_worker_counts_given(
    tmp_path: Path, monkeypatch: Any
) -> None:
    asked: list[Any] = []

    def many_portals(out: Path, *, portals: int, workers_list: list[int]) -> dict[str, Any]:
        asked.append((portals, workers_list))
        return {"runs": [{"ok": True}]}

    def not_measured(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("only the many-portals stage runs")

    monkeypatch.setattr(run, "run_many_portals_benchmark", many_portals)
    monkeypatch.setattr(run, "run_cluster_benchmark", not_measured)
    monkeypatch.setattr(run, "run_archive_benchmark", not_measured)
    monkeypatch.setattr(run, "render_all", lambda results: "")
    args = ["--portals-only", "--portals", "7", "--cluster-workers", "1,2,4", "--no-analysts"]
    status = run.main([*args, "--no-event-dates", "--output-dir", str(tmp_path)])
    assert status == 0
    assert asked == [(7, [1, 2, 4])]
    written = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert written["many_portals"] == {"runs": [{"ok": True}]} and "cluster" not in written
