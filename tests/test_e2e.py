"""End-to-end: crawl the local replica over HTTP in a subprocess and compare with its truth."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest

from crawler.domain.urls import canonical_article_url
from tests.crawl_runner import FAST_SETTINGS, PROJECT_ROOT, CrawlResult, crawl_command, run_crawl
from tests.postgres import PASSWORD
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig, ReplicaSite

pytestmark = pytest.mark.e2e

SEED_TITLE = (
    "Hội nghị sơ kết công tác Đảng bộ 9 tháng đầu năm và triển khai phương hướng, "
    "nhiệm vụ 3 tháng cuối năm 2022"
)


def truth_of(config: ReplicaConfig, base_url: str) -> dict[str, dict[str, Any]]:
    # The record's URL is the canonical form (NFC slug, upper-case percent-encoding).
    truth = ReplicaSite(config).truth()
    return {canonical_article_url(base_url + a["canonical_path"]): a for a in truth["articles"]}


def body_of(record: dict[str, Any]) -> list[str]:
    return (record["body_text"] or "").split("\n\n")


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def db_count(result: CrawlResult, table: str) -> int:
    path = result.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def request_paths(server: ReplicaServer) -> list[str]:
    return [r.path_and_query for r in server.requests]


@pytest.fixture(scope="module")
def first_crawl(tmp_path_factory: pytest.TempPathFactory) -> tuple[CrawlResult, dict[str, Any]]:
    config = ReplicaConfig()
    with ReplicaServer(config) as server:
        result = run_crawl(server.url, tmp_path_factory.mktemp("crawl"))
        truth = truth_of(config, server.url)
        requests = request_paths(server)
    return result, {"truth": truth, "requests": requests, "base": server.url}


def test_crawl_succeeds(first_crawl: tuple[CrawlResult, dict[str, Any]]) -> None:
    result, _ = first_crawl
    assert result.returncode == 0, result.log[-3000:]
    assert result.report["outcome"] == "succeeded"


def test_every_article_exported_exactly_once(
    first_crawl: tuple[CrawlResult, dict[str, Any]],
) -> None:
    result, ctx = first_crawl
    urls = [r["url"] for r in result.feed()]
    assert len(urls) == len(set(urls))
    assert sorted(urls) == sorted(ctx["truth"])
    assert db_count(result, "articles") == len(ctx["truth"])


@pytest.mark.parametrize("field", ["title", "author", "published_at", "category", "body"])
def test_fields_match_truth(first_crawl: tuple[CrawlResult, dict[str, Any]], field: str) -> None:
    result, ctx = first_crawl
    wrong = {}
    for record in result.feed():
        expected = ctx["truth"][record["url"]]
        if field == "body":
            got, want = body_of(record), expected["body_paragraphs"]
        else:
            got, want = record[field], expected[field]
        if got != want:
            wrong[record["url"]] = (got, want)
    assert wrong == {}


def test_seed_article_is_exact(first_crawl: tuple[CrawlResult, dict[str, Any]]) -> None:
    result, ctx = first_crawl
    seed = [r for r in result.feed() if r["title"] == SEED_TITLE]
    assert len(seed) == 1
    record = seed[0]
    assert record["author"] == "Minh Trí"
    assert record["published_at"] == "2023-01-18T17:48:00+07:00"
    paragraphs = body_of(record)
    assert paragraphs[0].startswith("Ngày 12/10, Đảng ủy Ban Quản lý các Khu Chế xuất")
    assert paragraphs[-1].endswith("chăm lo Tết cho công nhân, người lao động …")
    assert "Minh Trí" not in record["body_text"]
    assert "Bài viết liên quan" not in record["body_text"]
    assert record["body_text"] == "\n\n".join(ctx["truth"][record["url"]]["body_paragraphs"])


def test_no_non_article_page_exported(first_crawl: tuple[CrawlResult, dict[str, Any]]) -> None:
    result, ctx = first_crawl
    truth = ReplicaSite(ReplicaConfig()).truth()
    non_articles = {ctx["base"] + p.split("?")[0].split("#")[0] for p in truth["non_article_paths"]}
    exported = {r["url"] for r in result.feed()}
    assert exported.isdisjoint(non_articles)
    reasons = [reason["code"] for r in result.rejects() for reason in r["reasons"]]
    assert "not_article" in reasons


def test_data_is_clean(first_crawl: tuple[CrawlResult, dict[str, Any]]) -> None:
    result, _ = first_crawl
    raw = result.feed_path.read_text(encoding="utf-8")
    assert "\\u" not in raw
    assert "Hội nghị" in raw
    for record in result.feed():
        for text in strings_in(record):
            assert unicodedata.is_normalized("NFC", text), text[:80]
        for name in ("published_at", "modified_at", "crawled_at"):
            if record[name]:
                assert datetime.fromisoformat(record[name]).tzinfo is not None
        assert "<script" not in (record["body_html"] or "")
        assert "javascript:" not in (record["body_html"] or "")


def test_nothing_outside_the_site_requested(
    first_crawl: tuple[CrawlResult, dict[str, Any]],
) -> None:
    result, _ = first_crawl
    assert "offsite" not in result.report["counts"]
    assert "mailto:" not in result.log
    assert "facebook.com" not in result.log


def test_rerun_of_unchanged_site_adds_nothing(tmp_path: Path) -> None:
    config = ReplicaConfig(articles=30)
    with ReplicaServer(config) as server:
        first = run_crawl(server.url, tmp_path)
        articles, versions = db_count(first, "articles"), db_count(first, "article_versions")
        before = len(server.requests)
        second = run_crawl(server.url, tmp_path, feed_name="second.jsonl")
        rerun_requests = len(server.requests) - before
    assert first.returncode == 0 and second.returncode == 0, second.log[-3000:]
    # the feed holds what the run parsed: only the RECHECK_RECENT re-checks, all unchanged
    assert [r["change"] for r in second.feed()] == ["unchanged"] * 5
    assert db_count(second, "articles") == articles
    assert db_count(second, "article_versions") == versions
    # robots.txt, the sitemaps, the home page and each listing's first page: no articles
    assert rerun_requests < 40


def test_an_unreadable_article_index_fails_the_run_with_start_error_and_no_article_fetched(
    tmp_path: Path,
) -> None:
    config = ReplicaConfig(articles=10)
    with ReplicaServer(config) as server:
        first = run_crawl(server.url, tmp_path)
        assert first.returncode == 0, first.log[-3000:]
        # The schema says it is current, but the index's table is gone: the read fails.
        with sqlite3.connect(first.database_url.removeprefix("sqlite:///")) as conn:
            conn.execute("DROP TABLE article_urls")
        before = len(server.requests)
        second = run_crawl(server.url, tmp_path, feed_name="second.jsonl")
        paths = request_paths(server)[before:]
    assert second.returncode == 1
    report = second.report
    assert report["outcome"] == "failed"
    assert report["failures"] == [
        "the crawl did not finish (reason: start_error)",
        "first run stored zero articles",
    ]
    assert "cannot read the article index from sqlite:///" in second.log
    assert "crawl/known_articles" not in second.log
    assert second.feed() == []
    # no decision without the index: no article requested
    assert not [p for p in paths if "/w/" in p]


def _rerun_requests(articles: int, workdir: Path) -> int:
    config = ReplicaConfig(articles=articles)
    with ReplicaServer(config) as server:
        run_crawl(server.url, workdir, settings={"RECHECK_RECENT": "0"})
        before = len(server.requests)
        run_crawl(server.url, workdir, settings={"RECHECK_RECENT": "0"}, feed_name="re.jsonl")
        return len(server.requests) - before


def test_rerun_cost_does_not_grow_with_the_site(tmp_path: Path) -> None:
    # the two sites crawled side by side: each its own replica, database and directory
    with ThreadPoolExecutor(max_workers=2) as pool:
        small_run = pool.submit(_rerun_requests, 100, tmp_path / "small")
        large_run = pool.submit(_rerun_requests, 2000, tmp_path / "large")
        small, large = small_run.result(), large_run.result()
    assert small == large
    assert small < 40


def test_new_and_edited_articles_are_picked_up(tmp_path: Path) -> None:
    base_config = ReplicaConfig(articles=30)
    with ReplicaServer(base_config) as server:
        first = run_crawl(server.url, tmp_path)
        port = int(server.url.rsplit(":", 1)[1])
    versions_before = db_count(first, "article_versions")
    changed = ReplicaConfig(articles=30, extra_articles=3, edited=(5,))
    with ReplicaServer(changed, port=port) as server:
        before = len(server.requests)
        result = run_crawl(server.url, tmp_path, feed_name="changes.jsonl")
        fetched = {
            canonical_article_url(server.url + r.path_and_query)
            for r in server.requests[before:]
            if "/w/" in r.path_and_query
        }
    before_urls = set(truth_of(base_config, server.url))
    after = truth_of(changed, server.url)
    new_urls = set(after) - before_urls
    edited_url = next(u for u, a in after.items() if a["number"] == 5)
    assert result.returncode == 0, result.log[-3000:]
    assert len(new_urls) == 3
    assert result.report["counts"]["stored_new"] == 3
    assert result.report["counts"]["stored_changed"] == 1
    assert db_count(result, "article_versions") == versions_before + 4
    changes = {r["url"]: r["change"] for r in result.feed()}
    assert {u for u, c in changes.items() if c == "new"} == new_urls
    assert {u for u, c in changes.items() if c == "changed"} == {edited_url}
    # the new and the edited articles, the 5 newest stored ones re-checked (RECHECK_RECENT), and
    # no other article; non-articles (the sitemap's empty shell, a dead related link) are not
    # stored, so they are looked at again
    fetched_articles = fetched & set(after)
    assert new_urls | {edited_url} <= fetched_articles
    assert len(fetched_articles) <= 4 + 5


def test_faults_still_export_every_article_once(tmp_path: Path) -> None:
    config = ReplicaConfig(articles=40, faults=True)
    with ReplicaServer(config) as server:
        result = run_crawl(server.url, tmp_path)
        faults = [r.fault for r in server.requests if r.fault]
        # a slow answer is a success, not something to retry
        retried = [f for f in faults if f != "slow"]
        truth = truth_of(config, server.url)
    assert len(set(faults)) >= 5
    assert result.returncode == 0, result.log[-3000:]
    urls = [r["url"] for r in result.feed()]
    assert sorted(urls) == sorted(truth)
    assert result.report["counts"]["retries"] >= len(retried)


def test_sigkill_mid_crawl_then_rerun_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    config = ReplicaConfig(articles=300)
    with ReplicaServer(config) as server:
        cmd, database_url, _ = crawl_command(
            server.url, tmp_path, settings={"STORAGE_BATCH_SIZE": "10", "DOWNLOAD_DELAY": "0.01"}
        )
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT)
        db_path = Path(database_url.removeprefix("sqlite:///"))
        deadline = time.monotonic() + 120
        stored = 0
        while time.monotonic() < deadline and stored < 40:
            time.sleep(0.2)
            stored = _stored_articles(db_path)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert stored > 0, "the crawl stored nothing before the kill"
        result = run_crawl(server.url, tmp_path, feed_name="after-kill.jsonl")
        truth = truth_of(config, server.url)
    assert result.returncode == 0, result.log[-3000:]
    with sqlite3.connect(db_path) as conn:
        rows = [r[0] for r in conn.execute("SELECT url FROM articles")]
        per_article = conn.execute(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM article_versions GROUP BY article_id)"
        ).fetchone()[0]
    assert sorted(rows) == sorted(truth)
    assert per_article == 1


def _stored_articles(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    try:
        with sqlite3.connect(db_path, timeout=1) as conn:
            return int(conn.execute("SELECT count(*) FROM articles").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_sigterm_then_resume_from_jobdir(tmp_path: Path) -> None:
    config = ReplicaConfig(articles=300)
    jobdir = tmp_path / "job"
    settings = {"JOBDIR": str(jobdir), "STORAGE_BATCH_SIZE": "10", "DOWNLOAD_DELAY": "0.02"}
    with ReplicaServer(config) as server:
        cmd, database_url, feed = crawl_command(server.url, tmp_path, settings=settings)
        db_path = Path(database_url.removeprefix("sqlite:///"))
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _stored_articles(db_path) < 40:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) != 0  # an interrupted run is not a success
        interrupted = json.loads((tmp_path / "reports" / "latest.json").read_text("utf-8"))
        first_feed = [json.loads(line) for line in feed.read_text("utf-8").splitlines()]
        resumed = run_crawl(server.url, tmp_path, settings=settings, feed_name="resumed.jsonl")
        truth = truth_of(config, server.url)
        article_fetches = [r.path_and_query for r in server.requests if "/w/" in r.path_and_query]
    assert interrupted["outcome"] == "interrupted"
    assert resumed.returncode == 0, resumed.log[-3000:]
    records = first_feed + resumed.feed()
    urls = [r["url"] for r in records if r["change"] != "unchanged"]
    assert sorted(urls) == sorted(truth)
    assert db_count(resumed, "articles") == len(truth)
    assert db_count(resumed, "article_versions") == len(truth)
    # the resumed run did not start over: few articles were fetched twice
    assert len(article_fetches) < len(truth) * 1.2


def test_layout_break_fails_the_run_and_names_the_field(tmp_path: Path) -> None:
    config = ReplicaConfig(articles=30, broken=("date",))
    with ReplicaServer(config) as server:
        result = run_crawl(server.url, tmp_path)
    assert result.returncode != 0
    report = result.report
    assert report["outcome"] == "failed"
    assert any("published_at" in failure for failure in report["failures"])
    assert report["coverage"]["published_at"] < 0.5


def test_feed_matches_json_schema(first_crawl: tuple[CrawlResult, dict[str, Any]]) -> None:
    schema = json.loads(
        (PROJECT_ROOT / "pipelines" / "schema" / "article.schema.json").read_text("utf-8")
    )
    result, _ = first_crawl
    validator = jsonschema.Draft202012Validator(schema)
    for record in result.feed():
        errors = [e.message for e in validator.iter_errors(record)]
        assert errors == [], record["url"]


@pytest.mark.postgres
def test_postgres_crawl_never_logs_the_password(tmp_path: Path, postgres_url: str) -> None:
    config = ReplicaConfig(articles=10)
    with ReplicaServer(config) as server:
        result = run_crawl(
            server.url,
            tmp_path,
            database_url=postgres_url,
            settings={"LOG_LEVEL": "DEBUG"},
        )
        # a second run whose database is unreachable must fail loudly, still without it
        bad_url = postgres_url.replace("@127.0.0.1:", "@127.0.0.1:1").rsplit("/", 1)[0] + "/x"
        broken = run_crawl(server.url, tmp_path / "broken", database_url=bad_url)
    assert result.returncode == 0, result.log[-3000:]
    assert len(result.feed()) == len(truth_of(config, server.url))
    assert broken.returncode != 0
    report_text = (tmp_path / "reports" / "latest.json").read_text("utf-8")
    for secret in (PASSWORD, quote(PASSWORD, safe="")):
        assert secret not in result.log
        assert secret not in broken.log
        assert secret not in report_text


def test_full_and_since_arguments(tmp_path: Path) -> None:
    config = ReplicaConfig(articles=20)
    with ReplicaServer(config) as server:
        run_crawl(server.url, tmp_path)
        full = run_crawl(server.url, tmp_path, spider_args={"full": "1"}, feed_name="full.jsonl")
        full_counts = full.report["counts"]
        since = run_crawl(
            server.url, tmp_path, spider_args={"since": "2025-01-01"}, feed_name="since.jsonl"
        )
        since_counts = since.report["counts"]
        bad = run_crawl(server.url, tmp_path, spider_args={"since": "last week"}, feed_name="b")
        truth = truth_of(config, server.url)
    assert full.returncode == 0, full.log[-3000:]
    # everything fetched again and in the feed, nothing changed in the database
    assert full_counts["articles_parsed"] == len(truth)
    assert full_counts["unchanged"] == len(truth)
    assert sorted(r["url"] for r in full.feed()) == sorted(truth)
    assert {r["change"] for r in full.feed()} == {"unchanged"}
    recent = [u for u, a in truth.items() if a["published_at"][:10] >= "2025-01-01"]
    assert 0 < len(recent) < len(truth)
    assert since.returncode == 0, since.log[-3000:]
    assert since_counts["articles_parsed"] >= len(recent)
    assert since_counts["articles_parsed"] < len(truth)
    assert bad.returncode != 0
    assert "since must be YYYY-MM-DD" in bad.log


def test_cron_wrapper_runs_the_real_crawl_and_refuses_to_overlap(tmp_path: Path) -> None:
    config = ReplicaConfig(articles=40)
    out = tmp_path / "out"
    runner = [sys.executable, "-m", "crawler.ops.cron", "--output-dir", str(out), "--"]
    scrapy_args = ["-a", "base_url={url}"]
    settings = {
        **FAST_SETTINGS,
        "DOWNLOAD_DELAY": "0.05",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REPORTS_DIR": str(out / "reports"),
        "REJECTS_PATH": str(out / "rejects.jsonl"),
        "ARCHIVE_DIR": str(out / "archive"),
        "FEEDS": "{}",  # no feed: -s FEEDS={} turns the default one off
    }
    for name, value in settings.items():
        scrapy_args += ["-s", f"{name}={value}"]
    with ReplicaServer(config) as server:
        args = [a.replace("{url}", server.url) for a in scrapy_args]
        first = subprocess.Popen(
            [*runner, *args], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        time.sleep(1.5)  # the first run holds the lock by now
        second = subprocess.run(
            [*runner, *args],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        out_first, err_first = first.communicate(timeout=300)
    assert second.returncode == 75
    assert "another run is in progress" in second.stderr
    assert first.returncode == 0, err_first.decode()[-2000:]
    logs = list((out / "logs").glob("hepza-*.log"))
    assert len(logs) == 1 and "Spider closed (finished)" in logs[0].read_text("utf-8")
    report = json.loads((out / "reports" / "latest.json").read_text("utf-8"))
    assert report["outcome"] == "succeeded"
    assert report["counts"]["stored_new"] == len(ReplicaSite(config).truth()["articles"])
    assert "hepza-run:" in (out_first + err_first).decode()
