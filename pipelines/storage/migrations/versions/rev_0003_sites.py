"""Sites: every table keyed by site, so that many portals share one database.

An existing database held one site, HEPZA: every row it has gets site ``hepza``. Nothing else
changes (article ids are the hash of the canonical URL, which carries the host, so they never
collide across sites). The column is added nullable, filled, then made NOT NULL without a
default: a row written later without its site is refused, not guessed.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None

# Frozen: the only site a database of revision 0002 could hold.
EXISTING_SITE = "hepza"
SITE_LENGTH = 64
TABLES = ("articles", "article_urls", "article_versions", "crawl_runs")
INDEXES: dict[str, dict[str, list[str]]] = {
    "articles": {
        "ix_articles_site_published_at_utc": ["site", "published_at_utc"],
        "ix_articles_site_last_seen": ["site", "last_seen"],
        "ix_articles_site_content_hash": ["site", "content_hash"],
    },
    "article_urls": {"ix_article_urls_site_last_seen": ["site", "last_seen"]},
    "article_versions": {"ix_article_versions_site_captured_at": ["site", "captured_at"]},
    "crawl_runs": {
        "ix_crawl_runs_site_started_at": ["site", "started_at"],
        "ix_crawl_runs_site_outcome": ["site", "outcome"],
    },
}


def upgrade() -> None:
    for name in TABLES:
        # Native ADD COLUMN on both databases (no table copy on SQLite).
        with op.batch_alter_table(name, recreate="never") as batch:
            batch.add_column(sa.Column("site", sa.String(SITE_LENGTH), nullable=True))
        table = sa.table(name, sa.column("site", sa.String()))
        op.execute(table.update().where(table.c.site.is_(None)).values(site=EXISTING_SITE))
        with op.batch_alter_table(name) as batch:
            batch.alter_column("site", existing_type=sa.String(SITE_LENGTH), nullable=False)
            if name == "articles":
                # Content twins are looked up within a site: (site, content_hash) replaces it.
                batch.drop_index("ix_articles_content_hash")
            for index, columns in INDEXES[name].items():
                batch.create_index(index, columns)


def downgrade() -> None:
    for name in reversed(TABLES):
        with op.batch_alter_table(name) as batch:
            for index in INDEXES[name]:
                batch.drop_index(index)
            if name == "articles":
                batch.create_index("ix_articles_content_hash", ["content_hash"])
            batch.drop_column("site")
