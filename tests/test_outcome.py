"""The run's outcome: recorded failures, the judgement, and who reports to it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pytest
from scrapy.exceptions import DropItem, NotConfigured
from scrapy.utils.test import get_crawler

from crawler.domain.items import ArticleItem
from crawler.domain.outcome import fail_run, recorded_failures
from crawler.extensions.run import RunOwner, judge_run
from pipelines.dedupe import DedupePipeline
from pipelines.storage.pipeline import StoragePipeline
from pipelines.storage.store import ArticleStore, StorageError
from tests.test_storage import settle

if TYPE_CHECKING:
    from pathlib import Path

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


class RefusingStore(ArticleStore):
    """Refuses every alias write for good (a refused statement, not an outage)."""

    def record_alias_ids(self, pairs: list[tuple[str, str]], run_id: str) -> int:
        raise StorageError("storage record_aliases failed on sqlite:///x: gone")


def test_dedupe_alias_write_failure_fails_the_run(tmp_path: Path) -> None:
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
    owner.store = RefusingStore(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    dedupe = DedupePipeline.from_crawler(crawler)
    storage = StoragePipeline.from_crawler(crawler)
    try:
        first = ArticleItem(url="https://h/w/a", id="a" * 20, title="T", body_text="B", site="h")
        assert settle(storage.process_item(dedupe.process_item(first))) is first
        # the same content under another URL (and its alternate): two aliases for the writer
        again = ArticleItem(url="https://h/w/b", id="b" * 20, title="T", body_text="B", site="h")
        again.alternate_urls = ["https://h/en/w/b"]
        with pytest.raises(DropItem):
            settle(dedupe.process_item(again))
        settle(storage.close_spider())
    finally:
        owner.close_store()
    assert crawler.stats.get_value("storage/new") == 1
    assert crawler.stats.get_value("storage/aliases_lost") == 2
    assert crawler.stats.get_value("run/failure/storage_aliases_lost") == 2


class BrieflyUnreachableStore(ArticleStore):
    """The first alias write finds the database unreachable; the next ones reach it."""

    refusals = 1

    def record_alias_ids(self, pairs: list[tuple[str, str]], run_id: str) -> int:
        if self.refusals:
            self.refusals -= 1
            raise StorageError(
                "storage record_aliases failed: connection refused", unreachable=True
            )
        return super().record_alias_ids(pairs, run_id)


def test_dedupe_aliases_wait_out_a_brief_outage_and_the_run_keeps_them(tmp_path: Path) -> None:
    settings = {
        "RECORD_RUN": True,
        "REPORTS_DIR": "reports",
        "DATABASE_URL": "",
        "EXTENSIONS": {RunOwner: 500},
        "STORAGE_BATCH_SIZE": 1,
    }
    crawler = get_crawler(settings_dict=settings)
    crawler.stats.open_spider()
    owner = crawler.get_extension(RunOwner)
    assert owner is not None
    owner.store = store = BrieflyUnreachableStore(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    dedupe = DedupePipeline.from_crawler(crawler)
    storage = StoragePipeline.from_crawler(crawler)
    try:
        first = ArticleItem(url="https://h/w/a", id="a" * 20, title="T", body_text="B", site="h")
        assert settle(storage.process_item(dedupe.process_item(first))) is first
        again = ArticleItem(url="https://h/w/b", id="b" * 20, title="T", body_text="B", site="h")
        again.alternate_urls = ["https://h/en/w/b"]
        with pytest.raises(DropItem):
            settle(dedupe.process_item(again))  # waits for the database, then drops
        settle(storage.close_spider())
        known = store.known_index("h")
    finally:
        owner.close_store()
    assert known["https://h/w/b"].id == known["https://h/en/w/b"].id == "a" * 20
    assert crawler.stats.get_value("storage/retries") == 1
    assert crawler.stats.get_value("storage/aliases") == 2
    assert not [key for key in crawler.stats.get_stats() if key.startswith("run/failure/")]
