"""Targets (PASS/MISS) and the Markdown rendering of a benchmark run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

RATIO_TARGET = 0.8
RATIO_SIZE = 5000
PARSER_SPEEDUP_TARGET = 10.0
MEMORY_GROWTH_TARGET = 1.5

Row = tuple[str, Callable[[dict[str, Any]], Any]]


def _get(data: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _ok(per_size: dict[str, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {int(size): data for size, data in per_size.items() if "error" not in data}


def evaluate_targets(per_size: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    done = _ok(per_size)
    sizes = sorted(done)
    targets: list[dict[str, Any]] = []

    def add(name: str, measured: str, passed: bool | None) -> None:
        result = "n/a" if passed is None else ("PASS" if passed else "MISS")
        targets.append({"target": name, "measured": measured, "result": result})

    ratio_size = RATIO_SIZE if RATIO_SIZE in done else (sizes[-1] if sizes else None)
    ratio = _get(done.get(ratio_size, {}), "ratio", "pages_per_s") if ratio_size else None
    add(
        f"ours >= {RATIO_TARGET} x bare pages/s at {ratio_size or RATIO_SIZE:,}",
        "-" if ratio is None else f"{ratio:.2f} x",
        None if ratio is None else ratio >= RATIO_TARGET,
    )

    parsers = {s: done[s]["parser"] for s in sizes if _get(done[s], "parser", "pages")}
    if parsers:
        speedup = min(p["speedup_vs_trafilatura"] or 0 for p in parsers.values())
        body_better = all(
            p["body_similarity_ours"] > p["body_similarity_trafilatura"] for p in parsers.values()
        )
        date_better = all(p["date_day_ours"] >= p["date_day_htmldate"] for p in parsers.values())
        add(
            f"parser >= {PARSER_SPEEDUP_TARGET:g}x faster than trafilatura, better body and date",
            f"min {speedup:.1f}x; body {'better' if body_better else 'NOT better'}, "
            f"date {'better or equal' if date_better else 'NOT better'} at every size",
            speedup >= PARSER_SPEEDUP_TARGET and body_better and date_better,
        )
    else:
        add("parser >= 10x faster than trafilatura, better accuracy", "-", None)

    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        rss_small = _get(done[small], "ours", "peak_rss_mb")
        rss_large = _get(done[large], "ours", "peak_rss_mb")
        growth = rss_large / rss_small if rss_small and rss_large else None
        add(
            f"peak RSS at {large:,} <= {MEMORY_GROWTH_TARGET} x at {small:,}",
            "-" if growth is None else f"{rss_large:.0f} / {rss_small:.0f} MB = {growth:.2f} x",
            None if growth is None else growth <= MEMORY_GROWTH_TARGET,
        )
    else:
        add(f"peak RSS growth <= {MEMORY_GROWTH_TARGET} x", "needs two sizes", None)

    for phase, label in (("rerun", "unchanged re-run"), ("plus10", "re-run after +10 articles")):
        counts = {s: _get(done[s], phase, "requests") for s in sizes}
        values = {v for v in counts.values() if v is not None}
        shown = ", ".join(f"{s:,}: {v}" for s, v in counts.items())
        complete = len(values) >= 1 and None not in counts.values()
        add(
            f"{label}: requests equal at every size",
            shown or "-",
            None if len(sizes) < 2 or not complete else len(values) == 1,
        )
    return targets


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


def _pair(a: Any, b: Any, fmt: Callable[[Any], str] = _fmt) -> str:
    return f"{fmt(a)} / {fmt(b)}"


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
        "Bare spider (ceiling)",
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
            ("replica CPU busy during crawl", lambda d: _pct(_get(d, "ours", "server_busy"))),
            (
                "run report outcome (exit code)",
                lambda d: f"{_get(d, 'ours', 'outcome')} ({_get(d, 'ours', 'returncode')})",
            ),
            ("**ours / bare pages/s**", lambda d: _get(d, "ratio", "pages_per_s")),
            ("ours / bare responses", lambda d: _get(d, "ratio", "responses")),
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
        "- Crawl settings for ours and bare (politeness lifted, `tests/crawl_runner.py` "
        "FAST_SETTINGS): " + ", ".join(f"`{k}={v}`" for k, v in results["fast_settings"].items()),
        "- Each crawl is a subprocess against a fresh replica server in its own process; wall "
        "time includes interpreter and Scrapy start-up; CPU s and peak RSS are the crawl "
        "process's own (`os.wait4` rusage). Ours writes SQLite + JSONL with every pipeline; "
        "the bare spider (`tests/benchmarks/bare_spider.py`) runs outside the project with "
        "Scrapy defaults plus the same settings and extracts nothing.",
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
