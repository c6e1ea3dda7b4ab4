"""What a run reads of every stored article, served by indexes alone.

An incremental crawl reads, for every article of its site, its id, URL, ``modified_at`` and
``published_at``, and every URL recorded for it (``crawler/crawl/crawl_state.py``); the storage
pipeline reads every article's id and content hash, oldest first (``ContentIndex``). SQLite
keeps those columns after the bodies in the row, so each read walked every article's body
pages: at 20,000 articles the two reads cost more than deciding the whole sitemap. Covering
indexes answer them without touching a row:

- ``ix_articles_site_known`` on ``articles (site, id, url, modified_at, published_at)``;
- ``ix_article_urls_article_id_url`` on ``article_urls (article_id, url)``, which replaces
  ``ix_article_urls_article_id`` (every lookup by article id still has its index);
- ``ix_articles_site_first_seen`` on ``articles (site, first_seen, id, content_hash)``, in the
  order the content index reads them.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_articles_site_known",
        "articles",
        ["site", "id", "url", "modified_at", "published_at"],
    )
    op.create_index(
        "ix_articles_site_first_seen", "articles", ["site", "first_seen", "id", "content_hash"]
    )
    op.create_index("ix_article_urls_article_id_url", "article_urls", ["article_id", "url"])
    op.drop_index("ix_article_urls_article_id", table_name="article_urls")


def downgrade() -> None:
    op.create_index("ix_article_urls_article_id", "article_urls", ["article_id"])
    op.drop_index("ix_article_urls_article_id_url", table_name="article_urls")
    op.drop_index("ix_articles_site_first_seen", table_name="articles")
    op.drop_index("ix_articles_site_known", table_name="articles")
