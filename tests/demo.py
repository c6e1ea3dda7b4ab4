"""``make demo``: serve the local replica, crawl it with the real spider, print a summary and
the commands that explore what it stored (search, runs, report, browse).

The demo keeps its files in ``output/demo/`` (emptied at every demo), apart from the database of
real crawls (``output/hepza.sqlite3``): the printed commands name that place explicitly.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

from tests.crawl_runner import FAST_SETTINGS, PROJECT_ROOT, run_crawl
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig

DEFAULT_WORKDIR = PROJECT_ROOT / "output" / "demo"
# Words of the replica's articles, typed without diacritics: the search ignores them.
SEARCH_QUERY = "dau tu"


def shown_path(path: Path) -> str:
    """``path`` as typed from the project root (where make runs), else absolute."""
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path.resolve())


def explore_commands(workdir: Path) -> list[str]:
    """Shell commands, run from the project root, that read what the demo stored in
    ``workdir``: every output place of the project's commands derives from OUTPUT_DIR."""
    output_dir = ["-s", f"OUTPUT_DIR={shown_path(workdir)}"]
    database = f"sqlite:///{shown_path(workdir / 'hepza.sqlite3')}"
    return [
        shlex.join([".venv/bin/scrapy", "search", SEARCH_QUERY, *output_dir]),
        shlex.join([".venv/bin/scrapy", "runs", *output_dir]),
        shlex.join([".venv/bin/scrapy", "report", *output_dir]),
        shlex.join(["make", "browse", f"BROWSE_ARGS=--database-url {database}"]),
    ]


def main(workdir: Path = DEFAULT_WORKDIR) -> int:
    shutil.rmtree(workdir, ignore_errors=True)
    with ReplicaServer(ReplicaConfig()) as server:
        print(f"replica site serving at {server.url}")
        print(f"crawling it (politeness lifted for 127.0.0.1: {FAST_SETTINGS})")
        result = run_crawl(server.url, workdir)
    report = result.report
    counts = report["counts"]
    print()
    print(f"outcome:          {report['outcome']} (exit code {result.returncode})")
    print(f"pages fetched:    {counts['responses']} ({counts['requests']} requests)")
    print(f"articles stored:  {counts['stored_new'] + counts['stored_changed']}")
    print(f"rejected pages:   {counts['rejected']} (reasons: {report['reject_reasons']})")
    print(f"errors:           {counts['failed_requests']} failed, {counts['not_found']} not found")
    coverage = ", ".join(f"{k} {v:.0%}" for k, v in report["coverage"].items() if v is not None)
    print(f"field coverage:   {coverage}")
    for failure in report["failures"]:
        print(f"FAILURE:          {failure}")
    print(f"JSONL feed:       {result.feed_path}")
    print(f"database:         {result.database_url}")
    print(f"rejects:          {result.workdir / 'rejects.jsonl'}")
    print(f"run report:       {result.workdir / 'reports' / 'latest.json'}")
    print(f"log:              {result.workdir / 'crawl.log'}")
    print()
    where = "" if Path.cwd().resolve() == PROJECT_ROOT else f" (from {PROJECT_ROOT})"
    print(f"explore what the demo stored{where}:")
    for command in explore_commands(workdir):
        print(f"  {command}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
