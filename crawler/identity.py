"""What makes two URLs one article and two records one content: the only place that says so.

The spider (through :mod:`crawler.frontier`), the pipelines and the store all ask here. The
canonicalization itself lives in :mod:`pipelines.urls` (normalization rules, Liferay article
paths); this module is its public face plus the article id and the content hash.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from pipelines.urls import (
    article_address,
    article_id,
    canonical_article_url,
    is_article_url,
    normalize_url,
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
    "is_article_url",
    "normalize_url",
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


def content_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of the record's CONTENT_FIELDS (an item adapter or a plain record)."""
    content = {name: record.get(name) for name in CONTENT_FIELDS}
    blob = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
