"""What analysts read at a million articles, served by indexes.

- ``ix_article_versions_captured_at`` on ``article_versions (captured_at)``: a change feed of
  every site (``scrapy export --changed-since``) reads the versions of its window; the only index
  on ``captured_at`` led with ``site``, so SQLite scanned every version for a 20-row feed.
- ``ix_articles_category`` and ``ix_articles_author``: Datasette's category and author facets
  (``make browse``) count from an index instead of every row; they timed out at 300k articles.
- SQLite: ``ix_articles_published_month`` on ``substr(published_at, 1, 7)``, the
  ``articles_browse`` view's ``published_month`` facet, by the same expression.
- PostgreSQL: the search document becomes a stored column, ``search_document`` (generated from
  the same IMMUTABLE ``articles_search_document`` as revision 0004's index, so always in step),
  and the GIN index ``ix_articles_search_document`` is rebuilt over it. Ranking a match
  (``ts_rank``) and checking one read the stored ``tsvector`` instead of parsing the article
  again (1-2 ms each: a common word ranked every match, 26 s at 100k articles), and ANALYZE
  keeps the column's word statistics, from which the planner picks between the GIN index (a
  rare word) and walking the newest articles (a common one) (pipelines/storage/search.py).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision: str | None = "0010"
branch_labels = None
depends_on = None

# Frozen copies: later code may change, this revision may not.
PG_DOCUMENT = "articles_search_document(title, summary, body_text, category, tags)"


def upgrade() -> None:
    op.create_index("ix_article_versions_captured_at", "article_versions", ["captured_at"])
    op.create_index("ix_articles_category", "articles", ["category"])
    op.create_index("ix_articles_author", "articles", ["author"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE articles ADD COLUMN search_document tsvector "
            f"GENERATED ALWAYS AS ({PG_DOCUMENT}) STORED"
        )
        op.execute("DROP INDEX ix_articles_search_document")
        op.execute(
            "CREATE INDEX ix_articles_search_document ON articles USING gin (search_document)"
        )
        op.execute("ANALYZE articles")
    else:
        op.execute(
            "CREATE INDEX ix_articles_published_month ON articles (substr(published_at, 1, 7))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_articles_search_document")
        op.execute("ALTER TABLE articles DROP COLUMN search_document")
        op.execute(
            f"CREATE INDEX ix_articles_search_document ON articles USING gin ({PG_DOCUMENT})"
        )
    else:
        op.execute("DROP INDEX IF EXISTS ix_articles_published_month")
    op.drop_index("ix_articles_author", table_name="articles")
    op.drop_index("ix_articles_category", table_name="articles")
    op.drop_index("ix_article_versions_captured_at", table_name="article_versions")
