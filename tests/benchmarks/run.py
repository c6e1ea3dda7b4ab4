"""Benchmarks: ``python -m tests.benchmarks.run [--quick | --sizes 500,5000] [--no-fail]
[--bare] [--profile]``.

Per size: our full crawl against the replica (each server in its own process), scored against
the replica's truth; a replay spider that requests exactly what our crawl requested and does
nothing else (Scrapy's own speed on the same requests); our parser against
trafilatura/htmldate; incremental re-runs; the replica's own ceiling; optionally a bare spider
that follows the same links. Evaluates every target of issue 11 from the same run, prints a
Markdown table, writes ``output/bench/results.md`` and ``results.json``, and exits 1 when a
target is not reached (``--no-fail``: exit 0, report only).

Then the cluster stage (issue 13, tests/benchmarks/cluster.py; ``--no-cluster`` skips it,
``--cluster-only`` runs it alone): ``scrapy cluster work`` with ``--cluster-workers`` worker
processes at ``--cluster-sizes``, a second table in the same files; no speed target, but a wrong
cluster crawl (an article missing, stored twice or wrong, a failed run) exits 1. With it, the
many-portals stage (issue 24, tests/benchmarks/many_portals.py; ``--portals N``, 0 skips it):
N small replica portals crawled at once by the same worker counts, each portal's politeness
measured at the portal, and the sizing model (tests/benchmarks/sizing.py) checked against it
(``--portals-only``: this stage alone, without the cluster stage).

Then the analysts' stage (issue 24, tests/benchmarks/analysts.py; ``--no-analysts`` skips it,
``--analysts`` runs it alone and replaces only its section of docs/benchmarks.md): search,
change feed, exports, report and Datasette on generated databases of ``--analysts-sizes``
(cached under output/bench/analysts/; a million articles take about half an hour per database
to generate on a loaded 2-core machine). ``--analysts-databases``, ``--analysts-only COMMAND``
and ``--analysts-merge`` measure one database, some commands or one size (``--analysts-sizes
1000000``) and add them to the recorded stage.
``--rerun-memory`` (off by default: about an hour at 1M): the peak memory of an unchanged re-run
against databases padded to 10k, 100k and 1M articles, on SQLite and PostgreSQL
(tests/benchmarks/rerun_memory.py); under 300 MB at 1M is the target (issue 24).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from crawler.setup.fingerprint import source_fingerprint
from tests.benchmarks.analysts import (
    ANALYSTS_SIZES,
    QUICK_ANALYSTS_SIZES,
    analysts_ok,
    merge_results,
    render_analysts_markdown,
    run_analysts_benchmark,
)
from tests.benchmarks.analysts import (
    DATABASES as ANALYSTS_DATABASES,
)
from tests.benchmarks.archive import (
    ARCHIVE_SIZE,
    QUICK_ARCHIVE_SIZE,
    render_archive_markdown,
    run_archive_benchmark,
)
from tests.benchmarks.cluster import (
    CLUSTER_SIZES,
    CLUSTER_WORKERS,
    QUICK_CLUSTER_SIZES,
    REPLICA_SERVERS,
    cluster_ok,
    render_cluster_markdown,
    run_cluster_benchmark,
)
from tests.benchmarks.event_dates import (
    event_dates_ok,
    render_event_dates_markdown,
    run_event_dates,
)
from tests.benchmarks.extractors import compare_in_own_process, fetch_pages, sample_articles
from tests.benchmarks.load import server_ceiling
from tests.benchmarks.many_portals import (
    PORTAL_COUNT,
    QUICK_PORTAL_COUNT,
    many_portals_ok,
    render_many_portals_markdown,
    run_many_portals_benchmark,
)
from tests.benchmarks.processes import Measured, ReplicaProcess, run_measured
from tests.benchmarks.replay_spider import check_same_requests
from tests.benchmarks.report import evaluate_targets, exit_status, render_markdown, render_targets
from tests.benchmarks.rerun_memory import DATABASES as RERUN_DATABASES
from tests.benchmarks.rerun_memory import QUICK_SIZES as QUICK_RERUN_SIZES
from tests.benchmarks.rerun_memory import SIZES as RERUN_SIZES
from tests.benchmarks.rerun_memory import render_rerun_memory_markdown, run_rerun_memory
from tests.benchmarks.sizing import render_sizing_markdown
from tests.benchmarks.truth_score import score_feed
from tests.crawl_runner import FAST_SETTINGS, PROJECT_ROOT, crawl_command
from tests.replica.site import ReplicaConfig, ReplicaSite

DEFAULT_SIZES = (500, 5000, 20000)
QUICK_SIZES = (200, 1000)
EXTRA_ARTICLES = 10
PROFILE_SIZE = 1000
# Seconds between pyinstrument samples: 1 ms (its default) makes a session of ~4 MB/s of crawl.
PROFILE_INTERVAL = 0.005
BARE_SPIDER = Path(__file__).with_name("bare_spider.py")
REPLAY_SPIDER = Path(__file__).with_name("replay_spider.py")
# Scrapy defaults differ from our settings in these; give the bare spider the same values.
BARE_SETTINGS = {
    **FAST_SETTINGS,
    "ROBOTSTXT_OBEY": "True",
    "COOKIES_ENABLED": "False",
    "TELNETCONSOLE_ENABLED": "False",
    "LOGSTATS_INTERVAL": "0",
    "LOG_LEVEL": "INFO",
    "DOWNLOAD_TIMEOUT": "60",
    "RETRY_TIMES": "5",
    "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
}
# The log holds every request our crawl made: robots.txt once, a redirect's target as its own
# request, error pages as answered. Replaying must not add robots.txt or follow redirects again.
REPLAY_SETTINGS = {
    **BARE_SETTINGS,
    "ROBOTSTXT_OBEY": "False",
    "REDIRECT_ENABLED": "False",
    "HTTPERROR_ALLOW_ALL": "True",
}


def crawl_timeout(size: int) -> float:
    return 180 + 0.08 * size


def _mb(*paths: Path) -> float:
    return round(sum(p.stat().st_size for p in paths if p.exists()) / 1e6, 2)


def _rate(count: Any, seconds: float) -> float | None:
    return round(count / seconds, 1) if count and seconds else None


def run_ours(server: ReplicaProcess, workdir: Path, phase: str, timeout: float) -> dict[str, Any]:
    cmd, database_url, feed_path = crawl_command(
        server.url,
        workdir,
        feed_name=f"feed-{phase}.jsonl",
        settings={"LOG_FILE": str(workdir / f"crawl-{phase}.log")},
    )
    latest = workdir / "reports" / "latest.json"
    latest.unlink(missing_ok=True)
    archive_dir = workdir / "archive"
    archived = set(archive_dir.glob("*.warc.gz"))
    server_cpu = server.cpu_seconds()
    measured = run_measured(
        cmd, cwd=PROJECT_ROOT, timeout=timeout, output_path=workdir / f"crawl-{phase}.out"
    )
    server_cpu_after = server.cpu_seconds()
    report: dict[str, Any] = {}
    if latest.exists():
        report = json.loads(latest.read_text(encoding="utf-8"))
        shutil.copy(latest, workdir / f"report-{phase}.json")
    counts = report.get("counts", {})
    stored = counts.get("stored_new", 0) + counts.get("stored_changed", 0)
    db_path = Path(database_url.removeprefix("sqlite:///"))
    result: dict[str, Any] = {
        **measured.as_dict(),
        "outcome": report.get("outcome", "no report"),
        "failures": report.get("failures", []),
        "counts": counts,
        "requests": counts.get("requests"),
        "responses": counts.get("responses"),
        "stored": stored,
        "stored_new": counts.get("stored_new"),
        "stored_changed": counts.get("stored_changed"),
        "pages_per_s": _rate(counts.get("responses"), measured.wall_s),
        "articles_per_s": _rate(stored, measured.wall_s),
        "cpu_ms_per_article": round(measured.cpu_s * 1000 / stored, 2) if stored else None,
        "db_mb": _mb(db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")),
        "jsonl_mb": _mb(feed_path),
        # ARCHIVE_ENABLED is on by default: this crawl's own WARC files
        "archive_enabled": True,
        "archive_mb": _mb(*(set(archive_dir.glob("*.warc.gz")) - archived)),
    }
    if server_cpu is not None and server_cpu_after is not None and measured.wall_s:
        result["server_busy"] = round((server_cpu_after - server_cpu) / measured.wall_s, 3)
    return result


def run_standalone(
    script: Path,
    spider_args: dict[str, str],
    settings: dict[str, str],
    workdir: Path,
    name: str,
    timeout: float,
) -> tuple[Measured, dict[str, Any]]:
    """``scrapy runspider script`` outside the project; returns its cost and its final stats."""
    stats_path = workdir / f"{name}-stats.json"
    stats_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "scrapy", "runspider", str(script)]
    for arg, value in {**spider_args, "stats_path": str(stats_path)}.items():
        cmd += ["-a", f"{arg}={value}"]
    for setting, value in {**settings, "LOG_FILE": str(workdir / f"{name}.log")}.items():
        cmd += ["-s", f"{setting}={value}"]
    # Outside any scrapy.cfg and without SCRAPY_SETTINGS_MODULE, no project settings load.
    env = {k: v for k, v in os.environ.items() if k not in {"SCRAPY_SETTINGS_MODULE", "PYTHONPATH"}}
    with tempfile.TemporaryDirectory(prefix=f"hepza-bench-{name}-") as cwd:
        measured = run_measured(
            cmd, cwd=Path(cwd), timeout=timeout, output_path=workdir / f"{name}.out", env=env
        )
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    return measured, stats


def run_bare(server: ReplicaProcess, workdir: Path, timeout: float) -> dict[str, Any]:
    measured, stats = run_standalone(
        BARE_SPIDER, {"base_url": server.url}, BARE_SETTINGS, workdir, "bare", timeout
    )
    responses = stats.get("response_received_count")
    return {
        **measured.as_dict(),
        "finish_reason": stats.get("finish_reason", "no stats"),
        "requests": stats.get("downloader/request_count"),
        "responses": responses,
        "errors": stats.get("bare/errors", 0),
        "pages_per_s": _rate(responses, measured.wall_s),
    }


def run_replay(
    server: ReplicaProcess, request_log: Path, workdir: Path, timeout: float
) -> dict[str, Any]:
    measured, stats = run_standalone(
        REPLAY_SPIDER,
        {"base_url": server.url, "request_log": str(request_log)},
        REPLAY_SETTINGS,
        workdir,
        "replay",
        timeout,
    )
    if measured.returncode != 0 or stats.get("finish_reason") != "finished":
        raise RuntimeError(
            f"replay spider ended with {measured.returncode} "
            f"({stats.get('finish_reason', 'no stats')}); see {workdir / 'replay.out'}"
        )
    in_log, sent = stats.get("replay/requests_read"), stats.get("downloader/request_count")
    if in_log != sent:
        raise RuntimeError(f"replay sent {sent} requests for the {in_log} of our crawl's log")
    responses = stats.get("response_received_count")
    return {
        **measured.as_dict(),
        "finish_reason": stats["finish_reason"],
        "requests_in_log": stats.get("replay/requests_read"),
        "requests": stats.get("downloader/request_count"),
        "responses": responses,
        "errors": stats.get("replay/errors", 0),
        "cpu_ms_per_response": round(measured.cpu_s * 1000 / responses, 2) if responses else None,
    }


def first_crawl_requests(request_log: Path, end: int, target: Path) -> Path:
    """The first ``end`` bytes of the server's request log: the requests of our first crawl
    (the re-runs that follow append to the same log)."""
    with request_log.open("rb") as log:
        target.write_bytes(log.read(end))
    return target


def bench_size(size: int, out: Path, sample: int, *, bare: bool = False) -> dict[str, Any]:
    workdir = out / "work" / str(size)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    phases: dict[str, float] = {}
    result: dict[str, Any] = {
        "size": size,
        "phase_seconds": phases,
        "startup_s": {},
        "code_before": source_fingerprint(),
    }
    timeout = crawl_timeout(size)

    def phase(name: str, started: float) -> None:
        phases[name] = round(time.perf_counter() - started, 1)
        print(f"  [{size}] {name}: {phases[name]} s", flush=True)

    started = time.perf_counter()
    truth = ReplicaSite(ReplicaConfig(articles=size)).truth()
    articles = truth["articles"]
    result["truth_articles"] = len(articles)
    phase("truth", started)

    started = time.perf_counter()
    ours_dir = workdir / "ours"
    request_log = workdir / "replica-ours-requests.jsonl"
    with ReplicaProcess(size, workdir, name="replica-ours", request_log=request_log) as server:
        result["startup_s"]["ours"] = server.startup_s
        port = server.port
        result["ours"] = run_ours(server, ours_dir, "first", timeout)
        # The crawl process has exited and the server logs a request before answering it.
        first_end = request_log.stat().st_size
        result["correctness"] = score_feed(ours_dir / "feed-first.jsonl", articles, server.url)
        phase("our crawl", started)

        started = time.perf_counter()
        result["rerun"] = run_ours(server, ours_dir, "rerun", timeout)
        phase("unchanged re-run", started)

        started = time.perf_counter()
        paths = [a["canonical_path"] for a in articles]
        result["ceiling"] = server_ceiling(*server.host_port, paths)
        phase("replica ceiling", started)

        started = time.perf_counter()
        chosen = sample_articles(articles, len(articles) if size <= 500 else sample)
        pages = fetch_pages(*server.host_port, server.url, chosen)
    result["parser"] = compare_in_own_process(pages, workdir / "parser")
    phase("parser comparison", started)

    started = time.perf_counter()
    replayed = first_crawl_requests(request_log, first_end, workdir / "requests-first.jsonl")
    # The replay's server logs too: the same cost per request as ours had, and the proof that
    # the replay asked for exactly what our crawl asked for.
    replay_log = workdir / "replica-replay-requests.jsonl"
    with ReplicaProcess(size, workdir, name="replica-replay", request_log=replay_log) as server:
        result["startup_s"]["replay"] = server.startup_s
        result["replay"] = run_replay(server, replayed, workdir / "replay", timeout)
    check_same_requests(replayed, replay_log)
    phase("replay of our requests", started)

    if bare:
        started = time.perf_counter()
        with ReplicaProcess(size, workdir, name="replica-bare") as server:
            result["startup_s"]["bare"] = server.startup_s
            result["bare"] = run_bare(server, workdir / "bare", timeout)
        phase("bare crawl", started)

    started = time.perf_counter()
    with ReplicaProcess(
        size, workdir, port=port, extra_articles=EXTRA_ARTICLES, name="replica-plus10"
    ) as server:
        result["startup_s"]["plus10"] = server.startup_s
        result["plus10"] = run_ours(server, ours_dir, "plus10", timeout)
    phase("+10 re-run", started)

    result["code_after"] = source_fingerprint()
    result["ratio"] = ratios(result)
    return result


def ratios(result: dict[str, Any]) -> dict[str, float | None]:
    ours, replay, bare = result["ours"], result["replay"], result.get("bare", {})

    def ratio(a: Any, b: Any) -> float | None:
        return round(a / b, 3) if a and b else None

    return {
        "replay_wall": ratio(replay.get("wall_s"), ours.get("wall_s")),
        "pages_per_s": ratio(ours.get("pages_per_s"), bare.get("pages_per_s")),
        "wall": ratio(bare.get("wall_s"), ours.get("wall_s")),
        "responses": ratio(ours.get("responses"), bare.get("responses")),
    }


def machine_facts() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    versions = {
        name: metadata.version(name)
        for name in ("scrapy", "twisted", "lxml", "trafilatura", "htmldate")
    }
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": model,
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        **versions,
    }


def run_benchmarks(
    sizes: list[int], out: Path, sample: int, command: str, *, bare: bool = False
) -> dict[str, Any]:
    results: dict[str, Any] = {
        "command": command,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "total_seconds": 0.0,
        "machine": machine_facts(),
        "fast_settings": FAST_SETTINGS,
        "bare_settings": BARE_SETTINGS,
        "replay_settings": REPLAY_SETTINGS,
        "sizes": sizes,
        "per_size": {},
        "targets": [],
    }
    start = time.perf_counter()
    for size in sizes:
        print(f"size {size:,}", flush=True)
        try:
            results["per_size"][str(size)] = bench_size(size, out, sample, bare=bare)
        except Exception as exc:
            traceback.print_exc()
            results["per_size"][str(size)] = {"size": size, "error": f"{type(exc).__name__}: {exc}"}
        results["total_seconds"] = round(time.perf_counter() - start, 1)
        results["targets"] = evaluate_targets(results["per_size"])
        write_results(results, out)
    return results


def write_results(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    (out / "results.md").write_text(render_all(results), encoding="utf-8")


def _many_portals_and_sizing(results: dict[str, Any]) -> str:
    return render_many_portals_markdown(results) + "\n\n" + render_sizing_markdown(results)


# Each stage's section (after the issue-11 tables), from its results.
RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "archive": render_archive_markdown,
    "event_dates": render_event_dates_markdown,
    "cluster": render_cluster_markdown,
    "many_portals": _many_portals_and_sizing,
    "analysts": render_analysts_markdown,
    "rerun_memory": render_rerun_memory_markdown,
}


def render_all(results: dict[str, Any]) -> str:
    """The issue-11 tables when those sizes ran, then each other stage's section that ran."""
    if results.get("sizes"):
        parts = [render_markdown(results)]
    else:
        machine = ", ".join(f"{k} {v}" for k, v in results["machine"].items())
        parts = [
            f"# Benchmarks\n\nCommand: `{results['command']}`  \nStarted "
            f"{results['started_at']}, total {results['total_seconds'] / 60:.1f} min.  \n"
            f"Machine: {machine}"
        ]
    parts += [RENDERERS[name](results[name]) for name in STAGES[1:] if name in results]
    return "\n\n".join(parts) + "\n"


def profile(size: int, out: Path) -> list[Path]:
    workdir = out / "work" / f"profile-{size}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    session = out / f"profile-{size}.pyisession"
    with ReplicaProcess(size, workdir, name="replica-profile") as server:
        cmd, _, _ = crawl_command(
            server.url, workdir, settings={"LOG_FILE": str(workdir / "crawl.log")}
        )
        # cmd is [python, "-m", "scrapy", ...]: pyinstrument takes the same "-m module args".
        profiled = [
            *(sys.executable, "-m", "pyinstrument", "-i", str(PROFILE_INTERVAL)),
            *("-r", "pyisession", "-o", str(session)),
        ]
        measured: Measured = run_measured(
            [*profiled, *cmd[1:]],
            cwd=PROJECT_ROOT,
            timeout=crawl_timeout(size) * 3,
            output_path=workdir / "crawl.out",
        )
    print(f"profiled crawl: {measured.as_dict()}", flush=True)
    if not session.exists():
        raise RuntimeError(f"pyinstrument wrote no session; see {workdir / 'crawl.out'}")
    written = []
    for renderer, suffix, extra in (("html", "html", []), ("text", "txt", ["--no-color"])):
        target = out / f"profile-{size}.{suffix}"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pyinstrument",
                "--load",
                str(session),
                "-r",
                renderer,
                *extra,
                "-o",
                str(target),
            ],
            cwd=PROJECT_ROOT,
            timeout=600,
            check=True,
        )
        written.append(target)
    # The raw session is hundreds of MB and the two renderings hold what it has.
    session.unlink()
    return written


def parse_sizes(text: str) -> list[int]:
    sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError("sizes must be positive integers, e.g. 500,5000")
    return sizes


def parse_databases(text: str) -> list[str]:
    databases = [part.strip() for part in text.split(",") if part.strip()]
    if not databases or not set(databases) <= set(RERUN_DATABASES):
        raise argparse.ArgumentTypeError(f"one or more of {','.join(RERUN_DATABASES)}")
    return databases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.run", description=__doc__)
    parser.add_argument("--sizes", type=parse_sizes, help="article counts, e.g. 500,5000,20000")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: sizes {QUICK_SIZES}")
    parser.add_argument(
        "--sample",
        type=int,
        default=300,
        help="article pages for the parser comparison above 500 articles (all pages up to 500)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="only profile our crawl at --profile-size under pyinstrument",
    )
    parser.add_argument(
        "--profile-size",
        type=int,
        default=None,
        help=f"articles for --profile (default {PROFILE_SIZE})",
    )
    parser.add_argument(
        "--no-fail",
        action="store_true",
        help="only report: exit 0 even when a target is not reached",
    )
    parser.add_argument(
        "--bare",
        action="store_true",
        help="also run the bare spider that follows the same links and extracts nothing",
    )
    parser.add_argument(
        "--cluster-sizes",
        type=parse_sizes,
        help=f"cluster stage article counts (default {CLUSTER_SIZES}; "
        f"--quick {QUICK_CLUSTER_SIZES})",
    )
    parser.add_argument(
        "--cluster-workers",
        type=parse_sizes,
        default=list(CLUSTER_WORKERS),
        help="cluster stage worker process counts, e.g. 1,2,4 (speed-up is over the 1)",
    )
    parser.add_argument(
        "--cluster-servers",
        type=int,
        default=REPLICA_SERVERS,
        help="replica server processes on the cluster stage's one port (SO_REUSEPORT)",
    )
    parser.add_argument(
        "--portals",
        type=int,
        help=f"many-portals stage: portals crawled at once (default {PORTAL_COUNT}; --quick "
        f"{QUICK_PORTAL_COUNT}; 0 skips the stage)",
    )
    parser.add_argument(
        "--no-sizes",
        action="store_true",
        help="skip the crawl stage (issue 11's sizes); the other stages run as asked",
    )
    stages = parser.add_mutually_exclusive_group()
    stages.add_argument("--no-cluster", action="store_true", help="skip the cluster stage")
    stages.add_argument("--cluster-only", action="store_true", help="only the cluster stage")
    stages.add_argument(
        "--portals-only",
        action="store_true",
        help="only the many-portals stage (and its sizing model), by --cluster-workers",
    )
    parser.add_argument(
        "--event-dates",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the event-day stage (tests/benchmarks/event_dates.py; --no-event-dates skips it)",
    )
    parser.add_argument(
        "--archive",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the archive stage: CPU and bytes of WARC archiving, on vs off (--no-archive skips)",
    )
    parser.add_argument(
        "--archive-size",
        type=int,
        help=f"articles of the archive stage (default {ARCHIVE_SIZE}; --quick "
        f"{QUICK_ARCHIVE_SIZE})",
    )
    analysts_stage = parser.add_mutually_exclusive_group()
    analysts_stage.add_argument(
        "--no-analysts", action="store_true", help="skip the analysts' stage"
    )
    analysts_stage.add_argument("--analysts", action="store_true", help="only the analysts' stage")
    parser.add_argument(
        "--analysts-sizes",
        type=parse_sizes,
        help=f"analysts' stage article counts (default {ANALYSTS_SIZES}; "
        f"--quick {QUICK_ANALYSTS_SIZES})",
    )
    parser.add_argument(
        "--analysts-only",
        action="append",
        default=[],
        metavar="COMMAND",
        help="with --analysts: measure only this command of its table (repeatable; e.g. "
        "'search common', 'report', 'datasette table': every Datasette page)",
    )
    parser.add_argument(
        "--analysts-databases",
        default=",".join(ANALYSTS_DATABASES),
        help=f"with --analysts: the databases measured (default {','.join(ANALYSTS_DATABASES)})",
    )
    parser.add_argument(
        "--analysts-merge",
        action="store_true",
        help="with --analysts: add this run's measurements to the analysts' stage recorded in "
        "docs/benchmarks.json (a size, or some commands, measured alone) instead of replacing it",
    )
    parser.add_argument(
        "--rerun-memory",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="peak memory of an unchanged re-run against padded databases "
        "(tests/benchmarks/rerun_memory.py; about an hour at 1M; --quick: 2k and 20k)",
    )
    parser.add_argument(
        "--rerun-sizes",
        type=parse_sizes,
        help=f"stored article counts of the re-run memory stage (default {RERUN_SIZES}; "
        f"--quick {QUICK_RERUN_SIZES})",
    )
    parser.add_argument(
        "--rerun-databases",
        type=parse_databases,
        help=f"databases of the re-run memory stage (default {','.join(RERUN_DATABASES)})",
    )
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--no-docs",
        action="store_true",
        help="do not rewrite docs/benchmarks.md (written only for the default --output-dir)",
    )
    args = parser.parse_args(argv)
    if args.cluster_servers < 1:
        parser.error("--cluster-servers must be at least 1")
    if args.portals is not None and args.portals < 0:
        parser.error("--portals must be 0 (skip the stage) or more")
    out: Path = args.output_dir.resolve()
    command = "python -m tests.benchmarks.run " + shlex.join(sys.argv[1:] if argv is None else argv)

    if args.profile:
        size = args.profile_size or PROFILE_SIZE
        for path in profile(size, out):
            print(f"wrote {path}")
        return 0

    analysts_sizes = tuple(
        args.analysts_sizes or (QUICK_ANALYSTS_SIZES if args.quick else ANALYSTS_SIZES)
    )
    if args.analysts:
        results = run_benchmarks([], out, args.sample, command.strip())
        results["analysts"] = run_analysts_benchmark(
            analysts_sizes,
            tuple(args.analysts_databases.split(",")),
            only=tuple(args.analysts_only),
        )
        if args.analysts_merge:
            recorded = recorded_stage(DOCS_DATA, "analysts")
            if recorded is not None:
                results["analysts"] = merge_results(recorded["results"], results["analysts"])
                results["command"] = f"{recorded['command']}; then {results['command']}"
        write_results(results, out)
        print(render_all(results))
        if out == DEFAULT_OUTPUT.resolve() and not args.no_docs:
            write_docs_page(results, DOCS_PAGE, DOCS_DATA)
            print(f"wrote {DOCS_PAGE}")
        return 0 if args.no_fail or analysts_ok(results["analysts"]) else 1

    sizes = (
        []
        if args.cluster_only or args.portals_only or args.no_sizes
        else args.sizes or list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    )
    results = run_benchmarks(sizes, out, args.sample, command.strip(), bare=args.bare)
    status = exit_status(results["targets"], fail_on_miss=not args.no_fail) if sizes else 0
    if args.archive and not (args.cluster_only or args.portals_only):
        archive_size = args.archive_size or (QUICK_ARCHIVE_SIZE if args.quick else ARCHIVE_SIZE)
        results["archive"] = run_archive_benchmark(archive_size, out)
        write_results(results, out)
        if not results["archive"]["ok"] or (
            not results["archive"]["target_met"] and not args.no_fail
        ):
            print("archive stage: a crawl failed or the CPU target was missed", file=sys.stderr)
            status = 1
    if not args.no_cluster:
        cluster_sizes = args.cluster_sizes or list(
            QUICK_CLUSTER_SIZES if args.quick else CLUSTER_SIZES
        )
        start = time.perf_counter() - results["total_seconds"]

        def written(cluster: dict[str, Any]) -> None:
            results["cluster"] = cluster
            results["total_seconds"] = round(time.perf_counter() - start, 1)
            write_results(results, out)

        if not args.portals_only:
            written(
                run_cluster_benchmark(
                    cluster_sizes, args.cluster_workers, out, args.cluster_servers, on_size=written
                )
            )
            if not cluster_ok(results["cluster"]):
                print("cluster stage: a crawl was WRONG (see the table)", file=sys.stderr)
                status = 1
        portals = (
            args.portals
            if args.portals is not None
            else (QUICK_PORTAL_COUNT if args.quick else PORTAL_COUNT)
        )
        if portals > 0:
            results["many_portals"] = run_many_portals_benchmark(
                out, portals=portals, workers_list=args.cluster_workers
            )
            results["total_seconds"] = round(time.perf_counter() - start, 1)
            write_results(results, out)
            if not many_portals_ok(results["many_portals"]):
                print("many-portals stage: a crawl was WRONG (see the table)", file=sys.stderr)
                status = 1
    if args.event_dates:
        results["event_dates"] = run_event_dates(out)
        write_results(results, out)
        if not event_dates_ok(results["event_dates"]):
            print("event-dates stage: an event day or mark was WRONG", file=sys.stderr)
            status = 1
    if not args.no_analysts:
        results["analysts"] = run_analysts_benchmark(analysts_sizes)
        write_results(results, out)
        if not analysts_ok(results["analysts"]) and not args.no_fail:
            status = 1
    if args.rerun_memory:
        results["rerun_memory"] = run_rerun_memory(
            args.rerun_sizes or list(QUICK_RERUN_SIZES if args.quick else RERUN_SIZES),
            out,
            databases=tuple(args.rerun_databases or RERUN_DATABASES),
        )
        write_results(results, out)
        if not results["rerun_memory"]["target"]["reached"] and not args.no_fail:
            status = 1
    print(render_all(results))
    if sizes:
        print(render_targets(results["targets"]))
    print(f"wrote {out / 'results.md'} and {out / 'results.json'}")
    if out == DEFAULT_OUTPUT.resolve() and not args.no_docs:
        write_docs_page(results, DOCS_PAGE, DOCS_DATA)
        print(f"wrote {DOCS_PAGE}")
    return status


DEFAULT_OUTPUT = PROJECT_ROOT / "output" / "bench"
# The documentation's benchmark page: the latest run of each stage, written by `make bench`,
# never by hand; the measurements it is rendered from beside it.
DOCS_PAGE = PROJECT_ROOT / "docs" / "benchmarks.md"
DOCS_DATA = PROJECT_ROOT / "docs" / "benchmarks.json"
DOCS_PREAMBLE = """\
<!-- Written by `make bench` (tests/benchmarks/run.py) from docs/benchmarks.json; do not edit. -->

# Benchmarks

What `make bench` measured on this project's own machine. Each section is the latest run of its
stage, with the command, the date and the machine it ran on: a run of some stages replaces
their sections and leaves the others as they were measured. The numbers are dated
measurements: run `make bench` to measure again (`make bench BENCH_ARGS=--no-cluster`, about 4
minutes; the cluster and many-portals stages add about 25, `--analysts` alone measures the
analysts' commands, `--rerun-memory` the re-run's memory).

"""
# The page's stages, in its order; "crawl" is the crawl, parser and re-run tables of issue 11.
STAGES = (
    "crawl",
    "archive",
    "event_dates",
    "cluster",
    "many_portals",
    "analysts",
    "rerun_memory",
)


def stages_of(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The stages this run measured, each with the run's command, start and machine."""
    run = {
        "command": results["command"],
        "started_at": results["started_at"],
        "machine": results["machine"],
    }
    stages: dict[str, dict[str, Any]] = {}
    if results.get("sizes"):
        # the run's own facts and tables, without the other stages' results
        crawl = {k: v for k, v in results.items() if k not in STAGES}
        stages["crawl"] = {**run, "results": crawl}
    for name in STAGES[1:]:
        if name in results:
            stages[name] = {**run, "results": results[name]}
    return stages


def render_stage(name: str, stage: dict[str, Any]) -> str:
    data = stage["results"]
    if name == "crawl":
        # its own "# Benchmarks" page, one section of this one
        body = render_markdown(data).replace("\n## ", "\n### ")
        body = body.replace("# Benchmarks", "## Crawl, parser and re-runs (issue 11)", 1)
    else:
        body = RENDERERS[name](data).strip()
    machine = ", ".join(f"{k} {v}" for k, v in stage["machine"].items())
    return f"{body}\n\n*Measured {stage['started_at']} by `{stage['command']}` on: {machine}.*"


def recorded_stage(data: Path, name: str) -> dict[str, Any] | None:
    """A stage as docs/benchmarks.json last recorded it (None: never measured)."""
    if not data.exists():
        return None
    stage = json.loads(data.read_text(encoding="utf-8")).get("stages", {}).get(name)
    return stage if isinstance(stage, dict) else None


def write_docs_page(results: dict[str, Any], page: Path, data: Path) -> None:
    """The page from the stages this run measured and, for the others, their latest runs
    (``data``, rewritten with this run's stages)."""
    stored: dict[str, Any] = {}
    if data.exists():
        stored = json.loads(data.read_text(encoding="utf-8")).get("stages", {})
    stages = {**stored, **stages_of(results)}
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text(
        json.dumps({"stages": stages}, indent=1, ensure_ascii=False, default=str) + "\n",
        encoding="utf-8",
    )
    sections = [render_stage(name, stages[name]) for name in STAGES if name in stages]
    page.write_text(DOCS_PREAMBLE + "\n\n".join(sections) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
