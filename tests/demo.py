"""``make demo``: serve the local replica, crawl it with the real spider, print a summary."""

from __future__ import annotations

import shutil
import sys

from tests.crawl_runner import FAST_SETTINGS, PROJECT_ROOT, run_crawl
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig


def main() -> int:
    workdir = PROJECT_ROOT / "output" / "demo"
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
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
