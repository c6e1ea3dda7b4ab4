"""URLs, versions and runs: every URL seen per article, a version per content change, run log.

Existing rows are kept: their URLs and alternate URLs become ``article_urls`` rows and each
article gets one initial version.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic import op

if TYPE_CHECKING:
    from collections.abc import Iterator

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

# Frozen copies: later changes to the models must not change what this revision does.
VERSION_FIELDS = (
    "url",
    "title",
    "summary",
    "summary_truncated",
    "body_text",
    "body_html",
    "author",
    "published_at",
    "published_at_raw",
    "published_at_source",
    "modified_at",
    "language",
    "category",
    "tags",
    "images",
    "attachments",
    "related_urls",
    "problems",
)
CHUNK = 500


def _column_type(name: str) -> sa.types.TypeEngine[Any]:
    if name == "summary_truncated":
        return sa.Boolean()
    return sa.JSON() if name in _JSON_FIELDS else sa.Text()


_JSON_FIELDS = frozenset(
    {"alternate_urls", "tags", "images", "attachments", "related_urls", "problems"}
)
articles = sa.table(
    "articles",
    sa.column("id", sa.String()),
    sa.column("alternate_urls", sa.JSON()),
    *(sa.column(name, _column_type(name)) for name in VERSION_FIELDS),
    sa.column("content_hash", sa.String()),
    sa.column("crawled_at", sa.String()),
    sa.column("published_at_utc", sa.DateTime(timezone=True)),
    sa.column("modified_at_utc", sa.DateTime(timezone=True)),
    sa.column("first_seen", sa.DateTime(timezone=True)),
    sa.column("last_seen", sa.DateTime(timezone=True)),
)
article_urls = sa.table(
    "article_urls",
    sa.column("url", sa.Text()),
    sa.column("article_id", sa.String()),
    sa.column("first_seen", sa.DateTime(timezone=True)),
    sa.column("last_seen", sa.DateTime(timezone=True)),
)
article_versions = sa.table(
    "article_versions",
    sa.column("article_id", sa.String()),
    sa.column("content_hash", sa.String()),
    sa.column("captured_at", sa.DateTime(timezone=True)),
    sa.column("run_id", sa.String()),
    sa.column("record", sa.JSON()),
)


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("published_at_utc", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("modified_at_utc", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("first_seen", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("last_seen", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("last_run_id", sa.String(64)))
        batch.create_index("ix_articles_content_hash", ["content_hash"])
        batch.create_index("ix_articles_published_at_utc", ["published_at_utc"])

    op.create_table(
        "article_urls",
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("article_id", sa.String(20), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("url", name="pk_article_urls"),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_article_urls_article_id_articles",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_article_urls_article_id", "article_urls", ["article_id"])
    op.create_table(
        "article_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("article_id", sa.String(20), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("record", sa.JSON(none_as_null=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_article_versions"),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_article_versions_article_id_articles",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_article_versions_article_id_id", "article_versions", ["article_id", "id"])
    op.create_table(
        "crawl_runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("spider_args", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("stats", sa.JSON(none_as_null=True)),
        sa.Column("report", sa.JSON(none_as_null=True)),
        sa.PrimaryKeyConstraint("run_id", name="pk_crawl_runs"),
    )

    _backfill(op.get_bind())

    with op.batch_alter_table("articles") as batch:
        batch.alter_column("first_seen", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.alter_column("last_seen", existing_type=sa.DateTime(timezone=True), nullable=False)


def _backfill(conn: sa.Connection) -> None:
    sqlite = conn.dialect.name == "sqlite"
    now = datetime.now(UTC)
    claimed: set[str] = set()
    for rows in _chunks(conn):
        url_rows: list[dict[str, Any]] = []
        version_rows: list[dict[str, Any]] = []
        for row in rows:
            seen = _utc(row["crawled_at"]) or now
            content_hash = row["content_hash"] or _fingerprint(row)
            conn.execute(
                articles.update()
                .where(articles.c.id == row["id"])
                .values(
                    published_at_utc=_db_time(_utc(row["published_at"]), sqlite),
                    modified_at_utc=_db_time(_utc(row["modified_at"]), sqlite),
                    first_seen=_db_time(seen, sqlite),
                    last_seen=_db_time(seen, sqlite),
                    content_hash=content_hash,
                )
            )
            for url in [row["url"], *(row["alternate_urls"] or [])]:
                # The first release could list one URL under two articles; the first one keeps it.
                if url and url not in claimed:
                    claimed.add(url)
                    url_rows.append(
                        {
                            "url": url,
                            "article_id": row["id"],
                            "first_seen": _db_time(seen, sqlite),
                            "last_seen": _db_time(seen, sqlite),
                        }
                    )
            version_rows.append(
                {
                    "article_id": row["id"],
                    "content_hash": content_hash,
                    "captured_at": _db_time(seen, sqlite),
                    "run_id": None,
                    "record": {name: row[name] for name in VERSION_FIELDS},
                }
            )
        if url_rows:
            conn.execute(article_urls.insert(), url_rows)
        if version_rows:
            conn.execute(article_versions.insert(), version_rows)


def _chunks(conn: sa.Connection) -> Iterator[list[sa.RowMapping]]:
    # Keyset pages: bodies are large, and the table may hold tens of thousands of articles.
    last = ""
    while True:
        rows = list(
            conn.execute(
                sa.select(articles).where(articles.c.id > last).order_by(articles.c.id).limit(CHUNK)
            ).mappings()
        )
        if not rows:
            return
        yield rows
        last = rows[-1]["id"]


def _utc(iso: str | None) -> datetime | None:
    if not iso:
        return None
    try:
        value = datetime.fromisoformat(iso)
    except ValueError:
        return None
    return value.astimezone(UTC) if value.tzinfo else None


def _db_time(value: datetime | None, sqlite: bool) -> datetime | None:
    # Same storage rule as models.UTCDateTime: UTC, and naive text on SQLite.
    if value is None:
        return None
    return value.replace(tzinfo=None) if sqlite else value


# The one content hash (crawler.domain.identity.content_hash), frozen here: a row that had none gets
# the hash the crawler computes, so the next run finds the article unchanged.
CONTENT_FIELDS = (
    "title",
    "summary",
    "body_text",
    "author",
    "published_at",
    "category",
    "tags",
    "images",
    "attachments",
)


def _fingerprint(row: sa.RowMapping | dict[str, Any]) -> str:
    content = {name: row[name] for name in CONTENT_FIELDS}
    payload = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def downgrade() -> None:
    op.drop_table("crawl_runs")
    op.drop_index("ix_article_versions_article_id_id", table_name="article_versions")
    op.drop_table("article_versions")
    op.drop_index("ix_article_urls_article_id", table_name="article_urls")
    op.drop_table("article_urls")
    with op.batch_alter_table("articles") as batch:
        batch.drop_index("ix_articles_published_at_utc")
        batch.drop_index("ix_articles_content_hash")
        for name in (
            "last_run_id",
            "last_seen",
            "first_seen",
            "modified_at_utc",
            "published_at_utc",
        ):
            batch.drop_column(name)
