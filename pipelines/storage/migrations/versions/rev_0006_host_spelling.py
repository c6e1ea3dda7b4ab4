"""Identity that survives host spellings: stored ids and content hashes as the crawler now
computes them.

An article's id is now the hash of its canonical URL's identity key (scheme written ``https``,
no ``www.``, no default port, host in lower case: ``crawler.domain.identity.article_id``), and its
content hash compares images and attachments by their path within the site
(``crawler.domain.identity.content_hash``). This revision rewrites what earlier code stored, so that
a database written before, re-crawled now, adds no article and no version:

- content hashes (``articles`` and ``article_versions``) that the earlier hash wrote for the
  row's content are replaced by the new hash of the same content; any other value is left;
- ids are recomputed from each article's URL and rewritten in every table that holds them
  (``articles``, ``article_urls``, ``article_versions``; the search indexes follow the row,
  not the id). Articles of http portals and ``www.`` hosts change id; an https portal's ids
  (HEPZA's) do not.
- two stored articles that are one article under two host spellings (a portal that moved to
  https, crawled by earlier code) become one: the one seen last keeps its row (its URL is the
  portal's current one) with the earliest ``first_seen``; the other's versions and URLs move to
  it. Every version record of the merged article is given its bodies, so whichever version is
  newest reads complete.

Unlike earlier revisions, this one calls the crawler's identity functions instead of a frozen
copy: what it must produce is exactly what the crawler computes, and a later change to them
comes with a revision of its own. Stored URLs are kept as the portal gave them.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic import op

from crawler.domain.identity import article_id, canonical_url, content_hash

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

revision = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None

CHUNK = 500
# Frozen: the content hash of revisions 0002-0005 (absolute image and attachment URLs).
OLD_CONTENT_FIELDS = (
    "title",
    "summary",
    "body_text",
    "author",
    "published_at",
    "category",
    "tags",
    "images",
    "attachments",
)
BODY_FIELDS = ("body_text", "body_html")
FOREIGN_KEYS = {
    "article_urls": "fk_article_urls_article_id_articles",
    "article_versions": "fk_article_versions_article_id_articles",
}

ARTICLES = sa.table(
    "articles",
    sa.column("id", sa.String()),
    sa.column("site", sa.String()),
    sa.column("url", sa.Text()),
    sa.column("content_hash", sa.String()),
    sa.column("first_seen", sa.String()),
    sa.column("last_seen", sa.String()),
    *(sa.column(name, sa.Text()) for name in ("title", "summary", "body_text", "body_html")),
    *(sa.column(name, sa.Text()) for name in ("author", "published_at", "category")),
    *(sa.column(name, sa.JSON()) for name in ("tags", "images", "attachments")),
)
URLS = sa.table(
    "article_urls",
    sa.column("url", sa.Text()),
    sa.column("article_id", sa.String()),
    sa.column("site", sa.String()),
)
VERSIONS = sa.table(
    "article_versions",
    sa.column("id", sa.Integer()),
    sa.column("article_id", sa.String()),
    sa.column("site", sa.String()),
    sa.column("content_hash", sa.String()),
    sa.column("record", sa.JSON(none_as_null=True)),
)


def _old_hash(record: Mapping[str, Any]) -> str:
    content = {name: record.get(name) for name in OLD_CONTENT_FIELDS}
    blob = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _linked(record: Mapping[str, Any]) -> bool:
    # Only a record with images or attachments hashes differently now.
    return bool(record.get("images") or record.get("attachments"))


def _chunks(values: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _rehash_articles(conn: sa.Connection) -> None:
    ids = [
        row.id
        for row in conn.execute(sa.select(ARTICLES.c.id, ARTICLES.c.images, ARTICLES.c.attachments))
        if _linked(dict(row._mapping))
    ]
    for chunk in _chunks(ids):
        updates = []
        query = sa.select(ARTICLES).where(ARTICLES.c.id.in_(chunk))
        for row in map(dict, conn.execute(query).mappings()):
            new = content_hash(row)
            if row["content_hash"] == _old_hash(row) and row["content_hash"] != new:
                updates.append({"key": row["id"], "hash": new})
        if updates:
            conn.execute(
                ARTICLES.update()
                .where(ARTICLES.c.id == sa.bindparam("key"))
                .values(content_hash=sa.bindparam("hash")),
                updates,
            )


def _rehash_versions(conn: sa.Connection) -> None:
    # The newest version's record leaves its bodies to the article row.
    bodies: dict[str, tuple[Any, Any]] = {}
    version_ids = [
        row.id
        for row in conn.execute(sa.select(VERSIONS.c.id, VERSIONS.c.record))
        if isinstance(row.record, dict) and _linked(row.record)
    ]
    for chunk in _chunks(version_ids):
        rows = conn.execute(
            sa.select(
                VERSIONS.c.id, VERSIONS.c.article_id, VERSIONS.c.content_hash, VERSIONS.c.record
            ).where(VERSIONS.c.id.in_(chunk))
        ).all()
        missing = {
            row.article_id
            for row in rows
            if not all(name in row.record for name in BODY_FIELDS) and row.article_id not in bodies
        }
        for ids in _chunks(sorted(missing)):
            query = sa.select(ARTICLES.c.id, ARTICLES.c.body_text, ARTICLES.c.body_html)
            for article in conn.execute(query.where(ARTICLES.c.id.in_(ids))):
                bodies[article.id] = (article.body_text, article.body_html)
        updates = []
        for row in rows:
            record = dict(row.record)
            if not all(name in record for name in BODY_FIELDS):
                body_text, body_html = bodies.get(row.article_id, (None, None))
                record = {**record, "body_text": body_text, "body_html": body_html}
            new = content_hash(record)
            if row.content_hash == _old_hash(record) and row.content_hash != new:
                updates.append({"key": row.id, "hash": new})
        if updates:
            conn.execute(
                VERSIONS.update()
                .where(VERSIONS.c.id == sa.bindparam("key"))
                .values(content_hash=sa.bindparam("hash")),
                updates,
            )


def _complete_versions(conn: sa.Connection, article: str) -> None:
    """Give every version record of ``article`` its bodies (those the newest left to the
    row), before its versions join another article's history."""
    row = conn.execute(
        sa.select(ARTICLES.c.body_text, ARTICLES.c.body_html).where(ARTICLES.c.id == article)
    ).one()
    versions = conn.execute(
        sa.select(VERSIONS.c.id, VERSIONS.c.record).where(VERSIONS.c.article_id == article)
    ).all()
    for version in versions:
        record = version.record or {}
        if all(name in record for name in BODY_FIELDS):
            continue
        full = {**record, "body_text": row.body_text, "body_html": row.body_html}
        conn.execute(VERSIONS.update().where(VERSIONS.c.id == version.id).values(record=full))


def _merge(conn: sa.Connection, keeper: Any, others: list[Any]) -> None:
    for article in (keeper, *others):
        _complete_versions(conn, article.id)
    # min() in SQL: the column's type differs between the databases (text on SQLite).
    group = [article.id for article in (keeper, *others)]
    earliest = (
        sa.select(sa.func.min(ARTICLES.c.first_seen))
        .where(ARTICLES.c.id.in_(group))
        .scalar_subquery()
    )
    conn.execute(ARTICLES.update().where(ARTICLES.c.id == keeper.id).values(first_seen=earliest))
    for other in others:
        for table in (URLS, VERSIONS):
            conn.execute(
                table.update()
                .where(table.c.article_id == other.id)
                .values(article_id=keeper.id, site=keeper.site)
            )
        conn.execute(ARTICLES.delete().where(ARTICLES.c.id == other.id))


def _rewrite_ids(conn: sa.Connection) -> None:
    rows = conn.execute(
        sa.select(
            ARTICLES.c.id,
            ARTICLES.c.site,
            ARTICLES.c.url,
            ARTICLES.c.first_seen,
            ARTICLES.c.last_seen,
        )
    ).all()
    groups: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        groups[article_id(canonical_url(row.url))].append(row)
    renamed: list[tuple[str, str]] = []
    for new_id, group in groups.items():
        if len(group) > 1:
            # The one met last holds the portal's current URL; ties by id, for a fixed choice.
            group.sort(key=lambda row: (row.last_seen, row.id), reverse=True)
            _merge(conn, group[0], group[1:])
        if group[0].id != new_id:
            renamed.append((group[0].id, new_id))
    if not renamed:
        return
    postgresql = conn.dialect.name == "postgresql"
    if postgresql:
        # The keys move in place; the constraints come back once every table holds new ids.
        for child, constraint in FOREIGN_KEYS.items():
            op.drop_constraint(constraint, child, type_="foreignkey")
    params = [{"old": old, "new": new} for old, new in renamed]
    for pairs in _chunks(params):
        conn.execute(
            ARTICLES.update()
            .where(ARTICLES.c.id == sa.bindparam("old"))
            .values(id=sa.bindparam("new")),
            pairs,
        )
        for table in (URLS, VERSIONS):
            conn.execute(
                table.update()
                .where(table.c.article_id == sa.bindparam("old"))
                .values(article_id=sa.bindparam("new")),
                pairs,
            )
    if postgresql:
        for child, constraint in FOREIGN_KEYS.items():
            op.create_foreign_key(
                constraint, child, "articles", ["article_id"], ["id"], ondelete="CASCADE"
            )


def upgrade() -> None:
    conn = op.get_bind()
    _rehash_articles(conn)
    _rehash_versions(conn)
    _rewrite_ids(conn)


def downgrade() -> None:
    # The earlier ids and hashes are not kept: a downgraded database is recognized again by
    # the earlier code only after a crawl rewrites them (new ids, one version each).
    pass
