"""What makes two URLs one article and two records one content: the only place that says so.

The spider (through :mod:`crawler.crawl.frontier`), the pipelines and the store all ask here. The
canonicalization itself lives in :mod:`crawler.domain.urls` (normalization rules, Liferay article
paths); this module is its public face plus the article id and the content hash.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from crawler.domain.urls import (
    article_address,
    article_id,
    canonical_article_url,
    identity_key,
    is_article_url,
    is_journal_content_url,
    is_shared_article_form,
    normalize_url,
    site_relative,
    url_identity,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CONTENT_FIELDS",
    "article_address",
    "article_id",
    "canonical_url",
    "content_hash",
    "identify",
    "identity_key",
    "is_article_url",
    "is_journal_content_url",
    "is_shared_article_form",
    "normalize_url",
    "site_relative",
    "url_identity",
]

# What an analyst reads: not crawl times, not the URLs an article was met under, not the raw
# date strings. The same article under two URLs is then one content, and a new hash is a real
# edit. Changing this tuple changes every stored hash: every article would count as edited.
CONTENT_FIELDS: tuple[str, ...] = (
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


def canonical_url(url: str) -> str:
    """The one URL an article is recorded under, whichever of its URLs was met."""
    return canonical_article_url(url)


# The fields whose entries carry a URL of the site (a file's address, not what it shows).
LINKED_FIELDS: tuple[str, ...] = ("images", "attachments")


def content_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of the record's CONTENT_FIELDS (an item adapter or a plain record).

    Images and attachments are compared by their path and query within the article's site
    (:func:`site_relative` of the record's ``url``), not by absolute URL: the same article read
    under another host spelling (http/https, ``www.``, host case, default port) has the same
    hash. A record without images or attachments hashes as it always did. This is the one
    content hash: the pipelines, the store and the migrations that recompute stored hashes
    call it."""
    content = {name: record.get(name) for name in CONTENT_FIELDS}
    page = str(record.get("url") or "")
    for name in LINKED_FIELDS:
        entries = content[name]
        if entries:
            content[name] = [_within_site(entry, page) for entry in entries]
    blob = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def identify(record: Mapping[str, Any]) -> tuple[str, str]:
    """The record's article id and content hash: those it carries (the URL and dedupe pipelines
    set them), else computed from its URL and its content. The one fallback: the storage
    writer completes every record here before the store, which refuses a record without
    them, sees it."""
    record_id = record.get("id") or article_id(canonical_url(str(record["url"])))
    return record_id, record.get("content_hash") or content_hash(record)


def _within_site(entry: Any, page: str) -> Any:
    if isinstance(entry, dict) and isinstance(entry.get("url"), str) and entry["url"]:
        return {**entry, "url": site_relative(entry["url"], page)}
    return entry
