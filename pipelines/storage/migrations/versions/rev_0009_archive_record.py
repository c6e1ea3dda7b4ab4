"""Where in the WARC archive each stored record came from.

``archive_record`` (``"<WARC file name relative to ARCHIVE_DIR>:<byte offset>"``, the record
that holds the page's payload, crawler/archive/) on ``articles`` (the newest fetch) and on
``article_versions`` (the fetch that produced that version). Null for what was stored before
archiving, or by a run that did not archive.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels = None
depends_on = None

TABLES = ("articles", "article_versions")


def upgrade() -> None:
    for name in TABLES:
        # A nullable column: SQLite adds it in place, no table rebuild.
        with op.batch_alter_table(name, recreate="never") as batch:
            batch.add_column(sa.Column("archive_record", sa.Text(), nullable=True))


def downgrade() -> None:
    for name in TABLES:
        # In place (SQLite >= 3.35 too): a batch rebuild of articles would break the views
        # and triggers of revision 0004 that name it.
        op.execute(f"ALTER TABLE {name} DROP COLUMN archive_record")
