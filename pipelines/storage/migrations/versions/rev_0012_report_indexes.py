"""What ``scrapy report`` reads at a million articles, served by indexes.

- ``ix_articles_last_run_id`` on ``articles (last_run_id)``: the report lists the problems of
  the articles the latest run stored; without it every article was read (3 s at 100k on SQLite).
- ``ix_articles_site_published_at`` gains ``category``, ``published_at_quality`` and
  ``event_date``: the report's articles per month and category (``monthly_counts``) are
  counted from the index alone, not from the rows with their bodies (5.7 s at 100k on SQLite,
  about a minute at 1M). The index still leads with ``(site, published_at)``: one display
  hour's articles (revision 0008) are read from it as before.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision: str | None = "0011"
branch_labels = None
depends_on = None

MONTHS_COLUMNS = ["site", "published_at", "category", "published_at_quality", "event_date"]


def upgrade() -> None:
    op.create_index("ix_articles_last_run_id", "articles", ["last_run_id"])
    op.drop_index("ix_articles_site_published_at", table_name="articles")
    op.create_index("ix_articles_site_published_at", "articles", MONTHS_COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_articles_site_published_at", table_name="articles")
    op.create_index("ix_articles_site_published_at", "articles", ["site", "published_at"])
    op.drop_index("ix_articles_last_run_id", table_name="articles")
