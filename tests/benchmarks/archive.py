"""The archive stage of ``make bench``: what the WARC archive (crawler/archive/) costs.

On one replica (its server in its own process), our whole crawl with ``ARCHIVE_ENABLED`` off
and on, alternated ``repeats`` times (each in a fresh directory, so each is a first run), then
an unchanged full re-crawl with it on into the last archive (its records are revisits).
Measured: the crawl process's CPU seconds (``os.wait4``) per stored article, the median over
the repeats, and the archive's bytes per article, for a first run and for the re-run. Target
(issue 23): archiving costs at most 15% more CPU.
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.archive.writer import FILE_NAME, GZIP_LEVEL
from tests.benchmarks.processes import ReplicaProcess, run_measured
from tests.crawl_runner import PROJECT_ROOT, crawl_command

if TYPE_CHECKING:
    from collections.abc import Collection

ARCHIVE_SIZE = 1000
QUICK_ARCHIVE_SIZE = 300
ARCHIVE_REPEATS = 3
CPU_TARGET = 0.15


def _archive_bytes(directory: Path, before: Collection[str] = ()) -> int:
    if not directory.exists():
        return 0
    return sum(
        path.stat().st_size
        for path in directory.iterdir()
        if FILE_NAME.fullmatch(path.name) and path.name not in before
    )


def _crawl(
    server: ReplicaProcess,
    workdir: Path,
    name: str,
    *,
    archive: bool,
    full: bool = False,
    timeout: float,
) -> dict[str, Any]:
    archive_dir = workdir / "archive"
    before = {p.name for p in archive_dir.iterdir()} if archive_dir.exists() else set()
    cmd, _, _ = crawl_command(
        server.url,
        workdir,
        feed_name=f"feed-{name}.jsonl",
        spider_args={"full": "1"} if full else None,
        settings={
            "ARCHIVE_ENABLED": str(archive),
            "LOG_FILE": str(workdir / f"crawl-{name}.log"),
        },
    )
    latest = workdir / "reports" / "latest.json"
    latest.unlink(missing_ok=True)
    measured = run_measured(
        cmd, cwd=PROJECT_ROOT, timeout=timeout, output_path=workdir / f"crawl-{name}.out"
    )
    report = json.loads(latest.read_text(encoding="utf-8")) if latest.exists() else {}
    counts = report.get("counts", {})
    articles = int(counts.get("stored_new", 0) or 0) + int(counts.get("stored_changed", 0) or 0)
    fetched = int(counts.get("responses", 0) or 0)
    return {
        "archive": archive,
        "outcome": report.get("outcome", "no report"),
        "cpu_s": round(measured.cpu_s, 3),
        "wall_s": round(measured.wall_s, 2),
        "articles": articles,
        "responses": fetched,
        "archive_bytes": _archive_bytes(archive_dir, before),
    }


def run_archive_benchmark(
    size: int, out: Path, repeats: int = ARCHIVE_REPEATS, timeout: float = 1800
) -> dict[str, Any]:
    """The stage's numbers (JSON-able); a crawl that did not succeed makes them ``ok: False``."""
    workdir = out / "work" / f"archive-{size}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    runs: list[dict[str, Any]] = []
    with ReplicaProcess(size, workdir, name="replica-archive") as server:
        for n in range(repeats):
            # alternated, so that a drift of the shared machine weighs on both sides
            order = (False, True) if n % 2 == 0 else (True, False)
            for archive in order:
                name = f"{'on' if archive else 'off'}-{n}"
                runs.append(_crawl(server, workdir / name, name, archive=archive, timeout=timeout))
        last_on = workdir / f"on-{repeats - 1}"
        rerun = _crawl(server, last_on, "rerun", archive=True, full=True, timeout=timeout)
    ok = all(r["outcome"] == "succeeded" for r in [*runs, rerun])
    on = [r for r in runs if r["archive"]]
    off = [r for r in runs if not r["archive"]]

    def per_article_ms(selected: list[dict[str, Any]]) -> float | None:
        values = [r["cpu_s"] * 1000 / r["articles"] for r in selected if r["articles"]]
        return round(statistics.median(values), 2) if values else None

    cpu_on, cpu_off = per_article_ms(on), per_article_ms(off)
    overhead = round(cpu_on / cpu_off - 1, 4) if cpu_on and cpu_off else None
    first_bytes = statistics.median(r["archive_bytes"] for r in on) if on else 0
    articles = statistics.median(r["articles"] for r in on) if on else 0
    return {
        "size": size,
        "repeats": repeats,
        "gzip_level": GZIP_LEVEL,
        "ok": ok,
        "runs": runs,
        "rerun": rerun,
        "cpu_ms_per_article_off": cpu_off,
        "cpu_ms_per_article_on": cpu_on,
        "cpu_overhead": overhead,
        "cpu_target": CPU_TARGET,
        "target_met": overhead is not None and overhead <= CPU_TARGET,
        "bytes_per_article_first": round(first_bytes / articles) if articles else None,
        "bytes_per_article_rerun": (round(rerun["archive_bytes"] / articles) if articles else None),
        "first_run_bytes": first_bytes,
        "rerun_bytes": rerun["archive_bytes"],
    }


def render_archive_markdown(results: dict[str, Any]) -> str:
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:+.1%}"

    lines = [
        "## Archive cost (WARC, issue 23)",
        "",
        f"`tests/benchmarks/archive.py`: our crawl of a {results['size']:,}-article replica with "
        f"`ARCHIVE_ENABLED` off and on, alternated, {results['repeats']} times each (fresh "
        "directories: every one a first run), then an unchanged full re-crawl (`-a full=1`) "
        "into the last archive. CPU is the crawl process's own (`os.wait4`), per stored "
        f"article, the median of the repeats; gzip level {results['gzip_level']} per record. "
        "The machine is shared, so CPU numbers are noisy by a few percent.",
        "",
        "| | archiving off | archiving on |",
        "|---|---:|---:|",
        f"| CPU ms per article | {results['cpu_ms_per_article_off']} | "
        f"{results['cpu_ms_per_article_on']} |",
        f"| **CPU overhead** (target at most {results['cpu_target']:.0%}) | | "
        f"**{pct(results['cpu_overhead'])}** "
        f"({'met' if results['target_met'] else 'MISSED'}) |",
        f"| archive bytes per article, first run | | {results['bytes_per_article_first']} |",
        f"| archive bytes per article, unchanged re-run (revisits) | | "
        f"{results['bytes_per_article_rerun']} |",
        f"| archive bytes, first run / re-run | | {results['first_run_bytes']:,} / "
        f"{results['rerun_bytes']:,} |",
        "",
        "| crawl | archive | outcome | articles | responses | CPU s | wall s | archive bytes |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, run in [
        *((f"#{n + 1}", r) for n, r in enumerate(results["runs"])),
        ("re-run", results["rerun"]),
    ]:
        lines.append(
            f"| {name} | {'on' if run['archive'] else 'off'} | {run['outcome']} | "
            f"{run['articles']} | {run['responses']} | {run['cpu_s']} | {run['wall_s']} | "
            f"{run['archive_bytes']:,} |"
        )
    if not results["ok"]:
        lines += ["", "**A crawl of this stage did not succeed**: the numbers are not valid."]
    return "\n".join(lines)
