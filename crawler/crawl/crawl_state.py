"""What the database already knows, read once at the start of an incremental crawl."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scrapy.spiderloader import get_spider_loader

from crawler.domain.urls import article_id, canonical_article_url, normalize_url, respelled
from crawler.extensions.run import RunOwner
from crawler.setup.config import ConfigError
from crawler.sites.key import site_of
from crawler.sites.profile import find_profile, profile_dirs
from pipelines.storage.secrets import redact_url
from pipelines.storage.store import ArticleStore, KnownArticle

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


@dataclass
class CrawlState:
    # canonical article URL and every alias URL -> what is stored for that article
    known: dict[str, KnownArticle] = field(default_factory=dict)
    # canonical URLs of the stored articles, most recently published first
    recent_urls: list[str] = field(default_factory=list)
    # other sites holding articles of this crawl's host -> (how many, one of their URLs): the
    # crawl is refused (a host belongs to one site, ArticleStore.sites_of_host)
    host_owners: dict[str, tuple[int, str]] = field(default_factory=dict)

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
    site = site_of(crawler.spider)
    base_url = getattr(crawler.spider, "base_url", None) or crawler.settings.get("SITE_BASE_URL")
    try:
        known = store.known_index(site)
        profile = getattr(crawler.spider, "profile", None)
        group = profile.group if profile is not None else None
        owners = store.sites_of_host(base_url, site, group) if base_url else {}
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
    origin = _origin(base_url) if base_url else ""
    if origin:
        # URLs stored under another spelling of the host (before the portal moved to https
        # or to www.) are known under this crawl's spelling too: an incremental run skips
        # them as it would have, and re-checks them where the portal now answers.
        for url, article in list(known.items()):
            if not url.startswith(origin):
                known.setdefault(respelled(url, origin), article)
    recent = sorted(
        articles.values(),
        key=lambda k: k.published_at.timestamp() if k.published_at else float("-inf"),
        reverse=True,
    )
    recent_urls = [respelled(k.url, origin) if origin else k.url for k in recent]
    return CrawlState(known=known, recent_urls=recent_urls, host_owners=owners)


def _origin(base_url: str) -> str:
    # as the crawl's URLs are written (normalized: lower case, no default port)
    parts = urlsplit(normalize_url(base_url))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def host_refusal(crawler: Crawler, base_url: str, owners: dict[str, tuple[int, str]]) -> str:
    """The one line that refuses a crawl of a host another site holds, saying how to crawl it
    under that site's name.

    Articles are keyed by id alone and the id comes from the URL, so one host is one site: a
    second site name for it (a profile and the generic spider, or two profiles) would take
    over the other site's rows and counts instead of storing its own. Refusing keeps one
    history per article for analysts and tells the operator the command that works."""
    site, (count, url) = sorted(owners.items())[0]
    if site in get_spider_loader(crawler.settings).list():
        how = f"scrapy crawl {site} -a base_url={base_url}"
    else:
        try:
            find_profile(site, profile_dirs(crawler.settings))
            how = f"scrapy crawl liferay -a site={site} -a base_url={base_url}"
        except ConfigError:
            # a site named after its host by the generic spider: the same host names it again
            parts = urlsplit(url)
            how = f"scrapy crawl liferay -a base_url={parts.scheme}://{parts.netloc}"
    return (
        f"the host of {base_url} already belongs to site {site!r} in this database "
        f"({count} articles); crawl it under that name: {how}"
    )


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
