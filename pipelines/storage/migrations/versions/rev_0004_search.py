"""Search: a full-text index over the articles, kept in step by the database itself.

Vietnamese is searched with or without its diacritics: "dau tu" finds "đầu tư". Both indexes
fold "đ"/"Đ" to "d"/"D" (no Unicode decomposition does: neither FTS5's ``remove_diacritics`` nor
a diacritic stripper that works from decompositions would) and drop every other diacritic.

- SQLite: an FTS5 table ``articles_fts`` (``unicode61 remove_diacritics 2``) whose content is
  the ``articles`` table (no second copy of the bodies; snippets show the stored text), keyed by
  the articles' rowid. Triggers index every insert, every change of an indexed column and every
  delete, whichever program writes. A later migration that rebuilds ``articles`` (a batch
  "recreate") renumbers the rowids and drops the triggers: it must drop and create this index
  again, as this revision does.
- PostgreSQL: the ``unaccent`` extension, a text search configuration ``search_folded``
  (``simple`` with every word passed through ``unaccent``, whose rules fold "đ" too), an
  IMMUTABLE ``articles_search_document(title, summary, body_text, category, tags)`` returning
  the weighted ``tsvector`` of an article, and a GIN expression index over it: always in step,
  no trigger and no column. A server without the extension (Debian:
  ``postgresql-contrib``) stops the migration with one line saying so.

The existing articles are indexed by this revision. SQLite also gets the ``articles_browse``
view that ``make browse`` (Datasette) facets by publication month.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

from pipelines.storage.store import StorageError

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None

# Frozen copies: later code may change, this revision may not.
SQLITE_COLUMNS = ("title", "summary", "body_text", "category", "tags")
SQLITE_TRIGGERS = ("articles_fts_insert", "articles_fts_delete", "articles_fts_update")


# What Datasette (``make browse``) shows and facets: one row per article with its publication
# month (on the site's clock, as printed); ``article_rowid`` links it to ``articles_fts``.
SQLITE_BROWSE_VIEW = """
CREATE VIEW articles_browse AS
SELECT rowid AS article_rowid, id, site, substr(published_at, 1, 7) AS published_month,
    published_at, published_at_utc, title, summary, category, author, tags, language, url,
    first_seen, last_seen
FROM articles
"""


def _fold(expression: str) -> str:
    return f"replace(replace({expression}, 'đ', 'd'), 'Đ', 'D')"


def _values(prefix: str) -> str:
    return ", ".join(_fold(f"{prefix}.{name}") for name in SQLITE_COLUMNS)


def _sqlite_upgrade() -> None:
    columns = ", ".join(SQLITE_COLUMNS)
    op.execute(
        f"CREATE VIRTUAL TABLE articles_fts USING fts5({columns}, content='articles', "
        "content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')"
    )
    delete_old = (
        f"INSERT INTO articles_fts(articles_fts, rowid, {columns}) "
        f"VALUES ('delete', old.rowid, {_values('old')});"
    )
    insert_new = f"INSERT INTO articles_fts(rowid, {columns}) VALUES (new.rowid, {_values('new')});"
    changed = " OR ".join(f"old.{name} IS NOT new.{name}" for name in SQLITE_COLUMNS)
    op.execute(
        f"CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN {insert_new} END"
    )
    op.execute(
        f"CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN {delete_old} END"
    )
    # Every re-crawl upserts every article it meets: only a changed text is indexed again.
    op.execute(
        f"CREATE TRIGGER articles_fts_update AFTER UPDATE OF {columns} ON articles "
        f"WHEN {changed} BEGIN {delete_old} {insert_new} END"
    )
    op.execute(
        f"INSERT INTO articles_fts(rowid, {columns}) "
        f"SELECT rowid, {_values('articles')} FROM articles"
    )
    op.execute(SQLITE_BROWSE_VIEW)


# Names are schema-qualified: a restore (pg_dump sets an empty search_path) builds the index
# with them. The configuration folds every word through unaccent, then lower-cases it.
PG_CONFIG = """
CREATE TEXT SEARCH CONFIGURATION {schema}.search_folded (COPY = pg_catalog.simple)
"""
PG_MAPPING = """
ALTER TEXT SEARCH CONFIGURATION {schema}.search_folded
    ALTER MAPPING FOR hword, hword_part, word, numhword, numword
    WITH {unaccent}.unaccent, pg_catalog.simple
"""
# A database whose LC_CTYPE is C takes every non-ASCII character for a letter: typographic
# punctuation would glue onto the word before it ("tắt…" indexed as "tat..."), so it becomes
# a space first. Vietnamese letters are untouched.
PUNCTUATION = "…–—‒―“”„‟‘’‚‛«»‹›•·\u00a0\u2009\u200b"
PG_WORDS = """
CREATE FUNCTION {schema}.search_words(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT translate(value, '{punctuation}', '{spaces}') $$
"""
PG_DOCUMENT = """
CREATE FUNCTION {schema}.articles_search_document(
    title text, summary text, body_text text, category text, tags json
) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT setweight(to_tsvector('{schema}.search_folded', {words}(coalesce(title, ''))), 'A')
    || setweight(to_tsvector('{schema}.search_folded', {words}(coalesce(summary, ''))), 'B')
    || setweight(to_tsvector('{schema}.search_folded', {words}(coalesce(category, ''))), 'B')
    || setweight(to_tsvector('{schema}.search_folded', {words}(coalesce(tags::text, ''))), 'B')
    || setweight(to_tsvector('{schema}.search_folded', {words}(coalesce(body_text, ''))), 'D')
$$
"""
PG_INDEX = """
CREATE INDEX ix_articles_search_document ON articles
USING gin (articles_search_document(title, summary, body_text, category, tags))
"""


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _postgresql_upgrade() -> None:
    bind = op.get_bind()
    available = bind.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'")
    ).scalar()
    if available is None:
        raise StorageError(
            "search needs PostgreSQL's unaccent extension, which this server does not have "
            "(Debian: apt-get install postgresql-contrib)"
        )
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    schema = _quoted(bind.execute(text("SELECT current_schema()")).scalar_one())
    unaccent = _quoted(
        bind.execute(
            text(
                "SELECT n.nspname FROM pg_extension e "
                "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'unaccent'"
            )
        ).scalar_one()
    )
    op.execute(PG_CONFIG.format(schema=schema))
    op.execute(PG_MAPPING.format(schema=schema, unaccent=unaccent))
    op.execute(
        PG_WORDS.format(schema=schema, punctuation=PUNCTUATION, spaces=" " * len(PUNCTUATION))
    )
    op.execute(PG_DOCUMENT.format(schema=schema, words=f"{schema}.search_words"))
    op.execute(PG_INDEX)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_upgrade()
    else:
        _sqlite_upgrade()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_articles_search_document")
        op.execute("DROP FUNCTION IF EXISTS articles_search_document(text, text, text, text, json)")
        op.execute("DROP FUNCTION IF EXISTS search_words(text)")
        op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS search_folded")
        # The extension stays: other objects of the database may use it.
        return
    for trigger in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP VIEW IF EXISTS articles_browse")
    op.execute("DROP TABLE IF EXISTS articles_fts")
