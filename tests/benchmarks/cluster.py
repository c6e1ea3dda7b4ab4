"""The cluster benchmark (issue 13): throughput of ``scrapy cluster work`` with 1, 2 and 4
worker processes on one replica site served by several server processes (SO_REUSEPORT, one
host:port), each worker count on a fresh Redis and a fresh PostgreSQL database.

Per worker count: wall time from the first worker's launch to the last one's exit, articles/s,
its ratio to a lone ``scrapy crawl`` of the same replica with the same settings into the same
kind of database (measured first, on a fresh database), speed-up over one worker and scaling
efficiency (speed-up / workers), the workers' CPU, the replica's CPU, the Redis commands per
request of the crawl (``total_commands_processed``), Redis ``used_memory`` over its empty
baseline per request at the end and at the peak, the ``MEMORY USAGE`` of the crawl's keys by
kind, the distinct URLs the replica was asked for (from its request logs: more workers must not
fetch more), and the stored articles scored against the replica's truth (every article stored
once, every scored field exact). The issue-24 targets are printed next to the numbers (at
most 10 commands per request, 300 bytes per URL at the end and 600 at the peak, one worker at
least 0.8 of a lone crawl, the same distinct URLs for every worker count); they are reported,
not enforced (this machine is shared and noisy). A wrong crawl (an article missing, stored
twice or wrong, a worker or the run failed) makes :func:`cluster_ok` False and ``make bench``
exit 1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa

from crawler.sites.profile import PROFILES_DIR
from tests.benchmarks.processes import Measured, ReplicaGroup, _kill_group, own_peak_rss_kib
from tests.benchmarks.truth_score import is_exact, score_records
from tests.crawl_runner import FAST_SETTINGS, PROJECT_ROOT, cluster_command, cluster_settings
from tests.postgres import PostgresServer
from tests.redis_server import RedisServer
from tests.replica.site import ReplicaConfig, ReplicaSite

CLUSTER_SIZES = (20000,)
QUICK_CLUSTER_SIZES = (1000,)
CLUSTER_WORKERS = (1, 2, 4)
REPLICA_SERVERS = 4
# Redis's own default with the append-only file on: what a deployment runs (tests/redis_server.py
# uses "always" for its fault tests; on this machine's disk that is an fsync per write).
REDIS_APPENDFSYNC = "everysec"
# Not the limit: each worker may have as many requests in flight as a lone crawl does.
HOST_CONCURRENCY_PER_WORKER = 16
KEY_PREFIX = "bench"
# Issue 24's targets, printed next to what was measured.
TARGET_COMMANDS_PER_REQUEST = 10
TARGET_BYTES_PER_URL_END = 300
TARGET_BYTES_PER_URL_PEAK = 600
TARGET_LONE_RATIO = 0.8
# The lone crawl and the one-worker run, back to back this many times (their order alternating):
# the machine's load swings their walls by a third from one minute to the next, much less from
# one run to the one after it, so each pair's ratio is fair and their median robust.
LONE_PAIRS = 3
SITE = "hepza"
BASE_URL_LINE = re.compile(r'^base_url = ".*"$', re.MULTILINE)


def cluster_timeout(size: int) -> float:
    return 300 + 0.12 * size


def write_profile(profiles: Path, base_url: str) -> None:
    """The project's HEPZA profile with the replica as its base URL (politeness is lifted by
    the settings, which win over a profile's)."""
    profiles.mkdir(parents=True, exist_ok=True)
    text, count = BASE_URL_LINE.subn(
        f'base_url = "{base_url}"', (PROFILES_DIR / f"{SITE}.toml").read_text(encoding="utf-8")
    )
    if count != 1:
        raise RuntimeError(f"{PROFILES_DIR / SITE}.toml has {count} base_url lines, expected 1")
    (profiles / f"{SITE}.toml").write_text(text, encoding="utf-8")


def bench_settings(
    redis_url: str, database_url: str, profiles: Path, workdir: Path, workers: int
) -> dict[str, str]:
    """The cluster's settings, its politeness lifted (the limiter never the bottleneck)."""
    return cluster_settings(redis_url, database_url, profiles, workdir, prefix=KEY_PREFIX) | {
        "CLUSTER_HOST_CONCURRENCY": str(HOST_CONCURRENCY_PER_WORKER * workers),
        "CLUSTER_HOST_DELAY": "0",
        "FEEDS": "{}",
    }


def run_workers(commands: list[list[str]], logs: list[Path], timeout: float) -> list[Measured]:
    """Every command started at once and waited for (all killed at ``timeout``); each one's
    wall time from the common start, its own CPU (``os.wait4``) and peak RSS."""
    start = time.perf_counter()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for cmd, log in zip(commands, logs, strict=True):
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        cmd,
                        cwd=PROJECT_ROOT,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        done: dict[int, Measured] = {}
        peaks = [0] * len(procs)
        while len(done) < len(procs):
            timed_out = time.perf_counter() - start > timeout
            for n, proc in enumerate(procs):
                if n in done:
                    continue
                peaks[n] = max(peaks[n], own_peak_rss_kib(proc.pid))
                if timed_out:
                    _kill_group(proc.pid, signal.SIGKILL)
                    pid, status, usage = os.wait4(proc.pid, 0)
                else:
                    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    done[n] = Measured(
                        returncode=proc.returncode,
                        wall_s=round(time.perf_counter() - start, 3),
                        user_s=round(usage.ru_utime, 3),
                        sys_s=round(usage.ru_stime, 3),
                        peak_rss_mb=round((peaks[n] or usage.ru_maxrss) / 1024, 1),
                        timed_out=timed_out,
                    )
            time.sleep(0.05)
    except BaseException:
        for proc in procs:
            if proc.returncode is None:
                _kill_group(proc.pid, signal.SIGKILL)
                proc.wait()
        raise
    return [done[n] for n in range(len(procs))]


def key_group(key: str, crawl_id: str) -> str:
    """What a key holds, without its crawl id, site, worker or host: ``site:frontier:seen``."""
    crawl = f"{KEY_PREFIX}:crawl:{crawl_id}:"
    if key.startswith(crawl):
        rest = key[len(crawl) :]
        if rest.startswith(f"site:{SITE}:"):
            parts = rest[len(f"site:{SITE}:") :].split(":")
            return "site:" + ":".join(
                parts[:2] if parts[0] in {"frontier", "limiter"} else parts[:1]
            )
        return rest.split(":", 1)[0]
    if key.startswith(f"{KEY_PREFIX}:host:"):
        return "host:" + key.rsplit(":", 1)[-1]
    return key.removeprefix(f"{KEY_PREFIX}:")


def redis_memory(
    client: redis.Redis, crawl_id: str, baseline: int, commands_before: int = 0
) -> dict[str, Any]:
    """Redis memory at the end of the crawl: the server's ``used_memory`` (and peak) over its
    empty baseline, and the ``MEMORY USAGE`` of every key of the cluster, by kind."""
    info = client.info("memory")
    commands = int(client.info("stats")["total_commands_processed"]) - commands_before
    by_group: dict[str, int] = defaultdict(int)
    keys = 0
    for key in client.scan_iter(match=f"{KEY_PREFIX}:*", count=1000):
        name = key.decode() if isinstance(key, bytes) else str(key)
        by_group[key_group(name, crawl_id)] += int(client.memory_usage(name, samples=0) or 0)
        keys += 1
    dupefilter = f"{KEY_PREFIX}:crawl:{crawl_id}:site:{SITE}:dupefilter"
    urls = int(client.scard(dupefilter))
    keys_bytes = sum(by_group.values())
    used = int(info["used_memory"]) - baseline
    # Which commands the crawl's round trips and scripts ran, most frequent first (a script's
    # own commands each count, as in total_commands_processed): what to batch next.
    calls = {
        name.removeprefix("cmdstat_"): int(stat["calls"])
        for name, stat in client.info("commandstats").items()
        if isinstance(stat, dict) and "calls" in stat
    }
    return {
        "commandstats": dict(sorted(calls.items(), key=lambda kv: -kv[1])),
        "used_memory_mb": round(int(info["used_memory"]) / 1e6, 2),
        "used_memory_peak_mb": round(int(info["used_memory_peak"]) / 1e6, 2),
        "baseline_mb": round(baseline / 1e6, 2),
        "keys": keys,
        "keys_mb": round(keys_bytes / 1e6, 2),
        "urls_met": urls,
        # Every command the cluster sent (the benchmark's own few included).
        "commands": commands,
        "commands_per_url": round(commands / urls, 1) if urls else None,
        "keys_kb_per_1000_urls": round(keys_bytes / 1e3 / (urls / 1000), 1) if urls else None,
        "used_kb_per_1000_urls": round(used / 1e3 / (urls / 1000), 1) if urls else None,
        "keys_kb_by_kind": {k: round(v / 1e3, 1) for k, v in sorted(by_group.items())},
        "used_bytes": used,
        # what used_memory holds besides the keys (allocator's view of the dataset, the
        # server's own structures, clients' buffers, scripts)
        "info_memory": {
            k: int(info[k])
            for k in (
                "used_memory_dataset",
                "used_memory_overhead",
                "used_memory_startup",
                "used_memory_scripts",
                "mem_clients_normal",
                "mem_aof_buffer",
            )
            if k in info
        },
        "peak_bytes": int(info["used_memory_peak"]) - baseline,
    }


def score_database(
    database_url: str, truth_articles: list[dict[str, Any]], base_url: str, crawl_id: str
) -> dict[str, Any]:
    """The stored articles against the truth, the articles stored more than once (a second
    version of the same article) and the crawl's runs in ``crawl_runs``."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT url, title, published_at, body_text FROM articles WHERE site = :s"),
                {"s": SITE},
            ).mappings()
            score = score_records((dict(r) for r in rows), truth_articles, base_url)
            score["stored_twice"] = int(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM (SELECT article_id FROM article_versions "
                        "GROUP BY article_id HAVING count(*) > 1) AS twice"
                    )
                ).scalar_one()
            )
            runs = conn.execute(sa.text("SELECT run_id, outcome FROM crawl_runs")).all()
    finally:
        engine.dispose()
    score["runs"] = [{"run_id": r[0], "outcome": r[1]} for r in runs]
    score["one_run_succeeded"] = [(r[0], r[1]) for r in runs] == [(crawl_id, "succeeded")]
    return score


def bench_workers(
    workers: int,
    size: int,
    servers: ReplicaGroup,
    postgres: PostgresServer,
    truth_articles: list[dict[str, Any]],
    workdir: Path,
) -> dict[str, Any]:
    workdir.mkdir(parents=True)
    profiles = workdir / "profiles"
    write_profile(profiles, servers.url)
    database = postgres.create_database()
    redis_server = RedisServer(appendfsync=REDIS_APPENDFSYNC)
    try:
        redis_server.start()
        client = redis.Redis.from_url(redis_server.url)
        # Redis 7 keeps a latency histogram for each command name it has run (24,688 bytes
        # each here, about 36 names in a cluster crawl: 0.9 MB whatever the crawl's size), which
        # is no part of the crawl's memory: off, so that bytes per URL are the crawl's own.
        client.config_set("latency-tracking", "no")
        baseline = int(client.info("memory")["used_memory"])
        commands_before = int(client.info("stats")["total_commands_processed"])
        settings = bench_settings(
            redis_server.url, postgres.url(database), profiles, workdir, workers
        )
        crawl_id = start_crawl(settings, [SITE], full=True)
        commands, logs = [], []
        for n in range(1, workers + 1):
            own = {**settings, "LOG_FILE": str(workdir / f"worker-{n}.log")}
            commands.append(cluster_command("work", own, "--crawl", crawl_id))
            logs.append(workdir / f"worker-{n}.out")
        server_cpu = servers.cpu_seconds()
        offsets = servers.log_offsets()
        load_before = os.getloadavg()[0]
        measured = run_workers(commands, logs, cluster_timeout(size))
        load_after = os.getloadavg()[0]
        server_cpu_after = servers.cpu_seconds()
        requested = servers.requested_since(offsets)
        wall = max(m.wall_s for m in measured)
        memory = redis_memory(client, crawl_id, baseline, commands_before)
        client.close()
        score = score_database(postgres.url(database), truth_articles, servers.url, crawl_id)
    finally:
        redis_server.cleanup()
        postgres.drop_database(database)
    report_path = workdir / "reports" / "latest.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    counts = report.get("counts", {})
    stored = counts.get("stored_new", 0) + counts.get("stored_changed", 0)
    cpu = sum(m.cpu_s for m in measured)
    result: dict[str, Any] = {
        "workers": workers,
        "crawl_id": crawl_id,
        "wall_s": wall,
        "worker_returncodes": [m.returncode for m in measured],
        "per_worker": [m.as_dict() for m in measured],
        "workers_cpu_s": round(cpu, 2),
        # The machine's 1-minute load average: other processes competing for the cores.
        "load_before": round(load_before, 2),
        "load_after": round(load_after, 2),
        "cpu_ms_per_article": round(cpu * 1000 / stored, 2) if stored else None,
        "outcome": report.get("outcome", "no report"),
        "requests": counts.get("requests"),
        "responses": counts.get("responses"),
        "stored": stored,
        "articles_per_s": round(stored / wall, 1) if stored and wall else None,
        "replica_requests": len(requested),
        "distinct_urls": len(set(requested)),
        "redis": memory,
        "correctness": score,
    }
    if server_cpu is not None and server_cpu_after is not None and wall:
        result["replica_busy"] = round((server_cpu_after - server_cpu) / wall, 2)
    requests = result["requests"]
    if requests:
        memory["commands_per_request"] = round(memory["commands"] / requests, 1)
        memory["bytes_per_url_end"] = round(memory["used_bytes"] / requests)
        memory["bytes_per_url_peak"] = round(memory["peak_bytes"] / requests)
    result["ok"] = crawl_correct(result)
    return result


def lone_settings(database_url: str, profiles: Path, workdir: Path) -> dict[str, str]:
    """The cluster's settings (:func:`bench_settings`) without the cluster: a plain crawl."""
    return {
        **FAST_SETTINGS,
        "DATABASE_URL": database_url,
        "SITE_PROFILES_DIR": str(profiles),
        "OUTPUT_DIR": str(workdir / "out"),
        "REPORTS_DIR": str(workdir / "reports"),
        "REJECTS_PATH": str(workdir / "rejects.jsonl"),
        "FEEDS": "{}",
        "CLUSTER_REDIS_URL": "",
        "LOG_FILE": str(workdir / "crawl.log"),
    }


def start_crawl(settings: dict[str, str], sites: list[str], *, full: bool) -> str:
    """``scrapy cluster start`` of ``sites``: the crawl's id (RuntimeError when it fails)."""
    args = [arg for site in sites for arg in ("--site", site)] + (["--full"] if full else [])
    started = subprocess.run(
        cluster_command("start", settings, *args),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if started.returncode != 0:
        raise RuntimeError(f"scrapy cluster start failed: {started.stderr.strip()[-2000:]}")
    return started.stdout.strip()


def bench_lone(
    size: int,
    servers: ReplicaGroup,
    postgres: PostgresServer,
    truth_articles: list[dict[str, Any]],
    workdir: Path,
) -> dict[str, Any]:
    """A lone ``scrapy crawl`` of the replica (full mode) into a fresh database of the same
    PostgreSQL, measured like the workers: what one cluster worker is compared with."""
    workdir.mkdir(parents=True)
    profiles = workdir / "profiles"
    write_profile(profiles, servers.url)
    database = postgres.create_database()
    try:
        cmd = [sys.executable, "-m", "scrapy", "crawl", SITE, "-a", "full=1"]
        for name, value in lone_settings(postgres.url(database), profiles, workdir).items():
            cmd += ["-s", f"{name}={value}"]
        offsets = servers.log_offsets()
        load_before = os.getloadavg()[0]
        (measured,) = run_workers([cmd], [workdir / "crawl.out"], cluster_timeout(size))
        load_after = os.getloadavg()[0]
        requested = servers.requested_since(offsets)
        engine = sa.create_engine(postgres.url(database))
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text("SELECT url, title, published_at, body_text FROM articles")
                ).mappings()
                score = score_records((dict(r) for r in rows), truth_articles, servers.url)
        finally:
            engine.dispose()
    finally:
        postgres.drop_database(database)
    report_path = workdir / "reports" / "latest.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    counts = report.get("counts", {})
    stored = counts.get("stored_new", 0) + counts.get("stored_changed", 0)
    wall = measured.wall_s
    return {
        "wall_s": wall,
        "returncode": measured.returncode,
        "cpu_s": round(measured.cpu_s, 2),
        "outcome": report.get("outcome", "no report"),
        "requests": counts.get("requests"),
        "stored": stored,
        "articles_per_s": round(stored / wall, 1) if stored and wall else None,
        "replica_requests": len(requested),
        "distinct_urls": len(set(requested)),
        "load_before": round(load_before, 2),
        "load_after": round(load_after, 2),
        "ok": measured.returncode == 0 and stored == len(truth_articles) and is_exact(score),
    }


def crawl_correct(result: dict[str, Any]) -> bool:
    """Every worker exited 0, the one run succeeded, every article stored once and exact: in the
    database, and in the run's own count (a second store of the same content adds no version,
    but the run would count it)."""
    score = result.get("correctness") or {}
    return (
        all(code == 0 for code in result.get("worker_returncodes", [1]))
        and result.get("stored") == score.get("truth_articles")
        and bool(score.get("one_run_succeeded"))
        and score.get("stored_twice") == 0
        and is_exact(score)
    )


def _measured(what: str, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``measure()``, or the error it raised (the stage goes on with the next run)."""
    try:
        return measure()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "ok": False, "what": what}


def pair_entry(lone: dict[str, Any], one: dict[str, Any], order: list[str]) -> dict[str, Any]:
    """One back-to-back pair as recorded: each run's wall, articles/s, CPU, load and verdict,
    and the worker's articles/s and CPU over the lone crawl's."""
    keep = ("wall_s", "articles_per_s", "load_before", "load_after", "ok", "error")
    lone_part = {k: lone[k] for k in (*keep, "cpu_s") if k in lone}
    one_part = {k: one[k] for k in (*keep, "workers_cpu_s") if k in one}
    entry: dict[str, Any] = {"order": order, "lone": lone_part, "one_worker": one_part}
    if lone.get("articles_per_s") and one.get("articles_per_s"):
        entry["rate_ratio"] = round(one["articles_per_s"] / lone["articles_per_s"], 3)
    if lone.get("cpu_s") and one.get("workers_cpu_s"):
        entry["cpu_ratio"] = round(one["workers_cpu_s"] / lone["cpu_s"], 3)
    return entry


def median_run(runs: list[dict[str, Any]], rate: str = "articles_per_s") -> dict[str, Any]:
    """The run of median articles/s (the lower of the two middle ones for an even count); the
    first run when none has a rate (each errored)."""
    rated = sorted((r for r in runs if r.get(rate)), key=lambda r: r[rate])
    return rated[(len(rated) - 1) // 2] if rated else runs[0]


def paired_ratios(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of the pairs' ratios, articles/s and CPU (None without a pair that has one)."""
    rates = [p["rate_ratio"] for p in pairs if "rate_ratio" in p]
    cpus = [p["cpu_ratio"] for p in pairs if "cpu_ratio" in p]
    return {
        "pairs": len(pairs),
        "rate_ratio_median": round(statistics.median(rates), 2) if rates else None,
        "rate_ratio_min": min(rates) if rates else None,
        "rate_ratio_max": max(rates) if rates else None,
        "cpu_ratio_median": round(statistics.median(cpus), 3) if cpus else None,
    }


def bench_cluster_size(
    size: int, workers_list: list[int], out: Path, servers_count: int, pairs: int = LONE_PAIRS
) -> dict[str, Any]:
    workdir = out / "work" / f"cluster-{size}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    truth_articles = ReplicaSite(ReplicaConfig(articles=size)).truth()["articles"]
    result: dict[str, Any] = {
        "size": size,
        "truth_articles": len(truth_articles),
        "replica_servers": servers_count,
        "runs": [],
    }
    postgres = PostgresServer()
    postgres.start()
    try:
        with ReplicaGroup(size, workdir, servers_count, request_logs=True) as servers:
            result["replica_startup_s"] = servers.startup_s

            def lone(n: int) -> dict[str, Any]:
                print(f"  [cluster {size}] a lone scrapy crawl ({n})...", flush=True)
                run = _measured(
                    "lone",
                    lambda: bench_lone(
                        size, servers, postgres, truth_articles, workdir / f"lone-{n}"
                    ),
                )
                print(
                    f"  [cluster {size}] lone crawl ({n}): {run.get('wall_s')} s, "
                    f"{run.get('articles_per_s')} articles/s, CPU {run.get('cpu_s')} s",
                    flush=True,
                )
                return run

            def workers_run(workers: int, name: str) -> dict[str, Any]:
                print(f"  [cluster {size}] {workers} worker(s) ({name})...", flush=True)
                run = _measured(
                    f"{workers} workers",
                    lambda: bench_workers(
                        workers, size, servers, postgres, truth_articles, workdir / name
                    ),
                )
                run.setdefault("workers", workers)
                print(
                    f"  [cluster {size}] {workers} worker(s) ({name}): {run.get('wall_s')} s, "
                    f"{run.get('articles_per_s')} articles/s, CPU {run.get('workers_cpu_s')} s, "
                    f"{'correct' if run['ok'] else 'WRONG: ' + run.get('error', 'see results')}",
                    flush=True,
                )
                return run

            # The lone crawl and one worker back to back, alternating which goes first: each
            # pair ran under the same load.
            lones: list[dict[str, Any]] = []
            ones: list[dict[str, Any]] = []
            entries: list[dict[str, Any]] = []
            with_one = 1 in workers_list
            for n in range(1, max(pairs, 1) + 1):
                order = ["lone", "one_worker"] if n % 2 or not with_one else ["one_worker", "lone"]
                got: dict[str, dict[str, Any]] = {}
                for kind in order if with_one else ["lone"]:
                    got[kind] = lone(n) if kind == "lone" else workers_run(1, f"w1-{n}")
                lones.append(got["lone"])
                if with_one:
                    ones.append(got["one_worker"])
                    entries.append(pair_entry(got["lone"], got["one_worker"], order))
            result["lone"] = median_run(lones)
            result["lone_runs"] = [pair_entry(r, {}, ["lone"])["lone"] for r in lones]
            if with_one:
                result["pairs"] = entries
                result["paired"] = paired_ratios(entries)
                result["runs"].append(median_run(ones))
            for workers in workers_list:
                if workers != 1:
                    result["runs"].append(workers_run(workers, f"w{workers}"))
    finally:
        postgres.stop()
    add_scaling(result["runs"], result.get("lone"), result.get("paired"))
    return result


def add_scaling(
    runs: list[dict[str, Any]],
    lone: dict[str, Any] | None = None,
    paired: dict[str, Any] | None = None,
) -> None:
    """Speed-up over the one-worker run (wall time) and scaling efficiency = speed-up / workers;
    the throughput over the lone crawl's (one worker's: the median of the back-to-back pairs'
    ratios, ``paired``, when there are pairs); the distinct URLs requested over one worker's."""
    base = next((r for r in runs if r.get("workers") == 1 and r.get("wall_s")), None)
    lone_rate = (lone or {}).get("articles_per_s")
    for run in runs:
        rate = run.get("articles_per_s")
        run["vs_lone"] = round(rate / lone_rate, 2) if rate and lone_rate else None
        if run.get("workers") == 1 and (paired or {}).get("rate_ratio_median") is not None:
            run["vs_lone"] = paired["rate_ratio_median"]  # type: ignore[index]
        base_urls = (base or {}).get("distinct_urls")
        urls = run.get("distinct_urls")
        run["extra_urls_vs_one"] = urls - base_urls if urls is not None and base_urls else None
        if base is None or not run.get("wall_s"):
            run["speedup"] = run["efficiency"] = None
            continue
        run["speedup"] = round(base["wall_s"] / run["wall_s"], 2)
        run["efficiency"] = round(run["speedup"] / run["workers"], 2)


def run_cluster_benchmark(
    sizes: list[int],
    workers_list: list[int],
    out: Path,
    servers_count: int,
    on_size: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Every size in turn; ``on_size(results)`` after each (the results so far)."""
    results: dict[str, Any] = {
        "workers": workers_list,
        "replica_servers": servers_count,
        "host_concurrency_per_worker": HOST_CONCURRENCY_PER_WORKER,
        "nproc": len(os.sched_getaffinity(0)),
        "per_size": {},
    }
    for size in sizes:
        print(f"cluster size {size:,}", flush=True)
        try:
            results["per_size"][str(size)] = bench_cluster_size(
                size, workers_list, out, servers_count
            )
        except Exception as exc:
            results["per_size"][str(size)] = {"size": size, "error": f"{type(exc).__name__}: {exc}"}
        if on_size is not None:
            on_size(results)
    return results


def cluster_ok(results: dict[str, Any]) -> bool:
    """Every size ran and every run's crawl was correct (each paired one-worker run too)."""
    sizes = results.get("per_size", {}).values()
    return all(
        "error" not in s
        and all(r.get("ok") for r in s["runs"])
        and all(p["one_worker"].get("ok") for p in s.get("pairs", []))
        for s in sizes
    )


def _cell(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def render_pairs(size: int, data: dict[str, Any]) -> list[str]:
    """The back-to-back pairs of a size: each one's runs, its ratios, and their medians."""
    pairs = data.get("pairs") or []
    if not pairs:
        return []
    paired = data.get("paired") or paired_ratios(pairs)
    lines = [
        "",
        f"One worker against the lone crawl, back to back ({size:,} articles, "
        f"{len(pairs)} pairs): median *x lone crawl* "
        f"**{_cell(paired.get('rate_ratio_median'), 2)}** (pairs "
        f"{_cell(paired.get('rate_ratio_min'), 2)} to {_cell(paired.get('rate_ratio_max'), 2)}), "
        f"median CPU of the worker over the lone crawl's "
        f"**{_cell(paired.get('cpu_ratio_median'), 3)}**.",
        "",
        "| Pair | First | Lone wall s | Lone articles/s | Lone CPU s | 1 worker wall s "
        "| 1 worker articles/s | 1 worker CPU s | x lone (articles/s) | x lone (CPU) "
        "| Load avg before lone / worker | Crawls |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for n, pair in enumerate(pairs, 1):
        lone, one = pair["lone"], pair["one_worker"]
        errors = [
            f"{k}: {v['error']}" for k, v in (("lone", lone), ("worker", one)) if "error" in v
        ]
        verdict = "; ".join(errors) or (
            "correct" if lone.get("ok") and one.get("ok") else "**WRONG** (see the results)"
        )
        loads = " / ".join(
            f"{r['load_before']:.1f}" if "load_before" in r else "-" for r in (lone, one)
        )
        lines.append(
            "| "
            + " | ".join(
                [
                    str(n),
                    "lone" if pair["order"][0] == "lone" else "worker",
                    _cell(lone.get("wall_s")),
                    _cell(lone.get("articles_per_s")),
                    _cell(lone.get("cpu_s")),
                    _cell(one.get("wall_s")),
                    _cell(one.get("articles_per_s")),
                    _cell(one.get("workers_cpu_s")),
                    _cell(pair.get("rate_ratio"), 2),
                    _cell(pair.get("cpu_ratio"), 2),
                    loads,
                    verdict,
                ]
            )
            + " |"
        )
    return lines


def peak_per_1000(memory: dict[str, Any]) -> float | None:
    """Redis's peak ``used_memory`` over its empty baseline, KB per 1,000 URLs met: what a
    crawl needs at its busiest (the queue full of encoded requests), not only at its end."""
    urls = memory.get("urls_met")
    if not urls:
        return None
    peak_kb = (memory["used_memory_peak_mb"] - memory["baseline_mb"]) * 1000
    return round(peak_kb / (urls / 1000), 1)


def render_cluster_markdown(results: dict[str, Any]) -> str:
    nproc = results["nproc"]
    lines = [
        "## Cluster mode (issues 13 and 24)",
        "",
        f"**This machine has {nproc} CPU cores**, shared by the workers, the "
        f"{results['replica_servers']} replica server processes, Redis and PostgreSQL: more "
        f"workers than cores cannot add speed here, and the efficiency below says how much of "
        f"the machine the cluster turned into throughput, not how it scales on separate machines.",
        "",
        "| Articles | Workers | Wall s | Articles/s | x lone crawl | Speed-up | Efficiency "
        "| Workers CPU s | Redis commands / request | Redis bytes / URL, end (peak) "
        "| Distinct URLs requested (vs 1 worker) | Requests | Load avg before / after | Crawl |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for size, data in results["per_size"].items():
        if "error" in data:
            lines.append(f"| {int(size):,} | - | error: {data['error']} |" + " |" * 11)
            continue
        lone = data.get("lone") or {}
        if "error" in lone:
            lines.append(f"| {int(size):,} | lone | error: {lone['error']} |" + " |" * 11)
        elif lone:
            lines.append(
                "| "
                + " | ".join(
                    [
                        f"{int(size):,}",
                        "lone `scrapy crawl`",
                        _cell(lone["wall_s"]),
                        _cell(lone["articles_per_s"]),
                        "1.00",
                        "-",
                        "-",
                        _cell(lone["cpu_s"]),
                        "-",
                        "-",
                        _cell(lone["distinct_urls"]),
                        _cell(lone["requests"]),
                        f"{lone['load_before']:.1f} / {lone['load_after']:.1f}",
                        "correct" if lone["ok"] else f"**WRONG** (outcome {lone['outcome']})",
                    ]
                )
                + " |"
            )
        for run in data["runs"]:
            if "error" in run:
                lines.append(
                    f"| {int(size):,} | {run['workers']} | error: {run['error']} |" + " |" * 11
                )
                continue
            memory = run["redis"]
            score = run["correctness"]
            verdict = (
                "correct"
                if run["ok"]
                else f"**WRONG** (missing {score.get('missing')}, stored twice "
                f"{score.get('stored_twice')}, outcome {run['outcome']}, exit codes "
                f"{run['worker_returncodes']})"
            )
            extra = run.get("extra_urls_vs_one")
            lines.append(
                "| "
                + " | ".join(
                    [
                        f"{int(size):,}",
                        str(run["workers"]),
                        _cell(run["wall_s"]),
                        _cell(run["articles_per_s"]),
                        _cell(run.get("vs_lone"), 2),
                        _cell(run["speedup"], 2),
                        _cell(run["efficiency"], 2),
                        _cell(run["workers_cpu_s"]),
                        _cell(memory.get("commands_per_request")),
                        f"{_cell(memory.get('bytes_per_url_end'))} "
                        f"({_cell(memory.get('bytes_per_url_peak'))})",
                        f"{_cell(run.get('distinct_urls'))}"
                        + (f" ({extra:+,})" if extra is not None else ""),
                        _cell(run["requests"]),
                        f"{run['load_before']:.1f} / {run['load_after']:.1f}",
                        verdict,
                    ]
                )
                + " |"
            )
    for size, data in results["per_size"].items():
        lines += render_pairs(int(size), data)
    kinds = [
        (size, run["redis"]["keys_kb_by_kind"])
        for size, data in results["per_size"].items()
        for run in data.get("runs", [])[-1:]
        if "redis" in run
    ]
    if kinds:
        size, by_kind = kinds[-1]
        lines += [
            "",
            f"What Redis holds at the end ({int(size):,} articles, last run; KB by key kind): "
            + ", ".join(f"`{k}` {v:,.1f}" for k, v in by_kind.items()),
        ]
    lines += [
        "",
        f"Targets (issue 24, reported, not enforced): at most {TARGET_COMMANDS_PER_REQUEST} "
        f"Redis commands per request, at most {TARGET_BYTES_PER_URL_END} bytes of Redis per URL "
        f"at the end and {TARGET_BYTES_PER_URL_PEAK} at the peak, one worker at least "
        f"{TARGET_LONE_RATIO} of the lone crawl's articles/s, the same distinct URLs requested "
        "by 2 and 4 workers as by one.",
        "",
        "- The lone crawl: `scrapy crawl hepza -a full=1` with the same settings (FAST_SETTINGS, "
        "no feed) into a fresh database of the same PostgreSQL (interpreter start-up included, "
        "as in the workers' wall and CPU). It and the one-worker run go back to back, in pairs "
        "whose order alternates (lone first, then worker first, ...), each run on its own fresh "
        "database (and the worker's on a fresh Redis); the table's lone and 1-worker rows are "
        "the runs of median articles/s, and the 1-worker row's *x lone crawl* is the median of "
        "the pairs' ratios (each pair's worker articles/s over its own lone crawl's), not a "
        "ratio of two runs minutes apart; the 2- and 4-worker rows' is over the lone row's. "
        "Redis commands per request: the server's "
        "`total_commands_processed` over the crawl (those a Lua script runs count one each) "
        "over the run's requests; bytes per URL: `used_memory` over the empty server's "
        "baseline, at the end and at its peak, over the run's requests. Distinct URLs: the "
        "paths and queries the replica answered (its request logs).",
        "- Each worker count: a fresh `redis-server` (tests/redis_server.py: append-only file, "
        f"`appendfsync {REDIS_APPENDFSYNC}`) and a fresh PostgreSQL database (tests/postgres.py), "
        f"`scrapy cluster start --site {SITE} --full`, then N `scrapy cluster work` processes "
        "started at once; wall time from their launch to the last one's exit (interpreter and "
        "Scrapy start-up included). Speed-up = wall(1 worker) / wall(N); efficiency = speed-up / "
        "N.",
        f"- The replica: {results['replica_servers']} `python -m tests.replica serve "
        "--reuse-port` processes of the same site on one port (SO_REUSEPORT, the kernel spreads "
        "connections between them). Politeness lifted: FAST_SETTINGS per worker, "
        f"`CLUSTER_HOST_DELAY=0`, `CLUSTER_HOST_CONCURRENCY={HOST_CONCURRENCY_PER_WORKER} x "
        "workers`.",
        "- What Redis holds: the sum of `MEMORY USAGE` of the cluster's keys by kind, at the "
        "end (the peak is the queue's encoded requests, freed as they are crawled). The "
        "benchmark's Redis runs with `latency-tracking no`: Redis 7 otherwise keeps a latency "
        "histogram of 24,688 bytes for each command name it has run (about 36 in a cluster "
        "crawl: 0.9 MB, the same for any crawl's size, 316 bytes per URL of a 2,000-article "
        "crawl and 1 byte per URL of a million), which is the server's, not the crawl's.",
        f"- Load average: the machine's 1-minute load before and after the workers ran; above "
        f"{nproc} (the cores) other processes were competing for the CPU and the run's numbers "
        "are lower than the cluster's own.",
        "- Crawl: every article of the replica's truth stored once (no second version), title, "
        "published_at and body exact (from the database), one `crawl_runs` row (the crawl's, "
        "succeeded), every worker exit 0.",
    ]
    return "\n".join(lines)
