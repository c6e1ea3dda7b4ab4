"""What a stored ``published_at`` states: ``articles.published_at_precision``.

An Asset Publisher's default views print a date without a time (``18/01/2023``); such a
``published_at`` is that day's midnight in the site's zone, and says so with ``day``; a time of
day given by the page is ``minute``. Rows written before are given the precision their problems
say: ``day`` for those that carry ``published_at_date_only`` (the dates pipeline left that
problem on every date-only value), ``minute`` for any other with a ``published_at``. Version
records keep what they were written with (a record without the field reads as unknown).

An incremental crawl reads the precision with each article (a page that shows the day only
does not replace a stored time of that day): ``ix_articles_site_known`` covers it too.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None

KNOWN = ["site", "id", "url", "modified_at", "published_at"]


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("published_at_precision", sa.String(10), nullable=True))
    op.execute(
        "UPDATE articles SET published_at_precision = CASE WHEN "
        "CAST(problems AS TEXT) LIKE '%\"published_at_date_only\"%' THEN 'day' ELSE 'minute' "
        "END WHERE published_at IS NOT NULL"
    )
    op.drop_index("ix_articles_site_known", table_name="articles")
    op.create_index("ix_articles_site_known", "articles", [*KNOWN, "published_at_precision"])


def downgrade() -> None:
    op.drop_index("ix_articles_site_known", table_name="articles")
    op.create_index("ix_articles_site_known", "articles", KNOWN)
    # In place (SQLite >= 3.35 too): a batch rebuild of articles would break the view and
    # triggers of revision 0004 that name it.
    op.execute("ALTER TABLE articles DROP COLUMN published_at_precision")
