"""The article record.

Fields above the ``# crawl evidence`` line are the export schema documented in docs/record.md
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
    "published_at_precision",
    "modified_at",
    "event_date",
    "event_date_source",
    "language",
    "category",
    "tags",
    "images",
    "attachments",
    "related_urls",
    "content_hash",
    "crawled_at",
    "source",
    "parser_version",
    "problems",
    "archive_record",
)

DATE_SOURCES: tuple[str, ...] = (
    "json_ld",
    "meta",
    "display_date",
    "listing",
    "sitemap_lastmod",
    # the article's stored published_at, to the minute (pipelines/dates.py: STORED_SOURCE)
    "stored",
)
DATE_KINDS: tuple[str, ...] = ("published", "modified")


@dataclass(frozen=True, slots=True)
class DateCandidate:
    """A date string the page (or the listing or sitemap that led to it) showed, unparsed:
    the date normalizer (pipelines/dates.py) reads it with its locale and the site's zone."""

    source: str  # where it was read: one of DATE_SOURCES (a parser may add its own)
    raw: str  # as printed
    locale: str | None = None  # "vi-VN", "en-US"; None: the page's or the site's default
    kind: str = "published"  # one of DATE_KINDS


@dataclass(frozen=True, slots=True)
class ListingHint:
    """What the listing an article was found in says about it; travels to the article's
    callback as ``cb_kwargs={"hint": ...}``."""

    name: str | None = None  # the listing's name: the category when the page gives none
    locale: str | None = None  # the listing page's locale, for its date
    date_raw: str | None = None  # the entry's date as the listing printed it

    def date_candidate(self) -> DateCandidate | None:
        if not self.date_raw:
            return None
        return DateCandidate("listing", self.date_raw, self.locale, "published")


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
    # what published_at states: "minute" (a time of day was given) or "day" (a date only: the
    # value is that day's midnight in the site's zone); None without published_at
    published_at_precision: str | None = None
    modified_at: str | None = None
    # the day of the event the lead opens with (YYYY-MM-DD), and where it came from ("lead")
    event_date: str | None = None
    event_date_source: str | None = None
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
    # the extraction rules' version and the code's fingerprint (crawler/parsers/version.py)
    parser_version: str | None = None
    # {"field": name, "code": short-slug, "message": human readable}
    problems: list[dict[str, str]] = field(default_factory=list)
    # "<WARC file relative to ARCHIVE_DIR>:<byte offset>" of the record holding the page this
    # record was extracted from (response.meta["archive_record"]; crawler/archive/)
    archive_record: str | None = None
    # feed only: "new" | "changed" | "unchanged" against the database (set by storage)
    change: str | None = None

    # crawl evidence (not exported)
    fetched_url: str | None = None
    # every date string the page (or the listing/sitemap that led to it) showed
    date_candidates: list[DateCandidate] = field(default_factory=list)
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
