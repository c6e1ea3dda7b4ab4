"""``make cluster-demo``: a cluster crawl on this machine. Debian's ``redis-server`` and
PostgreSQL started in temporary directories, three replica portals, ``scrapy cluster start``,
three ``scrapy cluster work`` processes, ``scrapy cluster status`` every few seconds, then the
summary (per site: articles stored; the run's outcome; Redis memory) and everything stopped."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import redis

from tests.crawl_runner import PROJECT_ROOT, cluster_command, cluster_settings, database_rows
from tests.postgres import PostgresServer, PostgresUnavailable
from tests.redis_server import RedisServer, RedisUnavailable
from tests.replica.portal import make_site
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig

# site profile -> replica portal
SITES = {"demo-en": "classic-en", "demo-vi": "classic-vi", "demo-en-2": "classic-en"}
ARTICLES = 40
WORKERS = 3
STATUS_EVERY = 3.0
WORKER_TIMEOUT = 600.0


def write_profiles(stack: ExitStack, profiles: Path) -> dict[str, int]:
    """Serves a replica portal per site and writes its profile; the number of articles of each."""
    profiles.mkdir(parents=True)
    articles: dict[str, int] = {}
    for site, portal_name in SITES.items():
        server = stack.enter_context(
            ReplicaServer(ReplicaConfig(portal=portal_name, articles=ARTICLES))
        )
        portal = make_site(server.config).truth()
        articles[site] = len(portal["articles"])
        (profiles / f"{site}.toml").write_text(
            f'name = "{site}"\nbase_url = "{server.url}"\n'
            f'timezone = "{portal["portal"]["timezone"]}"\n'
            f'default_locale = "{portal["portal"]["default_locale"]}"\n',
            encoding="utf-8",
        )
        print(f"replica portal {portal_name} for site {site} at {server.url}")
    return articles


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=PROJECT_ROOT, env=dict(os.environ), capture_output=True, text=True, check=False
    )


def stored_per_site(database_url: str) -> dict[str, int]:
    rows = database_rows(database_url, "SELECT site, count(*) FROM articles GROUP BY site")
    return {str(site): int(count) for site, count in rows}


def run_outcome(database_url: str, crawl_id: str) -> str:
    rows = database_rows(
        database_url, "SELECT outcome FROM crawl_runs WHERE run_id = :id", {"id": crawl_id}
    )
    return str(rows[0][0]) if rows else "no crawl_runs row"


def main() -> int:
    workdir = PROJECT_ROOT / "output" / "cluster-demo"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    with ExitStack() as stack:
        try:
            redis_server = RedisServer()
            stack.callback(redis_server.cleanup)
            redis_server.start()
            postgres = PostgresServer()
            stack.callback(postgres.stop)
            postgres.start()
        except (RedisUnavailable, PostgresUnavailable) as exc:
            print(f"cluster-demo: {exc}", file=sys.stderr)
            return 2
        database_url = postgres.url(postgres.create_database())
        print(
            f"redis-server at {redis_server.url} (appendonly), PostgreSQL on port {postgres.port}"
        )
        articles = write_profiles(stack, workdir / "profiles")
        settings = cluster_settings(
            redis_server.url, database_url, workdir / "profiles", workdir, prefix="hepza"
        )
        settings |= {"CLUSTER_LEASE_SECONDS": "20", "OUTPUT_DIR": str(workdir)}
        started = run(
            cluster_command("start", settings, *(f"--site={site}" for site in SITES), "--full")
        )
        if started.returncode != 0:
            print(started.stderr, file=sys.stderr)
            return started.returncode
        crawl_id = started.stdout.strip()
        print(f"cluster crawl {crawl_id} started: {', '.join(SITES)}; {WORKERS} workers")
        workers = []
        for n in range(1, WORKERS + 1):
            worker = subprocess.Popen(
                cluster_command("work", settings, log=workdir / f"worker-{n}.log"),
                cwd=PROJECT_ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            stack.callback(lambda w=worker: w.poll() is None and w.kill())
            workers.append(worker)
        deadline = time.monotonic() + WORKER_TIMEOUT
        while any(w.poll() is None for w in workers) and time.monotonic() < deadline:
            time.sleep(STATUS_EVERY)
            status = run(cluster_command("status", settings))
            print(status.stdout.rstrip() or status.stderr.rstrip())
        codes = []
        for n, worker in enumerate(workers, start=1):
            try:
                _, err = worker.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.kill()
                _, err = worker.communicate()
            codes.append(worker.returncode)
            for line in err.splitlines():
                print(f"worker {n}: {line}")
        memory = redis.Redis.from_url(redis_server.url).info("memory")
        stored = stored_per_site(database_url)
        outcome = run_outcome(database_url, crawl_id)
        print()
        for site in SITES:
            print(f"{site + ':':<18}{stored.get(site, 0)} of {articles[site]} articles stored")
        print(f"{'run outcome:':<18}{outcome} (crawl_runs {crawl_id})")
        print(f"{'workers exit:':<18}{', '.join(map(str, codes))}")
        used, peak = memory["used_memory_human"], memory["used_memory_peak_human"]
        print(f"{'Redis memory:':<18}{used} (peak {peak})")
        print(f"{'run report:':<18}{workdir / 'reports'}")
        print(f"{'worker logs:':<18}{workdir}/worker-*.log")
        complete = all(stored.get(site, 0) == articles[site] for site in SITES)
        return 0 if outcome == "succeeded" and complete and not any(codes) else 1


if __name__ == "__main__":
    sys.exit(main())
