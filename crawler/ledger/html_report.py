"""The operator's HTML report: one self-contained page, charts drawn by matplotlib as inline SVG.

No script, no external file, no network: CSS is inline, every chart is an ``<svg>`` element,
and a Content-Security-Policy forbids scripts and remote loads, so a page opened from a mail
or a file share shows the same thing offline. Every text from the database or the rejects
file (titles, categories, failure reasons) is NFC-normalized and HTML-escaped; in the charts
matplotlib writes it as escaped SVG text with math parsing off, so ``$`` or ``<script>`` in
a title or category is shown as written and never runs.
"""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
from matplotlib.figure import Figure

from crawler.ledger.history import (
    ArticleProblems,
    MonthlyCounts,
    RejectedPage,
    RunSummary,
    format_coverage,
    format_duration,
    local_time,
    nfc,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime

    from matplotlib.axes import Axes
    from matplotlib.typing import RcKeyType

# Categories drawn one by one in the monthly chart; the rest are summed as "other categories".
MAX_CATEGORIES = 10
# A cron run every 4 hours makes ~2,200 runs a year: the chart draws the newest CHART_RUNS
# finished runs and the table lists the newest TABLE_RUNS (``scrapy runs`` lists them all).
CHART_RUNS = 500
TABLE_RUNS = 50
# Categories in matplotlib's tab10 colours, then grey for the sum of the rest.
SERIES_COLORS = (*(f"C{i}" for i in range(MAX_CATEGORIES)), "#9e9e9e")
# More x positions than this are drawn as filled step areas, not bars (see _stacked).
MANY_BARS = 60
# Text stays text in the SVG (searchable, selectable, shown in the reader's fonts).
CHART_STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    # shipped with matplotlib: the same text metrics on every machine
    "font.family": ["DejaVu Sans"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
CSS = """
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; margin: 1.5em;
       color: #1b1b1b; background: #fff; max-width: 1100px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.n { text-align: right; }
figure { margin: 0.5em 0 1.5em; } figure svg { max-width: 100%; height: auto; }
.failed, .abandoned, .interrupted { color: #b00020; font-weight: bold; }
.succeeded { color: #1b6e20; }
p.note { color: #555; font-size: 0.9em; }
"""
_SVG_START = re.compile(r"<svg\b")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def esc(value: object) -> str:
    return html.escape(nfc(str(value)), quote=True)


@dataclass(frozen=True)
class SiteSection:
    site: str
    timezone: str
    monthly: MonthlyCounts
    runs: list[RunSummary]  # newest first
    problem_articles: tuple[int, list[ArticleProblems]]
    rejects: tuple[int, list[RejectedPage]]

    @property
    def latest(self) -> RunSummary | None:
        return next((run for run in self.runs if run.finished), self.runs[0] if self.runs else None)


def svg_of(figure: Figure, chart_id: str) -> str:
    """The figure as an inline ``<svg>`` element; ids salted per chart so that two charts of
    one page never share a clip-path id."""
    buffer = io.StringIO()
    style: dict[RcKeyType, Any] = {**CHART_STYLE, "svg.hashsalt": chart_id}
    with mpl.rc_context(style):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    start = _SVG_START.search(text)
    if start is None:
        raise ValueError("matplotlib wrote no <svg> element")
    return text[start.start() :].replace("<svg ", f'<svg id="{esc(chart_id)}" role="img" ', 1)


def _thin_ticks(axes: Axes, labels: Sequence[str], most: int = 24) -> None:
    step = max(1, -(-len(labels) // most))
    positions = list(range(0, len(labels), step))
    axes.set_xticks(positions, [labels[i] for i in positions], rotation=60, ha="right")


def _stacked(
    axes: Axes,
    series: Sequence[tuple[str, Sequence[float]]],
    colors: Sequence[str] | None = None,
) -> None:
    """Stacked bars, one per x position; past MANY_BARS positions each series is one filled
    step area (one SVG path instead of a rectangle per value: a small page, drawn fast)."""
    length = len(series[0][1]) if series else 0
    bottom = [0.0] * length
    palette = colors or SERIES_COLORS
    for index, (name, values) in enumerate(series):
        color = palette[index % len(palette)]
        top = [b + v for b, v in zip(bottom, values, strict=True)]
        if length <= MANY_BARS:
            axes.bar(range(length), values, bottom=bottom, label=name, width=0.85, color=color)
        else:
            edges = [i - 0.5 for i in range(length + 1)]
            axes.stairs(top, edges, baseline=bottom, fill=True, label=name, color=color)
        bottom = top


def monthly_chart(monthly: MonthlyCounts, chart_id: str) -> str:
    """Articles per month on their best date (the event day where the display date is a
    migration's), stacked by category (the largest MAX_CATEGORIES)."""
    with mpl.rc_context(CHART_STYLE):
        figure = Figure(figsize=(10, 4.2), layout="constrained")
        axes = figure.add_subplot()
        series = list(monthly.by_category.items())
        shown, rest = series[:MAX_CATEGORIES], series[MAX_CATEGORIES:]
        if rest:
            other = [sum(values[i] for _, values in rest) for i in range(len(monthly.months))]
            shown.append((f"other categories ({len(rest)})", other))
        _stacked(axes, shown)
        _thin_ticks(axes, monthly.months)
        axes.set_ylabel("articles published")
        axes.set_title(f"Articles published per month and category: {monthly.site}")
        axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        return svg_of(figure, chart_id)


def runs_chart(runs: Sequence[RunSummary], timezone: str, chart_id: str) -> str:
    """Finished runs over time, oldest left: new/changed, errors, duration, field coverage."""
    with mpl.rc_context(CHART_STYLE):
        figure = Figure(figsize=(10, 8.5), layout="constrained")
        axes = figure.subplots(4, 1, sharex=True)
        labels = [f"{local_time(run.started_at, timezone):%Y-%m-%d %H:%M}" for run in runs]
        positions = list(range(len(runs)))
        new = [run.new or 0 for run in runs]
        changed = [run.changed or 0 for run in runs]
        _stacked(axes[0], [("new", new), ("changed", changed)], ["#2e7d32", "#f9a825"])
        axes[0].set_ylabel("articles")
        axes[0].set_title("Articles stored per run")
        axes[0].legend(fontsize=7, frameon=False)
        _stacked(axes[1], [("errors", [run.errors or 0 for run in runs])], ["#c62828"])
        axes[1].set_ylim(0, max(1, *(run.errors or 0 for run in runs)) * 1.1)
        axes[1].set_ylabel("errors")
        axes[1].set_title("Errors per run (failed requests and spider exceptions)")
        marker = "o" if len(runs) <= MANY_BARS else None
        axes[2].plot(positions, [run.duration_seconds or 0 for run in runs], marker=marker)
        axes[2].set_ylabel("seconds")
        axes[2].set_title("Run duration")
        fields = sorted({name for run in runs for name in run.coverage})
        for name in fields:
            shares = [
                100 * share if (share := run.coverage.get(name)) is not None else float("nan")
                for run in runs
            ]
            axes[3].plot(positions, shares, marker=marker, label=name)
        axes[3].set_ylim(0, 105)
        axes[3].set_ylabel("% of articles")
        axes[3].set_title("Field coverage")
        if fields:
            axes[3].legend(fontsize=7, frameon=False, loc="lower left")
        failed = [run.outcome != "succeeded" for run in runs]
        if any(failed):
            # each run spans [i - 0.5, i + 0.5]: one shaded area per axes for every failed run
            edges = [x for i in positions for x in (i - 0.5, i + 0.5)]
            mask = [flag for flag in failed for _ in range(2)]
            for ax in axes:
                ax.fill_between(
                    edges,
                    0,
                    1,
                    where=mask,
                    transform=ax.get_xaxis_transform(),
                    color="#b00020",
                    alpha=0.1,
                    linewidth=0,
                )
        # a few runs keep narrow bars instead of filling the width
        axes[3].set_xlim(-0.6, max(len(runs), 8) - 0.4)
        _thin_ticks(axes[3], labels)
        figure.suptitle(f"Runs over time: {runs[0].site} (shaded: not succeeded)")
        return svg_of(figure, chart_id)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _counts_table(title: str, counts: dict[str, int], unit: str) -> str:
    if not counts:
        return f'<p class="note">{esc(title)}: none.</p>'
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return _table(("code", unit), [(esc(code), esc(count)) for code, count in ordered], {1})


def _runs_table(runs: Sequence[RunSummary], timezone: str) -> str:
    def cell(value: int | None) -> str:
        return "-" if value is None else esc(value)

    rows = [
        (
            esc(f"{local_time(run.started_at, timezone):%Y-%m-%d %H:%M:%S %z}"),
            esc(format_duration(run.duration_seconds)),
            f'<span class="{esc(run.outcome)}">{esc(run.outcome)}</span>',
            cell(run.new),
            cell(run.changed),
            cell(run.rejected),
            cell(run.requests),
            cell(run.errors),
            esc(format_coverage(run.coverage)),
            "<br>".join(esc(reason) for reason in run.failures),
        )
        for run in runs
    ]
    headers = (
        f"start ({timezone})",
        "duration",
        "outcome",
        "new",
        "changed",
        "rejected",
        "requests",
        "errors",
        "coverage",
        "failures",
    )
    return _table(headers, rows, {3, 4, 5, 6, 7})


def _reasons(reasons: Sequence[dict[str, Any]]) -> str:
    return "<br>".join(
        esc(f"{r.get('code', '?')} ({r.get('field', '?')}): {r.get('message', '')}")
        for r in reasons
    )


def _section(section: SiteSection, number: int) -> str:
    parts = [f'<section id="site-{esc(section.site)}"><h2>Site {esc(section.site)}</h2>']
    monthly = section.monthly
    parts.append("<h3>Articles published per month</h3>")
    if monthly.months:
        parts.append(f"<figure>{monthly_chart(monthly, f'chart-months-{number}')}</figure>")
        parts.append(
            f'<p class="note">{plural(monthly.total, "dated article")} over '
            f"{plural(len(monthly.months), 'month')} "
            f"(months of the site's own calendar). "
            f"{plural(monthly.by_event, 'article')} placed by event day "
            "(a display date many articles share, a migration's, with the day the lead opens "
            "with)."
        )
        if monthly.bulk_without_event:
            parts.append(
                f" {plural(monthly.bulk_without_event, 'article')} with such a display date "
                "and no event day counted on the display date."
            )
        if monthly.undated:
            parts.append(
                f" {plural(monthly.undated, 'article')} without a publication date not shown."
            )
        parts.append("</p>")
    else:
        parts.append(f'<p class="note">No dated articles stored ({monthly.undated} undated).</p>')
    parts.append("<h3>Runs</h3>")
    finished = [run for run in section.runs if run.finished][:CHART_RUNS]
    if finished:
        chart = runs_chart(finished[::-1], section.timezone, f"chart-runs-{number}")
        parts.append(f"<figure>{chart}</figure>")
    if section.runs:
        parts.append(_runs_table(section.runs[:TABLE_RUNS], section.timezone))
        if len(section.runs) > TABLE_RUNS:
            parts.append(
                f'<p class="note">The newest {TABLE_RUNS} of {len(section.runs)} runs '
                f"(<code>scrapy runs</code> lists them all).</p>"
            )
    else:
        parts.append('<p class="note">No runs recorded.</p>')
    latest = section.latest
    if latest is not None:
        parts.append(
            f"<h3>Latest run: {esc(latest.run_id)} "
            f'(<span class="{esc(latest.outcome)}">{esc(latest.outcome)}</span>)</h3>'
        )
        if latest.failures:
            items = "".join(f"<li>{esc(reason)}</li>" for reason in latest.failures)
            parts.append(f'<ul class="failures">{items}</ul>')
        parts.append("<h4>Problems of the articles it parsed</h4>")
        parts.append(_counts_table("Problems", latest.problems, "articles"))
        total, articles = section.problem_articles
        if articles:
            parts.append(
                f'<p class="note">{plural(total, "article")} stored by this run carry problems'
                + (f" (the first {len(articles)} shown)" if total > len(articles) else "")
                + ".</p>"
            )
            rows = [
                (esc(a.title), f"<code>{esc(a.url)}</code>", _reasons(a.problems)) for a in articles
            ]
            parts.append(_table(("title", "url", "problems"), rows, set()))
        parts.append("<h4>Rejected pages</h4>")
        parts.append(_counts_table("Reject reasons", latest.reject_reasons, "pages"))
        total, rejects = section.rejects
        if rejects:
            parts.append(
                f'<p class="note">{plural(total, "page")} this run rejected'
                + (f" (the first {len(rejects)} shown)" if total > len(rejects) else "")
                + ".</p>"
            )
            rows = [
                (f"<code>{esc(r.url)}</code>", esc(r.count), _reasons(r.reasons)) for r in rejects
            ]
            parts.append(_table(("url", "times rejected", "reasons"), rows, {1}))
    parts.append("</section>")
    return "".join(parts)


def render_report(sections: Sequence[SiteSection], database: str, generated_at: datetime) -> str:
    """The whole page, UTF-8 text."""
    title = "Crawl report: " + ", ".join(section.site for section in sections)
    body = "".join(_section(section, i) for i, section in enumerate(sections, 1))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="vi"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1>"
        f'<p class="note">Database {esc(database)}; written '
        f"{esc(generated_at.isoformat(timespec='seconds'))}.</p>"
        f"{body}</body></html>\n"
    )
