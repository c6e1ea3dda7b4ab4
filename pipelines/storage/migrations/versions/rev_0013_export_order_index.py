"""The exports' order and the change feed's window, served by indexes alone.

- ``ix_articles_published_at_utc_id`` on ``articles (published_at_utc, id)`` replaces
  ``ix_articles_published_at_utc``.
- ``ix_article_versions_captured_at`` and ``ix_article_versions_site_captured_at`` gain
  ``article_id``; ``ix_article_versions_article_id_id`` gains ``captured_at``.

An export in worker processes (``scrapy export --jobs``) reads the ids of its rows in export
order (publication instant, then id) before any row: with the id in the index that is a walk
of the index alone, where the single-column index sent SQLite to every row for its id (5 s of
the reading at a million articles) and sorted each instant's ties. Everything the old index
served (a range of publication instants, the order of Datasette's browse view) the new one
serves as its prefix. A change feed's window is the articles of the versions captured in it:
with the article's id in the window's index, SQLite reads them from the index (a feed of
everything at a million articles read every version's row, 3.5 s, for its id); a feed of most
articles instead checks each article of the export order for a version in the window, and its
history (how many versions up to now, the newest, the one before the window) is worked out
from the ``(article_id, id, captured_at)`` index alone.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision: str | None = "0012"
branch_labels = None
depends_on = None


WIDENED = {
    "ix_article_versions_captured_at": (["captured_at"], "article_id"),
    "ix_article_versions_site_captured_at": (["site", "captured_at"], "article_id"),
    "ix_article_versions_article_id_id": (["article_id", "id"], "captured_at"),
}


def upgrade() -> None:
    op.create_index("ix_articles_published_at_utc_id", "articles", ["published_at_utc", "id"])
    op.drop_index("ix_articles_published_at_utc", table_name="articles")
    for name, (columns, added) in WIDENED.items():
        op.drop_index(name, table_name="article_versions")
        op.create_index(name, "article_versions", [*columns, added])


def downgrade() -> None:
    for name, (columns, _) in WIDENED.items():
        op.drop_index(name, table_name="article_versions")
        op.create_index(name, "article_versions", columns)
    op.create_index("ix_articles_published_at_utc", "articles", ["published_at_utc"])
    op.drop_index("ix_articles_published_at_utc_id", table_name="articles")
