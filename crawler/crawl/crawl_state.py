"""What the database already knows, read once at the start of an incremental crawl."""

from __future__ import annotations

import heapq
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np
from scrapy.spiderloader import get_spider_loader

from crawler.crawl.seen import url_key
from crawler.domain.urls import article_id, canonical_article_url, normalize_url, respelled
from crawler.extensions.run import RunOwner
from crawler.setup.config import ConfigError
from crawler.sites.key import site_of
from crawler.sites.profile import find_profile, profile_dirs
from pipelines.storage.compact import Column, KeyMap, map_large_arrays, release_freed_memory
from pipelines.storage.secrets import redact_url
from pipelines.storage.store import ArticleStore, parse_iso

if TYPE_CHECKING:
    from collections.abc import Iterable

    from numpy.typing import NDArray
    from scrapy.crawler import Crawler

    from pipelines.storage.store import KnownRow


@dataclass(frozen=True, slots=True)
class KnownDates:
    """What an incremental decision needs of a stored article."""

    modified_at: datetime | None
    published_at: datetime | None
    # "minute" or "day" (a date-only published_at); None when unknown
    published_at_precision: str | None = None
    # the article's row in the index: two URLs of one stored article give the same
    article: int = -1


# Which entry wins when two URLs of the index are one: the stored URL of an article, then an
# alias stored for one, then the identity key of a stored URL, then another host spelling.
_CANONICAL, _ALIAS, _KEY, _RESPELLED = 0, 1, 2, 3
# datetime -> int64 microseconds since the epoch; the lowest value: no date
_NO_DATE = np.iinfo(np.int64).min
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# published_at_precision as one byte an article
_PRECISIONS: tuple[str | None, ...] = (None, "minute", "day")


def _micros(value: datetime | None) -> int:
    if value is None:
        return int(_NO_DATE)
    return (value - _EPOCH) // timedelta(microseconds=1)


def _date(micros: int) -> datetime | None:
    return None if micros == _NO_DATE else _EPOCH + timedelta(microseconds=micros)


class KnownIndex:
    """Every URL of a site's stored articles (each stored and alias URL, the identity key of
    each, each under this crawl's host spelling) -> the article's dates.

    Built once from the rows of :meth:`~pipelines.storage.store.ArticleStore.known_rows` as
    they stream in, held in arrays (:mod:`pipelines.storage.compact`): 12 bytes a URL and 17
    an article, so a million-article site's index is tens of megabytes, where a dict of
    every URL took over 2 GB. A URL's key is that of its digest (crawler/crawl/seen.py): the
    crawl marks the stored URLs it met at their position here (:meth:`position`)."""

    def __init__(self) -> None:
        self._urls = KeyMap(key=url_key)
        map_large_arrays()
        self._modified, self._published = Column("int64"), Column("int64")
        self._precision = Column("int8")
        self._count = 0
        self._frozen: tuple[NDArray[Any], NDArray[Any], NDArray[Any]] | None = None

    def add_article(
        self, modified: datetime | None, published: datetime | None, precision: str | None = None
    ) -> int:
        self._modified.append(_micros(modified))
        self._published.append(_micros(published))
        self._precision.append(_PRECISIONS.index(precision) if precision in _PRECISIONS else 0)
        self._count += 1
        return self._count - 1

    def add_url(self, url: str, article: int, rank: int) -> None:
        self._urls.add(url, article, rank)

    def freeze(self) -> KnownIndex:
        self._urls.freeze()
        self._frozen = (self._modified.array(), self._published.array(), self._precision.array())
        # The rows and the chunks the arrays were built from are freed: give their memory back
        # (glibc keeps it otherwise, and the crawl's peak would carry it).
        release_freed_memory()
        return self

    @property
    def article_count(self) -> int:
        return self._count

    def __len__(self) -> int:
        return len(self._urls)

    @property
    def nbytes(self) -> int:
        """The bytes its arrays hold (frozen)."""
        arrays = self._frozen or ()
        return self._urls.nbytes + sum(int(a.nbytes) for a in arrays)

    def position(self, key: int) -> int | None:
        """Where the URL of this 64-bit key is among the index's URLs (0 to len - 1)."""
        return self._urls.position(key)

    def __contains__(self, url: object) -> bool:
        return isinstance(url, str) and self._urls.get(url) is not None

    def get(self, url: str) -> KnownDates | None:
        if self._frozen is None:
            self.freeze()
        at = self._urls.get(url)
        if at is None:
            return None
        assert self._frozen is not None
        modified, published, precision = self._frozen
        return KnownDates(
            _date(int(modified[at])),
            _date(int(published[at])),
            _PRECISIONS[int(precision[at])],
            int(at),
        )


@dataclass
class CrawlState:
    # canonical article URL and every alias URL -> what is stored for that article
    known: KnownIndex = field(default_factory=lambda: KnownIndex().freeze())
    # canonical URLs of the RECHECK_RECENT most recently published stored articles, newest
    # first (the re-checks need no more)
    recent_urls: list[str] = field(default_factory=list)
    # other sites holding articles of this crawl's host -> (how many, one of their URLs): the
    # crawl is refused (a host belongs to one site, ArticleStore.sites_of_host)
    host_owners: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def article_count(self) -> int:
        return self.known.article_count


def load_crawl_state(crawler: Crawler) -> CrawlState:
    """What the database knows of the crawling spider's site (other sites are not read),
    streamed into a compact index: memory grows by tens of bytes an article, never by the
    rows of the whole site at once."""
    # The run owner's store when this command records runs (its migrations are already
    # applied), else a store of our own for this one read.
    owner = crawler.get_extension(RunOwner)
    shared = owner.store if owner is not None else None
    store = shared or ArticleStore.from_settings(crawler.settings)
    site = site_of(crawler.spider)
    base_url = getattr(crawler.spider, "base_url", None) or crawler.settings.get("SITE_BASE_URL")
    origin = _origin(base_url) if base_url else ""
    recent_limit = max(0, crawler.settings.getint("RECHECK_RECENT"))
    try:
        known, recent_urls = index_known(store.known_rows(site), origin, recent_limit)
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
    return CrawlState(known=known, recent_urls=recent_urls, host_owners=owners)


def index_known(
    rows: Iterable[KnownRow], origin: str, recent_limit: int
) -> tuple[KnownIndex, list[str]]:
    """The compact index of ``rows`` (:meth:`ArticleStore.known_rows`, an article's rows one
    after another), and the URLs of its ``recent_limit`` most recently published articles,
    newest first, under ``origin``'s spelling of the host."""
    index = KnownIndex()
    # the newest ``recent_limit`` articles: (published, -order, URL), the oldest on top
    recent: list[tuple[float, int, str]] = []
    last_id: str | None = None
    article = 0
    for row in rows:
        if row.id != last_id:
            last_id = row.id
            modified, published = parse_iso(row.modified_at), parse_iso(row.published_at)
            article = index.add_article(modified, published, row.published_at_precision)
            _add(index, row.url, article, _CANONICAL, origin)
            # The frontier asks by identity key (the display-page form of any of an article's
            # URLs); on a portal without display pages the stored address is an Asset
            # Publisher URL. An article stored under its key has its id from that URL: the
            # canonicalization of every stored URL is spared.
            if article_id(row.url) != row.id:
                _add(index, canonical_article_url(row.url), article, _KEY, origin)
            if recent_limit:
                stamp = published.timestamp() if published else float("-inf")
                entry = (stamp, -article, row.url)
                if len(recent) < recent_limit:
                    heapq.heappush(recent, entry)
                elif entry > recent[0]:
                    heapq.heapreplace(recent, entry)
        if row.alias:
            _add(index, row.alias, article, _ALIAS, origin)
    recent.sort(reverse=True)
    urls = [respelled(url, origin) if origin else url for _, _, url in recent]
    return index.freeze(), urls


def _add(index: KnownIndex, url: str, article: int, rank: int, origin: str) -> None:
    index.add_url(url, article, rank)
    if origin and not url.startswith(origin):
        # URLs stored under another spelling of the host (before the portal moved to https
        # or to www.) are known under this crawl's spelling too: an incremental run skips
        # them as it would have, and re-checks them where the portal now answers.
        index.add_url(respelled(url, origin), article, _RESPELLED)


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
