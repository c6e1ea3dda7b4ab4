"""The cluster's one run record: one crawl_runs row, one report, one outcome
(crawler/cluster/record.py)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from scrapy import Spider
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from crawler import settings as project_settings
from crawler.cluster.addon import ClusterAddon
from crawler.cluster.record import (
    ClusterStatsPublisher,
    cluster_site_key,
    fail_cluster_run_without_redis,
    finish_cluster_run,
    start_cluster_run,
    stats_key,
)
from crawler.cluster.share import ClusterShareOwner
from crawler.extensions.run import RunOwner
from crawler.ledger.history import load_runs
from pipelines.storage.models import SITE_LENGTH
from pipelines.storage.store import ArticleStore

pytestmark = pytest.mark.redis

PREFIX = "hepza"
CRAWL = "c" * 32


def settings() -> Settings:
    return Settings(
        {
            "COVERAGE_THRESHOLDS": {"title": 0.98},
            "COVERAGE_MIN_ARTICLES": 5,
            "MAX_ERROR_RATE": 0.05,
            "RUN_CHECKS": project_settings.RUN_CHECKS,
        }
    )


def snapshot(client: redis.Redis, worker: str, site: str, stats: dict[str, Any], **extra: str):
    client.hset(
        stats_key(PREFIX, CRAWL, worker, site),
        mapping={
            "stats": json.dumps(stats),
            "final": "1" if "outcome" in extra else "0",
            "site": site,
            "worker": worker,
            **extra,
        },
    )


def stats_of(new: int, requests: int, **more: Any) -> dict[str, Any]:
    return {
        "downloader/request_count": requests,
        "storage/new": new,
        "coverage/articles": new,
        "coverage/title": new,
        "crawl/mode": "full",
        **more,
    }


def test_cluster_site_key_names_every_site_or_as_many_as_fit():
    assert cluster_site_key(["hepza"]) == "hepza"
    assert cluster_site_key(["quan1", "hepza", "quan1"]) == "hepza+quan1"
    many = [f"portal-{i:02d}" for i in range(30)]
    key = cluster_site_key(many)
    assert len(key) <= SITE_LENGTH
    assert key.startswith("portal-00+portal-01+")
    assert key.endswith("-more")


def test_cluster_run_is_one_row_found_by_each_of_its_sites(database_url, tmp_path, redis_url):
    store = ArticleStore(database_url)
    client = redis.Redis.from_url(redis_url)
    try:
        start_cluster_run(store, CRAWL, ["quan1", "hepza"], {"full": "1"}, datetime.now(UTC))
        snapshot(client, "w1", "hepza", stats_of(3, 10), outcome="succeeded")
        snapshot(client, "w2", "quan1", stats_of(2, 8), outcome="succeeded")
        result = finish_cluster_run(
            client, PREFIX, CRAWL, store, tmp_path / "reports", settings=settings()
        )
        hepza_runs = load_runs(store.engine, "hepza")
        quan1_runs = load_runs(store.engine, "quan1")
        every_run = load_runs(store.engine)
        other_runs = load_runs(store.engine, "other")
    finally:
        store.close()
        client.close()
    assert result is not None and result.outcome == "succeeded"
    assert [r.run_id for r in every_run] == [CRAWL]
    assert every_run[0].site == "hepza+quan1"
    assert every_run[0].new == 5
    assert [r.run_id for r in hepza_runs] == [CRAWL]
    assert [r.run_id for r in quan1_runs] == [CRAWL]
    assert other_runs == []


def test_finish_sums_every_worker_and_site_including_a_killed_workers_last_snapshot(
    tmp_path, redis_url
):
    client = redis.Redis.from_url(redis_url)
    try:
        snapshot(client, "w1", "hepza", stats_of(3, 10), outcome="succeeded")
        snapshot(client, "w1", "quan1", stats_of(1, 4), outcome="succeeded")
        # killed with SIGKILL: never published its final snapshot
        snapshot(client, "w2", "hepza", stats_of(2, 6))
        result = finish_cluster_run(
            client, PREFIX, CRAWL, None, tmp_path, settings=settings(), sites=["hepza", "quan1"]
        )
    finally:
        client.close()
    assert result is not None
    report = json.loads((tmp_path / f"{CRAWL}.json").read_text("utf-8"))
    assert json.loads((tmp_path / "latest.json").read_text("utf-8")) == report
    assert report["outcome"] == "succeeded"
    assert report["counts"]["stored_new"] == 6
    assert report["counts"]["requests"] == 20
    per_site = report["cluster"]["per_site"]
    assert per_site["hepza"]["counts"]["stored_new"] == 5
    assert per_site["hepza"]["workers"] == ["w1", "w2"]
    assert per_site["quan1"]["counts"]["stored_new"] == 1
    killed = report["cluster"]["per_worker"]["w2"]["hepza"]
    assert killed["final"] is False
    assert killed["counts"]["stored_new"] == 2


def test_a_failure_recorded_by_any_worker_fails_the_cluster_run(tmp_path, redis_url):
    client = redis.Redis.from_url(redis_url)
    lost = stats_of(
        4,
        10,
        **{
            "storage/lost": 2,
            "run/failure/storage_lost": 2,
            "run/failure_message/storage_lost": "articles parsed but not stored in the database",
        },
    )
    try:
        snapshot(client, "w1", "hepza", stats_of(3, 10), outcome="succeeded")
        snapshot(client, "w2", "hepza", lost, outcome="failed")
        result = finish_cluster_run(
            client, PREFIX, CRAWL, None, tmp_path, settings=settings(), sites=["hepza"]
        )
    finally:
        client.close()
    assert result is not None
    assert result.outcome == "failed"
    assert result.report["counts"]["lost"] == 2
    assert result.failures == ["articles parsed but not stored in the database (2 times)"]


def test_two_workers_finishing_at_once_write_one_consistent_row(database_url, tmp_path, redis_url):
    store = ArticleStore(database_url)
    client = redis.Redis.from_url(redis_url)
    results: list[Any] = []
    try:
        start_cluster_run(store, CRAWL, ["hepza"], {}, datetime.now(UTC))
        snapshot(client, "w1", "hepza", stats_of(3, 10), outcome="succeeded")
        snapshot(client, "w2", "hepza", stats_of(2, 6), outcome="succeeded")

        def finish(worker: str) -> None:
            own = redis.Redis.from_url(redis_url)
            try:
                results.append(
                    finish_cluster_run(
                        own, PREFIX, CRAWL, store, tmp_path, settings=settings(), worker_id=worker
                    )
                )
            finally:
                own.close()

        threads = [threading.Thread(target=finish, args=(w,)) for w in ("w1", "w2")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        again = finish_cluster_run(client, PREFIX, CRAWL, store, tmp_path, settings=settings())
        runs = load_runs(store.engine)
    finally:
        store.close()
        client.close()
    finished = [r for r in results if r is not None and r.finished_here]
    assert len(finished) == 1
    assert again is not None and not again.finished_here
    assert again.report == finished[0].report
    assert [(r.run_id, r.site, r.outcome, r.new) for r in runs] == [
        (CRAWL, "hepza", "succeeded", 5)
    ]


def test_a_cluster_run_is_not_marked_abandoned_by_a_plain_run_of_its_site(database_url):
    store = ArticleStore(database_url)
    try:
        start_cluster_run(store, CRAWL, ["hepza"], {}, datetime.now(UTC))
        abandoned = store.start_run("plain", datetime.now(UTC), {}, site="hepza")
    finally:
        store.close()
    assert abandoned == []


def _cluster_crawler(redis_url: str, tmp_path: Path):
    crawler = get_crawler(
        Spider,
        settings_dict={
            "RECORD_RUN": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "REPORTS_DIR": str(tmp_path / "reports"),
            "EXTENSIONS": {RunOwner: 500},
            "ADDONS": {ClusterAddon: 0},
            "CLUSTER_REDIS_URL": redis_url,
            "CLUSTER_CRAWL_ID": CRAWL,
            "CLUSTER_WORKER_ID": "host-1",
            "COVERAGE_THRESHOLDS": project_settings.COVERAGE_THRESHOLDS,
            "COVERAGE_MIN_ARTICLES": 5,
            "MAX_ERROR_RATE": 0.05,
            "RUN_CHECKS": project_settings.RUN_CHECKS,
        },
    )
    crawler.stats.open_spider()
    return crawler


def test_publisher_is_off_outside_cluster_mode(tmp_path):
    crawler = get_crawler(
        Spider,
        settings_dict={
            "RECORD_RUN": True,
            "DATABASE_URL": "",
            "REPORTS_DIR": str(tmp_path / "reports"),
            "EXTENSIONS": {RunOwner: 500, ClusterStatsPublisher: 520},
        },
    )
    crawler._apply_settings()
    assert crawler.get_extension(ClusterStatsPublisher) is None


def test_run_owner_in_cluster_mode_uses_the_crawl_id_and_hands_its_report_to_redis(
    redis_url, tmp_path
):
    crawler = _cluster_crawler(redis_url, tmp_path)
    crawler._apply_settings()
    owner = crawler.get_extension(RunOwner)
    publisher = crawler.get_extension(ClusterStatsPublisher)
    assert isinstance(owner, ClusterShareOwner) and publisher is not None
    assert owner.run_id == CRAWL
    publisher.site = owner.site = "hepza"
    crawler.stats.set_value("storage/new", 0)  # stored nothing: other workers may have
    crawler.stats.set_value("downloader/request_count", 4)
    publisher.publish()
    owner.report = None

    spider = Spider("hepza")
    owner._close_run(spider, "finished")
    client = redis.Redis.from_url(redis_url)
    try:
        raw = client.hgetall(stats_key(PREFIX, CRAWL, "host-1", "hepza"))
    finally:
        client.close()
    assert raw[b"final"] == b"1"
    assert raw[b"outcome"] == b"succeeded"
    assert json.loads(raw[b"stats"])["downloader/request_count"] == 4
    # no report file and no crawl_runs row of this worker
    assert not (tmp_path / "reports").exists()
    assert owner.store is not None
    assert load_runs(owner.store.engine) == []


def test_a_run_whose_redis_was_lost_is_recorded_failed_and_a_finished_one_is_kept(
    database_url, tmp_path, redis_url
):
    store = ArticleStore(database_url)
    client = redis.Redis.from_url(redis_url)
    lost = "Redis at redis://127.0.0.1:1/0 is unavailable: connection refused"
    try:
        start_cluster_run(store, CRAWL, ["quan1", "hepza"], {}, datetime.now(UTC))
        first = fail_cluster_run_without_redis(
            store,
            CRAWL,
            tmp_path / "reports",
            sites=["quan1", "hepza"],
            worker_id="w1",
            reason=lost,
            worker_stats={"hepza": stats_of(3, 10)},
        )
        # A second worker losing Redis too finds the row failed already.
        second = fail_cluster_run_without_redis(
            store,
            CRAWL,
            tmp_path / "reports",
            sites=["quan1", "hepza"],
            worker_id="w2",
            reason=lost,
            worker_stats={"quan1": stats_of(1, 4)},
        )
        [run] = load_runs(store.engine)
        # Once the run is finished with Redis (here: Redis came back and a worker finished it),
        # a late loss does not rewrite it.
        client.delete(f"{PREFIX}:crawl:{CRAWL}:finished", f"{PREFIX}:crawl:{CRAWL}:finisher")
        snapshot(client, "w1", "hepza", stats_of(2, 6), outcome="succeeded")
        finish_cluster_run(
            client, PREFIX, CRAWL, store, tmp_path / "r2", settings=settings(), sites=["hepza"]
        )
        kept = fail_cluster_run_without_redis(
            store,
            CRAWL,
            tmp_path / "r3",
            sites=["hepza"],
            worker_id="w3",
            reason=lost,
            worker_stats={},
        )
    finally:
        store.close()
        client.close()
    assert (first, second) == ("failed", "failed")
    assert run.run_id == CRAWL and run.outcome == "failed"
    report = json.loads((tmp_path / "reports" / f"{CRAWL}.json").read_text())
    assert report["outcome"] == "failed"
    assert report["failures"] == [f"Redis was lost mid-crawl: {lost}"]
    assert report["counts"]["stored_new"] == 1
    assert kept == "succeeded"
