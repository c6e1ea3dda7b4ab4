"""End-to-end: a run never claims what did not happen (issue 9, findings 1, 2, 7 and 8).

Each test runs the real crawl (or the real cron wrapper) in a subprocess against the replica.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crawler.crawl.feeds import partial_path
from crawler.domain.urls import canonical_article_url
from pipelines.storage.store import ArticleStore
from tests.crawl_runner import FAST_SETTINGS, PROJECT_ROOT, crawl_command, run_crawl
from tests.postgres import PostgresServer, PostgresUnavailable
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig, ReplicaSite

pytestmark = pytest.mark.e2e


def truth_urls(config: ReplicaConfig, base_url: str) -> set[str]:
    return {
        canonical_article_url(base_url + a["canonical_path"])
        for a in ReplicaSite(config).truth()["articles"]
    }


# --- finding 1: job state only for interrupted runs -------------------------------------------


def _wrapper(out: Path, db: Path, base_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "crawler.ops.cron", "--output-dir", str(out), "--"]
    settings = {
        **FAST_SETTINGS,
        "DATABASE_URL": f"sqlite:///{db}",
        "REPORTS_DIR": str(out / "reports"),
        "REJECTS_PATH": str(out / "rejects.jsonl"),
        "FEEDS": json.dumps({str(out / "feeds" / "run-%(time)s.jsonl"): {"format": "jsonlines"}}),
    }
    args += ["-a", f"base_url={base_url}", *extra]
    for name, value in settings.items():
        args += ["-s", f"{name}={value}"]
    return subprocess.run(
        args, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def _latest_report(out: Path) -> dict[str, Any]:
    return json.loads((out / "reports" / "latest.json").read_text("utf-8"))


def test_wrapper_runs_leave_no_job_state_and_see_edits_then_full_parses_everything(
    tmp_path: Path,
) -> None:
    out, db = tmp_path / "out", tmp_path / "hepza.sqlite3"
    base = ReplicaConfig(articles=30)
    with ReplicaServer(base) as server:
        first = _wrapper(out, db, server.url)
        port = int(server.url.rsplit(":", 1)[1])
    assert first.returncode == 0, first.stderr[-3000:]
    jobdir = out / "jobs" / "hepza"
    assert not (jobdir / "spider.state").exists()
    assert not (jobdir / "requests.seen").exists()

    edited = ReplicaConfig(articles=30, extra_articles=5, edited=(3, 5))
    with ReplicaServer(edited, port=port) as server:
        second = _wrapper(out, db, server.url)
        second_report = _latest_report(out)
        third = _wrapper(out, db, server.url, "-a", "full=1")
        third_report = _latest_report(out)
        everything = truth_urls(edited, server.url)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second_report["counts"]["stored_new"] == 5
    assert second_report["counts"]["stored_changed"] == 2
    # the RECHECK_RECENT re-checks were done (not skipped as already scheduled)
    assert second_report["counts"]["articles_parsed"] >= 5 + 2 + 5
    assert third.returncode == 0, third.stderr[-3000:]
    assert third_report["counts"]["articles_parsed"] == len(everything)
    assert third_report["counts"]["unchanged"] == len(everything)
    assert not (jobdir / "spider.state").exists()


# --- finding 2: a lost write fails the run ------------------------------------------------------


@pytest.mark.postgres
def test_postgres_stopped_mid_run_fails_the_run_and_counts_only_what_is_stored(
    tmp_path: Path,
) -> None:
    server = PostgresServer()
    try:
        server.start()
    except PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL could not start: {exc}")
    try:
        database = server.create_database()
        url = server.url(database)
        config = ReplicaConfig(articles=200)
        # the server never comes back: its outage is waited for 2 s, then the writes are lost
        settings = {
            "STORAGE_BATCH_SIZE": "5",
            "DOWNLOAD_DELAY": "0.02",
            "STORAGE_RETRY_SECONDS": "2",
        }
        with ReplicaServer(config) as site:
            cmd, _, feed = crawl_command(site.url, tmp_path, database_url=url, settings=settings)
            proc = subprocess.Popen(
                cmd, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            server.wait_for_articles(database, 20)
            server.pause()
            output, _ = proc.communicate(timeout=300)
        server.resume()
        stored = server.stored_articles(database)
        report = json.loads((tmp_path / "reports" / "latest.json").read_text("utf-8"))
        store = ArticleStore(url)
        try:
            abandoned = store.start_run("next-run", datetime.now(UTC), {}, site="hepza")
        finally:
            store.close()
    finally:
        server.stop()
    assert proc.returncode == 1, output.decode()[-3000:]
    assert report["outcome"] == "failed"
    assert any("not stored in the database" in f for f in report["failures"])
    counts = report["counts"]
    assert counts["stored_new"] + counts["stored_changed"] + counts["unchanged"] == stored
    assert 20 <= stored < len(truth_urls(config, "http://x"))
    # the run could not mark itself finished: the next run marks it abandoned
    assert abandoned == [report["run_id"]]
    # Its feed lists articles the database never got: it is kept, but not under its name.
    assert not feed.exists()
    assert partial_path(feed).is_file()
    log = (tmp_path / "crawl.log").read_text("utf-8")
    assert f"the feed stays at {partial_path(feed)}" in log


# --- finding 2: unwritable files fail the run ---------------------------------------------------


def test_feed_that_cannot_be_written_at_run_time_fails_the_run(tmp_path: Path) -> None:
    # Its directory passes the preflight; the feed's own name is taken by a directory, so the
    # first item cannot open it (a place unwritable before the run is exit 2: test_errors.py).
    (tmp_path / "feed.jsonl").mkdir()
    with ReplicaServer(ReplicaConfig(articles=10)) as server:
        result = run_crawl(server.url, tmp_path, feed_name="feed.jsonl")
    assert result.returncode == 1, result.log[-3000:]
    assert result.report["outcome"] == "failed"
    assert any("feed" in f and "could not be written" in f for f in result.report["failures"])


def test_report_that_cannot_be_written_still_fails_the_exit_status(tmp_path: Path) -> None:
    # The reports directory is writable; latest.json is taken by a directory.
    (tmp_path / "reports" / "latest.json").mkdir(parents=True)
    with ReplicaServer(ReplicaConfig(articles=10)) as server:
        result = run_crawl(server.url, tmp_path)
    assert result.returncode == 1
    assert "cannot write the run report" in result.log
    runs = sqlite3.connect(result.database_url.removeprefix("sqlite:///")).execute(
        "SELECT outcome, report FROM crawl_runs"
    )
    [(outcome, report)] = list(runs)
    assert outcome == "failed"
    assert "cannot write the run report" in report


def test_run_the_database_refuses_to_record_says_failed_in_its_report_too(tmp_path: Path) -> None:
    # The schema exists; the database then refuses to record any run's end (a trigger), so the
    # report, written before the row, must not be left saying the run succeeded.
    database = tmp_path / "hepza.sqlite3"
    ArticleStore(f"sqlite:///{database}").close()
    with sqlite3.connect(database) as conn:
        conn.execute(
            "CREATE TRIGGER refuse_run_end BEFORE UPDATE ON crawl_runs "
            "WHEN NEW.outcome IS NOT NULL BEGIN SELECT RAISE(ABORT, 'runs are read-only'); END"
        )
    with ReplicaServer(ReplicaConfig(articles=10)) as server:
        result = run_crawl(server.url, tmp_path)
    assert result.returncode == 1, result.log[-3000:]
    assert result.report["outcome"] == "failed"
    assert any(
        "not recorded in crawl_runs" in f and "runs are read-only" in f
        for f in result.report["failures"]
    )
    [(outcome,)] = list(sqlite3.connect(database).execute("SELECT outcome FROM crawl_runs"))
    assert outcome == "running"  # the next run marks it abandoned


# --- finding 7: side commands are side-effect free ------------------------------------------------


def test_scrapy_parse_without_callback_parses_an_article_and_records_no_run(tmp_path: Path) -> None:
    config = ReplicaConfig(articles=10)
    db = tmp_path / "hepza.sqlite3"
    reports = tmp_path / "reports"
    started = time.time()
    with ReplicaServer(config) as server:
        crawl = run_crawl(server.url, tmp_path)
        runs_before = sqlite3.connect(db).execute("SELECT count(*) FROM crawl_runs").fetchone()
        latest_before = (reports / "latest.json").read_bytes()
        article = sorted(truth_urls(config, server.url))[0]
        command = [sys.executable, "-m", "scrapy", "parse", "--spider", "hepza", article]
        command += ["-a", f"base_url={server.url}", "-s", f"DATABASE_URL=sqlite:///{db}"]
        command += ["-s", f"REPORTS_DIR={reports}", "-s", "LOG_LEVEL=INFO"]
        parsed = subprocess.run(
            command,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert crawl.returncode == 0
    assert parsed.returncode == 0, parsed.stderr[-3000:]
    assert "NotImplementedError" not in parsed.stderr
    assert '"title"' in parsed.stdout or "'title'" in parsed.stdout
    runs_after = sqlite3.connect(db).execute("SELECT count(*) FROM crawl_runs").fetchone()
    assert runs_after == runs_before
    assert (reports / "latest.json").read_bytes() == latest_before
    assert not (PROJECT_ROOT / "output" / "feeds").exists() or not [
        p for p in (PROJECT_ROOT / "output" / "feeds").iterdir() if p.stat().st_mtime > started
    ]


# --- finding 8: -O gives every article and replaces the default feed ------------------------------


def test_full_run_with_overwrite_output_writes_every_article_and_no_default_feed(
    tmp_path: Path,
) -> None:
    config = ReplicaConfig(articles=15)
    with ReplicaServer(config) as server:
        run_crawl(server.url, tmp_path)
        full = run_crawl(
            server.url,
            tmp_path,
            spider_args={"full": "1"},
            feed_name="all.jsonl",
            settings={"OUTPUT_DIR": str(tmp_path / "out")},
        )
        everything = truth_urls(config, server.url)
    assert full.returncode == 0, full.log[-3000:]
    records = full.feed()
    assert sorted(r["url"] for r in records) == sorted(everything)
    assert {r["change"] for r in records} == {"unchanged"}
    assert not (tmp_path / "out" / "feeds").exists()
