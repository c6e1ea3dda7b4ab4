"""Many portals at once (issue 24): the cluster's real use, measured.

One benchmark process serves ``--portals`` small replica portals (Classic-theme portals in
English and Vietnamese, each its own seed, each on its own port of 127.0.0.1, so each is its
own host to the crawler), writes a site profile per portal with the politeness an agency
portal gets (``download_delay``, ``concurrency``) and crawls them all in one cluster crawl with
1, 2 and 4 ``scrapy cluster work`` processes, each worker count on a fresh Redis and a fresh
PostgreSQL database. Per worker count it measures:

- wall time, articles per second, the workers' CPU;
- what every portal saw (the replica's own request log and timings): requests, distinct URLs,
  the most requests in flight at once and the most request arrivals within any window of
  ``WINDOW`` seconds against what the profile's politeness allows (``tests/politeness.py``);
- Redis: commands (``total_commands_processed``) and ``used_memory`` at the end and at the
  peak over the empty server, per distinct URL requested;
- PostgreSQL: the database's growth (``pg_database_size``) per stored article;
- correctness: every article of every portal stored once and exact, the one run succeeded;
- where the time went (:mod:`tests.benchmarks.proc_clock`): the wall split in start-up (to the
  first request at any portal), requests and tail (the last request to the last worker's
  exit), the workers' CPU and their reactor's wait for a core in each, the portals', Redis's
  and PostgreSQL's CPU, each portal's span, and the cores the rest of the machine took.

After the one-worker full crawl, an incremental crawl of the same, unchanged portals (one
worker) measures what a daily run costs per portal. :mod:`tests.benchmarks.sizing` turns these
costs into the sizing model, and checks its predictions against the 1/2/4-worker walls.
"""

from __future__ import annotations

import os
import resource
import shutil
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa

from crawler.domain.urls import canonical_article_url
from tests.benchmarks.cluster import run_workers, start_crawl
from tests.benchmarks.proc_clock import CrawlClock, postgres_cpu_s
from tests.benchmarks.processes import Measured
from tests.benchmarks.truth_score import is_exact, score_records
from tests.crawl_runner import cluster_command
from tests.politeness import allowed_in_window, max_in_flight, max_in_window
from tests.postgres import PostgresServer
from tests.redis_server import RedisServer
from tests.replica.portal import PORTALS, make_site
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig

PORTAL_COUNT = 50
QUICK_PORTAL_COUNT = 10
ARTICLES_PER_PORTAL = 40
WORKERS = (1, 2, 4)
# The politeness every portal's profile asks for: starts at least HOST_DELAY apart, at most
# HOST_CONCURRENCY requests in flight (held across every worker by the cluster's host limiter).
HOST_DELAY = 0.1
HOST_CONCURRENCY = 2
# The window over which arrivals are counted against the delay, and the lag an arrival may
# have after its granted start (the worker's reactor and the replica's accept queue).
WINDOW = 2.0
JITTER = 0.15
KEY_PREFIX = "many"
REDIS_APPENDFSYNC = "everysec"
# Database connections a site's crawler holds at most (its store's pool): the benchmark's
# PostgreSQL is sized for every site of every worker.
CONNECTIONS_PER_SITE = 4
# The worker's own concurrency: enough for every portal's share at once.
WORKER_CONCURRENCY = 64


def crawl_timeout(portals: int, articles: int) -> float:
    return 300 + portals * articles * 0.2


def portal_names(count: int) -> list[tuple[str, str, int]]:
    """(site name, replica portal, seed) for each of ``count`` portals: the portal kinds in
    turn, each portal its own seed (its own titles, dates and bodies)."""
    kinds = sorted(PORTALS)
    return [(f"agency-{n:02d}", kinds[n % len(kinds)], 3000 + n) for n in range(1, count + 1)]


class Portals:
    """``count`` replica portals served by this process, one port each, every request's arrival
    timed; their profiles written to ``profiles``."""

    def __init__(self, count: int, articles: int, profiles: Path) -> None:
        self.servers: dict[str, ReplicaServer] = {}
        self.truth: dict[str, list[dict[str, Any]]] = {}
        self.politeness: dict[str, tuple[float, int]] = {}
        self._stack = ExitStack()
        self._count = count
        self._articles = articles
        self._profiles = profiles

    def __enter__(self) -> Portals:
        self._profiles.mkdir(parents=True, exist_ok=True)
        try:
            for site, kind, seed in portal_names(self._count):
                config = ReplicaConfig(
                    portal=kind, articles=self._articles, seed=seed, record_timing=True
                )
                server = self._stack.enter_context(ReplicaServer(config))
                portal = make_site(config).truth()
                self.servers[site] = server
                self.truth[site] = portal["articles"]
                self.politeness[site] = (HOST_DELAY, HOST_CONCURRENCY)
                (self._profiles / f"{site}.toml").write_text(
                    f'name = "{site}"\nbase_url = "{server.url}"\n'
                    f'timezone = "{portal["portal"]["timezone"]}"\n'
                    f'default_locale = "{portal["portal"]["default_locale"]}"\n'
                    f"concurrency = {HOST_CONCURRENCY}\ndownload_delay = {HOST_DELAY}\n",
                    encoding="utf-8",
                )
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def reset_logs(self) -> None:
        """Forget what every portal saw so far (before the next crawl)."""
        for server in self.servers.values():
            with server._lock:  # the test server's own lock: a consistent reset
                server.requests.clear()
                server.timings.clear()

    def seen(self) -> dict[str, Any]:
        """What the portals saw of the crawl: requests, distinct URLs, politeness held."""
        per_portal: dict[str, dict[str, Any]] = {}
        for site, server in self.servers.items():
            delay, concurrency = self.politeness[site]
            timings = list(server.timings)
            in_flight = max_in_flight(timings)
            window = max_in_window(timings, WINDOW)
            allowed = allowed_in_window(WINDOW, delay, JITTER)
            per_portal[site] = {
                "requests": len(server.requests),
                "distinct_urls": len({r.path_and_query for r in server.requests}),
                "max_in_flight": in_flight,
                "max_in_window": window,
                "allowed_in_window": allowed,
                "held": in_flight <= concurrency and window <= allowed,
                "first_arrival": min((t.arrived for t in timings), default=None),
                "last_arrival": max((t.arrived for t in timings), default=None),
            }
        return {
            "requests": sum(p["requests"] for p in per_portal.values()),
            "distinct_urls": sum(p["distinct_urls"] for p in per_portal.values()),
            "max_in_flight": max((p["max_in_flight"] for p in per_portal.values()), default=0),
            "max_in_window": max((p["max_in_window"] for p in per_portal.values()), default=0),
            "allowed_in_window": allowed_in_window(WINDOW, HOST_DELAY, JITTER),
            "portals_held": sum(p["held"] for p in per_portal.values()),
            "portals_broken": sorted(s for s, p in per_portal.items() if not p["held"]),
            "most_requests_per_portal": max(
                (p["requests"] for p in per_portal.values()), default=0
            ),
            "first_arrival": min(
                (p["first_arrival"] for p in per_portal.values() if p["first_arrival"]),
                default=None,
            ),
            "spans": [
                (p["first_arrival"], p["last_arrival"], p["requests"])
                for p in per_portal.values()
                if p["first_arrival"] is not None
            ],
        }


def settings_for(
    redis_url: str, database_url: str, profiles: Path, workdir: Path
) -> dict[str, str]:
    """The cluster's settings with each portal's politeness left to its profile (no
    DOWNLOAD_DELAY or per-domain concurrency here: a setting would win over the profile)."""
    return {
        "CLUSTER_REDIS_URL": redis_url,
        "CLUSTER_KEY_PREFIX": KEY_PREFIX,
        "DATABASE_URL": database_url,
        "SITE_PROFILES_DIR": str(profiles),
        "OUTPUT_DIR": str(workdir / "out"),
        "REPORTS_DIR": str(workdir / "reports"),
        "REJECTS_PATH": str(workdir / "rejects.jsonl"),
        "FEEDS": "{}",
        "PROGRESS_INTERVAL": "0",
        "AUTOTHROTTLE_ENABLED": "False",
        "RETRY_BACKOFF_BASE": "0.05",
        "CONCURRENT_REQUESTS": str(WORKER_CONCURRENCY),
    }


def _database_size(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one()
        )


def _readable_url(row: dict[str, Any]) -> dict[str, Any]:
    """The stored URL (the article's page as the portal linked it, an Asset Publisher form on
    these portals) in the canonical form the truth is keyed by."""
    return {**row, "url": canonical_article_url(row["url"])}


def _stored(engine: sa.Engine, portals: Portals) -> dict[str, Any]:
    """Every portal's stored articles scored against its truth; runs and second versions."""
    scores: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for site, server in portals.servers.items():
            rows = conn.execute(
                sa.text("SELECT url, title, published_at, body_text FROM articles WHERE site = :s"),
                {"s": site},
            ).mappings()
            scores[site] = score_records(
                (_readable_url(dict(r)) for r in rows), portals.truth[site], server.url
            )
        twice = int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM (SELECT article_id FROM article_versions "
                    "GROUP BY article_id HAVING count(*) > 1) AS twice"
                )
            ).scalar_one()
        )
        articles = int(conn.execute(sa.text("SELECT count(*) FROM articles")).scalar_one())
        runs = [
            (r[0], r[1]) for r in conn.execute(sa.text("SELECT run_id, outcome FROM crawl_runs"))
        ]
    wrong = sorted(site for site, score in scores.items() if not is_exact(score))
    return {
        "articles": articles,
        "truth_articles": sum(len(t) for t in portals.truth.values()),
        "portals_exact": len(scores) - len(wrong),
        "portals_wrong": wrong[:5],
        "examples": scores[wrong[0]]["examples"][:3] if wrong else [],
        "stored_twice": twice,
        "runs": runs,
    }


def _redis_facts(client: redis.Redis, baseline: int) -> dict[str, Any]:
    memory = client.info("memory")
    return {
        "commands": int(client.info("stats")["total_commands_processed"]),
        "used_memory_bytes": int(memory["used_memory"]) - baseline,
        "used_memory_peak_bytes": int(memory["used_memory_peak"]) - baseline,
        "cpu_s": round(
            float(client.info("cpu")["used_cpu_user"]) + float(client.info("cpu")["used_cpu_sys"]),
            2,
        ),
    }


def where_time_went(
    clock: CrawlClock,
    measured: list[Measured],
    spans: list[tuple[float, float, int]],
    launched: float,
    requests: int,
    run: dict[str, Any],
    cores: int,
) -> dict[str, Any]:
    """A crawl's wall split in its phases (start-up to the first request anywhere, the
    requests, the tail from the last request to the last worker's exit), the workers' CPU and
    run-queue wait in each, the portals in flight, and the rest of the machine's CPU."""
    wall = max(m.wall_s for m in measured)
    if not spans or not requests:
        return {}
    first = min(s[0] for s in spans) - launched
    last = max(s[1] for s in spans) - launched
    traces = list(clock.workers.values())
    total_cpu = sum(m.cpu_s for m in measured)
    startup_cpu = sum(t.cpu_at(first) for t in traces)
    before_last_cpu = sum(t.cpu_at(last) for t in traces)
    wait_total = sum(t.wait_s[-1] for t in traces if t.wait_s)
    startup_wait = sum(t.wait_at(first) for t in traces)
    crawl_wait = sum(t.wait_at(last) for t in traces) - startup_wait
    busy = clock.machine_end[0] - clock.machine_start[0]
    steal = clock.machine_end[1] - clock.machine_start[1]
    own = total_cpu + run["replica_cpu_s"] + run["redis_cpu_s"] + (run["postgres_cpu_s"] or 0.0)
    portal_spans = sorted(end - start for start, end, _ in spans)
    crawl_s = last - first
    return {
        "startup_s": round(first, 2),
        "crawl_s": round(crawl_s, 2),
        "tail_s": round(wall - last, 2),
        "startup_cpu_s": round(startup_cpu, 2),
        "crawl_cpu_s": round(before_last_cpu - startup_cpu, 2),
        "tail_cpu_s": round(total_cpu - before_last_cpu, 2),
        "startup_queued_s": round(startup_wait, 2),
        "crawl_queued_s": round(crawl_wait, 2),
        "tail_queued_s": round(wait_total - startup_wait - crawl_wait, 2),
        "worker_cpu_ms_per_request": round((before_last_cpu - startup_cpu) * 1000 / requests, 2),
        "other_cpu_ms_per_request": round((own - total_cpu) * 1000 / requests, 2),
        "longest_portal_s": round(portal_spans[-1], 2),
        "median_portal_s": round(portal_spans[len(portal_spans) // 2], 2),
        "most_requests_per_portal": max(s[2] for s in spans),
        "portals_in_flight_mean": round(sum(portal_spans) / crawl_s, 1) if crawl_s > 0 else None,
        "machine_busy_s": round(busy, 2),
        "machine_steal_s": round(steal, 2),
        "own_cpu_s": round(own, 2),
        # what the other processes of the machine (other jobs) took of its cores meanwhile
        "background_cpu_s": round(max(busy - own, 0.0) + steal, 2),
        "background_cores": round((max(busy - own, 0.0) + steal) / wall, 2) if wall else None,
        "cores": cores,
    }


def crawl_once(
    portals: Portals,
    workers: int,
    settings: dict[str, str],
    client: redis.Redis,
    engine: sa.Engine,
    workdir: Path,
    *,
    full: bool,
    postgres_data: Path | None = None,
) -> dict[str, Any]:
    """One cluster crawl of every portal by ``workers`` processes, measured (with
    ``postgres_data``, the server's data directory, PostgreSQL's CPU too)."""
    workdir.mkdir(parents=True, exist_ok=True)
    sites = list(portals.servers)
    portals.reset_logs()
    baseline = int(client.info("memory")["used_memory"])
    client.config_resetstat()
    crawl_id = start_crawl(settings, sites, full=full)
    size_before = _database_size(engine)
    commands_before = int(client.info("stats")["total_commands_processed"])
    redis_before = _redis_facts(client, baseline)
    commands, logs = [], []
    for n in range(1, workers + 1):
        own = {**settings, "LOG_FILE": str(workdir / f"worker-{n}.log")}
        commands.append(cluster_command("work", own, "--crawl", crawl_id))
        logs.append(workdir / f"worker-{n}.out")
    replica_cpu = resource.getrusage(resource.RUSAGE_SELF)
    postgres_before = postgres_cpu_s(postgres_data) if postgres_data else None
    launched = time.monotonic()
    clock = CrawlClock(launched)
    clock.start()
    try:
        measured = run_workers(
            commands, logs, crawl_timeout(len(sites), len(next(iter(portals.truth.values()))))
        )
    finally:
        clock.finish()
    replica_cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    postgres_after = postgres_cpu_s(postgres_data) if postgres_data else None
    wall = max(m.wall_s for m in measured)
    seen = portals.seen()
    redis_after = _redis_facts(client, baseline)
    size_after = _database_size(engine)
    stored = _stored(engine, portals)
    distinct = seen["distinct_urls"] or 1
    cpu = sum(m.cpu_s for m in measured)
    first = seen.pop("first_arrival")
    spans = seen.pop("spans")
    result: dict[str, Any] = {
        "workers": workers,
        "full": full,
        "crawl_id": crawl_id,
        "wall_s": wall,
        "startup_s": round(first - launched, 2) if first is not None else None,
        "worker_returncodes": [m.returncode for m in measured],
        "workers_cpu_s": round(cpu, 2),
        "workers_peak_rss_mb": max(m.peak_rss_mb for m in measured),
        # The replica portals run in this process: its CPU over the crawl is theirs.
        "replica_cpu_s": round(
            replica_cpu_after.ru_utime
            + replica_cpu_after.ru_stime
            - replica_cpu.ru_utime
            - replica_cpu.ru_stime,
            2,
        ),
        "redis_cpu_s": round(redis_after["cpu_s"] - redis_before["cpu_s"], 2),
        "postgres_cpu_s": (
            round(postgres_after - postgres_before, 2)
            if postgres_before is not None and postgres_after is not None
            else None
        ),
        "load_after": round(os.getloadavg()[0], 2),
        **seen,
        "redis_commands": redis_after["commands"] - commands_before,
        "redis_commands_per_url": round((redis_after["commands"] - commands_before) / distinct, 1),
        "redis_bytes_per_url_end": round(redis_after["used_memory_bytes"] / distinct),
        "redis_bytes_per_url_peak": round(redis_after["used_memory_peak_bytes"] / distinct),
        "database_bytes": size_after - size_before,
        "correctness": stored,
    }
    result["time"] = where_time_went(
        clock, measured, spans, launched, seen["requests"], result, len(os.sched_getaffinity(0))
    )
    new_articles = stored["articles"]
    result["articles_per_s"] = round(new_articles / wall, 2) if full and wall else None
    result["database_bytes_per_article"] = (
        round((size_after - size_before) / new_articles) if full and new_articles else None
    )
    result["cpu_ms_per_request"] = (
        round(cpu * 1000 / seen["requests"], 2) if seen["requests"] else None
    )
    result["requests_per_article"] = (
        round(seen["requests"] / new_articles, 3) if full and new_articles else None
    )
    result["ok"] = (
        all(code == 0 for code in result["worker_returncodes"])
        and seen["portals_broken"] == []
        and stored["portals_exact"] == len(portals.servers)
        and stored["stored_twice"] == 0
        and (crawl_id, "succeeded") in stored["runs"]
    )
    return result


def bench_workers(
    portals: Portals,
    workers: int,
    postgres: PostgresServer,
    profiles: Path,
    workdir: Path,
    *,
    rerun: bool,
) -> list[dict[str, Any]]:
    """A full crawl by ``workers`` processes on a fresh Redis and database; with ``rerun``, then
    an incremental crawl of the unchanged portals by one worker (a daily run's cost)."""
    database = postgres.create_database()
    redis_server = RedisServer(appendfsync=REDIS_APPENDFSYNC)
    engine = sa.create_engine(postgres.url(database))
    runs = []
    try:
        redis_server.start()
        client = redis.Redis.from_url(redis_server.url)
        settings = settings_for(redis_server.url, postgres.url(database), profiles, workdir)
        runs.append(
            crawl_once(
                portals,
                workers,
                settings,
                client,
                engine,
                workdir / "full",
                full=True,
                postgres_data=postgres.data,
            )
        )
        if rerun:
            runs.append(
                crawl_once(
                    portals,
                    1,
                    settings,
                    client,
                    engine,
                    workdir / "daily",
                    full=False,
                    postgres_data=postgres.data,
                )
            )
        client.close()
    finally:
        engine.dispose()
        redis_server.cleanup()
        postgres.drop_database(database)
    return runs


def run_many_portals_benchmark(
    out: Path,
    *,
    portals: int = PORTAL_COUNT,
    articles: int = ARTICLES_PER_PORTAL,
    workers_list: tuple[int, ...] | list[int] = WORKERS,
) -> dict[str, Any]:
    """Every worker count in turn on the same portals; the one-worker crawl first, followed by
    the daily run."""
    workdir = out / "work" / "many-portals"
    shutil.rmtree(workdir, ignore_errors=True)
    results: dict[str, Any] = {
        "portals": portals,
        "articles_per_portal": articles,
        "host_delay_s": HOST_DELAY,
        "host_concurrency": HOST_CONCURRENCY,
        "window_s": WINDOW,
        "jitter_s": JITTER,
        "worker_concurrency": WORKER_CONCURRENCY,
        "nproc": len(os.sched_getaffinity(0)),
        "runs": [],
    }
    # Each site's crawler in each worker holds its own database connections (its store, the
    # writer's thread): PostgreSQL's default 100 is too few for 4 workers of 50 sites (the
    # run fails closed: "too many clients").
    postgres = PostgresServer(
        max_connections=100 + CONNECTIONS_PER_SITE * portals * max(workers_list, default=1)
    )
    postgres.start()
    try:
        with Portals(portals, articles, workdir / "profiles") as served:
            results["truth_articles"] = sum(len(t) for t in served.truth.values())
            for workers in sorted(workers_list):
                print(f"  [many portals] {portals} portals, {workers} worker(s)...", flush=True)
                try:
                    runs = bench_workers(
                        served,
                        workers,
                        postgres,
                        workdir / "profiles",
                        workdir / f"w{workers}",
                        rerun=workers == 1,
                    )
                except Exception as exc:
                    runs = [
                        {
                            "workers": workers,
                            "full": True,
                            "error": f"{type(exc).__name__}: {exc}",
                            "ok": False,
                        }
                    ]
                for run in runs:
                    verdict = (
                        "correct" if run["ok"] else f"WRONG: {run.get('error', 'see results')}"
                    )
                    print(
                        f"  [many portals] {run['workers']} worker(s), "
                        f"{'full' if run['full'] else 'daily'}: {run.get('wall_s')} s, "
                        f"{run.get('requests')} requests, {verdict}",
                        flush=True,
                    )
                results["runs"] += runs
    finally:
        postgres.stop()
    return results


def many_portals_ok(results: dict[str, Any]) -> bool:
    return bool(results.get("runs")) and all(run.get("ok") for run in results["runs"])


def _cell(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def render_many_portals_markdown(results: dict[str, Any]) -> str:
    lines = [
        "## Many portals at once (issue 24)",
        "",
        f"{results['portals']} replica portals of {results['articles_per_portal']} articles "
        f"({results.get('truth_articles', '-')} in all), each on its own port of one replica "
        f"process, each profile asking for {results['host_delay_s']:g} s between requests and "
        f"at most {results['host_concurrency']} in flight; one cluster crawl of them all per "
        f"worker count (fresh Redis and PostgreSQL database each), then a daily (incremental) "
        f"run of the unchanged portals by one worker. **This machine has {results['nproc']} "
        "CPU cores**, shared by the workers, the portals, Redis and PostgreSQL.",
        "",
        "| Workers | Crawl | Wall s | Articles/s | Requests (distinct) | Requests / article "
        "| Workers CPU s | CPU ms / request | Redis commands / URL | Redis bytes / URL end (peak) "
        "| PostgreSQL bytes / article | Politeness held (max in flight, max in "
        f"{results['window_s']:g} s / allowed) | Crawl |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for run in results.get("runs", []):
        crawl = "full" if run.get("full") else "daily"
        if "error" in run:
            lines.append(f"| {run['workers']} | {crawl} | error: {run['error']} |" + " |" * 10)
            continue
        score = run["correctness"]
        verdict = (
            "correct"
            if run["ok"]
            else f"**WRONG** (exact portals {score['portals_exact']}, stored twice "
            f"{score['stored_twice']}, politeness broken at {run['portals_broken'][:3]}, exit "
            f"codes {run['worker_returncodes']})"
        )
        held = f"{run['portals_held']} of {results['portals']}"
        lines.append(
            "| "
            + " | ".join(
                [
                    str(run["workers"]),
                    crawl,
                    _cell(run["wall_s"]),
                    _cell(run["articles_per_s"]),
                    f"{run['requests']:,} ({run['distinct_urls']:,})",
                    _cell(run["requests_per_article"], 2),
                    _cell(run["workers_cpu_s"]),
                    _cell(run["cpu_ms_per_request"], 2),
                    _cell(run["redis_commands_per_url"]),
                    f"{run['redis_bytes_per_url_end']:,} ({run['redis_bytes_per_url_peak']:,})",
                    _cell(run["database_bytes_per_article"]),
                    f"{held} ({run['max_in_flight']}, {run['max_in_window']} / "
                    f"{run['allowed_in_window']})",
                    verdict,
                ]
            )
            + " |"
        )
    lines += [
        "",
        "- Politeness: at each portal, the most requests in flight at once (allowed: the "
        "profile's concurrency) and the most arrivals within any window (allowed: what starts "
        f"{results['host_delay_s']:g} s apart can put there, with {results['jitter_s']:g} s of "
        "arrival lag), from the replica's own timings.",
        "- Redis per URL: over the empty server, per distinct URL the portals saw requested; "
        "commands: `total_commands_processed` over the crawl. PostgreSQL: `pg_database_size` "
        "growth over the crawl per stored article.",
        "- Correct: every article of every portal stored once and exact, the run succeeded, "
        "politeness held at every portal, every worker exit 0.",
    ]
    return "\n".join(lines)
