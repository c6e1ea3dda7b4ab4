"""``scrapy export --jobs N``: worker processes read and encode an export's rows on the parent's
snapshot (pipelines/storage/export_jobs.py), and the file is the one a single process writes."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select, update

from crawler.commands import export as export_command
from crawler.commands.export import ChangeCutoff, write_export
from pipelines.storage import change_feed, export_jobs
from pipelines.storage.engine import StorageError, WorkerFailed
from pipelines.storage.export_jobs import SnapshotMoved, parallel_payloads
from pipelines.storage.models import Article
from pipelines.storage.store import ArticleStore
from tests.test_change_feed import run
from tests.test_export import run_scrapy_export

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from sqlalchemy import Connection, Engine

SLUGS = ("a", "b", "c", "d", "e")


@pytest.fixture
def five_articles(
    database_url: str, make_article_record: Callable[..., dict[str, Any]]
) -> Iterator[tuple[ArticleStore, datetime]]:
    """run-1 stores a-e; run-2 edits a's title and body: a feed since run-2 holds a."""
    store = ArticleStore(database_url)
    run(store, "run-1", [make_article_record(slug) for slug in SLUGS])
    edited = make_article_record("a", title="Tiêu đề mới", body_text="Nội dung đã sửa")
    second = run(store, "run-2", [edited])
    yield store, second
    store.close()


@pytest.fixture
def one_row_units(monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit of work per article: five articles are five units for the workers."""
    monkeypatch.setattr(export_jobs, "UNIT_ROWS", 1)


@pytest.fixture
def worker_pids(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[], list[int]]:
    """The pids of the processes that encoded units (each appends its own to a file)."""
    log = tmp_path / "unit-pids"
    encode = export_command._unit_payload

    def recorded(*args: Any) -> tuple[int, bytes]:
        with log.open("a") as fh:
            fh.write(f"{os.getpid()}\n")
        return encode(*args)

    monkeypatch.setattr(export_command, "_unit_payload", recorded)
    return lambda: [int(line) for line in log.read_text().split()] if log.exists() else []


def same_export(fmt: str, one: Path, two: Path) -> bool:
    if fmt == "parquet":
        return bool(pq.read_table(one).equals(pq.read_table(two)))
    return one.read_bytes() == two.read_bytes()


@pytest.mark.usefixtures("one_row_units")
@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize("feed", [False, True], ids=["snapshot", "change-feed"])
def test_export_by_two_worker_processes_writes_the_file_one_process_writes(
    five_articles, worker_pids, tmp_path, fmt, feed
):
    store, _ = five_articles
    cutoff = ChangeCutoff(datetime(2000, 1, 1, tzinfo=UTC)) if feed else None
    alone = write_export(store.engine, fmt, tmp_path / f"alone.{fmt}", cutoff=cutoff, jobs=1)
    assert worker_pids() == []  # one process: the reading and writing of before
    shared = write_export(store.engine, fmt, tmp_path / f"shared.{fmt}", cutoff=cutoff, jobs=2)
    assert alone == shared == len(SLUGS)
    assert same_export(fmt, tmp_path / f"alone.{fmt}", tmp_path / f"shared.{fmt}")
    pids = worker_pids()
    assert len(pids) == len(SLUGS)  # a unit per article
    assert os.getpid() not in pids
    assert len(set(pids)) == 2  # both workers encoded units
    assert not list(tmp_path.glob(".*.partial"))


@pytest.mark.usefixtures("one_row_units")
def test_change_feed_by_workers_holds_the_changes_one_process_finds(five_articles, tmp_path):
    store, second = five_articles
    cutoff = ChangeCutoff(second)
    count = write_export(store.engine, "jsonl", tmp_path / "feed.jsonl", cutoff=cutoff, jobs=2)
    assert count == 1
    [line] = (tmp_path / "feed.jsonl").read_text(encoding="utf-8").splitlines()
    assert '"title": "Tiêu đề mới"' in line
    assert '"change": "changed", "version": 2, "changed_fields": ["title", "body_text"' in line


def titles_unit(conn: Connection, ids: list[str]) -> tuple[int, bytes]:
    rows = dict(conn.execute(select(Article.id, Article.title).where(Article.id.in_(ids))).all())
    return len(ids), "\n".join(rows[article_id] for article_id in ids).encode()


def ids_then_commit(engine: Engine, write: Callable[[Engine], None]):  # type: ignore[no-untyped-def]
    """The ids one at a time in id order, with ``write`` committed by another connection
    after the first unit is read (the parent's snapshot already taken)."""

    def ids(conn: Connection) -> Iterator[list[str]]:
        every = conn.execute(select(Article.id).order_by(Article.id)).scalars().all()
        yield [every[0]]
        write(engine)
        for article_id in every[1:]:
            yield [article_id]

    return ids


def retitle_all(engine: Engine) -> None:
    with engine.begin() as other:
        other.execute(update(Article).values(title="written after the snapshot"))


@pytest.mark.postgres
def test_workers_read_the_parents_postgresql_snapshot(postgres_url, make_article_record):
    store = ArticleStore(postgres_url)
    try:
        run(store, "run-1", [make_article_record(slug) for slug in SLUGS])
        before = dict(store.engine.connect().execute(select(Article.id, Article.title)).all())
        payloads = parallel_payloads(
            store.engine, ids_then_commit(store.engine, retitle_all), titles_unit, 2
        )
        titles = b"\n".join(payload for _, payload in payloads).decode().split("\n")
        # every worker saw the titles of the parent's snapshot, none the later commit
        assert titles == [before[article_id] for article_id in sorted(before)]
        assert "written after the snapshot" not in titles
    finally:
        store.close()


def test_sqlite_export_whose_snapshot_moved_as_workers_started_is_refused_to_the_workers(
    tmp_path, make_article_record
):
    store = ArticleStore(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        run(store, "run-1", [make_article_record(slug) for slug in SLUGS])
        payloads = parallel_payloads(
            store.engine, ids_then_commit(store.engine, retitle_all), titles_unit, 2
        )
        with pytest.raises(SnapshotMoved, match="the database changed while the export's"):
            next(payloads)
    finally:
        store.close()


@pytest.mark.usefixtures("one_row_units")
def test_sqlite_export_whose_snapshot_moved_is_written_by_one_process(
    tmp_path, make_article_record, monkeypatch, worker_pids
):
    store = ArticleStore(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        run(store, "run-1", [make_article_record(slug) for slug in SLUGS])
        ids = export_command._unit_ids
        moved = []

        def ids_with_a_commit(filters: Any, conn: Connection) -> Iterator[list[str]]:
            for index, unit in enumerate(ids(filters, conn)):
                yield unit
                if index == 0 and not moved:
                    moved.append(True)
                    retitle_all(store.engine)

        monkeypatch.setattr(export_command, "_unit_ids", ids_with_a_commit)
        out = tmp_path / "articles.jsonl"
        assert write_export(store.engine, "jsonl", out, jobs=2) == len(SLUGS)
        assert moved == [True]
        # the workers were stopped before encoding; this process wrote the database as it is now
        assert worker_pids() == []
        assert out.read_text(encoding="utf-8").count('"title": "written after the snapshot"') == 5
    finally:
        store.close()


def ids_in_units(conn: Connection) -> Iterator[list[str]]:
    for article_id in conn.execute(select(Article.id).order_by(Article.id)).scalars().all():
        yield [article_id]


def failing_unit(conn: Connection, ids: list[str]) -> tuple[int, bytes]:
    raise ValueError("no encoder for this row\nsecond line")


def dying_unit(conn: Connection, ids: list[str]) -> tuple[int, bytes]:
    os._exit(3)


@pytest.mark.parametrize(
    ("work", "message"),
    [
        (failing_unit, r"export worker 1 failed: ValueError: no encoder for this row$"),
        (dying_unit, r"export worker 1 died \(exit status 3\)$"),
    ],
    ids=["raises", "dies"],
)
def test_a_failed_export_worker_fails_the_export_with_its_reason(five_articles, work, message):
    store, _ = five_articles
    with pytest.raises(WorkerFailed, match=message):
        list(parallel_payloads(store.engine, ids_in_units, work, 2))


def test_a_unit_sent_to_a_worker_that_failed_already_fails_the_export_with_its_reason(
    five_articles,
):
    store, _ = five_articles

    def slow_ids(conn: Connection) -> Iterator[list[str]]:
        for index, unit in enumerate(ids_in_units(conn)):
            if index == 2:
                time.sleep(1.5)  # worker 1 fails on unit 0 and exits meanwhile
            yield unit

    def fails_first(conn: Connection, ids: list[str]) -> tuple[int, bytes]:
        if ids == first:
            raise ValueError("no encoder for this row")
        return len(ids), b""

    with store.engine.connect() as conn:
        first = next(ids_in_units(conn))
    with pytest.raises(WorkerFailed, match=r"export worker 1 failed: ValueError: no encoder"):
        list(parallel_payloads(store.engine, slow_ids, fails_first, 2))


@pytest.mark.usefixtures("one_row_units")
def test_a_failed_export_worker_is_a_storage_failure_and_leaves_no_file(
    five_articles, monkeypatch, tmp_path
):
    store, _ = five_articles
    monkeypatch.setattr(export_command, "_unit_payload", failing_unit_payload)
    out = tmp_path / "articles.jsonl"
    failed = r"storage export failed on .*: export worker 1 failed"
    with pytest.raises(StorageError, match=failed), store.guard("export"):
        write_export(store.engine, "jsonl", out, jobs=2)
    assert not out.exists()
    assert not list(tmp_path.glob(".*.partial"))


def failing_unit_payload(*args: Any) -> tuple[int, bytes]:
    raise ValueError("no encoder for this row")


def test_export_of_one_unit_starts_no_worker(five_articles, worker_pids, tmp_path):
    store, _ = five_articles
    assert write_export(store.engine, "jsonl", tmp_path / "a.jsonl", jobs=4) == len(SLUGS)
    assert worker_pids() == [os.getpid()]


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_scrapy_export_refuses_a_jobs_value_that_is_no_number_of_processes(tmp_path, value):
    result = run_scrapy_export(tmp_path, "--format", "jsonl", "--jobs", value)
    assert result.returncode == 2
    assert f"{value!r} is not a number of processes (1 or more)" in result.stderr


def test_default_jobs_are_this_processs_cores_at_most_four():
    cores = len(os.sched_getaffinity(0))
    assert export_jobs.default_jobs() == max(1, min(cores, export_jobs.MAX_DEFAULT_JOBS))


@pytest.fixture
def sqlite_edited(
    tmp_path, make_article_record
) -> Iterator[tuple[ArticleStore, datetime, datetime]]:
    """run-1 stores a-e; run-2 edits a, leaves b as it was and adds f (SQLite)."""
    store = ArticleStore(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    first = run(store, "run-1", [make_article_record(slug) for slug in SLUGS])
    edited = make_article_record("a", title="Tiêu đề mới", body_text="Nội dung đã sửa")
    second = run(store, "run-2", [edited, make_article_record("b"), make_article_record("f")])
    yield store, first, second
    store.close()


@pytest.mark.parametrize("jobs", [1, 2])
def test_sqlite_change_feed_of_a_wide_window_holds_the_rows_one_process_finds(
    sqlite_edited, tmp_path, monkeypatch, jobs
):
    store, first, second = sqlite_edited
    cutoffs = [ChangeCutoff(first), ChangeCutoff(second), ChangeCutoff(first, "run-1")]
    for index, cutoff in enumerate(cutoffs):
        narrow_out, wide_out = tmp_path / f"narrow-{index}.jsonl", tmp_path / f"wide-{index}.jsonl"
        # one process, the histories worked out by the database (history_columns)
        narrow = write_export(store.engine, "jsonl", narrow_out, cutoff=cutoff, jobs=1)
        with monkeypatch.context() as patched:
            patched.setattr(change_feed, "WIDE_WINDOW_VERSIONS", 0)
            patched.setattr(export_jobs, "UNIT_ROWS", 1)
            wide = write_export(store.engine, "jsonl", wide_out, cutoff=cutoff, jobs=jobs)
        assert narrow == wide > 0
        assert narrow_out.read_bytes() == wide_out.read_bytes()


def test_sqlite_change_feed_reads_a_wide_window_by_the_export_orders_index(sqlite_edited):
    store, first, _ = sqlite_edited
    cutoff = ChangeCutoff(first)
    as_of = datetime.now(UTC)
    filters = export_command.ExportFilters(None, None, None, cutoff, as_of)
    with store.engine.connect() as conn:
        assert not change_feed.wide_window(conn, cutoff, None, as_of)  # 7 versions
        with pytest.MonkeyPatch.context() as patched:
            patched.setattr(change_feed, "WIDE_WINDOW_VERSIONS", 6)
            assert change_feed.wide_window(conn, cutoff, None, as_of)
        query = export_command.snapshot_ids_query(filters, wide=True)
        sql = str(query.compile(store.engine, compile_kwargs={"literal_binds": True}))
        plan = " / ".join(row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    assert "SCAN articles USING COVERING INDEX ix_articles_published_at_utc_id" in plan, plan
    assert "USING COVERING INDEX ix_article_versions_article_id_id" in plan, plan
    assert "TEMP B-TREE FOR ORDER BY" not in plan, plan


@pytest.mark.parametrize(
    ("versions", "history"),
    [
        ([(7, True)], (1, 7, None)),  # new since the cut-off
        ([(1, False), (2, False), (3, True)], (3, 3, 2)),  # edited once in the window
        ([(1, False), (2, True), (3, False), (4, True)], (4, 4, 1)),  # a run's own version
        ([(1, True), (2, False)], (2, 2, None)),  # the first version in the window
    ],
)
def test_an_articles_history_is_worked_out_from_its_versions_as_the_database_does(
    versions, history
):
    assert change_feed.versions_history(versions) == history
