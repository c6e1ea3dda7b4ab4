"""What the database already knows, read once at the start of an incremental crawl."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipelines.storage.secrets import redact_url
from pipelines.storage.store import ArticleStore, KnownArticle

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings


@dataclass
class CrawlState:
    # canonical article URL and every alias URL -> what is stored for that article
    known: dict[str, KnownArticle] = field(default_factory=dict)
    # canonical URLs of the stored articles, most recently published first
    recent_urls: list[str] = field(default_factory=list)


def load_crawl_state(settings: BaseSettings) -> CrawlState:
    store = ArticleStore.from_settings(settings)
    try:
        known = store.known_index()
    except Exception as exc:
        raise RuntimeError(
            f"cannot read the article index from {redact_url(settings.get('DATABASE_URL'))}: "
            f"{type(exc).__name__}"
        ) from None
    finally:
        store.close()
    articles = {k.id: k for k in known.values()}
    recent = sorted(
        articles.values(),
        key=lambda k: k.published_at.timestamp() if k.published_at else float("-inf"),
        reverse=True,
    )
    return CrawlState(known=known, recent_urls=[k.url for k in recent])
