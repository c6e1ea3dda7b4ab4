"""First release: one ``articles`` row per article, no history.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("id", sa.String(20), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("alternate_urls", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("title", sa.Text()),
        sa.Column("summary", sa.Text()),
        sa.Column("summary_truncated", sa.Boolean(), nullable=False),
        sa.Column("body_text", sa.Text()),
        sa.Column("body_html", sa.Text()),
        sa.Column("author", sa.Text()),
        sa.Column("published_at", sa.String(40)),
        sa.Column("published_at_raw", sa.Text()),
        sa.Column("published_at_source", sa.String(40)),
        sa.Column("modified_at", sa.String(40)),
        sa.Column("language", sa.String(20)),
        sa.Column("category", sa.Text()),
        sa.Column("tags", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("images", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("attachments", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("related_urls", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("crawled_at", sa.String(40)),
        sa.Column("source", sa.Text()),
        sa.Column("problems", sa.JSON(none_as_null=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_articles"),
        sa.UniqueConstraint("url", name="uq_articles_url"),
    )


def downgrade() -> None:
    op.drop_table("articles")
