from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler
from sqlalchemy import event, func, select, update

from crawler.domain.identity import identify
from crawler.domain.items import ArticleItem, ArticleUrlItem
from crawler.extensions.run import RunOwner
from pipelines.storage.content_index import Classification, ContentIndex, LookedUpContents
from pipelines.storage.models import Article, ArticleUrl, ArticleVersion, CrawlRun
from pipelines.storage.pipeline import StoragePipeline
from pipelines.storage.store import ArticleStore, KnownArticle, StorageError
from pipelines.storage.writer import StoreWriter

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from scrapy.crawler import Crawler


@pytest.fixture
def store(database_url: str) -> Iterator[ArticleStore]:
    store = ArticleStore(database_url)
    yield store
    store.close()


def table(store: ArticleStore, model: Any, order: Any) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(model).order_by(order)).mappings()]


def versions_of(store: ArticleStore, article_id: str) -> list[dict[str, Any]]:
    return store.versions(article_id)


def article(store: ArticleStore, article_id: str) -> dict[str, Any]:
    with store.engine.connect() as conn:
        query = select(Article.__table__).where(Article.id == article_id)
        return dict(conn.execute(query).mappings().one())


def classify(store: ArticleStore, record: dict[str, Any]) -> Classification:
    """How the storage writer classifies ``record``: identified (its id and content hash, or
    those computed from it), then by its site's :class:`ContentIndex`, read from the store."""
    return store.content_index(record["site"]).classify(*identify(record))


def settle(result: Any) -> Any:
    """A pipeline's or the writer's answer as Scrapy takes it: a coroutine is run to its end
    (its database calls on the writer's thread)."""
    if not inspect.isawaitable(result):
        return result

    async def wait() -> Any:
        return await result

    return asyncio.run(wait())


def count(store: ArticleStore, model: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(model)) or 0)


# --- store -------------------------------------------------------------------------------------


def test_first_sighting_is_new_and_gets_version_one(store, make_article_record):
    record = make_article_record("a")
    assert classify(store, record) == Classification("new", record["id"])
    store.write_batch([record], "run-1")
    assert classify(store, record) == Classification("unchanged", record["id"])
    versions = versions_of(store, record["id"])
    assert len(versions) == 1
    assert versions[0]["content_hash"] == record["content_hash"]
    assert versions[0]["run_id"] == "run-1"
    assert versions[0]["record"]["title"] == "Tiêu đề a"
    assert versions[0]["record"]["images"] == record["images"]


def test_same_batch_twice_gives_the_same_rows(store, make_article_record):
    batch = [make_article_record("a"), make_article_record("b", body_text="Khác")]
    store.write_batch(batch, "run-1")
    ignore = {"last_seen"}
    first = {
        name: [{k: v for k, v in row.items() if k not in ignore} for row in table(store, *spec)]
        for name, spec in {
            "articles": (Article.__table__, Article.id),
            "urls": (ArticleUrl.__table__, ArticleUrl.url),
            "versions": (ArticleVersion.__table__, ArticleVersion.id),
        }.items()
    }
    store.write_batch(batch, "run-1")
    second = {
        name: [{k: v for k, v in row.items() if k not in ignore} for row in table(store, *spec)]
        for name, spec in {
            "articles": (Article.__table__, Article.id),
            "urls": (ArticleUrl.__table__, ArticleUrl.url),
            "versions": (ArticleVersion.__table__, ArticleVersion.id),
        }.items()
    }
    assert second == first
    assert len(first["articles"]) == 2
    assert len(first["urls"]) == 4
    assert len(first["versions"]) == 2


def test_every_exported_field_round_trips(store, make_article_record):
    record = make_article_record(
        "đặc-biệt",
        published_at="2023-01-18T17:48:00.250000+07:00",
        modified_at="2023-02-01T08:00:00+07:00",
        problems=[{"field": "summary", "code": "summary_truncated", "message": "cắt ngắn"}],
        attachments=[{"url": "https://hepza.hochiminhcity.gov.vn/d/1.pdf", "title": "Tờ trình"}],
        summary_truncated=False,
        author=None,
    )
    store.write_batch([record], "run-1")
    row = article(store, record["id"])
    assert {name: row[name] for name in record} == record
    assert row["published_at_utc"] == datetime(2023, 1, 18, 10, 48, 0, 250000, tzinfo=UTC)
    assert row["modified_at_utc"] == datetime(2023, 2, 1, 1, 0, tzinfo=UTC)
    assert row["first_seen"].tzinfo is not None
    assert row["last_run_id"] == "run-1"


def test_changed_content_adds_exactly_one_version(store, make_article_record):
    record = make_article_record("a")
    store.write_batch([record], "run-1")
    edited = make_article_record("a", body_text="Nội dung đã sửa.")
    assert classify(store, edited) == Classification("changed", record["id"])
    store.write_batch([edited], "run-2")
    store.write_batch([edited], "run-3")
    versions = versions_of(store, record["id"])
    assert [v["content_hash"] for v in versions] == [
        record["content_hash"],
        edited["content_hash"],
    ]
    assert versions[1]["record"]["body_text"] == "Nội dung đã sửa."
    assert versions[1]["run_id"] == "run-2"
    assert article(store, record["id"])["body_text"] == "Nội dung đã sửa."


def test_unchanged_rewrite_refreshes_last_seen_and_modified_at(store, make_article_record):
    record = make_article_record("a")
    store.write_batch([record], "run-1")
    before = article(store, record["id"])
    moved = make_article_record("a", modified_at="2024-06-01T10:00:00+07:00")
    assert classify(store, moved).status == "unchanged"
    store.write_batch([moved], "run-2")
    after = article(store, record["id"])
    assert len(versions_of(store, record["id"])) == 1
    assert after["first_seen"] == before["first_seen"]
    assert after["last_seen"] > before["last_seen"]
    assert after["modified_at"] == "2024-06-01T10:00:00+07:00"
    assert after["modified_at_utc"] == datetime(2024, 6, 1, 3, 0, tzinfo=UTC)
    assert after["last_run_id"] == "run-2"


def test_a_rewrite_without_modified_at_keeps_the_stored_one(store, make_article_record):
    record = make_article_record("a", modified_at="2024-06-01T10:00:00+07:00")
    store.write_batch([record], "run-1")
    store.write_batch([make_article_record("a", modified_at=None)], "run-2")
    after = article(store, record["id"])
    assert after["modified_at"] == "2024-06-01T10:00:00+07:00"
    assert after["modified_at_utc"] == datetime(2024, 6, 1, 3, 0, tzinfo=UTC)
    assert after["last_run_id"] == "run-2"


def test_same_content_under_another_url_is_a_duplicate(store, make_article_record):
    original = make_article_record("a")
    store.write_batch([original], "run-1")
    copy = make_article_record("a-copy", content_hash=original["content_hash"])
    assert classify(store, copy) == Classification("duplicate_content", original["id"])


def test_batch_merges_records_of_one_article_last_wins(store, make_article_record):
    first = make_article_record("a", alternate_urls=["https://hepza.hochiminhcity.gov.vn/en/w/a"])
    second = make_article_record("a", title="Tiêu đề mới")
    store.write_batch([first, second], "run-1")
    assert count(store, Article) == 1
    assert article(store, first["id"])["title"] == "Tiêu đề mới"
    urls = {row["url"]: row["article_id"] for row in table(store, ArticleUrl, ArticleUrl.url)}
    assert urls == {
        "https://hepza.hochiminhcity.gov.vn/w/a": first["id"],
        "https://hepza.hochiminhcity.gov.vn/en/w/a": first["id"],
        "https://hepza.hochiminhcity.gov.vn/vi/w/a": first["id"],
    }


def test_aliases_and_known_index(store, make_article_record):
    a = make_article_record("a", modified_at="2023-03-01T09:00:00+07:00")
    b = make_article_record("b", body_text="B", published_at=None)
    store.write_batch([a, b], "run-1")
    alias = "https://hepza.hochiminhcity.gov.vn/web/guest/-/asset_publisher/Ab12/content/a"
    store.record_alias_ids([(a["id"], alias), ("0" * 20, "https://x/y")], "r")
    index = store.known_index("hepza")
    tz7 = timezone(timedelta(hours=7))
    known_a = KnownArticle(
        a["id"],
        a["url"],
        datetime(2023, 3, 1, 9, 0, tzinfo=tz7),
        datetime(2023, 1, 18, 17, 48, tzinfo=tz7),
        "minute",
    )
    assert index == {
        a["url"]: known_a,
        a["alternate_urls"][0]: known_a,
        alias: known_a,
        b["url"]: KnownArticle(b["id"], b["url"], None, None),
        b["alternate_urls"][0]: KnownArticle(b["id"], b["url"], None, None),
    }
    assert index[a["url"]].published_at.utcoffset() == timedelta(hours=7)


def query_plan(store: ArticleStore, read: Callable[[], object], table: str) -> list[str]:
    """What SQLite does for the one statement on ``table`` that ``read`` executes."""
    statements: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if f"FROM {table}" in statement:
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", capture)
    read()
    event.remove(store.engine, "before_cursor_execute", capture)
    [(statement, parameters)] = statements
    with store.engine.connect() as conn:
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    return sorted(row[-1] for row in plan)


# The rows hold the bodies before the columns these read: reading a row walks its body's pages.
def test_known_index_on_sqlite_reads_indexes_only_never_the_article_rows(
    tmp_path, make_article_record
):
    store = ArticleStore(f"sqlite:///{tmp_path / 'known.sqlite3'}")
    store.write_batch([make_article_record("a")], "run-1")
    plan = query_plan(store, lambda: store.known_index("hepza"), "articles")
    store.close()
    assert plan == [
        "SEARCH article_urls USING COVERING INDEX ix_article_urls_article_id_url "
        "(article_id=?) LEFT-JOIN",
        "SEARCH articles USING COVERING INDEX ix_articles_site_known (site=?)",
    ]


def test_content_index_on_sqlite_reads_one_index_in_order_never_the_article_rows(
    tmp_path, make_article_record
):
    store = ArticleStore(f"sqlite:///{tmp_path / 'content.sqlite3'}")
    store.write_batch([make_article_record("a")], "run-1")
    plan = query_plan(store, lambda: store.content_index("hepza"), "articles")
    store.close()
    assert plan == ["SEARCH articles USING COVERING INDEX ix_articles_site_first_seen (site=?)"]


def test_alias_of_an_article_not_yet_stored_waits_for_its_batch(crawler, make_article_record):
    owner = crawler.get_extension(RunOwner)
    writer = StoreWriter(crawler, owner.store, "run-1", batch_size=1)
    a = make_article_record("a")
    alias = "https://hepza.hochiminhcity.gov.vn/w/a-old"
    settle(writer.queue_aliases(a["url"], [alias]))  # written at once (batch of 1): it waits
    assert alias not in owner.store.known_index("hepza")
    settle(writer.read_index("hepza"))
    assert writer.classify(a) == Classification("new", a["id"])
    settle(writer.queue_article(a, "new"))
    assert owner.store.known_index("hepza")[alias].id == a["id"]
    assert settle(writer.close()) is None
    owner.store.close()


def test_alias_never_takes_over_a_canonical_url(store, make_article_record):
    a, b = make_article_record("a"), make_article_record("b", body_text="B")
    store.write_batch([a, b], "run-1")
    store.record_alias_ids([(a["id"], b["url"])], "run-1")
    assert store.known_index("hepza")[b["url"]].id == b["id"]


def test_runs_are_recorded(store):
    started = datetime(2024, 5, 1, 1, 0, tzinfo=UTC)
    store.start_run("run-1", started, {"mode": "incremental"}, site="hepza")
    [row] = table(store, CrawlRun, CrawlRun.run_id)
    assert (row["outcome"], row["started_at"], row["spider_args"]) == (
        "running",
        started,
        {"mode": "incremental"},
    )
    finished = started + timedelta(minutes=5)
    stats = {"start_time": started, "item_scraped_count": 3}
    report = {"coverage": {"title": 1.0}}
    store.finish_run("run-1", finished, "succeeded", stats, report, site="hepza")
    [row] = table(store, CrawlRun, CrawlRun.run_id)
    assert row["outcome"] == "succeeded"
    assert row["finished_at"] == finished
    assert row["stats"] == {"start_time": "2024-05-01T01:00:00+00:00", "item_scraped_count": 3}
    assert row["report"] == {"coverage": {"title": 1.0}}
    with pytest.raises(ValueError, match="unknown run outcome"):
        store.finish_run("run-1", finished, "done", {}, {}, site="hepza")


def test_a_dead_running_run_is_marked_abandoned_by_the_next_start(store):
    now = datetime.now(UTC)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.start_run("dead-here", now - timedelta(hours=1), {}, site="hepza")
    store.start_run("alive-here", now - timedelta(hours=1), {}, site="hepza")
    store.start_run("old-elsewhere", now - timedelta(hours=72), {}, site="hepza")
    store.start_run("recent-elsewhere", now - timedelta(hours=1), {}, site="hepza")
    with store.engine.begin() as conn:
        for run_id, process in {
            "dead-here": {"host": socket.gethostname(), "pid": dead.pid},
            "alive-here": {"host": socket.gethostname(), "pid": os.getpid()},
            "old-elsewhere": {"host": "other-host", "pid": 1},
            "recent-elsewhere": {"host": "other-host", "pid": 1},
        }.items():
            where = CrawlRun.run_id == run_id
            conn.execute(update(CrawlRun).where(where).values(report={"process": process}))
    abandoned = store.start_run("new", now, {}, site="hepza")
    assert sorted(abandoned) == ["dead-here", "old-elsewhere"]
    outcomes = {row["run_id"]: row["outcome"] for row in table(store, CrawlRun, CrawlRun.run_id)}
    assert outcomes == {
        "alive-here": "running",
        "dead-here": "abandoned",
        "new": "running",
        "old-elsewhere": "abandoned",
        "recent-elsewhere": "running",
    }


def test_finish_run_works_after_close(store):
    store.start_run("run-1", datetime.now(UTC), {}, site="hepza")
    store.close()
    store.finish_run("run-1", datetime.now(UTC), "interrupted", {}, {}, site="hepza")
    assert table(store, CrawlRun, CrawlRun.run_id)[0]["outcome"] == "interrupted"


def test_concurrent_starts_migrate_once(database_url):
    errors: list[BaseException] = []
    stores: list[ArticleStore] = []

    def start() -> None:
        try:
            stores.append(ArticleStore(database_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with stores[0].engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").all() == [("0013",)]
    for store in stores:
        store.close()


# --- pipeline ----------------------------------------------------------------------------------


def recording_crawler(database_url: str, **settings: Any) -> Crawler:
    """A crawler as ``scrapy crawl`` builds it: RECORD_RUN on, the run owner in place."""
    crawler = get_crawler(
        settings_dict={
            "DATABASE_URL": database_url,
            "RECORD_RUN": True,
            "EXTENSIONS": {RunOwner: 500},
            # never written: these crawlers send no spider_closed
            "REPORTS_DIR": "reports",
            **settings,
        }
    )
    crawler.stats.open_spider()
    return crawler


@pytest.fixture
def crawler(database_url: str) -> Crawler:
    return recording_crawler(database_url, STORAGE_BATCH_SIZE=3)


@pytest.fixture
def pipeline(crawler: Crawler) -> Iterator[StoragePipeline]:
    pipeline = StoragePipeline.from_crawler(crawler)
    yield pipeline
    pipeline.store.close()


def item(record: dict[str, Any]) -> ArticleItem:
    return ArticleItem(**record)


def process(pipeline: StoragePipeline, value: Any) -> tuple[Any, DropItem | None]:
    try:
        return settle(pipeline.process_item(value)), None
    except DropItem as exc:
        return None, exc


def close(pipeline: StoragePipeline) -> None:
    settle(pipeline.close_spider())


def test_pipeline_passes_every_article_with_its_change_and_drops_same_content(
    pipeline, crawler, make_article_record
):
    stats = crawler.stats
    a, b = make_article_record("a"), make_article_record("b", body_text="B")
    first = [process(pipeline, item(a))[0], process(pipeline, item(b))[0]]
    assert [x.change for x in first] == ["new", "new"]
    close(pipeline)

    second = StoragePipeline.from_crawler(crawler)
    same, dropped = process(second, item(a))
    assert dropped is None
    assert same.change == "unchanged"
    changed = make_article_record("b", body_text="B, sửa lại")
    assert process(second, item(changed))[0].change == "changed"
    copy = make_article_record("c", content_hash=a["content_hash"])
    _, dropped = process(second, item(copy))
    assert dropped is not None
    assert dropped.log_level == "INFO"
    close(second)

    assert stats.get_value("storage/new") == 2
    assert stats.get_value("storage/changed") == 1
    assert stats.get_value("storage/unchanged") == 1
    assert stats.get_value("storage/duplicate_content") == 1
    assert stats.get_value("storage/aliases") == 2
    assert len(versions_of(second.store, b["id"])) == 2
    index = second.store.known_index("hepza")
    assert index[copy["url"]].id == a["id"]
    assert copy["id"] not in {known.id for known in index.values()}


def test_pipeline_counts_articles_as_stored_only_once_committed(
    pipeline, crawler, make_article_record
):
    process(pipeline, item(make_article_record("a")))
    process(pipeline, item(make_article_record("b", body_text="B")))
    assert crawler.stats.get_value("storage/new") is None  # batch of 3 still open
    process(pipeline, item(make_article_record("c", body_text="C")))
    assert crawler.stats.get_value("storage/new") == 3


def test_pipeline_lost_batch_fails_the_run_and_is_not_counted_stored(
    pipeline, crawler, make_article_record, monkeypatch
):
    def refuse(records, run_id):
        raise StorageError("storage write_batch failed on sqlite:///x: OperationalError: gone")

    process(pipeline, item(make_article_record("a")))
    monkeypatch.setattr(pipeline.store, "write_batch", refuse)
    process(pipeline, item(make_article_record("b", body_text="B")))
    process(pipeline, item(make_article_record("c", body_text="C")))  # flush fails, kept
    assert crawler.stats.get_value("storage/write_errors") == 1
    assert crawler.stats.get_value("run/failure/storage_lost") is None
    close(pipeline)  # the final flush fails too: the 3 articles are lost
    assert crawler.stats.get_value("storage/new") is None
    assert crawler.stats.get_value("storage/lost") == 3
    assert crawler.stats.get_value("run/failure/storage_lost") == 3
    assert "gone" in crawler.stats.get_value("run/failure_message/storage_lost")


def test_pipeline_unclassifiable_article_is_dropped_counted_and_fails_the_run(
    pipeline, crawler, make_article_record, monkeypatch
):
    def refuse(site):
        raise StorageError("storage classify failed on sqlite:///x: OperationalError: gone")

    monkeypatch.setattr(pipeline.store, "content_index", refuse)
    _, dropped = process(pipeline, item(make_article_record("a")))
    assert dropped is not None
    assert "not stored" in str(dropped)
    assert crawler.stats.get_value("storage/lost") == 1
    assert crawler.stats.get_value("run/failure/storage_lost") == 1


def test_pipeline_commits_per_batch(pipeline, crawler, make_article_record):
    records = [make_article_record(f"n{i}", body_text=f"Bài {i}") for i in range(7)]
    for record in records:
        process(pipeline, item(record))
    # Batch size 3: two batches are in the database, the seventh item waits for close.
    assert crawler.stats.get_value("storage/batches") == 2
    assert count(pipeline.store, Article) == 6
    close(pipeline)
    assert crawler.stats.get_value("storage/batches") == 3
    assert count(pipeline.store, Article) == 7


def test_pipeline_records_alias_items(pipeline, crawler, make_article_record):
    a = make_article_record("a")
    process(pipeline, item(a))
    alias = "https://hepza.hochiminhcity.gov.vn/w/a?redirect=x"
    _, dropped = process(pipeline, ArticleUrlItem(url=alias, canonical_url=a["url"]))
    assert dropped is not None
    assert (str(dropped), dropped.log_level) == ("alias recorded", "DEBUG")
    close(pipeline)
    assert pipeline.store.known_index("hepza")[alias].id == a["id"]
    assert crawler.stats.get_value("storage/aliases") == 1


def test_pipeline_alias_met_before_its_article_waits_for_it(pipeline, crawler, make_article_record):
    a = make_article_record("a")
    early = "https://hepza.hochiminhcity.gov.vn/en/w/a?p_p_id=x"
    never = ("https://hepza.hochiminhcity.gov.vn/w/never-stored", "https://h/w/never-stored/")
    process(pipeline, ArticleUrlItem(url=early, canonical_url=a["url"]))
    process(pipeline, ArticleUrlItem(url=never[1], canonical_url=never[0]))
    for i in range(3):  # batch size 3: flushes while the article of the aliases is unknown
        process(pipeline, item(make_article_record(f"n{i}", body_text=f"Bài {i}")))
    assert crawler.stats.get_value("storage/batches") == 1
    process(pipeline, item(a))
    close(pipeline)
    index = pipeline.store.known_index("hepza")
    assert index[early].id == a["id"]
    assert never[1] not in index
    assert crawler.stats.get_value("storage/aliases") == 1
    assert crawler.stats.get_value("storage/aliases_unknown") == 1


def test_pipeline_passes_other_items(pipeline):
    other = {"kind": "not an article"}
    assert pipeline.process_item(other) is other


def test_pipeline_stores_through_the_run_owner_and_leaves_the_store_open(
    pipeline, crawler, make_article_record
):
    owner = crawler.get_extension(RunOwner)
    assert pipeline.store is owner.store
    assert pipeline.run_id == owner.run_id
    process(pipeline, item(make_article_record("a")))
    close(pipeline)
    # The owner records the run after the pipelines closed: the store still answers.
    assert article(owner.store, make_article_record("a")["id"])["last_run_id"] == owner.run_id


def test_pipeline_refuses_an_article_without_site_and_fails_the_run(
    pipeline, crawler, make_article_record
):
    _, dropped = process(pipeline, item(make_article_record("a", site=None)))
    assert dropped is not None
    assert "no site" in str(dropped)
    close(pipeline)
    assert count(pipeline.store, Article) == 0
    assert crawler.stats.get_value("storage/lost") == 1
    assert crawler.stats.get_value("run/failure/storage_no_site") == 1


def test_pipeline_without_the_run_owner_refuses_to_start(database_url):
    crawler = get_crawler(settings_dict={"DATABASE_URL": database_url, "RECORD_RUN": True})
    with pytest.raises(RuntimeError, match="run owner"):
        StoragePipeline.from_crawler(crawler)


@pytest.mark.postgres
def test_pipeline_logs_the_database_url_redacted(postgres_url, caplog):
    caplog.set_level(logging.DEBUG)
    crawler = recording_crawler(postgres_url)
    pipeline = StoragePipeline.from_crawler(crawler)
    close(pipeline)
    pipeline.store.close()
    password = postgres_url.split(":")[2].split("@")[0]
    assert "hepza_test:***@127.0.0.1" in caplog.text
    assert password not in caplog.text


def test_pipeline_reads_each_sites_stored_hashes_once(
    pipeline, crawler, make_article_record, monkeypatch
):
    process(pipeline, item(make_article_record("a")))
    close(pipeline)

    second = StoragePipeline.from_crawler(crawler)
    reads: list[str] = []
    content_index = second.store.content_index

    def counted(site: str) -> ContentIndex:
        reads.append(site)
        return content_index(site)

    monkeypatch.setattr(second.store, "content_index", counted)
    changes = [
        process(second, item(make_article_record(f"n{i}", body_text=f"Bài {i}")))[0].change
        for i in range(7)
    ]
    changes.append(process(second, item(make_article_record("a")))[0].change)
    changes.append(process(second, item(make_article_record("q", site="quan1")))[0].change)
    close(second)
    assert changes == ["new"] * 7 + ["unchanged", "new"]
    assert sorted(reads) == ["hepza", "quan1"]


def test_content_index_classifies_like_the_database_after_queued_changes():
    index = ContentIndex([("old", "h1"), ("twin", "h1"), ("other", "h2")])
    assert index.classify("old", "h1") == Classification("unchanged", "old")
    assert index.classify("old", "h9") == Classification("changed", "old")
    assert index.classify("copy", "h1") == Classification("duplicate_content", "old")
    assert index.classify("fresh", "h3") == Classification("new", "fresh")

    index.accept("fresh", "h3")
    assert index.classify("fresh", "h3") == Classification("unchanged", "fresh")
    assert index.classify("copy", "h3") == Classification("duplicate_content", "fresh")
    # The oldest holder of h1 changes its content: the next oldest holder owns h1 now.
    index.accept("old", "h4")
    assert index.classify("copy", "h1") == Classification("duplicate_content", "twin")
    assert index.classify("copy", "h4") == Classification("duplicate_content", "old")
    # An older article taking a newer one's content becomes the owner of that content.
    index.accept("twin", "h3")
    assert index.classify("copy", "h3") == Classification("duplicate_content", "twin")
    assert index.classify("copy", "h1") == Classification("new", "copy")


def test_a_caller_waiting_for_an_alias_met_while_its_batch_was_written_is_called(
    crawler, make_article_record, monkeypatch
):
    # A cluster worker acknowledges a lease once what the request queued is written: an alias
    # queued while the batch was on the writer's thread goes with that write, and its caller
    # must be called then (it waited forever: the lease was never acknowledged).
    owner = crawler.get_extension(RunOwner)
    writer = StoreWriter(crawler, owner.store, "run-1", batch_size=50)
    settle(writer.read_index("hepza"))
    a = make_article_record("a")
    writer.queue_article(a, "new")
    called: list[str] = []
    writer.when_written(lambda: called.append("a"))
    real = owner.store.write_batch
    alias = a["url"] + "?redirect=%2Ftin-tuc"

    def write_batch(records: list[dict[str, Any]], run_id: str) -> Any:
        writer.queue_aliases(a["url"], [alias])
        writer.when_written(lambda: called.append("alias"))
        return real(records, run_id)

    monkeypatch.setattr(owner.store, "write_batch", write_batch)
    settle(writer.flush_waiting())
    assert called == ["a", "alias"] and writer.waiting == 0
    assert alias in owner.store.known_index("hepza")
    assert settle(writer.close()) is None
    owner.store.close()


def test_a_caller_waiting_for_what_it_queued_is_called_once_that_batch_is_committed(
    crawler, make_article_record
):
    owner = crawler.get_extension(RunOwner)
    writer = StoreWriter(crawler, owner.store, "run-1", batch_size=50)
    called: list[str] = []
    writer.when_written(lambda: called.append("nothing queued"))
    assert called == ["nothing queued"]
    settle(writer.read_index("hepza"))
    a = make_article_record("a")
    assert writer.queue_article(a, "new") is None  # the batch is not full: not written
    writer.when_written(lambda: called.append("a"))
    assert called == ["nothing queued"] and writer.waiting == 1
    assert "a" not in {u.rsplit("/", 1)[-1] for u in owner.store.known_index("hepza")}
    settle(writer.flush_waiting())
    assert called == ["nothing queued", "a"] and writer.waiting == 0
    assert a["url"] in owner.store.known_index("hepza")
    assert settle(writer.close()) is None
    owner.store.close()


def test_a_large_site_is_classified_by_looking_up_each_record_never_read_whole(
    crawler, make_article_record, monkeypatch
):
    # An unchanged re-run of a million-article site classifies a few dozen re-checks: the
    # site's whole index (50 bytes an article, twice that while read) is not held for them.
    first = StoragePipeline.from_crawler(crawler)
    a, b = make_article_record("a"), make_article_record("b", body_text="B")
    assert [process(first, item(r))[0].change for r in (a, b)] == ["new", "new"]
    close(first)

    second = StoragePipeline.from_crawler(crawler)
    second.writer.full_index_up_to = 1  # the site holds 2: larger than a full index
    read_whole: list[str] = []
    monkeypatch.setattr(second.store, "content_index", read_whole.append)
    looked_up: list[tuple[int, int]] = []
    real = second.store.stored_contents

    def stored_contents(site: str, ids: Any, hashes: Any) -> Any:
        looked_up.append((len(ids), len(hashes)))
        return real(site, ids, hashes)

    monkeypatch.setattr(second.store, "stored_contents", stored_contents)
    assert process(second, item(a))[0].change == "unchanged"
    changed = make_article_record("b", body_text="B, sửa lại")
    assert process(second, item(changed))[0].change == "changed"
    # b's old content is no one's now; its new content is b's
    assert process(second, item(make_article_record("c", body_text="B")))[0].change == "new"
    copy = make_article_record("d", content_hash=a["content_hash"])
    _, dropped = process(second, item(copy))
    assert dropped is not None and f"duplicate content of article {a['id']}" in str(dropped)
    again = make_article_record("e", content_hash=changed["content_hash"])
    _, dropped = process(second, item(again))
    assert dropped is not None and f"duplicate content of article {b['id']}" in str(dropped)
    close(second)
    second.store.close()
    assert read_whole == []
    # each record looked up once, with its content's holders unless they were looked up
    # before (d's content is a's, e's is b's new one)
    assert looked_up == [(1, 1), (1, 1), (1, 1), (1, 0), (1, 0)]


def test_looked_up_contents_classify_like_the_whole_index_after_queued_changes():
    stored = [("old", "h1"), ("twin", "h1"), ("other", "h2")]
    whole = ContentIndex(stored)
    parts = LookedUpContents()

    def classify(record_id: str, digest: str) -> Classification | None:
        need_row, need_holders = parts.wanted(record_id, digest)
        ids = [record_id] if need_row else []
        hashes = [digest] if need_holders else []
        # first_seen as the database orders them: the stored list's order
        rows = {i: (h, f"{n:04d}") for n, (i, h) in enumerate(stored) if i in ids}
        holders = {
            h: [(f"{n:04d}", i) for n, (i, held) in enumerate(stored) if held == h] for h in hashes
        }
        parts.learn(rows, ids, holders, hashes)
        found = parts.classify(record_id, digest)
        assert found == whole.classify(record_id, digest)
        return found

    def accept(record_id: str, digest: str) -> None:
        whole.accept(record_id, digest)
        parts.accept(record_id, digest)

    assert classify("old", "h1") == Classification("unchanged", "old")
    assert classify("old", "h9") == Classification("changed", "old")
    assert classify("copy", "h1") == Classification("duplicate_content", "old")
    assert classify("fresh", "h3") == Classification("new", "fresh")
    accept("fresh", "h3")
    assert classify("fresh", "h3") == Classification("unchanged", "fresh")
    assert classify("copy", "h3") == Classification("duplicate_content", "fresh")
    accept("old", "h4")
    assert classify("copy", "h1") == Classification("duplicate_content", "twin")
    assert classify("copy", "h4") == Classification("duplicate_content", "old")
    accept("twin", "h3")
    assert classify("copy", "h3") == Classification("duplicate_content", "twin")
    assert classify("copy", "h1") == Classification("new", "copy")
    accept("later", "h2")
    assert classify("copy", "h2") == Classification("duplicate_content", "other")
    accept("other", "h5")
    assert classify("copy", "h2") == Classification("duplicate_content", "later")
    # nothing looked up: no answer rather than a wrong one
    assert LookedUpContents().classify("old", "h1") is None


def test_looking_up_a_record_on_sqlite_seeks_its_id_and_its_content_never_scans_the_site(
    tmp_path, make_article_record
):
    # With the site in the query, SQLite scanned the site's covering index for each record:
    # seconds each at a million articles.
    store = ArticleStore(f"sqlite:///{tmp_path / 'lookup.sqlite3'}")
    a = make_article_record("a")
    store.write_batch([a], "run-1")
    by_id = query_plan(store, lambda: store.stored_contents("hepza", [a["id"]], []), "articles")
    by_content = query_plan(
        store, lambda: store.stored_contents("hepza", [], [a["content_hash"]]), "articles"
    )
    found = store.stored_contents("hepza", [a["id"], "other"], [a["content_hash"], "none"])
    elsewhere = store.stored_contents("quan1", [a["id"]], [a["content_hash"]])
    store.close()
    assert by_id == ["SEARCH articles USING INDEX sqlite_autoindex_articles_1 (id=?)"]
    assert by_content == [
        "SEARCH articles USING INDEX ix_articles_site_content_hash (site=? AND content_hash=?)"
    ]
    stored, holders = found
    assert list(stored) == [a["id"]] and stored[a["id"]][0] == a["content_hash"]
    assert [held for _, held in holders[a["content_hash"]]] == [a["id"]]
    assert list(holders) == [a["content_hash"]]
    assert elsewhere == ({}, {})
