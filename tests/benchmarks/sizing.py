"""The cluster's sizing model (issue 24): from the per-URL costs the many-portals benchmark
measured (:mod:`tests.benchmarks.many_portals`) and each portal's politeness, how long a crawl
takes, where its time goes, and how many workers, how much Redis memory and how much
PostgreSQL disk a daily run and a full backfill of N portals of M articles need.

    python -m tests.benchmarks.sizing --portals 50 --articles 20000 [--new-per-day 20]
        [--delay 1.0] [--concurrency 2] [--window-hours 8] [--costs output/bench/results.json]

Every input is a cost the one-worker crawl measured (``/proc`` and the replica's own request
log, :mod:`tests.benchmarks.proc_clock`): a worker's CPU from its launch to the first request
and from the last request to its exit (start-up and tail, per worker), what of the start-up and
tail is neither CPU nor a wait for a core (connecting, the last commits: waits), the worker CPU
per request in between, and the CPU the portals, Redis and PostgreSQL spent per request. Per
crawl (every portal crawled at once, as ``scrapy cluster`` does):

- requests per portal: a backfill makes ``articles x requests_per_article``; a daily run makes
  what an incremental run of an unchanged portal made plus ``new_per_day x
  requests_per_article``;
- CPU: every worker pays its start-up and tail CPU, and the requests' CPU is shared between the
  workers; a worker is one reactor thread, so it runs on at most one core. On a machine of its
  own per worker, a worker needs ``start-up + tail + requests x cpu / W``; on a shared machine
  (the benchmark's: ``cores`` shared by the workers, the portals, Redis, PostgreSQL and what
  else runs there, ``background_cores`` of them busy with the rest) the crawl also cannot go
  faster than all its processes' CPU over the cores left to it;
- politeness: a portal's requests start at least ``delay`` apart across every worker (the
  cluster's host limiter), at most ``concurrency`` in flight, so the largest portal needs
  ``max((requests - 1) x delay, requests x latency / concurrency)`` between the first request
  and the last, whatever the workers;
- wall = the start-up's and tail's waits (what is neither CPU nor a wait for a core) + the
  larger of the CPU bound and the politeness bound (after a worker's start-up CPU, before its
  tail's).

The check (:func:`check_model`) predicts each measured full crawl from the one-worker crawl's
costs; the one input it takes from each run is the machine it ran on: the cores the rest of the
machine (other jobs) took meanwhile, measured from ``/proc/stat``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

DEFAULT_RESULTS = Path(__file__).resolve().parents[2] / "output" / "bench" / "results.json"
# The project's default politeness (crawler/settings.py: DOWNLOAD_DELAY, CONCURRENT_REQUESTS_PER_
# DOMAIN), what an agency portal without its own profile values gets.
DEFAULT_DELAY = 1.0
DEFAULT_CONCURRENCY = 2
# A portal's answer time, for the concurrency bound; the delay dominates at the defaults.
DEFAULT_LATENCY = 0.3
# The least share of the cores a crawl is given on a shared machine: a run measured as having
# none left (the rest of the machine busier than its cores) still ran.
MIN_FREE_CORES = 0.1


@dataclass(frozen=True)
class Costs:
    """What one URL, one article and one worker cost, as the one-worker crawl measured them."""

    cpu_ms_per_request: float  # a worker's CPU per request, between its start-up and its tail
    other_cpu_ms_per_request: float  # the portals', Redis's and PostgreSQL's, per request
    requests_per_article: float
    daily_requests_per_portal: float
    redis_bytes_per_url_end: float
    redis_bytes_per_url_peak: float
    database_bytes_per_article: float
    startup_s: float  # a worker's launch to its first request
    startup_cpu_s: float  # a worker's CPU in it
    tail_s: float  # the last request to the worker's exit
    tail_cpu_s: float  # a worker's CPU in it
    # how long its reactor thread waited for a core in them, ready to run (a busy machine)
    startup_queued_s: float = 0.0
    tail_queued_s: float = 0.0
    background_cores: float = 0.0  # the cores the rest of the machine took during that crawl

    @property
    def waits_s(self) -> float:
        """What of a worker's start-up and tail is neither its CPU nor a wait for a core
        (connecting, the last commits): the time no core could shorten."""
        return max(self.startup_s - self.startup_cpu_s - self.startup_queued_s, 0.0) + max(
            self.tail_s - self.tail_cpu_s - self.tail_queued_s, 0.0
        )

    @property
    def worker_fixed_cpu_s(self) -> float:
        return self.startup_cpu_s + self.tail_cpu_s

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
        time = full.get("time")
        if not time:
            raise ValueError(
                "the one-worker crawl was measured without its start-up, tail and CPU split "
                "(measure the many-portals stage again)"
            )
        portals = results["portals"]
        return cls(
            cpu_ms_per_request=time["worker_cpu_ms_per_request"],
            other_cpu_ms_per_request=time["other_cpu_ms_per_request"],
            requests_per_article=full["requests_per_article"],
            daily_requests_per_portal=round(daily["requests"] / portals, 1),
            redis_bytes_per_url_end=full["redis_bytes_per_url_end"],
            redis_bytes_per_url_peak=full["redis_bytes_per_url_peak"],
            database_bytes_per_article=full["database_bytes_per_article"],
            startup_s=time["startup_s"],
            startup_cpu_s=time["startup_cpu_s"],
            tail_s=time["tail_s"],
            tail_cpu_s=time["tail_cpu_s"],
            startup_queued_s=time["startup_queued_s"],
            tail_queued_s=time["tail_queued_s"],
            background_cores=time["background_cores"] or 0.0,
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
    costs: Costs,
    load: Workload,
    workers: int,
    *,
    backfill: bool,
    cores: int | None = None,
    background_cores: float = 0.0,
) -> dict[str, Any]:
    """The wall time of one crawl by ``workers`` workers, what bounds it and where its time
    goes. Without ``cores`` every worker has a core of its own (and the portals, Redis and
    PostgreSQL theirs); with ``cores``, one machine of that many cores, ``background_cores``
    of them busy with other jobs, runs the workers, the portals, Redis and PostgreSQL."""
    per_portal = requests_per_portal(costs, load, backfill=backfill)
    total = per_portal * load.portals
    requests_cpu_s = total * costs.cpu_ms_per_request / 1000
    per_worker_cpu_s = costs.worker_fixed_cpu_s + requests_cpu_s / workers
    workers_cpu_s = workers * costs.worker_fixed_cpu_s + requests_cpu_s
    cpu_bound = per_worker_cpu_s
    own_cpu_s = workers_cpu_s
    if cores is not None:
        free = max(cores - background_cores, MIN_FREE_CORES)
        own_cpu_s = workers_cpu_s + total * costs.other_cpu_ms_per_request / 1000
        # each worker at most one core, and at most its share of the free ones
        cpu_bound = max(per_worker_cpu_s / min(1.0, free / workers), own_cpu_s / free)
    polite = politeness_floor_s(per_portal, load)
    cpu_wall = costs.waits_s + cpu_bound
    # a portal's requests lie between a worker's start-up and its tail
    polite_wall = costs.waits_s + costs.worker_fixed_cpu_s + polite
    return {
        "requests": round(total),
        "wall_s": round(max(cpu_wall, polite_wall), 1),
        "bound": "politeness" if polite_wall >= cpu_wall else "cpu",
        "politeness_floor_s": round(polite, 1),
        "cpu_floor_s": round(cpu_bound, 1),
        "waits_s": round(costs.waits_s, 1),
        "workers_cpu_s": round(workers_cpu_s, 1),
        "own_cpu_s": round(own_cpu_s, 1),
    }


def workers_needed(costs: Costs, load: Workload, window_s: float, *, backfill: bool) -> int | None:
    """The fewest workers (one core each) that finish within ``window_s``; None when the
    politeness floor alone does not fit (more workers cannot help: ask the portal for a
    shorter delay or more concurrency, or give the crawl a longer window)."""
    per_portal = requests_per_portal(costs, load, backfill=backfill)
    budget = window_s - costs.waits_s - costs.worker_fixed_cpu_s
    polite_wall = costs.waits_s + costs.worker_fixed_cpu_s + politeness_floor_s(per_portal, load)
    if polite_wall > window_s or budget <= 0:
        return None
    requests_cpu_s = per_portal * load.portals * costs.cpu_ms_per_request / 1000
    return max(1, math.ceil(requests_cpu_s / budget))


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
    one-worker crawl's costs, on the benchmark machine's cores with the rest of the machine as
    busy as that run measured it."""
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
        time = run.get("time") or {}
        background = time.get("background_cores") or 0.0
        # this crawl's prediction, with the cores the other jobs took left open
        at = partial(predict, costs, load, run["workers"], backfill=True, cores=results["nproc"])
        predicted = at(background_cores=background)
        # the same crawl had the other jobs been as busy as during the one-worker crawl
        as_calibrated = at(background_cores=costs.background_cores)
        rows.append(
            {
                "workers": run["workers"],
                "measured_wall_s": run["wall_s"],
                "predicted_at_one_worker_load_s": as_calibrated["wall_s"],
                "predicted_wall_s": predicted["wall_s"],
                "bound": predicted["bound"],
                "error": round(predicted["wall_s"] / run["wall_s"] - 1, 3),
                "background_cores": background,
                "measured_own_cpu_s": time.get("own_cpu_s"),
                "predicted_own_cpu_s": predicted["own_cpu_s"],
                "measured_phases_s": (
                    time.get("startup_s"),
                    time.get("crawl_s"),
                    time.get("tail_s"),
                ),
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


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _where_time_went(results: dict[str, Any]) -> list[str]:
    """The one-worker crawl's wall, phase by phase, and what its worker waited for."""
    full = next(
        (r for r in results["runs"] if r.get("full") and r.get("workers") == 1 and r.get("time")),
        None,
    )
    if full is None:
        return []
    t = full["time"]
    most = t["most_requests_per_portal"]
    per_request = t["longest_portal_s"] / most if most else 0.0
    # the process's CPU (every thread) against its reactor thread's wait: about, not exactly
    idle = max(t["crawl_s"] - t["crawl_cpu_s"] - t["crawl_queued_s"], 0.0)
    held_by = (
        "the portals waited for the worker, not for their politeness"
        if per_request > 2 * results["host_delay_s"]
        else "their politeness held the portals back"
    )
    return [
        f"Where the one-worker crawl's {full['wall_s']:,.1f} s went: {t['startup_s']:,.1f} s "
        f"of start-up, {t['crawl_s']:,.1f} s of requests (the worker's CPU "
        f"{t['crawl_cpu_s']:,.1f} s; its reactor thread waited {t['crawl_queued_s']:,.1f} s "
        f"for a core while ready to run, and was idle about {idle:,.1f} s: nothing to run while "
        "it waited for answers, host slots, Redis or PostgreSQL), "
        f"{t['tail_s']:,.1f} s of tail (CPU {t['tail_cpu_s']:,.1f} s). "
        f"{t['portals_in_flight_mean']:,.1f} of {results['portals']} portals were in flight on "
        f"average; the longest portal took {t['longest_portal_s']:,.1f} s (the median "
        f"{t['median_portal_s']:,.1f} s), {per_request:,.2f} s per request of its {most} "
        f"where its politeness asks for {results['host_delay_s']:g} s: {held_by}. "
        "The rest of the machine took "
        f"{t['background_cores']:,.2f} of its {t['cores']} cores meanwhile.",
        "",
    ]


def render_sizing_markdown(results: dict[str, Any]) -> str:
    """The model's costs, its check against the measured crawls and the docs' scenarios."""
    try:
        costs = Costs.from_many_portals(results)
    except (ValueError, KeyError, TypeError) as exc:
        return f"## Sizing model\n\nNo model: {exc}.\n"
    lines = [
        "## Sizing model (tests/benchmarks/sizing.py)",
        "",
        "Costs measured by the one-worker crawl above and its daily run: a worker spends "
        f"{costs.startup_cpu_s:,.2f} s of CPU from its launch to the first request (of "
        f"{costs.startup_s:,.2f} s) and {costs.tail_cpu_s:,.2f} s from the last request to its "
        f"exit (of {costs.tail_s:,.2f} s; of both, {costs.waits_s:,.2f} s neither CPU nor a wait "
        f"for a core), {costs.cpu_ms_per_request:,.2f} ms of CPU per request "
        f"in between; the portals, Redis and PostgreSQL {costs.other_cpu_ms_per_request:,.2f} ms "
        f"per request here; {costs.requests_per_article:,.2f} requests per article, "
        f"{costs.daily_requests_per_portal:,.1f} requests per portal for a daily run of an "
        f"unchanged portal, Redis {costs.redis_bytes_per_url_peak:,.0f} bytes per URL at the peak "
        f"and {costs.redis_bytes_per_url_end:,.0f} at the end, PostgreSQL "
        f"{costs.database_bytes_per_article:,.0f} bytes per article.",
        "",
        *_where_time_went(results),
        "Checked against the measured crawls: each predicted from the one-worker crawl's costs "
        "alone, on this machine's cores less those the rest of the machine (other jobs) took "
        "during that run (`/proc/stat`'s busy time less the crawl's processes' CPU, plus steal):",
        "",
        "| Workers | Measured wall s | Start-up + requests + tail s | Cores taken by other jobs "
        "| Crawl's CPU s measured / predicted | Predicted wall s | Bound | Error "
        "| Predicted at the one-worker crawl's other jobs s |",
        "|---:|---:|---|---:|---:|---:|---|---:|---:|",
    ]
    for row in check_model(results):
        phases = " + ".join(_cell(p) for p in row["measured_phases_s"])
        lines.append(
            f"| {row['workers']} | {row['measured_wall_s']:,.1f} | {phases} "
            f"| {row['background_cores']:,.2f} | {_cell(row['measured_own_cpu_s'])} / "
            f"{row['predicted_own_cpu_s']:,.1f} | {row['predicted_wall_s']:,.1f} "
            f"| {row['bound']} | {row['error']:+.0%} "
            f"| {row['predicted_at_one_worker_load_s']:,.1f} |"
        )
    lines += [
        "",
        "The last column keeps the other jobs as busy as during the one-worker crawl: on a "
        "machine shared with other jobs a crawl's wall follows the cores they leave it, which no "
        "cost of the crawl predicts. When they leave the crawl no idle core, its wall is its CPU "
        "over the cores left, so the CPU column (the crawl's CPU predicted from the one-worker "
        "crawl's costs against what it measured) is the part of the check no other job moves.",
    ]
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
