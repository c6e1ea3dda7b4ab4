"""The article record.

Fields above the ``# crawl evidence`` line are the export schema documented in README.md
(and in ``pipelines/schema/article.schema.json``); the evidence fields carry what the parser
saw so that the pipelines can normalize and cross-check it, and are not exported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EXPORT_FIELDS: tuple[str, ...] = (
    "id",
    "site",
    "url",
    "alternate_urls",
    "title",
    "summary",
    "summary_truncated",
    "body_text",
    "body_html",
    "author",
    "published_at",
    "published_at_raw",
    "published_at_source",
    "modified_at",
    "language",
    "category",
    "tags",
    "images",
    "attachments",
    "related_urls",
    "content_hash",
    "crawled_at",
    "source",
    "problems",
)

# The per-run feed: the record, then what this run found it to be against the database.
FEED_FIELDS: tuple[str, ...] = (*EXPORT_FIELDS, "change")
CHANGES: tuple[str, ...] = ("new", "changed", "unchanged")


@dataclass
class ArticleItem:
    url: str
    id: str | None = None
    # the site key (the profile's name): set by the spider, required by storage
    site: str | None = None
    alternate_urls: list[str] = field(default_factory=list)
    title: str | None = None
    summary: str | None = None
    summary_truncated: bool = False
    body_text: str | None = None
    body_html: str | None = None
    author: str | None = None
    published_at: str | None = None
    published_at_raw: str | None = None
    published_at_source: str | None = None
    modified_at: str | None = None
    language: str | None = None
    category: str | None = None
    tags: list[str] = field(default_factory=list)
    # {"url": absolute URL, "caption": str | None}
    images: list[dict[str, Any]] = field(default_factory=list)
    # {"url": absolute URL, "title": str | None}
    attachments: list[dict[str, Any]] = field(default_factory=list)
    related_urls: list[str] = field(default_factory=list)
    content_hash: str | None = None
    crawled_at: str | None = None
    source: str | None = None
    # {"field": name, "code": short-slug, "message": human readable}
    problems: list[dict[str, str]] = field(default_factory=list)
    # feed only: "new" | "changed" | "unchanged" against the database (set by storage)
    change: str | None = None

    # crawl evidence (not exported)
    fetched_url: str | None = None
    # every date string the page (or the listing/sitemap that led to it) showed:
    # {"source": "display_date" | "meta" | "json_ld" | "listing" | "sitemap_lastmod" | ...,
    #  "raw": str, "locale": "vi-VN" | "en-US" | None, "kind": "published" | "modified"}
    date_candidates: list[dict[str, Any]] = field(default_factory=list)
    # locale of the fetched page: html lang, og:locale, URL prefix, in that order of trust
    page_locale: str | None = None
    # og:description or another untruncated description, if the page had one
    full_description: str | None = None
    # the page said it is not an article (soft 404, empty shell): the reason, for the rejects file
    not_article_reason: str | None = None


@dataclass
class ArticleUrlItem:
    """Another URL met for an article the run already handled; stored as an alias, not exported."""

    url: str
    canonical_url: str
