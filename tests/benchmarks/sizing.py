"""The cluster's sizing model (issue 24): from the per-URL costs the many-portals benchmark
measured (:mod:`tests.benchmarks.many_portals`) and each portal's politeness, how many workers,
how much Redis memory and how much PostgreSQL disk a daily run and a full backfill of N portals
of M articles need.

    python -m tests.benchmarks.sizing --portals 50 --articles 20000 [--new-per-day 20]
        [--delay 1.0] [--concurrency 2] [--window-hours 8] [--costs output/bench/results.json]

The model, per crawl (every portal crawled at once, as ``scrapy cluster`` does):

- requests per portal: a backfill makes ``articles x requests_per_article``; a daily run makes
  what an incremental run of an unchanged portal made (its sitemaps and listings' first pages)
  plus ``new_per_day x requests_per_article``;
- the politeness floor: a portal's requests start at least ``delay`` apart (the cluster's host
  limiter holds it across every worker), and at most ``concurrency`` are in flight, so the
  largest portal needs ``max((requests - 1) x delay, requests x latency / concurrency)``
  whatever the number of workers;
- the CPU floor: every request costs a worker ``cpu_ms_per_request`` (measured with one worker,
  its start-up included), so W workers on W cores need ``requests x cpu / W``;
- wall = the workers' start-up + the larger floor. The workers a window needs: the fewest whose
  CPU floor fits in it, and none helps when the politeness floor alone does not fit;
- Redis: ``redis_bytes_per_url_peak`` (end) per URL of every portal at once, over the empty
  server; PostgreSQL: ``database_bytes_per_article`` per stored article.

The check (:func:`check_model`) predicts each measured crawl of the benchmark from the
one-worker crawl's costs, on the benchmark machine's cores, where the replica portals, Redis and
PostgreSQL share the CPU with the workers (their CPU per request is part of that prediction).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DEFAULT_RESULTS = Path(__file__).resolve().parents[2] / "output" / "bench" / "results.json"
# The project's default politeness (crawler/settings.py: DOWNLOAD_DELAY, CONCURRENT_REQUESTS_PER_
# DOMAIN), what an agency portal without its own profile values gets.
DEFAULT_DELAY = 1.0
DEFAULT_CONCURRENCY = 2
# A portal's answer time, for the concurrency bound; the delay dominates at the defaults.
DEFAULT_LATENCY = 0.3


@dataclass(frozen=True)
class Costs:
    """What one URL, one article and one worker cost, as the benchmark measured them."""

    cpu_ms_per_request: float
    other_cpu_ms_per_request: float
    requests_per_article: float
    daily_requests_per_portal: float
    redis_bytes_per_url_end: float
    redis_bytes_per_url_peak: float
    database_bytes_per_article: float
    startup_s: float

    @classmethod
    def from_many_portals(cls, results: dict[str, Any]) -> Costs:
        """The costs of the benchmark's one-worker full crawl and its daily run."""
        runs = results.get("runs", [])
        full = next(
            (r for r in runs if r.get("full") and r.get("workers") == 1 and r.get("ok")), None
        )
        daily = next((r for r in runs if not r.get("full") and r.get("ok")), None)
        if full is None or daily is None:
            raise ValueError(
                "the many-portals results hold no correct one-worker full crawl and daily run"
            )
        portals = results["portals"]
        return cls(
            cpu_ms_per_request=full["cpu_ms_per_request"],
            other_cpu_ms_per_request=round(
                (full["replica_cpu_s"] + full["redis_cpu_s"]) * 1000 / full["requests"], 3
            ),
            requests_per_article=full["requests_per_article"],
            daily_requests_per_portal=round(daily["requests"] / portals, 1),
            redis_bytes_per_url_end=full["redis_bytes_per_url_end"],
            redis_bytes_per_url_peak=full["redis_bytes_per_url_peak"],
            database_bytes_per_article=full["database_bytes_per_article"],
            startup_s=full["startup_s"] or 0.0,
        )


@dataclass(frozen=True)
class Workload:
    portals: int
    articles: int  # per portal
    new_per_day: int = 20  # per portal
    delay: float = DEFAULT_DELAY
    concurrency: int = DEFAULT_CONCURRENCY
    latency: float = DEFAULT_LATENCY


def requests_per_portal(costs: Costs, load: Workload, *, backfill: bool) -> float:
    if backfill:
        return load.articles * costs.requests_per_article
    return costs.daily_requests_per_portal + load.new_per_day * costs.requests_per_article


def politeness_floor_s(requests: float, load: Workload) -> float:
    """The least time one portal's requests take under its politeness, whatever the workers."""
    return max((requests - 1) * load.delay, requests * load.latency / load.concurrency, 0.0)


def predict(
    costs: Costs, load: Workload, workers: int, *, backfill: bool, cores: int | None = None
) -> dict[str, Any]:
    """The wall time of one crawl by ``workers`` workers, and what bounds it. With ``cores``
    (a machine shared by the workers, the portals, Redis and PostgreSQL, as the benchmark's),
    the workers share those cores with the other processes' CPU."""
    per_portal = requests_per_portal(costs, load, backfill=backfill)
    total = per_portal * load.portals
    worker_cpu_s = total * costs.cpu_ms_per_request / 1000
    cpu_floor = worker_cpu_s / workers
    if cores is not None:
        shared_cpu_s = total * (costs.cpu_ms_per_request + costs.other_cpu_ms_per_request) / 1000
        cpu_floor = max(worker_cpu_s / min(workers, cores), shared_cpu_s / cores)
    polite = politeness_floor_s(per_portal, load)
    return {
        "requests": round(total),
        "wall_s": round(costs.startup_s + max(cpu_floor, polite), 1),
        "bound": "politeness" if polite >= cpu_floor else "cpu",
        "politeness_floor_s": round(polite, 1),
        "cpu_floor_s": round(cpu_floor, 1),
    }


def workers_needed(costs: Costs, load: Workload, window_s: float, *, backfill: bool) -> int | None:
    """The fewest workers (one core each) that finish within ``window_s``; None when the
    politeness floor alone does not fit (more workers cannot help: ask the portal for a
    shorter delay or more concurrency, or give the crawl a longer window)."""
    per_portal = requests_per_portal(costs, load, backfill=backfill)
    budget = window_s - costs.startup_s
    if politeness_floor_s(per_portal, load) > budget or budget <= 0:
        return None
    worker_cpu_s = per_portal * load.portals * costs.cpu_ms_per_request / 1000
    return max(1, math.ceil(worker_cpu_s / budget))


def resources(costs: Costs, load: Workload, *, backfill: bool) -> dict[str, float]:
    """Redis memory at the peak and at the end of one crawl, and the PostgreSQL disk the
    articles it stores take (a backfill: every article; a daily run: the new ones)."""
    urls = requests_per_portal(costs, load, backfill=backfill) * load.portals
    stored = load.portals * (load.articles if backfill else load.new_per_day)
    return {
        "redis_peak_mb": round(urls * costs.redis_bytes_per_url_peak / 1e6, 1),
        "redis_end_mb": round(urls * costs.redis_bytes_per_url_end / 1e6, 1),
        "postgres_mb": round(stored * costs.database_bytes_per_article / 1e6, 1),
    }


def plan(costs: Costs, load: Workload, window_s: float, *, backfill: bool) -> dict[str, Any]:
    """Workers, wall, Redis and PostgreSQL for one crawl of ``load`` within ``window_s``."""
    workers = workers_needed(costs, load, window_s, backfill=backfill)
    shown = workers or 1
    return {
        "workload": asdict(load),
        "backfill": backfill,
        "window_s": window_s,
        "workers": workers,
        **predict(costs, load, shown, backfill=backfill),
        **resources(costs, load, backfill=backfill),
    }


def check_model(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each measured full crawl of the benchmark next to the model's prediction from the
    one-worker crawl's costs on the benchmark machine's cores."""
    costs = Costs.from_many_portals(results)
    load = Workload(
        portals=results["portals"],
        articles=round(results["truth_articles"] / results["portals"]),
        delay=results["host_delay_s"],
        concurrency=results["host_concurrency"],
        latency=0.0,
    )
    rows = []
    for run in results["runs"]:
        if not run.get("full") or "wall_s" not in run:
            continue
        predicted = predict(costs, load, run["workers"], backfill=True, cores=results["nproc"])
        rows.append(
            {
                "workers": run["workers"],
                "measured_wall_s": run["wall_s"],
                "predicted_wall_s": predicted["wall_s"],
                "bound": predicted["bound"],
                "error": round(predicted["wall_s"] / run["wall_s"] - 1, 3),
            }
        )
    return rows


# The scenarios the docs' sizing table shows: (portals, articles per portal, new per day).
SCENARIOS = ((50, 2_000, 10), (50, 20_000, 20), (200, 20_000, 20))
DAILY_WINDOW_S = 2 * 3600.0
BACKFILL_WINDOW_S = 7 * 24 * 3600.0


def scenario_plans(costs: Costs) -> list[dict[str, Any]]:
    plans = []
    for portals, articles, new in SCENARIOS:
        load = Workload(portals=portals, articles=articles, new_per_day=new)
        plans.append(plan(costs, load, DAILY_WINDOW_S, backfill=False))
        plans.append(plan(costs, load, BACKFILL_WINDOW_S, backfill=True))
    return plans


def _duration(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:,.1f} d"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:,.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:,.0f} min"
    return f"{seconds:,.0f} s"


def render_plans(plans: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| Portals x articles | Crawl | Window | Requests | Workers needed | Wall (bound) "
        "| Redis peak / end MB | PostgreSQL MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for p in plans:
        load = p["workload"]
        crawl = "backfill" if p["backfill"] else f"daily (+{load['new_per_day']}/portal)"
        workers = str(p["workers"]) if p["workers"] is not None else "none fits (politeness)"
        lines.append(
            f"| {load['portals']:,} x {load['articles']:,} | {crawl} | {_duration(p['window_s'])} "
            f"| {p['requests']:,} | {workers} | {_duration(p['wall_s'])} ({p['bound']}) "
            f"| {p['redis_peak_mb']:,.1f} / {p['redis_end_mb']:,.1f} | {p['postgres_mb']:,.1f} |"
        )
    return lines


def render_sizing_markdown(results: dict[str, Any]) -> str:
    """The model's costs, its check against the measured crawls and the docs' scenarios."""
    try:
        costs = Costs.from_many_portals(results)
    except (ValueError, KeyError, TypeError) as exc:
        return f"## Sizing model\n\nNo model: {exc}.\n"
    lines = [
        "## Sizing model (tests/benchmarks/sizing.py)",
        "",
        "Costs measured by the one-worker crawl above and its daily run: "
        f"{costs.cpu_ms_per_request:,.2f} ms of worker CPU per request "
        f"(+ {costs.other_cpu_ms_per_request:,.2f} ms of the replica's and Redis's here), "
        f"{costs.requests_per_article:,.2f} requests per article, "
        f"{costs.daily_requests_per_portal:,.1f} requests per portal for a daily run of an "
        f"unchanged portal, Redis {costs.redis_bytes_per_url_peak:,.0f} bytes per URL at the peak "
        f"and {costs.redis_bytes_per_url_end:,.0f} at the end, PostgreSQL "
        f"{costs.database_bytes_per_article:,.0f} bytes per article, "
        f"{costs.startup_s:,.1f} s from a worker's launch to its first request.",
        "",
        "Checked against the measured crawls (same machine, its cores shared with the portals, "
        "Redis and PostgreSQL):",
        "",
        "| Workers | Measured wall s | Predicted wall s | Bound | Error |",
        "|---:|---:|---:|---|---:|",
    ]
    for row in check_model(results):
        lines.append(
            f"| {row['workers']} | {row['measured_wall_s']:,.1f} | {row['predicted_wall_s']:,.1f} "
            f"| {row['bound']} | {row['error']:+.0%} |"
        )
    lines += [
        "",
        f"What the model says for larger deployments (one core per worker, each portal at the "
        f"default politeness: {DEFAULT_DELAY:g} s between requests, {DEFAULT_CONCURRENCY} in "
        f"flight, {DEFAULT_LATENCY:g} s answers; daily run in a {_duration(DAILY_WINDOW_S)} "
        f"window, backfill in {_duration(BACKFILL_WINDOW_S)}):",
        "",
        *render_plans(scenario_plans(costs)),
        "",
        "A portal's politeness bounds its crawl whatever the workers: at 1 s between requests a "
        "20,000-article portal's backfill takes its requests x 1 s. `python -m "
        "tests.benchmarks.sizing --portals N --articles M` prints the plan for a deployment.",
    ]
    return "\n".join(lines)


def load_many_portals(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    many = data.get("many_portals", data)
    if "runs" not in many:
        raise ValueError(f"{path} holds no many-portals results (run make bench first)")
    return many


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.sizing", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--portals", type=int, required=True)
    parser.add_argument("--articles", type=int, required=True, help="articles per portal")
    parser.add_argument("--new-per-day", type=int, default=20, help="new articles per portal a day")
    parser.add_argument(
        "--delay", type=float, default=DEFAULT_DELAY, help="seconds between requests to a portal"
    )
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument(
        "--latency", type=float, default=DEFAULT_LATENCY, help="a portal's answer time, s"
    )
    parser.add_argument("--daily-window-hours", type=float, default=DAILY_WINDOW_S / 3600)
    parser.add_argument("--backfill-window-hours", type=float, default=BACKFILL_WINDOW_S / 3600)
    parser.add_argument(
        "--costs", type=Path, default=DEFAULT_RESULTS, help="make bench's results.json"
    )
    args = parser.parse_args(argv)
    for name in ("portals", "articles", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.delay < 0 or args.latency < 0 or args.new_per_day < 0:
        parser.error("--delay, --latency and --new-per-day must not be negative")
    try:
        costs = Costs.from_many_portals(load_many_portals(args.costs))
    except (OSError, ValueError, KeyError) as exc:
        parser.error(f"no measured costs: {exc}")
    load = Workload(
        args.portals, args.articles, args.new_per_day, args.delay, args.concurrency, args.latency
    )
    plans = [
        plan(costs, load, args.daily_window_hours * 3600, backfill=False),
        plan(costs, load, args.backfill_window_hours * 3600, backfill=True),
    ]
    print("\n".join(render_plans(plans)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
