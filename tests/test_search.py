from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

import pipelines.storage.search as search_module
from pipelines.storage.models import Article
from pipelines.storage.search import (
    MAX_QUERY_CHARS,
    MAX_QUERY_TERMS,
    EmptyQueryError,
    QueryTooLargeError,
    SearchTimeoutError,
    query_words,
    search_articles,
)
from pipelines.storage.store import (
    MIGRATIONS_DIR,
    ArticleStore,
    create_db_engine,
    upgrade_database,
)
from tests.crawl_runner import PROJECT_ROOT, run_scrapy

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

RUN = "0" * 32


def articles(make: Callable[..., dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        "invest": make(
            "thu-hut-dau-tu",
            title="Thu hút đầu tư vào KCX Tân Thuận",
            body_text="Ban Quản lý đón đoàn nhà đầu tư Nhật Bản.",
            tags=["KCX"],
        ),
        "dongnai": make(
            "dong-nai",
            title="Hợp tác với Đồng Nai",
            body_text="Hai địa phương ký kết ghi nhớ.",
            tags=[],
            published_at="2024-03-05T09:00:00+07:00",
        ),
        "other": make(
            "an-toan",
            title="An toàn lao động",
            body_text="Tập huấn phòng cháy chữa cháy.",
            tags=[],
            category="Thông báo",
        ),
    }


@pytest.fixture
def stored(
    database_url: str, make_article_record: Callable[..., dict[str, Any]]
) -> Iterator[tuple[ArticleStore, dict[str, dict[str, Any]]]]:
    store = ArticleStore(database_url)
    records = articles(make_article_record)
    store.write_batch(list(records.values()), RUN)
    yield store, records
    store.close()


def found(store: ArticleStore, query: str, **kwargs: Any) -> set[str]:
    return {hit.id for hit in search_articles(store.engine, query, **kwargs)}


@pytest.mark.parametrize("query", ["dau tu", "đầu tư", "ĐẦU TƯ", "Dau Tu", "dầu tu"])
def test_words_with_and_without_diacritics_find_the_same_articles(stored, query):
    store, records = stored
    assert found(store, query) == {records["invest"]["id"]}


@pytest.mark.parametrize("query", ["dong nai", "Đồng Nai", "đong nai", "DONG NAI"])
def test_d_with_stroke_and_plain_d_find_the_same_article(stored, query):
    store, records = stored
    assert found(store, query) == {records["dongnai"]["id"]}


def test_every_word_must_match_in_some_indexed_column(stored):
    store, records = stored
    # "kcx" is in tags and title, "nhat" only in the body, "thong bao" only in the category.
    assert found(store, "kcx nhat") == {records["invest"]["id"]}
    assert found(store, "thong bao") == {records["other"]["id"]}
    assert found(store, "dau tu chay") == set()


def test_hits_carry_the_article_and_a_snippet_marking_the_words(stored):
    store, records = stored
    [hit] = search_articles(store.engine, "tan thuan")
    invest = records["invest"]
    assert (hit.id, hit.site, hit.url, hit.title, hit.published_at) == (
        invest["id"],
        "hepza",
        invest["url"],
        invest["title"],
        invest["published_at"],
    )
    assert "[Tân] [Thuận]" in hit.snippet


def test_title_match_ranks_before_body_match(stored, make_article_record):
    store, records = stored
    body_only = make_article_record(
        "body-only", title="Tin khác", body_text="Nói về Tân Thuận trong thân bài."
    )
    store.write_batch([body_only], RUN)
    hits = search_articles(store.engine, "tan thuan")
    assert [hit.id for hit in hits] == [records["invest"]["id"], body_only["id"]]
    assert hits[0].score > hits[1].score
    assert len(search_articles(store.engine, "tan thuan", limit=1)) == 1


def test_site_and_since_filters(stored, make_article_record):
    store, records = stored
    elsewhere = make_article_record(
        "elsewhere", site="other-portal", title="Đầu tư ở nơi khác", body_text="Khác."
    )
    store.write_batch([elsewhere], RUN)
    assert found(store, "dau tu") == {records["invest"]["id"], elsewhere["id"]}
    assert found(store, "dau tu", site="hepza") == {records["invest"]["id"]}
    since = datetime(2024, 1, 1, tzinfo=UTC)
    assert found(store, "hop tac", since=since) == {records["dongnai"]["id"]}
    assert found(store, "dau tu", since=since) == set()


def test_an_edited_article_is_found_by_its_new_words_not_its_old(stored):
    store, records = stored
    edited = {**records["other"], "title": "Diễn tập ứng phó sự cố", "content_hash": "e" * 64}
    store.write_batch([edited], RUN)
    assert found(store, "an toan") == set()
    assert found(store, "dien tap") == {edited["id"]}
    # The untouched articles stay indexed.
    assert found(store, "dau tu") == {records["invest"]["id"]}


def test_an_article_written_again_unchanged_stays_found_once(stored):
    store, records = stored
    store.write_batch(list(records.values()), RUN)
    assert [hit.id for hit in search_articles(store.engine, "dau tu")] == [records["invest"]["id"]]


def test_a_deleted_article_leaves_the_index(stored):
    store, records = stored
    with store.engine.begin() as conn:
        conn.execute(sa.delete(Article).where(Article.id == records["invest"]["id"]))
    assert found(store, "dau tu") == set()
    assert found(store, "dong nai") == {records["dongnai"]["id"]}


def test_migration_indexes_the_articles_stored_before_it(database_url, make_article_record):
    engine = create_db_engine(database_url)
    upgrade_database(engine, "0003")
    records = articles(make_article_record)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        # the columns revision 0003 holds (later revisions add the others)
        held = {column["name"] for column in sa.inspect(conn).get_columns("articles")}
        conn.execute(
            sa.insert(Article),
            [
                {
                    name: value
                    for name, value in ArticleStore._article_row(record, now, RUN).items()
                    if name in held
                }
                for record in records.values()
            ],
        )
    engine.dispose()
    store = ArticleStore(database_url)
    assert found(store, "dau tu") == {records["invest"]["id"]}
    assert found(store, "dong nai") == {records["dongnai"]["id"]}
    store.close()


def test_the_index_follows_writes_of_any_sqlite_client(tmp_path, make_article_record):
    path = tmp_path / "hepza.sqlite3"
    store = ArticleStore(f"sqlite:///{path}")
    record = make_article_record("a", title="Tiêu đề gốc")
    store.write_batch([record], RUN)
    # The documented SQL, through the standard library's driver, not the project's code.
    search_sql = (
        "SELECT a.id FROM articles_fts JOIN articles AS a ON a.rowid = articles_fts.rowid "
        "WHERE articles_fts MATCH ? ORDER BY bm25(articles_fts)"
    )
    with sqlite3.connect(path) as conn:
        assert conn.execute(search_sql, ("tieu de goc",)).fetchall() == [(record["id"],)]
        conn.execute("UPDATE articles SET title = 'Đổi tên' WHERE id = ?", (record["id"],))
        assert conn.execute(search_sql, ("doi ten",)).fetchall() == [(record["id"],)]
        assert conn.execute(search_sql, ("goc",)).fetchall() == []
    conn.close()
    store.close()


@pytest.mark.parametrize("query", ["", "   ", "!!! …", "\"'"])
def test_a_query_without_words_is_refused(query):
    with pytest.raises(EmptyQueryError, match="has no word to look for"):
        query_words(query)


def test_search_operators_typed_by_a_user_stay_words(stored):
    store, _ = stored
    assert found(store, 'dau OR "tu" NEAR title:x*') == set()


# --- scrapy search ------------------------------------------------------------------------------


def run_scrapy_search(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_scrapy(cwd, "search", *args)


def test_scrapy_search_prints_ranked_articles(stored, database_url, tmp_path):
    _, records = stored
    invest = records["invest"]
    result = run_scrapy_search(tmp_path, "dau tu", "-s", f"DATABASE_URL={database_url}")
    assert result.returncode == 0, result.stderr
    title_line, url_line, snippet_line, count_line = result.stdout.splitlines()
    assert title_line == f"1. {invest['id']}  {invest['published_at']}  {invest['title']}"
    assert url_line == f"   {invest['url']}"
    assert "[đầu] [tư]" in snippet_line
    assert count_line == "1 article matches 'dau tu'"


def test_scrapy_search_jsonl_with_site_and_limit(stored, database_url, tmp_path):
    result = run_scrapy_search(
        tmp_path,
        "tom tat",  # every article's summary
        "--format",
        "jsonl",
        "--site",
        "hepza",
        "--limit",
        "2",
        "-s",
        f"DATABASE_URL={database_url}",
    )
    assert result.returncode == 0, result.stderr
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(hits) == 2
    assert all(
        set(hit)
        == {
            "id",
            "site",
            "published_at",
            "event_date",
            "event_date_source",
            "published_at_quality",
            "title",
            "url",
            "snippet",
            "score",
        }
        for hit in hits
    )


def test_scrapy_search_refuses_an_empty_query(tmp_path):
    result = run_scrapy_search(tmp_path, "  ")
    assert result.returncode == 2
    assert result.stderr == "search: search query '  ' has no word to look for\n"
    assert not (tmp_path / "output").exists()


def test_scrapy_search_refuses_a_sqlite_file_that_does_not_exist(tmp_path):
    missing = tmp_path / "mistyped.sqlite3"
    result = run_scrapy_search(tmp_path, "dau tu", "-s", f"DATABASE_URL=sqlite:///{missing}")
    assert result.returncode == 2
    assert result.stderr == f"search: no database at {missing}\n"
    assert not missing.exists()


def test_scrapy_search_refuses_an_unknown_site(stored, database_url, tmp_path):
    result = run_scrapy_search(
        tmp_path, "dau tu", "--site", "hepzaa", "-s", f"DATABASE_URL={database_url}"
    )
    assert result.returncode == 2
    assert result.stderr.startswith("search: --site 'hepzaa': the database holds no articles")


def test_scrapy_search_since_keeps_articles_published_that_day_or_later(
    stored, database_url, tmp_path
):
    _, records = stored
    result = run_scrapy_search(
        tmp_path,
        "tom tat",
        "--since",
        "2024-03-05",
        "--format",
        "jsonl",
        "-s",
        f"DATABASE_URL={database_url}",
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == [
        records["dongnai"]["id"]
    ]


def test_search_index_downgrades_and_upgrades_again(database_url, make_article_record):
    store = ArticleStore(database_url)
    record = make_article_record("a", title="Thu hút đầu tư")
    store.write_batch([record], RUN)
    store.close()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = create_db_engine(database_url)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    with engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names()) | set(sa.inspect(conn).get_view_names())
    engine.dispose()
    assert not {name for name in names if name.startswith("articles_")}
    store = ArticleStore(database_url)
    assert found(store, "dau tu") == {record["id"]}
    store.close()


@pytest.mark.parametrize("limit", ["0", "ten"])
def test_scrapy_search_refuses_a_bad_limit(tmp_path, limit):
    result = run_scrapy_search(tmp_path, "dau tu", "--limit", limit)
    assert result.returncode == 2
    assert "--limit wants a whole number of at least 1" in result.stderr


def test_a_word_glued_to_typographic_punctuation_is_found(stored, make_article_record):
    store, _ = stored
    quoted = make_article_record(
        "quoted", title="Tin “khởi công”—dự án", body_text="Hoàn thành…", summary=None
    )
    store.write_batch([quoted], RUN)
    assert found(store, "khoi cong du an") == {quoted["id"]}
    assert found(store, "hoan thanh") == {quoted["id"]}


def test_the_index_still_matches_its_articles_after_vacuum(tmp_path, make_article_record):
    # The index is keyed by the articles' rowid, which VACUUM must leave alone.
    path = tmp_path / "hepza.sqlite3"
    store = ArticleStore(f"sqlite:///{path}")
    records = [make_article_record(f"a{i}", title=f"Tin số {i}") for i in range(30)]
    store.write_batch(records, RUN)
    with store.engine.begin() as conn:
        conn.execute(sa.delete(Article).where(Article.id.in_([r["id"] for r in records[::3]])))
    store.close()
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("VACUUM")
    conn.close()
    store = ArticleStore(f"sqlite:///{path}")
    for i, record in enumerate(records):
        assert found(store, f"tin so {i}") == (set() if i % 3 == 0 else {record["id"]})
    store.close()


# --- bounds: query size, time, a client that goes away ---------------------------------------


def test_a_repeated_word_is_searched_once():
    assert query_words("đầu " * 120) == ["dầu"]
    assert query_words("Dau tu DAU TU dau") == ["Dau", "tu"]
    assert query_words("x* " * 150) == ["x"]


def test_a_query_longer_than_the_bound_is_refused():
    query = "x* " * 3000
    bound = f"9000 characters long: at most {MAX_QUERY_CHARS}"
    with pytest.raises(QueryTooLargeError, match=bound):
        query_words(query)
    assert query_words("a" * MAX_QUERY_CHARS) == ["a" * MAX_QUERY_CHARS]


def test_a_query_with_more_different_words_than_the_bound_is_refused():
    words = [f"w{i}" for i in range(MAX_QUERY_TERMS + 1)]
    with pytest.raises(QueryTooLargeError, match=f"33 different words: at most {MAX_QUERY_TERMS}"):
        query_words(" ".join(words))
    assert query_words(" ".join(words[:-1] * 3)) == words[:-1]


def test_repeated_words_find_what_the_words_once_find(stored):
    store, records = stored
    assert found(store, "dau tu " * 30) == found(store, "dau tu") == {records["invest"]["id"]}


@pytest.mark.parametrize("query", ["x* " * 3000, "đầu " * 1000])
def test_scrapy_search_refuses_an_oversized_query_in_one_line(tmp_path, query):
    result = run_scrapy_search(tmp_path, query)
    assert result.returncode == 2
    assert result.stderr == (
        f"search: search query is {len(query)} characters long: at most 500 are searched\n"
    )


def test_scrapy_search_refuses_too_many_different_words_in_one_line(tmp_path):
    result = run_scrapy_search(tmp_path, " ".join(f"w{i}" for i in range(40)))
    assert result.returncode == 2
    assert result.stderr == "search: search query has 40 different words: at most 32 are searched\n"


@pytest.mark.parametrize("value", ["0", "soon"])
def test_scrapy_search_refuses_a_bad_timeout_in_one_line(tmp_path, value):
    result = run_scrapy_search(tmp_path, "dau tu", "-s", f"SEARCH_TIMEOUT_SECONDS={value}")
    assert result.returncode == 2
    assert result.stderr.startswith(f"search: SEARCH_TIMEOUT_SECONDS={value!r} is ")
    assert result.stderr.count("\n") == 1


def test_a_sqlite_search_past_its_timeout_is_stopped(tmp_path, make_article_record, monkeypatch):
    store = ArticleStore(f"sqlite:///{tmp_path / 'hepza.sqlite3'}")
    store.write_batch([make_article_record(f"a{i}", title=f"Tin số {i}") for i in range(50)], RUN)
    # the progress handler looks at the clock at every step: the first one past 1 µs stops it
    monkeypatch.setattr(search_module, "SQLITE_PROGRESS_STEPS", 1)
    with pytest.raises(SearchTimeoutError, match="timeout of 1e-06 s"):
        search_articles(store.engine, "tin so", timeout=1e-6)
    # the handler is gone with the search: the next one on the same connection runs
    assert len(search_articles(store.engine, "tin so", timeout=None)) == 20
    store.close()


@contextmanager
def articles_locked(postgres_url: str) -> Iterator[None]:
    """The articles table locked by another session: a search waits on the server, running,
    for as long as the block lasts."""
    url = sa.make_url(postgres_url)
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, dbname=url.database
    ) as locker:
        locker.execute("LOCK TABLE articles IN ACCESS EXCLUSIVE MODE")
        yield
        locker.rollback()


def running_searches(postgres_url: str) -> list[str]:
    """The searches PostgreSQL is running (on any session)."""
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            return list(
                conn.scalars(
                    sa.text(
                        "SELECT state FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid() AND query LIKE '%plainto_tsquery%'"
                    )
                )
            )
    finally:
        engine.dispose()


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.postgres
def test_postgresql_search_past_its_statement_timeout_exits_1_in_one_line(
    make_article_record, postgres_url, tmp_path
):
    store = ArticleStore(postgres_url)
    store.write_batch(list(articles(make_article_record).values()), RUN)
    store.close()
    with articles_locked(postgres_url):
        started = time.monotonic()
        result = run_scrapy_search(
            tmp_path, "dau tu", "-s", f"DATABASE_URL={postgres_url}", "-s",
            "SEARCH_TIMEOUT_SECONDS=0.5",
        )  # fmt: skip
        elapsed = time.monotonic() - started
        assert running_searches(postgres_url) == []
    assert result.returncode == 1, result.stderr
    assert result.stderr == (
        "search: search stopped after its timeout of 0.5 s (SEARCH_TIMEOUT_SECONDS)\n"
    )
    assert result.stdout == ""
    assert elapsed < 30


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name
)
def test_a_postgresql_search_does_not_outlive_its_killed_client(
    make_article_record, postgres_url, tmp_path, sig
):
    store = ArticleStore(postgres_url)
    store.write_batch(list(articles(make_article_record).values()), RUN)
    store.close()
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "SCRAPY_SETTINGS_MODULE": "crawler.settings",
    }
    with articles_locked(postgres_url):
        client = subprocess.Popen(
            [sys.executable, "-m", "scrapy", "search", "dau tu", "-s",
             f"DATABASE_URL={postgres_url}", "-s", "SEARCH_TIMEOUT_SECONDS=600"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert wait_until(lambda: running_searches(postgres_url) == ["active"], 60)
            client.send_signal(sig)
            _, stderr = client.communicate(timeout=30)
        finally:
            client.kill()
        # the lock is still held: the search cannot have finished, only been stopped
        assert wait_until(lambda: running_searches(postgres_url) == [], 10), running_searches(
            postgres_url
        )
    if sig == signal.SIGKILL:
        assert client.returncode == -signal.SIGKILL
    else:
        assert client.returncode == 1
        assert stderr == f"search: interrupted by {sig.name}: the search was cancelled\n"
