"""Targets (reached / NOT reached) and the Markdown rendering of a benchmark run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.benchmarks.truth_score import SCORED_FIELDS, is_exact

# The targets of issue 11, each measured by one run of ``make bench``.
REPLAY_RATIO_TARGET = 0.8
REPLAY_RATIO_STRETCH = 0.9
RATIO_SIZE = 5000
CPU_MS_PER_ARTICLE_TARGET = 8.0
CPU_SIZES = (5000, 20000)
PARSER_MS_TARGET = 1.0
PARSER_SPEEDUP_TARGET = 10.0
MEMORY_GROWTH_TARGET = 1.5
RERUN_WALL_GROWTH_TARGET = 2.0

REACHED, NOT_REACHED, NOT_APPLICABLE = "reached", "NOT reached", "n/a"

Row = tuple[str, Callable[[dict[str, Any]], Any]]


def _get(data: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _num(value: Any, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _target(name: str, measured: str, reached: bool | None) -> dict[str, Any]:
    """``reached`` is None only when the run's shape makes the target meaningless (one size for
    a growth ratio); a measurement that should exist and does not is NOT reached."""
    result = NOT_APPLICABLE if reached is None else (REACHED if reached else NOT_REACHED)
    return {"target": name, "measured": measured, "reached": reached, "result": result}


def _at(sizes: list[int], wanted: tuple[int, ...]) -> list[int]:
    """The wanted sizes this run measured, else its largest (a --quick run still judges)."""
    chosen = [s for s in wanted if s in sizes]
    return chosen or sizes[-1:]


def evaluate_targets(per_size: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every target of issue 11 from one run's per-size measurements (errored sizes included:
    a target that needed them is NOT reached)."""
    data = {int(size): d for size, d in per_size.items()}
    sizes = sorted(data)
    failed = {s: d["error"] for s, d in data.items() if "error" in d}

    def value(size: int, *keys: str) -> Any:
        return None if size in failed else _get(data[size], *keys)

    targets = [
        _target(
            "every size measured to the end",
            ", ".join(f"{s:,}: {failed[s]}" for s in sorted(failed))
            or f"{len(sizes)} of {len(sizes)}",
            bool(sizes) and not failed,
        )
    ]

    # Scrapy's own speed on the same requests: replay wall / our wall.
    ratio_size = _at(sizes, (RATIO_SIZE,))
    ratios = {s: value(s, "ratio", "replay_wall") for s in sizes}
    ratio = ratios[ratio_size[0]] if ratio_size else None
    every = ", ".join(f"{s:,}: {_num(r)}" for s, r in ratios.items())
    stretch = (
        ""
        if ratio is None
        else f"; stretch {REPLAY_RATIO_STRETCH}: "
        + (REACHED if ratio >= REPLAY_RATIO_STRETCH else NOT_REACHED)
    )
    targets.append(
        _target(
            f"our crawl >= {REPLAY_RATIO_TARGET} x Scrapy's speed on the same requests "
            f"(replay wall / our wall) at {ratio_size[0] if ratio_size else RATIO_SIZE:,}",
            f"{_num(ratio)} (every size: {every}){stretch}",
            ratio is not None and ratio >= REPLAY_RATIO_TARGET,
        )
    )

    cpu_sizes = _at(sizes, CPU_SIZES)
    cpu = {s: value(s, "ours", "cpu_ms_per_article") for s in cpu_sizes}
    targets.append(
        _target(
            f"CPU per article <= {CPU_MS_PER_ARTICLE_TARGET:g} ms end to end at "
            + " and ".join(f"{s:,}" for s in cpu_sizes),
            ", ".join(f"{s:,}: {_num(v)} ms" for s, v in cpu.items()) or "-",
            bool(cpu)
            and all(v is not None and v <= CPU_MS_PER_ARTICLE_TARGET for v in cpu.values()),
        )
    )

    parser_ms = {s: value(s, "parser", "ours_ms_per_page") for s in sizes}
    traf_ms = {s: value(s, "parser", "trafilatura_ms_per_page") for s in sizes}
    speedups = {s: value(s, "parser", "speedup_vs_trafilatura") for s in sizes}
    targets.append(
        _target(
            f"parser <= {PARSER_MS_TARGET:g} ms per article page at every size",
            ", ".join(
                f"{s:,}: {_num(v, 3)} ms (trafilatura {_num(traf_ms[s])})"
                for s, v in parser_ms.items()
            )
            or "-",
            bool(sizes)
            and all(v is not None and v <= PARSER_MS_TARGET for v in parser_ms.values()),
        )
    )
    targets.append(
        _target(
            f"parser >= {PARSER_SPEEDUP_TARGET:g} x faster than trafilatura at every size",
            ", ".join(f"{s:,}: {_num(v, 1)} x" for s, v in speedups.items()) or "-",
            bool(sizes)
            and all(v is not None and v >= PARSER_SPEEDUP_TARGET for v in speedups.values()),
        )
    )
    exact_keys = ("title_exact_ours", "body_exact_ours", "date_minute_ours")
    exact = {s: [value(s, "parser", k) for k in exact_keys] for s in sizes}
    targets.append(
        _target(
            "parser fields exact (title, body, published minute) on every compared page",
            ", ".join(
                f"{s:,}: " + "/".join("-" if v is None else f"{v * 100:.0f}%" for v in vs)
                for s, vs in exact.items()
            )
            or "-",
            bool(sizes) and all(v == 1 for vs in exact.values() for v in vs),
        )
    )

    targets.append(
        _growth(sizes, value, "ours", "peak_rss_mb", "peak RSS", "MB", MEMORY_GROWTH_TARGET)
    )

    # The re-run after +10 articles stays in the per-size table, not here: issue 11 sets no
    # target for it, and its count moves by one request between runs of the same size.
    counts = {s: value(s, "rerun", "requests") for s in sizes}
    shown = ", ".join(f"{s:,}: {_num(v, 0) if v is not None else '-'}" for s, v in counts.items())
    complete = None not in counts.values()
    targets.append(
        _target(
            "unchanged re-run: requests equal at every size",
            shown or "-",
            None if len(sizes) < 2 else complete and len(set(counts.values())) == 1,
        )
    )
    targets.append(
        _growth(
            sizes, value, "rerun", "wall_s", "unchanged re-run wall", "s", RERUN_WALL_GROWTH_TARGET
        )
    )

    scores = {s: value(s, "correctness") for s in sizes}
    outcomes = {s: value(s, "ours", "outcome") for s in sizes}
    targets.append(
        _target(
            "correctness: every article once, title / published_at / body 100% exact, "
            "run succeeded, at every size",
            "; ".join(f"{s:,}: {_score_text(scores[s], outcomes[s])}" for s in sizes) or "-",
            bool(sizes) and all(is_exact(scores[s]) and outcomes[s] == "succeeded" for s in sizes),
        )
    )
    return targets


def _growth(
    sizes: list[int],
    value: Callable[..., Any],
    phase: str,
    key: str,
    label: str,
    unit: str,
    limit: float,
) -> dict[str, Any]:
    if len(sizes) < 2:
        return _target(f"{label} growth <= {limit:g} x", "needs two sizes", None)
    small, large = sizes[0], sizes[-1]
    low, high = value(small, phase, key), value(large, phase, key)
    growth = high / low if low and high is not None else None
    return _target(
        f"{label} at {large:,} <= {limit:g} x that at {small:,}",
        "-" if growth is None else f"{high:.1f} / {low:.1f} {unit} = {growth:.2f} x",
        growth is not None and growth <= limit,
    )


def _score_text(score: dict[str, Any] | None, outcome: Any) -> str:
    if not score or "error" in score:
        return f"not scored ({(score or {}).get('error', 'no score')}), run {outcome}"
    fields = "/".join(
        "-" if score.get(f"{f}_exact") is None else f"{score[f'{f}_exact'] * 100:.1f}%"
        for f in SCORED_FIELDS
    )
    return (
        f"present {score.get('present', 0) * 100:.1f}% (missing {score.get('missing')}, "
        f"duplicates {score.get('duplicates')}, unexpected {score.get('unexpected')}), "
        f"exact {fields}, run {outcome}"
    )


def missed(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in targets if t["reached"] is False]


def exit_status(targets: list[dict[str, Any]], *, fail_on_miss: bool = True) -> int:
    """1 when any target is NOT reached (a regression cannot pass silently), unless the caller
    only reports (``--no-fail``)."""
    return 1 if fail_on_miss and missed(targets) else 0


def render_targets(targets: list[dict[str, Any]]) -> str:
    width = max((len(t["result"]) for t in targets), default=0)
    return "\n".join(f"{t['result']:<{width}}  {t['target']}: {t['measured']}" for t in targets)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _pct_or_n(value: Any) -> str:
    return _pct(value) if isinstance(value, float) else _fmt(value)


def _pair(a: Any, b: Any, fmt: Callable[[Any], str] = _fmt) -> str:
    return f"{fmt(a)} / {fmt(b)}"


def _archive(crawl: dict[str, Any]) -> str:
    if "archive_enabled" not in crawl:
        return "n/a"
    return f"on, {_fmt(crawl.get('archive_mb'))}" if crawl["archive_enabled"] else "off"


ROWS: list[tuple[str, list[Row]]] = [
    (
        "Site",
        [
            ("articles in truth", lambda d: d.get("truth_articles")),
            (
                "crawler source fingerprint (start -> end)",
                lambda d: (
                    d.get("code_before")
                    if d.get("code_before") == d.get("code_after")
                    else f"{d.get('code_before')} -> {d.get('code_after')}"
                ),
            ),
            ("replica start-up s (generate + listen)", lambda d: _get(d, "startup_s", "ours")),
            (
                "replica ceiling req/s (keep-alive conns, requests)",
                lambda d: (
                    f"{_fmt(_get(d, 'ceiling', 'requests_per_s'))} "
                    f"({_get(d, 'ceiling', 'connections')}, {_fmt(_get(d, 'ceiling', 'requests'))})"
                ),
            ),
        ],
    ),
    (
        "Replay spider (Scrapy alone on exactly our crawl's requests)",
        [
            (
                "requests replayed / responses",
                lambda d: _pair(_get(d, "replay", "requests"), _get(d, "replay", "responses")),
            ),
            ("wall s", lambda d: _get(d, "replay", "wall_s")),
            (
                "CPU s / CPU ms per response",
                lambda d: _pair(
                    _get(d, "replay", "cpu_s"), _get(d, "replay", "cpu_ms_per_response")
                ),
            ),
            ("peak RSS MB", lambda d: _get(d, "replay", "peak_rss_mb")),
            ("**replay wall / our wall**", lambda d: _get(d, "ratio", "replay_wall")),
        ],
    ),
    (
        "Bare spider (follows the same links, extracts nothing; --bare)",
        [
            ("responses", lambda d: _get(d, "bare", "responses")),
            ("wall s", lambda d: _get(d, "bare", "wall_s")),
            ("pages/s", lambda d: _get(d, "bare", "pages_per_s")),
            ("CPU s", lambda d: _get(d, "bare", "cpu_s")),
            ("peak RSS MB", lambda d: _get(d, "bare", "peak_rss_mb")),
        ],
    ),
    (
        "Our crawl (first run, empty DB)",
        [
            ("responses", lambda d: _get(d, "ours", "responses")),
            (
                "articles stored / in truth",
                lambda d: _pair(_get(d, "ours", "stored"), d.get("truth_articles")),
            ),
            ("wall s", lambda d: _get(d, "ours", "wall_s")),
            ("pages/s", lambda d: _get(d, "ours", "pages_per_s")),
            ("articles/s", lambda d: _get(d, "ours", "articles_per_s")),
            ("CPU ms per article", lambda d: _get(d, "ours", "cpu_ms_per_article")),
            ("peak RSS MB", lambda d: _get(d, "ours", "peak_rss_mb")),
            (
                "SQLite MB / JSONL MB",
                lambda d: _pair(_get(d, "ours", "db_mb"), _get(d, "ours", "jsonl_mb")),
            ),
            # archiving is on by default (ARCHIVE_ENABLED): these crawls wrote WARC files
            ("WARC archive (on/off), MB", lambda d: _archive(d.get("ours") or {})),
            ("replica CPU busy during crawl", lambda d: _pct(_get(d, "ours", "server_busy"))),
            (
                "run report outcome (exit code)",
                lambda d: f"{_get(d, 'ours', 'outcome')} ({_get(d, 'ours', 'returncode')})",
            ),
            ("ours / bare pages/s", lambda d: _get(d, "ratio", "pages_per_s")),
            ("ours / bare responses", lambda d: _get(d, "ratio", "responses")),
        ],
    ),
    (
        "Correctness of our crawl's feed against the replica's truth",
        [
            (
                "articles present / missing",
                lambda d: _pair(
                    _get(d, "correctness", "present"), _get(d, "correctness", "missing"), _pct_or_n
                ),
            ),
            (
                "duplicates / not in truth",
                lambda d: _pair(
                    _get(d, "correctness", "duplicates"), _get(d, "correctness", "unexpected")
                ),
            ),
            (
                "title / published_at / body exact",
                lambda d: " / ".join(
                    _pct(_get(d, "correctness", f"{f}_exact")) for f in SCORED_FIELDS
                ),
            ),
        ],
    ),
    (
        "Parser vs generic extractors (same pages, in-process)",
        [
            ("article pages compared", lambda d: _get(d, "parser", "pages")),
            (
                "ms/page: ours / trafilatura / htmldate",
                lambda d: " / ".join(
                    _fmt(_get(d, "parser", k))
                    for k in ("ours_ms_per_page", "trafilatura_ms_per_page", "htmldate_ms_per_page")
                ),
            ),
            ("**speed-up vs trafilatura**", lambda d: _get(d, "parser", "speedup_vs_trafilatura")),
            (
                "body similarity mean: ours / trafilatura",
                lambda d: _pair(
                    _get(d, "parser", "body_similarity_ours"),
                    _get(d, "parser", "body_similarity_trafilatura"),
                    lambda v: "-" if v is None else f"{v:.4f}",
                ),
            ),
            (
                "body exact match: ours / trafilatura",
                lambda d: _pair(
                    _get(d, "parser", "body_exact_ours"),
                    _get(d, "parser", "body_exact_trafilatura"),
                    _pct,
                ),
            ),
            (
                "date exact day: ours / htmldate",
                lambda d: _pair(
                    _get(d, "parser", "date_day_ours"), _get(d, "parser", "date_day_htmldate"), _pct
                ),
            ),
            ("date exact minute: ours", lambda d: _pct(_get(d, "parser", "date_minute_ours"))),
            ("title exact: ours", lambda d: _pct(_get(d, "parser", "title_exact_ours"))),
            ("htmldate found no date", lambda d: _pct(_get(d, "parser", "date_none_htmldate"))),
        ],
    ),
    (
        "Incremental re-runs (same DB, same port)",
        [
            ("unchanged: requests", lambda d: _get(d, "rerun", "requests")),
            ("unchanged: wall s", lambda d: _get(d, "rerun", "wall_s")),
            (
                "unchanged: stored new / changed",
                lambda d: _pair(_get(d, "rerun", "stored_new"), _get(d, "rerun", "stored_changed")),
            ),
            ("+10 articles: requests", lambda d: _get(d, "plus10", "requests")),
            ("+10 articles: wall s", lambda d: _get(d, "plus10", "wall_s")),
            (
                "+10 articles: stored new / changed",
                lambda d: _pair(
                    _get(d, "plus10", "stored_new"), _get(d, "plus10", "stored_changed")
                ),
            ),
        ],
    ),
]


def render_markdown(results: dict[str, Any]) -> str:
    per_size = results["per_size"]
    sizes = list(per_size)
    lines = [
        "# Benchmarks",
        "",
        f"Command: `{results['command']}`  ",
        f"Started {results['started_at']}, total {results['total_seconds'] / 60:.1f} min.",
        "",
        "## Targets",
        "",
        "| Target | Measured | Result |",
        "|---|---|---|",
    ]
    lines += [
        f"| {t['target']} | {t['measured']} | **{t['result']}** |" for t in results["targets"]
    ]
    lines += ["", "## Per size", ""]
    lines.append("| | " + " | ".join(f"{int(s):,} articles" for s in sizes) + " |")
    lines.append("|---|" + "---:|" * len(sizes))
    for section, rows in ROWS:
        lines.append(f"| *{section}* |" + " |" * len(sizes))
        for label, getter in rows:
            cells = []
            for size in sizes:
                data = per_size[size]
                cells.append("error" if "error" in data else _fmt(getter(data)))
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    codes = {d.get(k) for d in per_size.values() for k in ("code_before", "code_after")}
    if len(codes - {None}) > 1:
        lines += [
            "",
            "**Warning:** the crawler's source (crawler/, pipelines/) changed during this run, "
            "so the sizes were not measured on the same code; run it again on a settled tree.",
        ]
    errors = {s: d["error"] for s, d in per_size.items() if "error" in d}
    if errors:
        lines += ["", "## Errors", ""]
        lines += [f"- {int(s):,}: {e}" for s, e in errors.items()]
    machine = results["machine"]
    lines += [
        "",
        "## Conditions",
        "",
        "- Machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()),
        "- Crawl settings for ours, replay and bare (politeness lifted, `tests/crawl_runner.py` "
        "FAST_SETTINGS): " + ", ".join(f"`{k}={v}`" for k, v in results["fast_settings"].items()),
        "- Each crawl is a subprocess against a fresh replica server in its own process; wall "
        "time includes interpreter and Scrapy start-up; CPU s are the crawl process's own "
        "(`os.wait4` rusage) and peak RSS its own high-water mark (`VmHWM` of "
        "`/proc/<pid>/status`, read as it runs: `ru_maxrss` would count the benchmark's own "
        "memory, which a forked child inherits). Ours writes SQLite + JSONL with every pipeline; "
        "the bare spider (`tests/benchmarks/bare_spider.py`) runs outside the project with "
        "Scrapy defaults plus the same settings and extracts nothing.",
        "- Replay: `tests/benchmarks/replay_spider.py` requests, in order and unfiltered, "
        "every GET the replica recorded during our first crawl (`--request-log`), outside the "
        "project, against a fresh replica process, with the same settings and nothing done with "
        "the responses; its wall time over ours is the speed target.",
        "- Correctness: our first crawl's JSONL feed against the replica's truth, keyed by "
        "canonical URL; a missing article counts as wrong in every field.",
        "- Replica ceiling: a bounded loop of GET article pages from threads in the benchmark "
        "process (Python client, so a lower bound), 127.0.0.1 only.",
        "- Parser: ours = `parse_article` + text and date normalization pipelines; trafilatura "
        "= `extract(include_comments=False)`; htmldate = `find_date(extensive_search=False)`. "
        "One untimed warm-up call each. Body similarity = difflib ratio over the words of the "
        "NFC, whitespace-folded text against the truth's paragraphs; exact = equal text.",
        "- Re-runs: the same database and port; `+10` restarts the replica with "
        "`extra_articles=10`.",
        "",
    ]
    return "\n".join(lines)
