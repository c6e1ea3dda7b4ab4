"""Database schema (revision 0011). Alembic migrations in ``migrations/versions`` must match it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# A Core type, outside the models: the search binds its --since with it (no ORM).
from pipelines.storage.columns import UTCDateTime

# The head of migrations/versions (tests/test_migrations.py checks it), kept with the opening
# of the database, which compares it without importing the models.
from pipelines.storage.engine import SCHEMA_REVISION  # noqa: F401

# Dates keep two columns: the ISO string exactly as the pipelines produced it (with the site's
# offset; a DateTime column would lose the offset on PostgreSQL and the whole zone on SQLite) and
# a UTC instant for sorting and ``--since`` filters.
ISO_LENGTH = 40


# JSON (not JSONB) on PostgreSQL so that objects keep their key order in exports.
JsonValue = JSON(none_as_null=True)
# The site key: a profile's name ("hepza"), or the -a site name of a generic crawl.
SITE_LENGTH = 64
PARSER_VERSION_LENGTH = 64


class Base(DeclarativeBase):
    # Named constraints: SQLite batch migrations and PostgreSQL drops refer to them by name.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: dict[Any, Any] = {  # noqa: RUF012
        datetime: UTCDateTime(),
    }


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (
        Index("ix_articles_site_published_at_utc", "site", "published_at_utc"),
        # The exports' order, the ids read from the index alone (revision 0013).
        Index("ix_articles_published_at_utc_id", "published_at_utc", "id"),
        Index("ix_articles_site_last_seen", "site", "last_seen"),
        Index("ix_articles_site_content_hash", "site", "content_hash"),
        # Covers what an incremental crawl reads of every article (store.known_index).
        Index(
            "ix_articles_site_known",
            "site",
            "id",
            "url",
            "modified_at",
            "published_at",
            "published_at_precision",
        ),
        # Covers the storage pipeline's content index, in its order (store.content_index).
        Index("ix_articles_site_first_seen", "site", "first_seen", "id", "content_hash"),
        # The articles of one display hour (store: published_at_quality); covers the report's
        # articles per month and category (history.monthly_counts, revision 0012).
        Index(
            "ix_articles_site_published_at",
            "site",
            "published_at",
            "category",
            "published_at_quality",
            "event_date",
        ),
        # The report's problems of the latest run's articles (revision 0012).
        Index("ix_articles_last_run_id", "last_run_id"),
        # Datasette's facets (make browse) count from these (revision 0011).
        Index("ix_articles_category", "category"),
        Index("ix_articles_author", "author"),
    )

    # sha256 of the canonical URL's identity key (crawler.domain.identity.article_id): the host
    # is in it, without its spelling (scheme, case, www., default port).
    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    site: Mapped[str] = mapped_column(String(SITE_LENGTH))
    url: Mapped[str] = mapped_column(Text, unique=True)
    alternate_urls: Mapped[list[str]] = mapped_column(JsonValue)
    title: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    summary_truncated: Mapped[bool] = mapped_column(Boolean)
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[str | None] = mapped_column(String(ISO_LENGTH))
    published_at_raw: Mapped[str | None] = mapped_column(Text)
    published_at_source: Mapped[str | None] = mapped_column(String(40))
    published_at_precision: Mapped[str | None] = mapped_column(String(10))
    modified_at: Mapped[str | None] = mapped_column(String(ISO_LENGTH))
    event_date: Mapped[date | None] = mapped_column(Date)
    event_date_source: Mapped[str | None] = mapped_column(String(20))
    # "bulk" | "ok" | None (no published_at): computed over the site's stored articles
    published_at_quality: Mapped[str | None] = mapped_column(String(10))
    language: Mapped[str | None] = mapped_column(String(20))
    category: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JsonValue)
    images: Mapped[list[dict[str, Any]]] = mapped_column(JsonValue)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JsonValue)
    related_urls: Mapped[list[str]] = mapped_column(JsonValue)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    crawled_at: Mapped[str | None] = mapped_column(String(ISO_LENGTH))
    source: Mapped[str | None] = mapped_column(Text)
    # the parser version of the row's values (crawler/parsers/version.py)
    parser_version: Mapped[str | None] = mapped_column(String(PARSER_VERSION_LENGTH))
    problems: Mapped[list[dict[str, str]]] = mapped_column(JsonValue)
    # "<WARC file>:<offset>" of the newest fetch's payload (crawler/archive/)
    archive_record: Mapped[str | None] = mapped_column(Text)

    published_at_utc: Mapped[datetime | None] = mapped_column()
    modified_at_utc: Mapped[datetime | None] = mapped_column()
    first_seen: Mapped[datetime] = mapped_column()
    last_seen: Mapped[datetime] = mapped_column()
    last_run_id: Mapped[str | None] = mapped_column(String(64))


class ArticleUrl(Base):
    __tablename__ = "article_urls"
    __table_args__ = (
        Index("ix_article_urls_site_last_seen", "site", "last_seen"),
        # Every lookup by article id, and the URLs of store.known_index without the rows.
        Index("ix_article_urls_article_id_url", "article_id", "url"),
    )

    url: Mapped[str] = mapped_column(Text, primary_key=True)
    # the site of the article the URL belongs to
    site: Mapped[str] = mapped_column(String(SITE_LENGTH))
    article_id: Mapped[str] = mapped_column(
        String(20), ForeignKey("articles.id", ondelete="CASCADE")
    )
    first_seen: Mapped[datetime] = mapped_column()
    last_seen: Mapped[datetime] = mapped_column()


class ArticleVersion(Base):
    __tablename__ = "article_versions"
    __table_args__ = (
        # An article's versions; with captured_at, the change feed's history of an article
        # and its check for a version in the window from the index alone (revision 0013).
        Index("ix_article_versions_article_id_id", "article_id", "id", "captured_at"),
        # A site's change feed: its window's articles from the index alone (revision 0013).
        Index("ix_article_versions_site_captured_at", "site", "captured_at", "article_id"),
        # analysts filter a site's versions by what extracted them
        Index("ix_article_versions_site_parser_version", "site", "parser_version"),
        # A change feed of every site reads its window of versions (revision 0011), their
        # articles from the index alone (revision 0013).
        Index("ix_article_versions_captured_at", "captured_at", "article_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(SITE_LENGTH))
    article_id: Mapped[str] = mapped_column(
        String(20), ForeignKey("articles.id", ondelete="CASCADE")
    )
    content_hash: Mapped[str] = mapped_column(String(64))
    captured_at: Mapped[datetime] = mapped_column()
    run_id: Mapped[str | None] = mapped_column(String(64))
    record: Mapped[dict[str, Any]] = mapped_column(JsonValue)
    # "<WARC file>:<offset>" of the payload this version was extracted from (crawler/archive/)
    archive_record: Mapped[str | None] = mapped_column(Text)
    # What extracted the version: PARSER_VERSION + the code's fingerprint (None: stored before
    # revision 0010).
    parser_version: Mapped[str | None] = mapped_column(String(PARSER_VERSION_LENGTH))
    # The VERSION_FIELDS that differ from the article's previous state (None: its first version,
    # or stored before revision 0010).
    changed_fields: Mapped[list[str] | None] = mapped_column(JsonValue)


class CrawlRun(Base):
    __tablename__ = "crawl_runs"
    __table_args__ = (
        Index("ix_crawl_runs_site_started_at", "site", "started_at"),
        Index("ix_crawl_runs_site_outcome", "site", "outcome"),
    )

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(SITE_LENGTH))
    # "crawl" (scrapy crawl, hepza-run, a cluster) or "reparse" (scrapy reparse: archived
    # responses extracted again, no network)
    kind: Mapped[str] = mapped_column(String(20), server_default="crawl")
    started_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    outcome: Mapped[str] = mapped_column(String(20))
    spider_args: Mapped[dict[str, Any]] = mapped_column(JsonValue)
    stats: Mapped[dict[str, Any] | None] = mapped_column(JsonValue)
    report: Mapped[dict[str, Any] | None] = mapped_column(JsonValue)


# A version snapshot holds what a reader sees of the article, not crawl bookkeeping.
VERSION_FIELDS: tuple[str, ...] = (
    "url",
    "title",
    "summary",
    "summary_truncated",
    "body_text",
    "body_html",
    "author",
    "published_at",
    "published_at_raw",
    "published_at_source",
    "published_at_precision",
    "modified_at",
    "language",
    "category",
    "tags",
    "images",
    "attachments",
    "related_urls",
    "problems",
)
# Kept once per version: the newest version's record leaves them out (they are the article
# row's); a version that a newer one replaces gets them back from the row, and
# ``ArticleStore.versions`` reads a history whose every record is complete.
BODY_FIELDS: tuple[str, ...] = ("body_text", "body_html")
