"""Dates analysts can trust: the event day a lead opens with, and display dates a migration
stamped.

Adds to ``articles``:

- ``event_date`` (a date) and ``event_date_source`` (``lead``): the day of the event the lead
  opens with (``crawler.domain.dates.event_date_of_lead``), filled here for every stored
  article from its summary, else its body's first paragraph, read against its display day;
- ``published_at_quality`` (``bulk`` | ``ok``, null without ``published_at``): whether the
  article shares its display day and hour with many others of its site
  (``pipelines.storage.quality``), marked here with the default threshold; a crawl's writer
  recounts its site with the configured one;
- the index ``ix_articles_site_published_at`` on ``(site, published_at)``: one display hour's
  articles, read at every batch.

Like 0006 it calls the crawler's own functions: what it fills must be what a crawl computes.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from alembic import op

from crawler.domain.dates import event_date_of_lead
from pipelines.storage.quality import DEFAULT_BULK_THRESHOLD, mark_site

revision = "0008"
down_revision: str | None = "0007"
branch_labels = None
depends_on = None

CHUNK = 500
# How much of a body is read for its first paragraph.
LEAD_CHARS = 2000

ARTICLES = sa.table(
    "articles",
    sa.column("id", sa.String()),
    sa.column("site", sa.String()),
    sa.column("summary", sa.Text()),
    sa.column("body_text", sa.Text()),
    sa.column("published_at", sa.String()),
    sa.column("event_date", sa.Date()),
    sa.column("event_date_source", sa.String()),
)


def _display_day(published_at: str | None) -> date | None:
    if not published_at:
        return None
    try:
        return datetime.fromisoformat(published_at).date()
    except ValueError:
        return None


def _fill_event_dates(conn: sa.Connection) -> None:
    query = sa.select(
        ARTICLES.c.id,
        ARTICLES.c.summary,
        sa.func.substr(ARTICLES.c.body_text, 1, LEAD_CHARS).label("body"),
        ARTICLES.c.published_at,
    ).order_by(ARTICLES.c.id)
    last = ""
    # One page of articles at a time (keyset on the id): a large database is never held whole.
    while True:
        rows = conn.execute(query.where(ARTICLES.c.id > last).limit(CHUNK)).all()
        if not rows:
            return
        last = rows[-1].id
        updates = []
        for row in rows:
            day = _display_day(row.published_at)
            for lead in (row.summary or "", (row.body or "").split("\n\n", 1)[0]):
                event = event_date_of_lead(lead, day)
                if event is not None:
                    updates.append({"key": row.id, "day": event})
                    break
        if updates:
            conn.execute(
                ARTICLES.update()
                .where(ARTICLES.c.id == sa.bindparam("key"))
                .values(event_date=sa.bindparam("day"), event_date_source="lead"),
                updates,
            )


def upgrade() -> None:
    op.add_column("articles", sa.Column("event_date", sa.Date(), nullable=True))
    op.add_column("articles", sa.Column("event_date_source", sa.String(20), nullable=True))
    op.add_column("articles", sa.Column("published_at_quality", sa.String(10), nullable=True))
    op.create_index("ix_articles_site_published_at", "articles", ["site", "published_at"])
    conn = op.get_bind()
    _fill_event_dates(conn)
    for site in list(conn.scalars(sa.select(ARTICLES.c.site).distinct())):
        mark_site(conn, site, DEFAULT_BULK_THRESHOLD)


def downgrade() -> None:
    op.drop_index("ix_articles_site_published_at", table_name="articles")
    # ALTER TABLE ... DROP COLUMN in place (SQLite 3.35+): a batch copy of the table would
    # break the search index's view and triggers, which name the table.
    for name in ("published_at_quality", "event_date_source", "event_date"):
        op.execute(f"ALTER TABLE articles DROP COLUMN {name}")
