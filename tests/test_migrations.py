from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command as alembic_command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from crawler.domain.identity import article_id, content_hash
from pipelines.storage import store as store_module
from pipelines.storage.migrations.versions.rev_0006_host_spelling import _old_hash
from pipelines.storage.models import SCHEMA_REVISION, Article, ArticleUrl, ArticleVersion, Base
from pipelines.storage.search import include_name, is_search_object, search_articles
from pipelines.storage.store import ArticleStore, create_db_engine, upgrade_database
from tests.test_storage import classify

HEAD = "0013"
SITE_TABLES = ("articles", "article_urls", "article_versions", "crawl_runs")
LIST_COLUMNS = ("alternate_urls", "tags", "images", "attachments", "related_urls", "problems")


def release_one_table() -> sa.Table:
    # The 0001 table as the first release wrote it, independent of today's models.
    metadata = sa.MetaData()
    columns: list[sa.Column[Any]] = [sa.Column("id", sa.String(20), primary_key=True)]
    for name in (
        "url",
        "title",
        "summary",
        "body_text",
        "body_html",
        "author",
        "published_at",
        "published_at_raw",
        "published_at_source",
        "modified_at",
        "language",
        "category",
        "content_hash",
        "crawled_at",
        "source",
    ):
        columns.append(sa.Column(name, sa.Text()))
    columns.append(sa.Column("summary_truncated", sa.Boolean()))
    columns.extend(sa.Column(name, sa.JSON()) for name in LIST_COLUMNS)
    return sa.Table("articles", metadata, *columns)


def test_models_match_the_migrations(database_url):
    store = ArticleStore(database_url)
    with store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": include_name}
        )
        assert compare_metadata(context, Base.metadata) == []
    store.close()


def test_release_one_database_upgrades_without_data_loss(database_url, make_article_record):
    engine = create_db_engine(database_url)
    upgrade_database(engine, "0001")
    old = [
        make_article_record("a", modified_at="2023-02-01T08:00:00+07:00"),
        # Release one could store an article without a date or a hash.
        make_article_record(
            "b", body_text="B", published_at=None, content_hash=None, crawled_at=None
        ),
        # ... and list another article's URL among its alternates.
        make_article_record(
            "c", body_text="C", alternate_urls=["https://hepza.hochiminhcity.gov.vn/vi/w/a"]
        ),
    ]
    for record in old:
        del record["archive_record"]  # release one archived nothing
        record.pop("parser_version")  # release one knew nothing of parser versions
    articles = release_one_table()
    with engine.begin() as conn:
        conn.execute(articles.insert(), old)
    engine.dispose()

    store = ArticleStore(database_url)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == HEAD
        rows = {
            row["id"]: dict(row)
            for row in conn.execute(sa.text("SELECT * FROM articles")).mappings()
        }
        urls = dict(conn.execute(sa.text("SELECT url, article_id FROM article_urls")).all())
        versions = conn.execute(
            sa.text("SELECT article_id, content_hash, run_id FROM article_versions ORDER BY id")
        ).all()

    a, b, c = old
    for record in (a, c):
        kept = {name: rows[record["id"]][name] for name in record if name not in LIST_COLUMNS}
        assert kept == {name: record[name] for name in kept}
    assert store.known_index("hepza")[a["url"]].published_at == datetime.fromisoformat(
        a["published_at"]
    )
    # Backfilled: URLs (the first article keeps a URL listed twice), one version each, times.
    assert urls == {
        a["url"]: a["id"],
        a["alternate_urls"][0]: a["id"],
        b["url"]: b["id"],
        b["alternate_urls"][0]: b["id"],
        c["url"]: c["id"],
    }
    assert sorted(v.article_id for v in versions) == sorted(r["id"] for r in old)
    assert all(v.run_id is None for v in versions)
    assert rows[b["id"]]["content_hash"]  # computed for the row that had none
    assert {v.article_id: v.content_hash for v in versions}[a["id"]] == a["content_hash"]
    assert classify(store, a).status == "unchanged"
    assert classify(store, make_article_record("a", body_text="sửa")).status == "changed"

    with store.engine.connect() as conn:
        typed = conn.execute(sa.select(Article.__table__).where(Article.id == a["id"])).one()
        assert typed.tags == a["tags"]
        assert typed.images == a["images"]
        assert typed.published_at_utc == datetime(2023, 1, 18, 10, 48, tzinfo=UTC)
        assert typed.modified_at_utc == datetime(2023, 2, 1, 1, 0, tzinfo=UTC)
        # first_seen comes from the old crawled_at.
        assert typed.first_seen == datetime(2024, 5, 2, 2, 15, 30, tzinfo=UTC)
        undated = conn.execute(sa.select(Article.__table__).where(Article.id == b["id"])).one()
        assert undated.published_at_utc is None
        assert undated.first_seen.tzinfo is not None
    store.close()


def test_upgrade_is_a_no_op_at_head(database_url, make_article_record):
    store = ArticleStore(database_url)
    store.write_batch([make_article_record("a")], "run-1")
    store.close()
    again = ArticleStore(database_url)
    assert len(again.known_index("hepza")) == 2
    again.close()


def all_rows(engine: sa.Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, without the search index's own column (PostgreSQL's stored
    search document, derived from the row since revision 0011)."""
    order = {"articles": "id", "article_urls": "url", "article_versions": "id"}
    with engine.connect() as conn:
        return {
            name: [
                {key: value for key, value in row.items() if not is_search_object(key)}
                for row in conn.execute(
                    sa.text(f"SELECT * FROM {name} ORDER BY {order.get(name, 'run_id')}")
                ).mappings()
            ]
            for name in SITE_TABLES
        }


def test_single_site_database_upgrades_to_sites_losing_nothing(database_url, make_article_record):
    engine = create_db_engine(database_url)
    upgrade_database(engine, "0001")
    old = [
        make_article_record("a", modified_at="2023-02-01T08:00:00+07:00"),
        make_article_record("b", body_text="B", published_at=None),
    ]
    for record in old:
        del record["archive_record"]  # release one archived nothing
    with engine.begin() as conn:
        conn.execute(release_one_table().insert(), old)
    upgrade_database(engine, "0002")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO crawl_runs (run_id, started_at, outcome, spider_args) "
                "VALUES ('run-0002', :started, 'succeeded', '{}')"
            ),
            {"started": datetime(2024, 5, 2, 2, 0, tzinfo=UTC)},
        )
    before = all_rows(engine)
    assert {name: len(rows) for name, rows in before.items()} == {
        "articles": 2,
        "article_urls": 4,
        "article_versions": 2,
        "crawl_runs": 1,
    }
    engine.dispose()

    store = ArticleStore(database_url)
    after = all_rows(store.engine)
    for name in SITE_TABLES:
        assert [row.pop("site") for row in after[name]] == ["hepza"] * len(before[name]), name
    # 0007: a stored published_at without the date-only problem is known to the minute
    precision = {row["id"]: row.pop("published_at_precision") for row in after["articles"]}
    assert precision == {old[0]["id"]: "minute", old[1]["id"]: None}
    # 0008's columns: no lead opens with a day; a is dated alone in its hour, b is undated
    added = [
        {
            name: row.pop(name)
            for name in ("event_date", "event_date_source", "published_at_quality")
        }
        for row in after["articles"]
    ]
    names = [row["url"].rsplit("/", 1)[1] for row in after["articles"]]
    qualities = dict(zip(names, added, strict=True))
    assert qualities == {
        "a": {"event_date": None, "event_date_source": None, "published_at_quality": "ok"},
        "b": {"event_date": None, "event_date_source": None, "published_at_quality": None},
    }
    # revision 0009's column: nothing archived before it
    for name in ("articles", "article_versions"):
        assert [row.pop("archive_record") for row in after[name]] == [None] * len(before[name])
    # Revision 0010's columns: nobody knows which parser stored these rows; every run was a crawl.
    for name, column, value in (
        ("articles", "parser_version", None),
        ("article_versions", "parser_version", None),
        ("article_versions", "changed_fields", None),
        ("crawl_runs", "kind", "crawl"),
    ):
        assert [row.pop(column) for row in after[name]] == [value] * len(before[name]), column
    assert after == before
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == HEAD
        indexes = {
            name: {index["name"] for index in sa.inspect(conn).get_indexes(name)}
            for name in SITE_TABLES
        }
    assert "ix_articles_site_published_at_utc" in indexes["articles"]
    assert "ix_articles_site_last_seen" in indexes["articles"]
    assert "ix_crawl_runs_site_started_at" in indexes["crawl_runs"]
    a, b = old
    assert set(store.known_index("hepza")) == {
        a["url"],
        a["alternate_urls"][0],
        b["url"],
        b["alternate_urls"][0],
    }
    assert store.known_index("other-portal") == {}
    assert classify(store, a).status == "unchanged"
    # NOT NULL and no default: a row without its site is refused, never given one.
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
        now = datetime.now(UTC)
        conn.execute(
            sa.insert(ArticleUrl).values(
                url="https://x.example/w/n", article_id=a["id"], first_seen=now, last_seen=now
            )
        )
    store.close()


def _old_record(
    make_article_record: Any, url: str, *, site: str = "hepza", **overrides: Any
) -> dict[str, Any]:
    """A record as the code of revision 0005 stored it: its id the hash of its URL as written,
    its content hash over absolute image URLs."""
    slug = url.rsplit("/", 1)[1]
    host = url.rsplit("/w/", 1)[0]
    images = [{"url": f"{host}/documents/{slug}.jpg", "caption": None}]
    fields = {"url": url, "site": site, "alternate_urls": [], "images": images, **overrides}
    record = make_article_record(slug, **fields)
    record["id"] = hashlib.sha256(url.encode()).hexdigest()[:20]
    record["content_hash"] = _old_hash(record)
    return record


def _archive_columns(engine: sa.Engine, change: str) -> None:
    with engine.begin() as conn:
        for table in ("articles", "article_versions"):
            conn.exec_driver_sql(f"ALTER TABLE {table} {change}")


def _without_0010(build: Any) -> Any:
    def earlier(*args: Any) -> dict[str, Any]:
        row: dict[str, Any] = build(*args)
        for name in ("parser_version", "changed_fields"):
            row.pop(name, None)
        return row

    return earlier


def test_a_database_written_before_identity_keys_gets_new_ids_and_hashes_and_one_row_per_article(
    database_url, make_article_record, monkeypatch
):
    real_upgrade = store_module.upgrade_database
    monkeypatch.setattr(
        store_module, "upgrade_database", lambda engine: real_upgrade(engine, "0005")
    )
    # the columns revision 0005 has (published_at_precision came with 0007)
    for fields in ("EXPORT_FIELDS", "VERSION_FIELDS"):
        monkeypatch.setattr(
            store_module,
            fields,
            tuple(f for f in getattr(store_module, fields) if f != "published_at_precision"),
        )
    # The store writes what revision 0005 held: no event day, no display-date marks.
    monkeypatch.setattr(
        store_module,
        "EXPORT_FIELDS",
        tuple(f for f in store_module.EXPORT_FIELDS if not f.startswith("event_date")),
    )
    monkeypatch.setattr(store_module, "mark_hours", lambda *args: 0)
    # The earlier code wrote rows without revision 0010's columns.
    for method in ("_article_row", "_version_row"):
        monkeypatch.setattr(
            ArticleStore, method, staticmethod(_without_0010(getattr(ArticleStore, method)))
        )
    old = ArticleStore(database_url)
    # This code writes the archive's column; the database stays the shape 0005 gave it.
    _archive_columns(old.engine, "ADD COLUMN archive_record TEXT")
    http_a = _old_record(make_article_record, "http://portal.example/w/a", title="A one")
    old.write_batch([http_a], "run-1")
    old.write_batch([{**http_a, "title": "A two", "content_hash": "edited"}], "run-2")
    # The portal moved to https: the earlier code stored the article a second time.
    https_a = _old_record(make_article_record, "https://portal.example/w/a", title="A two")
    plain_b = _old_record(make_article_record, "http://portal.example/w/b", title="B", images=[])
    https_c = _old_record(make_article_record, "https://other.example/w/c", site="other")
    old.write_batch([https_a, plain_b, https_c], "run-3")
    with old.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Article)) == 4
        first_seen = conn.scalar(sa.select(Article.first_seen).where(Article.id == http_a["id"]))
    _archive_columns(old.engine, "DROP COLUMN archive_record")
    old.close()
    monkeypatch.undo()

    store = ArticleStore(database_url)
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == HEAD
            rows = {
                row.url: row
                for row in conn.execute(
                    sa.select(Article.id, Article.url, Article.content_hash, Article.first_seen)
                )
            }
            urls = dict(conn.execute(sa.select(ArticleUrl.url, ArticleUrl.article_id)).all())
            versions = conn.execute(
                sa.select(ArticleVersion.article_id, ArticleVersion.content_hash)
            ).all()
            foreign_keys = {
                table: [fk["referred_table"] for fk in sa.inspect(conn).get_foreign_keys(table)]
                for table in ("article_urls", "article_versions")
            }
        # one row per article, under the URL the portal gave last
        assert set(rows) == {https_a["url"], plain_b["url"], https_c["url"]}
        a, b, c = rows[https_a["url"]], rows[plain_b["url"]], rows[https_c["url"]]
        assert a.id == article_id(http_a["url"]) == article_id(https_a["url"])
        assert a.first_seen == first_seen  # the article as first met
        assert b.id == article_id(plain_b["url"]) != plain_b["id"]
        assert c.id == https_c["id"]  # an https portal's ids do not change
        for row, record in ((a, https_a), (b, plain_b), (c, https_c)):
            assert row.content_hash == content_hash(record)
        assert b.content_hash == plain_b["content_hash"]  # no image: the hash is as before
        assert urls[http_a["url"]] == urls[https_a["url"]] == a.id
        assert set(urls.values()) == {a.id, b.id, c.id}
        assert sorted(article for article, _ in versions) == sorted([a.id] * 3 + [b.id, c.id])
        assert foreign_keys == {"article_urls": ["articles"], "article_versions": ["articles"]}
        history = store.versions(a.id)
        assert [v["record"]["title"] for v in history] == ["A one", "A two", "A two"]
        assert all(v["record"]["body_text"] for v in history)
        # re-crawled by this code, under either spelling: nothing new, nothing changed
        http_now = {**https_a, "url": http_a["url"], "images": http_a["images"]}
        for record in (https_a, http_now, plain_b, https_c):
            now = {**record, "id": article_id(record["url"]), "content_hash": None}
            assert classify(store, now).status == "unchanged", record["url"]
        assert [hit.id for hit in search_articles(store.engine, "A two")] == [a.id]
    finally:
        store.close()


def test_the_schema_revision_the_store_trusts_is_the_migrations_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(store_module.MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_heads() == [SCHEMA_REVISION] == [HEAD]


def test_a_database_at_the_head_opens_without_running_alembic(tmp_path, monkeypatch) -> None:
    database_url = f"sqlite:///{tmp_path / 'hepza.sqlite3'}"
    ArticleStore(database_url).close()

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("alembic ran on a database at the head")

    monkeypatch.setattr(alembic_command, "upgrade", refuse)
    store = ArticleStore(database_url)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == HEAD
    store.close()
