"""Peak memory of an unchanged re-run against a large database (issue 24, item 6).

``python -m tests.benchmarks.rerun_memory [--sizes 10000,100000,1000000]
[--databases sqlite,postgresql] [--compare /path/to/other/checkout]``

A re-run of a site where nothing changed fetches a fixed handful of pages (robots.txt, the
sitemaps, the navigation, the re-checks), whatever the size of the site; what must not grow
with it is the crawler's memory. Per database kind: a small replica portal (served by
tests/hostile_server.py) is crawled once into a fresh database, which is then padded with
generated articles of the same site (same host, older than every article of the portal, each
with one alias URL, as a real portal's articles have) up to each size in turn. The portal's
sitemap index then also names one more sitemap listing every padded article with its stored
date as lastmod (generated as it is sent, about 400 bytes an article: 400 MB at 1M), so the
re-run reads every stored article twice, from the database and from the sitemaps, and finds
nothing to fetch. At each size the re-run is measured (peak RSS, the process's own ``VmHWM``)
and checked to be unchanged (succeeded, nothing new or changed stored).

``--compare DIR`` runs the same re-run with the code of another checkout too (``DIR`` as the
crawl's working directory, its ``crawler`` package then first on the path), on the same
database: the before/after of a change.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert

from crawler.domain.urls import article_id
from pipelines.storage.models import Article, ArticleUrl
from pipelines.storage.store import ArticleStore
from tests.benchmarks.processes import run_measured
from tests.crawl_runner import PROJECT_ROOT, crawl_command
from tests.hostile_server import Answer, HostileServer
from tests.postgres import PostgresServer
from tests.replica.site import ReplicaConfig

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (2_000, 20_000)
DATABASES = ("sqlite", "postgresql")
# the portal served: small, so that its crawl is quick and the database is mostly padding
PORTAL_ARTICLES = 200
# Target of issue 24: an unchanged re-run of a 1M-article site under 300 MB.
TARGET_MB = 300.0
TARGET_SIZE = 1_000_000
PAD_BATCH = 5_000
SITE = "hepza"
# older than every article of the replica: the re-checks (the newest stored) stay on the portal
PAD_PUBLISHED = datetime(1980, 1, 1, tzinfo=UTC)
# Minutes between two padded articles: fewer than the bulk threshold (10) share a display
# hour, so they are "ok" articles, as stored (published_at_quality) and as the re-run's
# recount of the site finds them (one a minute made every hour a migration's: the re-run's
# first read re-marked the whole padding, minutes at 1M, the padding's cost not the re-run's).
PAD_MINUTES = 7
PADS_SITEMAP = "/bench-pads-sitemap.xml"
PADS_PER_CHUNK = 2000


def _pad_date(n: int) -> datetime:
    return PAD_PUBLISHED + timedelta(minutes=n * PAD_MINUTES)


def _pads_sitemap(base: str, count: int) -> Iterator[bytes]:
    yield (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/'
        b'schemas/sitemap/0.9" xmlns:xhtml="http://www.w3.org/1999/xhtml">\n'
    )
    for first in range(0, count, PADS_PER_CHUNK):
        yield "".join(
            f"<url><loc>{base}/w/bench-pad-{n}</loc>"
            f"<lastmod>{_pad_date(n).isoformat()}</lastmod>"
            f'<xhtml:link rel="alternate" hreflang="en-US" href="{base}/en/w/bench-pad-{n}"/>'
            f'<xhtml:link rel="alternate" hreflang="vi-VN" href="{base}/w/bench-pad-{n}"/>'
            "</url>\n"
            for n in range(first, min(count, first + PADS_PER_CHUNK))
        ).encode()
    yield b"</urlset>"


def portal_answer(pads: dict[str, int]) -> Callable[[str, str, Callable[[], Answer]], Answer]:
    """The replica's answers, its sitemap index naming the sitemap of the ``pads["count"]``
    padded articles too."""

    def answer(target: str, base: str, replica: Callable[[], Answer]) -> Answer:
        if target == PADS_SITEMAP:
            return Answer(200, [("Content-Type", "text/xml")], _pads_sitemap(base, pads["count"]))
        found = replica()
        if target == "/sitemap.xml" and isinstance(found.body, bytes):
            extra = f"  <sitemap><loc>{base}{PADS_SITEMAP}</loc></sitemap>\n</sitemapindex>"
            body = found.body.replace(b"</sitemapindex>", extra.encode())
            return Answer(
                found.status, [h for h in found.headers if h[0] != "Content-Length"], body
            )
        return found

    return answer


def _pad_rows(
    base_url: str, start: int, stop: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    now = datetime.now(UTC)
    articles, aliases = [], []
    for n in range(start, stop):
        url = f"{base_url}/w/bench-pad-{n}"
        ident = article_id(url)
        published = _pad_date(n)
        iso = published.isoformat()
        articles.append(
            {
                "id": ident,
                "site": SITE,
                "url": url,
                "alternate_urls": [f"{base_url}/en/w/bench-pad-{n}"],
                "title": f"Bench pad {n}",
                "summary": None,
                "summary_truncated": False,
                "body_text": f"Bench pad article {n}.",
                "body_html": None,
                "author": None,
                "published_at": iso,
                "published_at_raw": iso,
                "published_at_source": "bench",
                "published_at_quality": "ok",
                "modified_at": iso,
                "language": "vi-VN",
                "category": None,
                "tags": [],
                "images": [],
                "attachments": [],
                "related_urls": [],
                "content_hash": f"{n:064x}",
                "crawled_at": now.isoformat(),
                "source": "bench",
                "problems": [],
                "published_at_utc": published,
                "modified_at_utc": published,
                "first_seen": now,
                "last_seen": now,
                "last_run_id": None,
            }
        )
        aliases.append(
            {
                "url": f"{base_url}/en/w/bench-pad-{n}",
                "site": SITE,
                "article_id": ident,
                "first_seen": now,
                "last_seen": now,
            }
        )
    return articles, aliases


def pad_database(database_url: str, base_url: str, start: int, stop: int) -> None:
    """Add generated articles ``start`` .. ``stop - 1`` of the portal's site (one alias each)."""
    store = ArticleStore(database_url)
    try:
        for first in range(start, stop, PAD_BATCH):
            articles, aliases = _pad_rows(base_url, first, min(stop, first + PAD_BATCH))
            with store.engine.begin() as conn:
                conn.execute(insert(Article), articles)
                conn.execute(insert(ArticleUrl), aliases)
    finally:
        store.close()


def stored_count(database_url: str) -> int:
    store = ArticleStore(database_url)
    try:
        with store.engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM articles").scalar_one())
    finally:
        store.close()


def crawl(
    base_url: str, workdir: Path, database_url: str, phase: str, root: Path, timeout: float
) -> dict[str, Any]:
    cmd, _, _ = crawl_command(
        base_url,
        workdir,
        database_url=database_url,
        feed_name=f"feed-{phase}.jsonl",
        settings={"LOG_FILE": str(workdir / f"crawl-{phase}.log")},
    )
    latest = workdir / "reports" / "latest.json"
    latest.unlink(missing_ok=True)
    measured = run_measured(cmd, cwd=root, timeout=timeout, output_path=workdir / f"{phase}.out")
    report = json.loads(latest.read_text(encoding="utf-8")) if latest.exists() else {}
    counts = report.get("counts", {})
    return {
        **measured.as_dict(),
        "outcome": report.get("outcome", "no report"),
        "requests": counts.get("requests"),
        "stored_new": counts.get("stored_new", 0),
        "stored_changed": counts.get("stored_changed", 0),
        "known_articles": counts.get("known_articles"),
    }


def unchanged(run: dict[str, Any]) -> bool:
    return (
        run.get("returncode") == 0
        and run.get("outcome") == "succeeded"
        and not run.get("stored_new")
        and not run.get("stored_changed")
    )


def _database(kind: str, workdir: Path, postgres: Any) -> str:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'hepza.sqlite3'}"
    return str(postgres.url(postgres.create_database()))


def run_rerun_memory(
    sizes: list[int],
    out: Path,
    *,
    databases: tuple[str, ...] = DATABASES,
    roots: dict[str, Path] | None = None,
) -> dict[str, Any]:
    """Every database kind, every size in turn (ascending, one database padded up), the re-run
    with each code root (``{"this": PROJECT_ROOT}`` by default)."""
    roots = roots or {"this": PROJECT_ROOT}
    results: dict[str, Any] = {"sizes": sizes, "roots": {k: str(v) for k, v in roots.items()}}
    runs: list[dict[str, Any]] = []
    results["runs"] = runs
    postgres = None
    if "postgresql" in databases:
        postgres = PostgresServer()
        postgres.start()
    try:
        for kind in databases:
            workdir = out / "rerun-memory" / kind
            shutil.rmtree(workdir, ignore_errors=True)
            workdir.mkdir(parents=True)
            database_url = _database(kind, workdir, postgres)
            pads = {"count": 0}
            config = ReplicaConfig(articles=PORTAL_ARTICLES)
            with HostileServer(config, portal_answer(pads)) as server:
                first = crawl(server.url, workdir, database_url, "first", PROJECT_ROOT, 600)
                if first["outcome"] != "succeeded":
                    raise RuntimeError(f"{kind}: the first crawl {first['outcome']}: see {workdir}")
                padded = 0
                portal = stored_count(database_url)
                for size in sorted(sizes):
                    started = time.perf_counter()
                    if size - portal > padded:
                        pad_database(database_url, server.url, padded, size - portal)
                        padded = size - portal
                        pads["count"] = padded
                    pad_s = round(time.perf_counter() - started, 1)
                    for name, root in roots.items():
                        timeout = 300 + size / 1000
                        run = crawl(
                            server.url, workdir, database_url, f"rerun-{size}-{name}", root, timeout
                        )
                        run.update(
                            {
                                "database": kind,
                                "size": size,
                                "stored_articles": stored_count(database_url),
                                "code": name,
                                "pad_s": pad_s,
                                "unchanged": unchanged(run),
                            }
                        )
                        runs.append(run)
                        print(
                            f"  [rerun memory] {kind} {size:,} ({name}): "
                            f"{run['peak_rss_mb']} MB peak, {run['wall_s']} s, "
                            f"{run['requests']} requests, {run['outcome']}",
                            flush=True,
                        )
    finally:
        if postgres is not None:
            postgres.stop()
    results["target"] = rerun_memory_target(results)
    return results


def rerun_memory_target(results: dict[str, Any]) -> dict[str, Any]:
    """Reached when every unchanged re-run of this code at the largest size (at least 1M) of
    every database stays under TARGET_MB, and each was indeed unchanged."""
    ours = [r for r in results["runs"] if r["code"] == next(iter(results["roots"]))]
    largest = max((r["size"] for r in ours), default=0)
    at_largest = [r for r in ours if r["size"] == largest]
    reached = (
        largest >= TARGET_SIZE
        and bool(at_largest)
        and all(r["unchanged"] and r["peak_rss_mb"] < TARGET_MB for r in at_largest)
    )
    return {"size": largest, "limit_mb": TARGET_MB, "reached": reached}


def render_rerun_memory_markdown(results: dict[str, Any]) -> str:
    target = results["target"]
    verdict = "reached" if target["reached"] else "NOT reached"
    lines = [
        "## Unchanged re-run: peak memory against the database size (issue 24)",
        "",
        f"Target: peak RSS under {TARGET_MB:.0f} MB at {TARGET_SIZE:,} stored articles, on "
        f"every database: **{verdict}** (largest size measured: {target['size']:,}). "
        f"A {PORTAL_ARTICLES}-article replica portal, its database padded with generated "
        "articles of the same site (one alias URL each), listed in one more sitemap with their "
        "stored dates (nothing to fetch); peak RSS is the crawl process's own "
        "high-water mark, on a shared machine (noisy in wall time, not in memory).",
        "",
        "| Database | Stored articles | Code | Peak RSS MB | Wall s | Requests | Outcome "
        "| Unchanged |",
        "|---|---:|---|---:|---:|---:|---|---|",
    ]
    for run in results["runs"]:
        lines.append(
            f"| {run['database']} | {run['stored_articles']:,} | {run['code']} "
            f"| {run['peak_rss_mb']} | {run['wall_s']} | {run['requests']} | {run['outcome']} "
            f"| {'yes' if run['unchanged'] else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in SIZES),
        help="stored article counts, ascending (default %(default)s)",
    )
    parser.add_argument("--databases", default=",".join(DATABASES))
    parser.add_argument("--compare", type=Path, help="another checkout to measure too")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s]
    except ValueError:
        parser.error(f"--sizes: not a list of numbers: {args.sizes!r}")
    databases = tuple(d for d in args.databases.split(",") if d)
    if not set(databases) <= set(DATABASES):
        parser.error(f"--databases: one or more of {', '.join(DATABASES)}")
    roots = {"this": PROJECT_ROOT}
    if args.compare is not None:
        roots["compared"] = args.compare.resolve()
    out = args.out or Path(tempfile.mkdtemp(prefix="hepza-rerun-memory-"))
    results = run_rerun_memory(sizes, out, databases=databases, roots=roots)
    (out / "rerun-memory.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(render_rerun_memory_markdown(results))
    return 0 if results["target"]["reached"] else 1


if __name__ == "__main__":
    sys.exit(main())
