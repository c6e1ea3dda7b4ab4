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
