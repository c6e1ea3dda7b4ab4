"""The analysts' benchmark stage judges what it measured, and its generated databases hold what
its commands are timed on (tests/benchmarks/analysts.py, analysts_data.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from crawler.commands.export import ChangeCutoff, write_export
from pipelines.storage.search import search_articles
from pipelines.storage.store import ArticleStore
from tests.benchmarks import analysts as analysts_module
from tests.benchmarks.analysts import (
    EXPORTS,
    FASTEST_OF,
    INTERACTIVE,
    _cell,
    compile_project,
    evaluate_analysts,
    measure_fastest,
    merge_results,
    page_entry,
)
from tests.benchmarks.analysts_data import (
    COMMON_WORD,
    EDIT_EVERY,
    RARE_EVERY,
    RARE_WORD,
    generate_sqlite,
    recent_cutoff,
)
from tests.crawl_runner import PROJECT_ROOT


def measurements(seconds: float, rate: int, peak_mb: float) -> dict[str, Any]:
    per: dict[str, Any] = {name: {"seconds": seconds, "peak_mb": peak_mb} for name in INTERACTIVE}
    per.update(
        {name: {"seconds": 1.0, "articles_per_s": rate, "peak_mb": peak_mb} for name in EXPORTS}
    )
    per["start-up (search --help)"] = {"seconds": 0.3}
    per["report"] = {"seconds": 2.0}
    return per


def results(per_size: dict[int, dict[str, Any]]) -> dict[str, Any]:
    return {
        "sizes": sorted(per_size),
        "databases": ["postgresql"],
        "measured_at": "now",
        "measurements": {f"postgresql {size}": per for size, per in per_size.items()},
    }


def verdicts(result: dict[str, Any]) -> dict[str, bool]:
    return {target["target"]: target["reached"] for target in evaluate_analysts(result)}


def test_every_measurement_within_its_limit_reaches_every_target() -> None:
    judged = verdicts(
        results({10: measurements(0.5, 30_000, 150), 100: measurements(0.6, 25_000, 160)})
    )
    assert judged and all(judged.values())


def test_a_slow_search_or_export_and_a_growing_memory_are_not_reached() -> None:
    slow = measurements(1.5, 9_000, 600)
    judged = verdicts(results({10: measurements(0.5, 30_000, 150), 100: slow}))
    assert not judged["postgresql 100: search common"]
    assert not judged["postgresql 100: export jsonl articles/s"]
    assert not judged["postgresql: export jsonl memory flat 10 -> 100"]
    assert judged["postgresql 100: report"]


def test_a_missing_or_failed_measurement_is_not_reached() -> None:
    per = measurements(0.5, 30_000, 150)
    del per["search rare"]
    per["search common"] = {"seconds": 0.1, "error": "exit 1"}
    judged = verdicts(results({10: per}))
    assert not judged["postgresql 10: search rare"]
    assert not judged["postgresql 10: search common"]


def test_merged_runs_judge_each_database_at_its_own_largest_size() -> None:
    earlier = results({10: measurements(0.5, 30_000, 150)})
    later = {**results({}), "databases": ["sqlite"], "sizes": [1000]}
    later["measurements"] = {"sqlite 1000": measurements(2.0, 30_000, 150)}
    judged = verdicts(merge_results(earlier, later))
    assert judged["postgresql 10: search common"]
    assert not judged["sqlite 1000: search common"]


def test_a_generated_database_holds_the_words_and_the_edits_the_commands_are_timed_on(
    tmp_path: Path,
) -> None:
    size = 2000
    path = tmp_path / "bench.sqlite3"
    generate_sqlite(path, size)
    store = ArticleStore(f"sqlite:///{path}")
    try:
        rare = search_articles(store.engine, RARE_WORD, limit=100)
        assert len(rare) == size // RARE_EVERY
        assert len(search_articles(store.engine, COMMON_WORD, limit=5)) == 5
        cutoff = ChangeCutoff(recent_cutoff(size, 7))
        assert write_export(store.engine, "jsonl", tmp_path / "recent.jsonl", cutoff=cutoff) == 7
        edited = write_export(
            store.engine,
            "jsonl",
            tmp_path / "all.jsonl",
            cutoff=ChangeCutoff(recent_cutoff(size, size // EDIT_EVERY)),
        )
        assert edited == size // EDIT_EVERY
        rows = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
        assert {(row["change"], row["version"]) for row in rows} == {("changed", 2)}
        assert {tuple(row["changed_fields"]) for row in rows} == {("body_text", "body_html")}
    finally:
        store.close()


def test_a_datasette_page_missing_a_facet_timed_out_unless_it_was_redirected_to_skip_them() -> None:
    wanted = ["site", "category"]
    data = {"facet_results": {"site": {}}, "filtered_table_rows_count": 5, "rows": []}
    plain = page_entry(0.3, 0.4, data, wanted, "http://h/db/articles_browse?_search=x")
    assert plain["timed_out_facets"] == ["category"]
    assert "not_counted_or_faceted" not in plain
    said = 'where search matches "x" (500,000 articles by the search index, not counted or faceted)'
    skipped = page_entry(
        0.3,
        0.4,
        {"facet_results": {}, "filtered_table_rows_count": None, "human_description_en": said},
        wanted,
        "http://h/db/articles_browse?_search=x&_nocount=index&_nofacet=index",
    )
    assert skipped["timed_out_facets"] == []
    assert skipped["rows"] is None  # not a count of the page's rows
    assert skipped["not_counted_or_faceted"] == said
    assert _cell(skipped) == "0.30 s, not counted or faceted"


def test_compile_project_writes_the_bytecode_of_the_project_modules() -> None:
    compile_project()
    for module in ("crawler/commands/search.py", "pipelines/storage/engine.py"):
        source = PROJECT_ROOT / module
        compiled = Path(importlib.util.cache_from_source(str(source)))
        assert compiled.stat().st_mtime >= source.stat().st_mtime


def _runs(monkeypatch: Any, results: list[dict[str, Any]]) -> list[str]:
    called: list[str] = []

    def measured(name: str, *args: Any) -> dict[str, Any]:
        called.append(name)
        return results[len(called) - 1]

    monkeypatch.setattr(analysts_module, "measure_command", measured)
    return called


def _run(seconds: float, returncode: int = 0) -> dict[str, Any]:
    return {"seconds": seconds, "returncode": returncode, "timed_out": False}


def test_an_interactive_command_keeps_its_fastest_run_and_every_run_s_seconds(monkeypatch):
    called = _runs(monkeypatch, [_run(1.4), _run(0.9), _run(1.1)])
    result = measure_fastest("search rare", [], "sqlite://", 10, Path())
    assert called == ["search rare"] * FASTEST_OF
    assert result == {**_run(0.9), "runs_s": [1.4, 0.9, 1.1]}


def test_a_failed_run_of_an_interactive_command_is_its_result(monkeypatch):
    _runs(monkeypatch, [_run(0.5), _run(0.4, returncode=1), _run(0.6)])
    result = measure_fastest("search common", [], "sqlite://", 10, Path())
    assert result["returncode"] == 1


def test_an_export_runs_once(monkeypatch):
    called = _runs(monkeypatch, [_run(60.0)])
    assert measure_fastest("export csv", [], "sqlite://", 10, Path()) == _run(60.0)
    assert called == ["export csv"]
