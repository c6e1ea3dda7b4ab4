"""What the database already knows, read once at the start of an incremental crawl."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crawler.extensions.run import RunOwner
from crawler.sites.key import site_of
from pipelines.storage.secrets import redact_url
from pipelines.storage.store import ArticleStore, KnownArticle
from pipelines.urls import article_id, canonical_article_url

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


@dataclass
class CrawlState:
    # canonical article URL and every alias URL -> what is stored for that article
    known: dict[str, KnownArticle] = field(default_factory=dict)
    # canonical URLs of the stored articles, most recently published first
    recent_urls: list[str] = field(default_factory=list)

    @property
    def article_count(self) -> int:
        # ``known`` holds every alias URL too; an article is one id.
        return len({k.id for k in self.known.values()})


def load_crawl_state(crawler: Crawler) -> CrawlState:
    """What the database knows of the crawling spider's site (other sites are not read)."""
    # The run owner's store when this command records runs (its migrations are already
    # applied), else a store of our own for this one read.
    owner = crawler.get_extension(RunOwner)
    shared = owner.store if owner is not None else None
    store = shared or ArticleStore.from_settings(crawler.settings)
    try:
        known = store.known_index(site_of(crawler.spider))
    except Exception as exc:
        url = redact_url(crawler.settings.get("DATABASE_URL"))
        raise RuntimeError(
            f"cannot read the article index from {url}: {type(exc).__name__}"
        ) from None
    finally:
        if shared is None:
            store.close()
    articles = {k.id: k for k in known.values()}
    # The frontier asks by identity key (the display-page form of any of an article's URLs);
    # on a portal without display pages the stored address is an Asset Publisher URL.
    for article in articles.values():
        # An article stored under its key has its id from that URL: it is in ``known``
        # already, and the canonicalization of every stored URL is spared.
        if article_id(article.url) != article.id:
            known.setdefault(canonical_article_url(article.url), article)
    recent = sorted(
        articles.values(),
        key=lambda k: k.published_at.timestamp() if k.published_at else float("-inf"),
        reverse=True,
    )
    return CrawlState(known=known, recent_urls=[k.url for k in recent])


def read_crawl_state(crawler: Crawler) -> Future[CrawlState]:
    """:func:`load_crawl_state` in a thread of its own, started now: the crawl's first requests
    (home page, robots.txt, sitemaps, which a large portal takes a while to generate) are
    answered while it reads. The future holds the state, or the error the read raised."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crawl-state")
    try:
        return executor.submit(load_crawl_state, crawler)
    finally:
        # The thread ends with its one read; nothing else is ever submitted.
        executor.shutdown(wait=False)
