"""The run's outcome: recorded failures, the judgement, and who reports to it."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from scrapy.exceptions import DropItem, NotConfigured
from scrapy.utils.test import get_crawler

from crawler.domain.items import ArticleItem
from crawler.domain.outcome import fail_run, recorded_failures
from crawler.extensions.run import RunOwner, judge_run
from pipelines.dedupe import DedupePipeline
from pipelines.storage.store import StorageError

THRESHOLDS = {"title": 0.98}
GOOD = {"downloader/request_count": 10, "storage/new": 3, "crawl/known_articles": 0}


def judge(stats: dict[str, Any], reason: str = "finished") -> tuple[str, list[str]]:
    outcome, failures, _ = judge_run(stats, reason, THRESHOLDS, 5, 0.05)
    return outcome, failures


def test_a_clean_run_succeeds() -> None:
    assert judge(GOOD) == ("succeeded", [])


def test_every_recorded_failure_fails_the_run_with_its_message() -> None:
    crawler = get_crawler()
    crawler.stats.open_spider()
    fail_run(crawler, "storage_lost", "articles parsed but not stored: db gone", 4)
    fail_run(crawler, "feed_unwritable", "the feed f.jsonl could not be written")
    outcome, failures = judge({**GOOD, **crawler.stats.get_stats()})
    assert outcome == "failed"
    assert failures == [
        "the feed f.jsonl could not be written",
        "articles parsed but not stored: db gone (4 times)",
    ]


def test_fail_run_logs_one_error_per_code(caplog: pytest.LogCaptureFixture) -> None:
    crawler = get_crawler()
    crawler.stats.open_spider()
    with caplog.at_level(logging.ERROR):
        for _ in range(50):
            fail_run(crawler, "storage_lost", "the database did not answer")
    assert len([r for r in caplog.records if "storage_lost" in r.getMessage()]) == 1
    assert crawler.stats.get_value("run/failure/storage_lost") == 50


def test_recorded_failures_ignore_other_stats() -> None:
    assert recorded_failures({"run/failed": True, "run/outcome": "failed"}) == []


def test_an_interrupted_run_is_not_a_success() -> None:
    assert judge(GOOD, "shutdown")[0] == "interrupted"


def test_the_run_owner_is_off_unless_the_command_records_runs() -> None:
    with pytest.raises(NotConfigured):
        RunOwner.from_crawler(get_crawler())
    settings = {"RECORD_RUN": True, "REPORTS_DIR": "reports", "DATABASE_URL": ""}
    assert RunOwner.from_crawler(get_crawler(settings_dict=settings)).store is None


class RefusingStore:
    def record_aliases(self, pairs: list[tuple[str, str]], run_id: str) -> None:
        raise StorageError("storage record_aliases failed on sqlite:///x: gone")


def test_dedupe_alias_write_failure_fails_the_run() -> None:
    settings = {
        "RECORD_RUN": True,
        "REPORTS_DIR": "reports",
        "DATABASE_URL": "",
        "EXTENSIONS": {RunOwner: 500},
    }
    crawler = get_crawler(settings_dict=settings)
    crawler.stats.open_spider()
    owner = crawler.get_extension(RunOwner)
    assert owner is not None
    owner.store = RefusingStore()  # type: ignore[assignment]
    pipeline = DedupePipeline.from_crawler(crawler)
    first = ArticleItem(url="https://h/w/a", id="a" * 20, title="T", body_text="B")
    pipeline.process_item(first)
    again = ArticleItem(url="https://h/w/a", id="a" * 20, title="T", body_text="B")
    again.alternate_urls = ["https://h/en/w/a"]
    with pytest.raises(DropItem):
        pipeline.process_item(again)
    assert crawler.stats.get_value("run/failure/storage_aliases_lost") == 2
