"""Parser versions, changed fields and run kinds.

- ``articles.parser_version`` and ``article_versions.parser_version``: what extracted the
  values (``crawler/parsers/version.py``: PARSER_VERSION + the code's fingerprint), with an
  index on ``article_versions (site, parser_version)`` for analysts who filter by it;
- ``article_versions.changed_fields``: the fields a version changed against the article's
  previous state (a JSON list; None on a first version);
- ``crawl_runs.kind``: ``crawl`` or ``reparse`` (``scrapy reparse``); every earlier run was a
  crawl.

Rows stored before this revision keep None: nobody knows which parser produced them.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels = None
depends_on = None

PARSER_VERSION_LENGTH = 64


def upgrade() -> None:
    # Columns added in place: rebuilding ``articles`` would drop the search index's triggers.
    with op.batch_alter_table("articles", recreate="never") as batch:
        batch.add_column(sa.Column("parser_version", sa.String(PARSER_VERSION_LENGTH)))
    with op.batch_alter_table("article_versions", recreate="never") as batch:
        batch.add_column(sa.Column("parser_version", sa.String(PARSER_VERSION_LENGTH)))
        batch.add_column(sa.Column("changed_fields", sa.JSON(none_as_null=True)))
    op.create_index(
        "ix_article_versions_site_parser_version",
        "article_versions",
        ["site", "parser_version"],
    )
    with op.batch_alter_table("crawl_runs", recreate="never") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="crawl"))


def downgrade() -> None:
    op.drop_index("ix_article_versions_site_parser_version", table_name="article_versions")
    # In place (SQLite >= 3.35 too): a batch rebuild of articles would break the view and
    # triggers of revision 0004 that name it.
    for table, column in (
        ("crawl_runs", "kind"),
        ("article_versions", "changed_fields"),
        ("article_versions", "parser_version"),
        ("articles", "parser_version"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
