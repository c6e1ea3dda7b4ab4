"""The analysts' commands at 10k / 100k / 1M articles (issue 24, item 5).

``python -m tests.benchmarks.analysts [--sizes 10000,100000] [--databases sqlite,postgresql]``
(or ``make bench``, whose run.py calls :func:`run_analysts_benchmark`). Per size and database,
on a generated database (tests/benchmarks/analysts_data.py, cached under
``output/bench/analysts/``): each command as a user runs it (a ``scrapy`` subprocess started
from the project directory), its wall time and its own peak memory, and Datasette's pages
(SQLite only: Datasette reads SQLite). Then every target, reached or NOT reached:

- start-up of a database command (``scrapy search --help``) under ``STARTUP_TARGET_S``;
- search (a common and a rare word, each alone and with ``--site``/``--since``) and the change
  feed of the last 20 changed articles under ``INTERACTIVE_TARGET_S`` at the largest size;
- the snapshot exports and the whole change feed at least ``EXPORT_TARGET_RATE`` articles/s at
  the largest size, their peak memory flat (largest within ``FLAT_FACTOR`` of the smallest);
- ``scrapy report`` under ``REPORT_TARGET_S``; Datasette's table, facet and search pages under
  ``INTERACTIVE_TARGET_S`` with no facet timed out.
"""

from __future__ import annotations

import argparse
import compileall
import json
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.benchmarks.analysts_data import (
    COMMON_WORD,
    FIRST_PUBLISHED,
    GENERATOR_VERSION,
    RARE_WORD,
    SITE,
    generate_postgresql,
    generate_sqlite,
    recent_cutoff,
)
from tests.benchmarks.processes import run_measured
from tests.crawl_runner import PROJECT_ROOT
from tests.postgres import PostgresUnavailable, _free_port

ANALYSTS_SIZES = (10_000, 100_000, 1_000_000)
QUICK_ANALYSTS_SIZES = (10_000,)
DATABASES = ("sqlite", "postgresql")
CACHE_DIR = PROJECT_ROOT / "output" / "bench" / "analysts"
STARTUP_TARGET_S = 0.5
INTERACTIVE_TARGET_S = 1.0
EXPORT_TARGET_RATE = 20_000
REPORT_TARGET_S = 10.0
FLAT_FACTOR = 1.3
COMMAND_TIMEOUT_S = 900.0
SINCE_DAY = "2024-01-01"

# name -> (scrapy arguments, what a target judges: "interactive", "export", "report", "startup")
INTERACTIVE = (
    "search common",
    "search rare",
    "search common --site --since",
    "search rare --site --since",
    "change feed, last 20",
)
EXPORTS = ("export jsonl", "export csv", "export parquet", "change feed, all")
STARTUP = "start-up (search --help)"
# A second-long command on a shared machine: its fastest of this many runs is what it costs,
# the others what the machine's other work added (as timeit keeps the fastest).
FASTEST_OF = 3
PAGES = ("datasette table", "datasette facets", "datasette search", "datasette saved search")


def commands(size: int, workdir: Path) -> dict[str, list[str]]:
    recent = recent_cutoff(size).isoformat()
    return {
        STARTUP: ["search", "--help"],
        "search common": ["search", COMMON_WORD],
        "search rare": ["search", RARE_WORD],
        "search common --site --since": [
            "search",
            COMMON_WORD,
            "--site",
            SITE,
            "--since",
            SINCE_DAY,
        ],
        "search rare --site --since": ["search", RARE_WORD, "--site", SITE, "--since", SINCE_DAY],
        "change feed, last 20": [
            "export",
            "--format",
            "jsonl",
            "--changed-since",
            recent,
            "-o",
            str(workdir / "recent.jsonl"),
        ],
        "change feed, all": [
            "export",
            "--format",
            "jsonl",
            "--changed-since",
            FIRST_PUBLISHED.date().isoformat(),
            "-o",
            str(workdir / "changes.jsonl"),
        ],
        "export jsonl": ["export", "--format", "jsonl", "-o", str(workdir / "a.jsonl")],
        "export csv": ["export", "--format", "csv", "-o", str(workdir / "a.csv")],
        "export parquet": ["export", "--format", "parquet", "-o", str(workdir / "a.parquet")],
        "report": ["report", "-o", str(workdir / "report.html")],
    }


def expected_rows(name: str, size: int) -> int | None:
    """What an export must have written (a fast wrong answer is no answer)."""
    if name.startswith("export "):
        return size
    if name == "change feed, all":
        return size
    if name == "change feed, last 20":
        return 20
    return None


def _rows_written(path: Path, fmt: str) -> int:
    if fmt == "parquet":
        import pyarrow.parquet as pq  # noqa: PLC0415

        return int(pq.ParquetFile(path).metadata.num_rows)
    if fmt == "csv":
        import csv  # noqa: PLC0415

        with path.open(encoding="utf-8", newline="") as fh:
            return sum(1 for _ in csv.reader(fh)) - 1
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


def measure_command(
    name: str, args: list[str], database_url: str, size: int, workdir: Path
) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "scrapy", *args, "-s", f"DATABASE_URL={database_url}"]
    if args[0] == "search" and "--help" not in args:
        cmd += ["-s", "SEARCH_TIMEOUT_SECONDS=600"]
    out = workdir / f"{name.replace(' ', '_').replace(',', '').replace('/', '')}.out"
    measured = run_measured(cmd, cwd=PROJECT_ROOT, timeout=COMMAND_TIMEOUT_S, output_path=out)
    result: dict[str, Any] = {
        "seconds": measured.wall_s,
        "peak_mb": measured.peak_rss_mb,
        "processes": measured.processes,
        "returncode": measured.returncode,
        "timed_out": measured.timed_out,
    }
    if measured.returncode != 0:
        result["error"] = out.read_text(errors="replace")[-300:]
        return result
    expected = expected_rows(name, size)
    if expected is not None:
        path = Path(args[args.index("-o") + 1])
        written = _rows_written(path, args[args.index("--format") + 1])
        path.unlink(missing_ok=True)
        result["rows"] = written
        if written != expected:
            result["error"] = f"wrote {written} rows, {expected} expected"
        elif measured.wall_s:
            result["articles_per_s"] = round(written / measured.wall_s)
    if args[0] == "search" and "--help" not in args:
        text = out.read_text(errors="replace")
        result["matches_line"] = text.strip().splitlines()[-1] if text.strip() else ""
    return result


def measure_fastest(
    name: str, args: list[str], database_url: str, size: int, workdir: Path
) -> dict[str, Any]:
    """An interactive command or the start-up: the fastest of ``FASTEST_OF`` runs, with every
    run's seconds (``runs_s``); any failed run is the result. Other commands: one run."""
    if name not in INTERACTIVE and name != STARTUP:
        return measure_command(name, args, database_url, size, workdir)
    runs = [measure_command(name, args, database_url, size, workdir) for _ in range(FASTEST_OF)]
    failed = [run for run in runs if run.get("error") or run["returncode"] or run["timed_out"]]
    chosen = dict(failed[0] if failed else min(runs, key=lambda run: run["seconds"]))
    chosen["runs_s"] = [run["seconds"] for run in runs]
    return chosen


# What a command's own work costs, without the start-up of a `scrapy` process (which a
# loaded machine inflates to seconds and which is not this stage's to fix): the same calls,
# timed in this process, the second (warm) call judged as a command run again is.
IN_PROCESS = {
    "search common": "search common, in-process",
    "search rare": "search rare, in-process",
    "search common --site --since": "search common --site --since, in-process",
    "search rare --site --since": "search rare --site --since, in-process",
    "change feed, last 20": "change feed, last 20, in-process",
    "report": "report queries, in-process",
}


def measure_in_process(
    database_url: str, size: int, only: tuple[str, ...] = ()
) -> dict[str, dict[str, Any]]:
    from scrapy.settings import Settings  # noqa: PLC0415

    from crawler.commands.export import ChangeCutoff, iter_articles  # noqa: PLC0415
    from crawler.commands.report import build_sections  # noqa: PLC0415
    from crawler.ledger.history import known_sites  # noqa: PLC0415
    from pipelines.storage.search import search_articles  # noqa: PLC0415
    from pipelines.storage.store import create_db_engine  # noqa: PLC0415

    since = datetime.fromisoformat(SINCE_DAY).replace(tzinfo=UTC)
    cutoff = ChangeCutoff(recent_cutoff(size))
    engine = create_db_engine(database_url)
    calls: dict[str, Any] = {
        "search common": lambda: search_articles(engine, COMMON_WORD),
        "search rare": lambda: search_articles(engine, RARE_WORD),
        "search common --site --since": lambda: search_articles(
            engine, COMMON_WORD, site=SITE, since=since
        ),
        "search rare --site --since": lambda: search_articles(
            engine, RARE_WORD, site=SITE, since=since
        ),
        "change feed, last 20": lambda: list(iter_articles(engine, cutoff=cutoff)),
        "report": lambda: build_sections(
            engine, Settings(), known_sites(engine), Path("/nonexistent-rejects.jsonl")
        ),
    }
    results: dict[str, dict[str, Any]] = {}
    try:
        for name, call in calls.items():
            if only and name not in only and IN_PROCESS[name] not in only:
                continue
            timings = []
            for _ in range(2):
                started = time.perf_counter()
                found = call()
                timings.append(time.perf_counter() - started)
            results[IN_PROCESS[name]] = {
                "seconds": round(timings[1], 3),
                "first_s": round(timings[0], 3),
                "rows": len(found),
            }
            print(f"  {IN_PROCESS[name]}: {results[IN_PROCESS[name]]}", file=sys.stderr, flush=True)
    finally:
        engine.dispose()
    return results


def _get(url: str, timeout: float) -> tuple[float, bytes, str]:
    """Seconds to fetch ``url`` (its redirects followed), the body, and the URL it ended at."""
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body = response.read()
        final = response.geturl()
    return time.perf_counter() - start, body, final


def page_entry(
    warm: float, first: float, data: dict[str, Any], wanted: list[str], final_url: str
) -> dict[str, Any]:
    """One Datasette page's measurement from its JSON (``data``), the facets its metadata
    asks for (``wanted``) and the URL its HTML page ended at (``final_url``)."""
    # A search past the plugin's counted_matches is redirected to a page that neither counts
    # nor facets (crawler/ops/browse_plugins/article_search.py): no facet ran, so none timed
    # out, and the page says so where Datasette shows its count.
    skipped = "_nofacet" in parse_qs(urlsplit(final_url).query)
    # Datasette's JSON leaves a facet that ran out of facet_time_limit_ms out of
    # facet_results (only its HTML page names it): a facet of the metadata missing there
    # timed out.
    facets = data.get("facet_results", {})
    entry: dict[str, Any] = {
        "seconds": round(warm, 3),
        "first_s": round(first, 3),
        "timed_out_facets": [] if skipped else [f for f in wanted if f not in facets],
        "rows": data.get("filtered_table_rows_count", len(data.get("rows", []))),
    }
    if skipped:
        entry["not_counted_or_faceted"] = data.get("human_description_en")
    return entry


def measure_datasette(database: Path, workdir: Path) -> dict[str, dict[str, Any]]:
    """Datasette serving ``database`` with the project's metadata (``make browse``): the
    table page, the browse page with its facets, a search; each fetched twice, the second
    (warm) time is the one judged, the first shown."""
    import subprocess  # noqa: PLC0415

    from crawler.ops.browse import datasette_command, write_metadata  # noqa: PLC0415

    metadata = write_metadata(database)
    tables = json.loads(metadata.read_text(encoding="utf-8"))["databases"][database.stem]["tables"]
    port = _free_port()
    log = (workdir / "datasette.log").open("wb")
    server = subprocess.Popen(
        datasette_command(database, metadata, "127.0.0.1", port),
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/{database.stem}"
    pages = {
        "datasette table": f"{base}/articles",
        "datasette facets": f"{base}/articles_browse",
        "datasette search": f"{base}/articles_browse?_search=" + COMMON_WORD.replace(" ", "+"),
        "datasette saved search": f"{base}/search_articles?q=" + COMMON_WORD.replace(" ", "+"),
    }
    results: dict[str, dict[str, Any]] = {}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(f"http://127.0.0.1:{port}/-/versions.json", 2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    log_path = workdir / "datasette.log"
                    raise RuntimeError(f"Datasette did not start; see {log_path}") from None
                time.sleep(0.2)
        for name, url in pages.items():
            try:
                first, _, _ = _get(url, 120)
                warm, _, final = _get(url, 120)
                path, _, query = url.partition("?")
                json_url = f"{path}.json?{query}"
                _, body, _ = _get(json_url, 120)
                table = path.rsplit("/", 1)[1]
                results[name] = page_entry(
                    warm, first, json.loads(body), tables.get(table, {}).get("facets", []), final
                )
            except OSError as exc:
                results[name] = {"error": str(exc)}
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        metadata.unlink(missing_ok=True)
    return results


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".complete")


def sqlite_database(size: int) -> tuple[str, Path]:
    path = CACHE_DIR / f"sqlite-v{GENERATOR_VERSION}-{size}.sqlite3"
    if not _marker(path).exists():
        started = time.perf_counter()
        generate_sqlite(path, size)
        _marker(path).write_text(f"{time.perf_counter() - started:.1f}\n")
    return f"sqlite:///{path}", path


class PostgresDatabases:
    """One kept server under the cache directory holding a database per size."""

    def __init__(self) -> None:
        from tests.postgres import PostgresServer  # noqa: PLC0415

        self.server = PostgresServer(CACHE_DIR / "postgresql")
        self.started = not self._running()
        if self.started:
            self.server.start()

    def _running(self) -> bool:
        """A kept server another benchmark process started (generation in the background):
        shared, and left running."""
        pid_file = self.server.data / "postmaster.pid"
        if not pid_file.exists():
            return False
        lines = pid_file.read_text().splitlines()
        try:
            self.server.port = int(lines[3])
            self.server._admin().close()
        except Exception:  # a stale pid file, a port reused by another program
            return False
        return True

    def database(self, size: int) -> str:
        import psycopg  # noqa: PLC0415
        from psycopg import sql  # noqa: PLC0415

        name = f"bench_v{GENERATOR_VERSION}_{size}"
        marker = CACHE_DIR / f"postgresql-v{GENERATOR_VERSION}-{size}.complete"
        url = self.server.url(name)
        if marker.exists():
            return url
        with self.server._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        del psycopg
        started = time.perf_counter()
        generate_postgresql(url, size)
        marker.write_text(f"{time.perf_counter() - started:.1f}\n")
        return url

    def stop(self) -> None:
        if self.started:
            self.server.stop()


def _upgrade(database_url: str) -> None:
    # A cached database gets the migrations added since it was generated (new indexes).
    from pipelines.storage.store import create_db_engine, upgrade_database  # noqa: PLC0415

    engine = create_db_engine(database_url)
    try:
        upgrade_database(engine)
    finally:
        engine.dispose()


def generation_seconds(database: str, size: int) -> float | None:
    name = (
        f"sqlite-v{GENERATOR_VERSION}-{size}.sqlite3.complete"
        if database == "sqlite"
        else f"postgresql-v{GENERATOR_VERSION}-{size}.complete"
    )
    marker = CACHE_DIR / name
    return float(marker.read_text()) if marker.exists() else None


def compile_project() -> None:
    """The project's bytecode written first, as a deployment holds it after its first run (or
    its install): a machine with PYTHONDONTWRITEBYTECODE set (this one) would otherwise make
    every command compile the project's modules again, a cost no user's command pays."""
    for package in ("crawler", "pipelines"):
        compileall.compile_dir(PROJECT_ROOT / package, quiet=1)


def run_analysts_benchmark(
    sizes: tuple[int, ...] = ANALYSTS_SIZES,
    databases: tuple[str, ...] = DATABASES,
    only: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Every command at every size on every database; ``only`` keeps the named commands."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    compile_project()
    workdir = CACHE_DIR / "work"
    workdir.mkdir(exist_ok=True)
    measurements: dict[str, dict[str, dict[str, Any]]] = {}
    postgres: PostgresDatabases | None = None
    try:
        for database in databases:
            if database == "postgresql":
                try:
                    postgres = PostgresDatabases()
                except PostgresUnavailable as exc:
                    # measured nothing: every PostgreSQL target is NOT reached, and says why
                    print(f"analysts: no PostgreSQL: {exc}", file=sys.stderr, flush=True)
                    continue
            for size in sizes:
                key = f"{database} {size}"
                print(f"analysts: {key} ...", file=sys.stderr, flush=True)
                if database == "sqlite":
                    url, path = sqlite_database(size)
                else:
                    assert postgres is not None
                    url = postgres.database(size)
                _upgrade(url)
                per: dict[str, Any] = {"generated_s": generation_seconds(database, size)}
                for name, args in commands(size, workdir).items():
                    if only and name not in only:
                        continue
                    per[name] = measure_fastest(name, args, url, size, workdir)
                    print(f"  {name}: {per[name]}", file=sys.stderr, flush=True)
                per.update(measure_in_process(url, size, only))
                if database == "sqlite" and (not only or any(p in only for p in PAGES)):
                    per.update(measure_datasette(path, workdir))
                measurements[key] = per
    finally:
        if postgres is not None:
            postgres.stop()
    results = {
        "sizes": list(sizes),
        "databases": list(databases),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "measurements": measurements,
    }
    results["targets"] = evaluate_analysts(results)
    return results


def _value(results: dict[str, Any], key: str, name: str, field: str = "seconds") -> Any:
    entry = results["measurements"].get(key, {}).get(name)
    if not isinstance(entry, dict) or entry.get("error") or entry.get("timed_out"):
        return None
    return entry.get(field)


def evaluate_analysts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target judged at the largest size measured on each database; a missing
    measurement is NOT reached."""
    targets: list[dict[str, Any]] = []

    def judge(name: str, measured: Any, reached: bool, limit: str) -> None:
        targets.append(
            {"target": name, "limit": limit, "measured": measured, "reached": bool(reached)}
        )

    for database in results["databases"]:
        measured = [
            int(key.split()[1]) for key in results["measurements"] if key.split()[0] == database
        ]
        largest, smallest = max(measured, default=0), min(measured, default=0)
        key = f"{database} {largest}"
        value = _value(results, key, STARTUP)
        judge(
            f"{database}: start-up of a database command",
            value,
            value is not None and value < STARTUP_TARGET_S,
            f"< {STARTUP_TARGET_S} s",
        )
        for name in INTERACTIVE:
            value = _value(results, key, name)
            judge(
                f"{database} {largest}: {name}",
                value,
                value is not None and value < INTERACTIVE_TARGET_S,
                f"< {INTERACTIVE_TARGET_S} s",
            )
        for name in EXPORTS:
            rate = _value(results, key, name, "articles_per_s")
            judge(
                f"{database} {largest}: {name} articles/s",
                rate,
                rate is not None and rate >= EXPORT_TARGET_RATE,
                f">= {EXPORT_TARGET_RATE}",
            )
            low = _value(results, f"{database} {smallest}", name, "peak_mb")
            high = _value(results, key, name, "peak_mb")
            if largest != smallest:
                judge(
                    f"{database}: {name} memory flat {smallest} -> {largest}",
                    f"{low} -> {high} MB" if low and high else None,
                    low is not None and high is not None and high <= FLAT_FACTOR * low,
                    f"<= {FLAT_FACTOR}x",
                )
        for name, in_process in IN_PROCESS.items():
            # the query side alone; reported next to the end-to-end targets, which still judge
            value = _value(results, key, in_process)
            if value is None:
                continue
            limit_s = REPORT_TARGET_S if name == "report" else INTERACTIVE_TARGET_S
            judge(
                f"{database} {largest}: {in_process}",
                value,
                value < limit_s,
                f"< {limit_s} s",
            )
        value = _value(results, key, "report")
        judge(
            f"{database} {largest}: report",
            value,
            value is not None and value < REPORT_TARGET_S,
            f"< {REPORT_TARGET_S} s",
        )
        if database == "sqlite":
            for name in PAGES:
                value = _value(results, key, name)
                timed_out = _value(results, key, name, "timed_out_facets")
                judge(
                    f"sqlite {largest}: {name}",
                    value if not timed_out else f"{value} (facets timed out: {timed_out})",
                    value is not None and value < INTERACTIVE_TARGET_S and timed_out == [],
                    f"< {INTERACTIVE_TARGET_S} s, no facet timed out",
                )
    return targets


def analysts_ok(results: dict[str, Any]) -> bool:
    return all(target["reached"] for target in results.get("targets", []))


def _startup(per: dict[str, Any]) -> float | None:
    entry = per.get(STARTUP)
    return entry.get("seconds") if isinstance(entry, dict) and not entry.get("error") else None


def _cell(entry: Any, startup: float | None = None) -> str:
    if not isinstance(entry, dict):
        return ""
    if entry.get("timed_out"):
        return "timed out"
    if entry.get("error"):
        return "FAILED"
    text = f"{entry['seconds']:.2f} s"
    if startup is not None:
        # what the command did after starting, on a machine whose load inflates the start-up
        text += f" ({entry['seconds'] - startup:+.2f} s over start-up)"
    if entry.get("articles_per_s"):
        text += f", {entry['articles_per_s']:,}/s"
    if entry.get("peak_mb"):
        text += f", {entry['peak_mb']:.0f} MB"
        if entry.get("processes", 1) > 1:
            text += f" ({entry['processes']} processes)"
    if entry.get("timed_out_facets"):
        text += ", facets timed out"
    if entry.get("not_counted_or_faceted"):
        text += ", not counted or faceted"
    return text


def render_analysts_markdown(results: dict[str, Any]) -> str:
    measurements = results["measurements"]
    keys = list(measurements)
    names: list[str] = []
    for per in measurements.values():
        names += [n for n in per if n != "generated_s" and n not in names]
    lines = [
        "## Analysts' commands (issue 24)",
        "",
        f"Generated databases of one site, 5% of the articles edited (measured "
        f"{results['measured_at']}; a shared 2-core machine: noisy). Each command is a `scrapy` "
        "process started from the project directory (the project's bytecode compiled first, "
        "as a deployment has it): wall seconds (the start-up, searches and change feed of the "
        f"last 20: the fastest of {FASTEST_OF} runs; exports: articles/s), and "
        "its peak memory (an export's worker processes, `--jobs` at its default of the "
        "machine's cores, summed with it: the cell says how many processes); a search or "
        "change feed also shows its time over the start-up of the same size's "
        "`scrapy search --help`. Datasette (SQLite only): the warm page load. "
        "*In-process*: the same search, change feed or report queries (without writing the "
        "page) called in the benchmark's own process, the second (warm) call: what the "
        "command's own work costs, without the start-up a loaded machine inflates. *Database "
        "generated in*: the generator of its cache (a size generated before this run's "
        "generator keeps its time).",
        "",
        "| command | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
        "| database generated in | "
        + " | ".join(
            f"{measurements[k]['generated_s']:.0f} s" if measurements[k].get("generated_s") else ""
            for k in keys
        )
        + " |",
    ]
    for name in names:
        cells = " | ".join(
            _cell(
                measurements[k].get(name),
                _startup(measurements[k]) if name in INTERACTIVE else None,
            )
            for k in keys
        )
        lines.append(f"| {name} | {cells} |")
    lines += ["", "| target | limit | measured | |", "|---|---|---|---|"]
    for target in results["targets"]:
        verdict = "reached" if target["reached"] else "**NOT reached**"
        lines.append(
            f"| {target['target']} | {target['limit']} | {target['measured']} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def merge_results(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """One table of two runs (a size measured again, or only some commands at the largest
    size): the later measurement of a command wins; targets are judged again."""
    measurements = {key: dict(per) for key, per in earlier["measurements"].items()}
    for key, per in later["measurements"].items():
        measurements.setdefault(key, {}).update(per)
    merged = {
        "sizes": sorted(set(earlier["sizes"]) | set(later["sizes"])),
        "databases": [
            *earlier["databases"],
            *(d for d in later["databases"] if d not in earlier["databases"]),
        ],
        "measured_at": f"{earlier['measured_at']} and {later['measured_at']}",
        "measurements": dict(
            sorted(measurements.items(), key=lambda kv: (kv[0].split()[0], int(kv[0].split()[1])))
        ),
    }
    merged["targets"] = evaluate_analysts(merged)
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in ANALYSTS_SIZES))
    parser.add_argument("--databases", default=",".join(DATABASES))
    parser.add_argument("--only", action="append", default=[], help="a command name (repeatable)")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument(
        "--merge",
        default=None,
        help="results of an earlier run (--json) to add these measurements to",
    )
    args = parser.parse_args(argv)
    results = run_analysts_benchmark(
        tuple(int(s) for s in args.sizes.split(",")),
        tuple(args.databases.split(",")),
        tuple(args.only),
    )
    if args.merge:
        results = merge_results(json.loads(Path(args.merge).read_text(encoding="utf-8")), results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(render_analysts_markdown(results))
    return 0 if analysts_ok(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
