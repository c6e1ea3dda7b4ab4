from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from pipelines.storage.models import Article, ArticleUrl, Base
from pipelines.storage.search import include_name
from pipelines.storage.store import ArticleStore, create_db_engine, upgrade_database

HEAD = "0006"
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
    assert store.classify(a).status == "unchanged"
    assert store.classify(make_article_record("a", body_text="sửa")).status == "changed"

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
    order = {"articles": "id", "article_urls": "url", "article_versions": "id"}
    with engine.connect() as conn:
        return {
            name: [
                dict(row)
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
    assert store.classify(a).status == "unchanged"
    # NOT NULL and no default: a row without its site is refused, never given one.
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
        now = datetime.now(UTC)
        conn.execute(
            sa.insert(ArticleUrl).values(
                url="https://x.example/w/n", article_id=a["id"], first_seen=now, last_seen=now
            )
        )
    store.close()
