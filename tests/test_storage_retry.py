"""A database that is briefly unreachable is waited for, not written off (STORAGE_RETRY_SECONDS).

The PostgreSQL server here is the module's own: the tests stop it (``pg_ctl stop -m fast``,
every client dropped) and start it again on the same port.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from scrapy.exceptions import DropItem

from crawler.domain.items import ArticleItem
from crawler.extensions.run import judge_run
from pipelines.storage.pipeline import StoragePipeline
from pipelines.storage.store import ArticleStore, StorageError
from tests.conftest import running_postgres
from tests.crawl_runner import PROJECT_ROOT, crawl_command
from tests.postgres import PostgresServer
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig
from tests.test_storage import recording_crawler

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    """This module's own server: its tests stop and start it."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def stoppable_url(own_postgres: PostgresServer) -> Iterator[str]:
    name = own_postgres.create_database()
    try:
        yield own_postgres.url(name)
    finally:
        if not (own_postgres.data / "postmaster.pid").exists():
            own_postgres.resume()
        own_postgres.drop_database(name)


def _database(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def _through(pipeline: StoragePipeline, value: Any) -> Any:
    """One item through the pipeline as Scrapy sends it: the result awaited when it waits."""
    try:
        result = pipeline.process_item(value)
        return (await result) if inspect.isawaitable(result) else result
    except DropItem as exc:
        return exc


async def _close(pipeline: StoragePipeline) -> None:
    pending = pipeline.close_spider()
    if pending is not None:
        await pending


def _records(make: Callable[..., dict[str, Any]], count: int, **extra: Any) -> list[ArticleItem]:
    return [ArticleItem(**make(f"r{i}", body_text=f"Bài {i}", **extra)) for i in range(count)]


def test_unreachable_postgres_is_told_apart_from_a_refused_statement(
    own_postgres: PostgresServer, stoppable_url: str
) -> None:
    store = ArticleStore(stoppable_url)
    try:
        with (
            pytest.raises(StorageError) as refused,
            store.guard("divide"),
            store.engine.connect() as conn,
        ):
            conn.exec_driver_sql("SELECT 1 / 0")
        own_postgres.pause()
        with pytest.raises(StorageError) as unreachable:
            store.content_index("hepza")
    finally:
        store.close()
    assert refused.value.unreachable is False
    assert unreachable.value.unreachable is True


def test_sqlite_errors_other_than_busy_are_not_waited_for(tmp_path: Path) -> None:
    store = ArticleStore(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        with (
            pytest.raises(StorageError) as missing,
            store.guard("read"),
            store.engine.connect() as conn,
        ):
            conn.exec_driver_sql("SELECT * FROM no_such_table")
    finally:
        store.close()
    assert missing.value.unreachable is False


def test_postgres_stopped_and_started_again_loses_nothing_and_counts_the_retries(
    own_postgres: PostgresServer, stoppable_url: str, make_article_record
) -> None:
    crawler = recording_crawler(stoppable_url, STORAGE_BATCH_SIZE=3, STORAGE_RETRY_SECONDS=60)
    pipeline = StoragePipeline.from_crawler(crawler)
    items = _records(make_article_record, 10)
    # a site met for the first time during the outage: its stored hashes cannot be read yet
    other_site = ArticleItem(**make_article_record("q", body_text="Quận 1", site="quan1"))

    async def scenario() -> list[Any]:
        first = [await _through(pipeline, item) for item in items[:3]]
        own_postgres.pause()
        comeback = threading.Timer(2.0, own_postgres.resume)
        comeback.start()
        try:
            rest = await asyncio.gather(
                *(_through(pipeline, item) for item in [*items[3:], other_site])
            )
            await _close(pipeline)
        finally:
            comeback.join()
        return first + list(rest)

    try:
        results = asyncio.run(scenario())
    finally:
        pipeline.store.close()
    stats = crawler.stats.get_stats()
    assert [getattr(r, "change", r) for r in results] == ["new"] * 11
    assert own_postgres.stored_articles(_database(stoppable_url)) == 11
    assert stats["storage/new"] == 11
    assert stats["storage/retries"] >= 1
    assert stats["storage/retry_seconds"] > 0
    assert "storage/lost" not in stats
    assert not [key for key in stats if key.startswith("run/failure/")]


def test_postgres_that_never_comes_back_fails_the_run_with_the_articles_counted_lost(
    own_postgres: PostgresServer, stoppable_url: str, make_article_record
) -> None:
    crawler = recording_crawler(stoppable_url, STORAGE_BATCH_SIZE=3, STORAGE_RETRY_SECONDS=2)
    pipeline = StoragePipeline.from_crawler(crawler)
    items = _records(make_article_record, 5)

    async def scenario() -> list[Any]:
        first = await _through(pipeline, items[0])  # the site's index is read: it is up
        own_postgres.pause()
        rest = await asyncio.gather(*(_through(pipeline, item) for item in items[1:]))
        await _close(pipeline)
        return [first, *rest]

    try:
        results = asyncio.run(scenario())
    finally:
        pipeline.store.close()
    stats = crawler.stats.get_stats()
    assert [getattr(r, "change", r) for r in results] == ["new"] * 5
    assert stats["storage/retries"] >= 1
    assert stats["storage/lost"] == 5
    assert "storage/new" not in stats
    assert stats["run/failure/storage_lost"] == 5
    message = stats["run/failure_message/storage_lost"]
    assert "not stored in the database" in message
    assert "write_batch failed" in message
    outcome, failures, _ = judge_run(stats, "finished", {}, 5, 0.05)
    assert outcome == "failed"
    assert any("not stored in the database" in f for f in failures)


def test_retry_seconds_zero_keeps_the_old_behaviour_of_no_wait(
    own_postgres: PostgresServer, stoppable_url: str, make_article_record
) -> None:
    crawler = recording_crawler(stoppable_url, STORAGE_BATCH_SIZE=3, STORAGE_RETRY_SECONDS=0)
    pipeline = StoragePipeline.from_crawler(crawler)
    items = _records(make_article_record, 3)
    try:
        assert pipeline.process_item(items[0]).change == "new"
        own_postgres.pause()
        # nothing is awaited: the failed flush keeps the batch and the items pass at once
        assert [pipeline.process_item(item).change for item in items[1:]] == ["new", "new"]
        assert pipeline.close_spider() is None
    finally:
        pipeline.store.close()
    stats = crawler.stats.get_stats()
    assert "storage/retries" not in stats
    assert stats["storage/lost"] == 3


def test_crawl_survives_postgres_restarting_mid_run_with_every_article_stored(
    own_postgres: PostgresServer, stoppable_url: str, tmp_path: Path
) -> None:
    config = ReplicaConfig(articles=120)
    settings = {"STORAGE_BATCH_SIZE": "5", "DOWNLOAD_DELAY": "0.02", "STORAGE_RETRY_SECONDS": "60"}
    with ReplicaServer(config) as site:
        cmd, _, feed = crawl_command(
            site.url, tmp_path, database_url=stoppable_url, settings=settings
        )
        proc = subprocess.Popen(
            cmd, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        own_postgres.wait_for_articles(_database(stoppable_url), 10)
        own_postgres.pause()
        time.sleep(3)
        own_postgres.resume()
        output, _ = proc.communicate(timeout=300)
    report = json.loads((tmp_path / "reports" / "latest.json").read_text("utf-8"))
    log = output.decode(errors="replace")
    fed = [json.loads(line) for line in feed.read_text("utf-8").splitlines() if line]
    assert proc.returncode == 0, log[-3000:]
    assert report["outcome"] == "succeeded", report["failures"]
    assert report["counts"]["storage_retries"] >= 1
    assert report["counts"]["lost"] == 0
    assert (
        report["counts"]["stored_new"]
        == len(fed)
        == own_postgres.stored_articles(_database(stoppable_url))
    )
    assert len(fed) == report["counts"]["articles_parsed"]
