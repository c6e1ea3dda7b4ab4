"""Requests per second of the replica server (127.0.0.1 only, bounded loops).

python -m tests.replica.bench_server [--articles 20000] [--requests 3000] [--clients 1]
"""

from __future__ import annotations

import argparse
import http.client
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.replica.site import ReplicaConfig, ReplicaSite
from tests.replica.structure import CATEGORY_BY_KEY, DISPLAY


def _worker(host: str, port: int, paths: list[str], errors: list[str]) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    for path in paths:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            errors.append(f"{resp.status} {path}")
    conn.close()


def run(label: str, url: str, paths: list[str], clients: int) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    errors: list[str] = []
    chunks = [paths[i::clients] for i in range(clients)]
    threads = [threading.Thread(target=_worker, args=(host, port, c, errors)) for c in chunks]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    print(
        f"{label:<28} {len(paths):>6} requests  {elapsed:6.2f} s  "
        f"{len(paths) / elapsed:8.0f} req/s  errors={len(errors)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=1)
    args = parser.parse_args()
    # The server runs in its own process so that the client loop does not share its GIL.
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready"
        started = time.perf_counter()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.replica",
                "serve",
                "--articles",
                str(args.articles),
                "--ready-file",
                str(ready),
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            while not ready.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("replica server did not start")
                time.sleep(0.05)
            url = ready.read_text(encoding="utf-8").strip()
            print(
                f"{args.articles} articles: server ready in {time.perf_counter() - started:.2f} s"
            )
            _run_all(url, ReplicaSite(ReplicaConfig(articles=args.articles)), args)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _run_all(url: str, site: ReplicaSite, args: argparse.Namespace) -> None:
    n = args.requests
    run("robots.txt", url, ["/robots.txt"] * n, args.clients)
    articles = [a.canonical_path for a in site.articles]
    run("article pages (first view)", url, articles[:n], args.clients)
    run("article pages (cached)", url, articles[: min(n, 500)] * max(1, n // 500), args.clients)
    cat = CATEGORY_BY_KEY["tin-tuc-su-kien"]
    pages = max(1, len(site.listings[cat.key]) // site.config.delta)
    listing = [site.page_path(cat, 1 + i % pages, "") for i in range(n)]
    run("listing pages (first view)", url, listing, args.clients)
    sitemap = (
        f"/sitemap.xml?p_l_id={DISPLAY.plid}&layoutUuid={DISPLAY.uuid}"
        "&groupId=20122&privateLayout=false"
    )
    run("articles sitemap", url, [sitemap], 1)


if __name__ == "__main__":
    main()
