"""Crawls a Liferay news site: robots.txt -> sitemaps, home navigation -> listings -> pager,
articles -> related articles. Only article pages become items.

Spider arguments:
  base_url=http://host:port  crawl another copy of the site (allowed host follows it)
  full=1                     ignore what the database already holds and fetch everything
  since=YYYY-MM-DD           re-fetch every article published on or after that day
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.http import HtmlResponse, Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError

from crawler.config import SPIDER_ARGUMENTS, parse_base_url, parse_spider_args, parse_timezone
from crawler.crawl_state import CrawlState, load_crawl_state
from crawler.extensions.reachability import FIRST_ERROR_PREFIX
from crawler.items import ArticleItem, ArticleUrlItem
from crawler.limits import CrawlBounds, CrawlLimits
from crawler.middlewares.fence import OffOriginRequest
from crawler.middlewares.run_limits import RunLimitReached
from crawler.parsers.article import ArticlePage, parse_article
from crawler.parsers.listing import page_number, parse_listing
from crawler.parsers.navigation import extract_locale_alternates, extract_navigation_links
from crawler.parsers.sitemap import parse_robots_sitemaps, parse_sitemap
from crawler.sites.key import site_of
from pipelines.dates import DateParseError, parse_display_date, parse_machine_date
from pipelines.urls import canonical_article_url, is_article_url, normalize_url

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from zoneinfo import ZoneInfo

    from scrapy.crawler import Crawler
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

# Links that are never pages to crawl: login/portlet actions, files, feeds, search.
SKIP_PATH_PARTS = ("/c/", "/documents/", "/o/", "/image/", "/group/", "/api/", "/search")
SKIP_QUERY_PARTS = ("p_p_lifecycle=1", "p_p_lifecycle=2", "LoginPortlet", "p_p_state=maximized")
PRIORITY_ARTICLE = 20
PRIORITY_SITEMAP = 10
PRIORITY_LISTING = 0


class HepzaSpider(Spider):
    name = "hepza"
    allowed_domains: list[str]
    # The -a arguments it takes; `scrapy crawl` refuses any other (crawler/preflight.py).
    arguments: ClassVar[dict[str, str]] = SPIDER_ARGUMENTS

    def __init__(
        self,
        base_url: str | None = None,
        full: str | None = None,
        since: str | None = None,
        **kwargs: Any,
    ) -> None:
        # Parsed by the same functions as the `scrapy crawl` preflight, so the two agree.
        parsed = parse_spider_args(
            {"base_url": base_url, "full": full, "since": since, **kwargs}, self.arguments
        )
        super().__init__()
        self.base_url_arg = parsed.base_url
        self.full = parsed.full
        self.since: date | None = parsed.since
        self.scheduled: dict[str, str] = {}  # article key -> URL requested for it
        self.seen_urls: set[str] = set()
        self.lastmods: dict[str, str] = {}  # article key -> raw sitemap lastmod
        self.stored = CrawlState()
        self.pending_sitemaps = 0
        self.navigation_started = False
        self.deferred_articles: list[str] = []
        self.deferred_pages: list[str] = []
        self.parsed: set[str] = set()  # article keys whose page was parsed in this run
        self.pending_aliases: dict[str, list[str]] = {}  # key -> URLs met before its page

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> HepzaSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        base = spider.base_url_arg or parse_base_url(
            crawler.settings.get("HEPZA_BASE_URL"), "HEPZA_BASE_URL"
        )
        parts = urlsplit(base)
        spider.base_url = base
        spider.origin = f"{parts.scheme}://{parts.netloc}".lower()
        spider.allowed_domains = [str(parts.hostname)]  # parse_base_url checked there is one
        spider.tz = parse_timezone(crawler.settings.get("SITE_TIMEZONE"))
        spider.recheck_recent = crawler.settings.getint("RECHECK_RECENT")
        spider.limits = CrawlLimits.from_settings(crawler.settings)
        return spider

    base_url: str
    origin: str
    tz: ZoneInfo
    recheck_recent: int
    limits: CrawlLimits

    @cached_property
    def bounds(self) -> CrawlBounds:
        # The crawler's stats exist only once the crawl starts, after from_crawler.
        assert self.crawler.stats is not None
        return CrawlBounds(self.limits, self.crawler.stats)

    async def start(self) -> AsyncIterator[Any]:
        self.stored = load_crawl_state(self.crawler)
        # With a JOBDIR, Scrapy's SpiderState keeps ``self.state`` across a stop and resume:
        # the articles already scheduled are then in its queue, not to be scheduled again.
        jobstate = getattr(self, "state", None)
        if isinstance(jobstate, dict):
            self.scheduled = jobstate.setdefault("scheduled_articles", self.scheduled)
        self.crawler.stats.set_value("crawl/mode", self.mode)
        self.crawler.stats.set_value("crawl/known_articles", self.stored.article_count)
        logger.info(
            "crawling %s (%s mode, %d articles already stored)",
            self.base_url,
            self.mode,
            self.stored.article_count,
        )
        # Sitemaps first, navigation after: an article's sitemap lastmod must be known before
        # the article is fetched, or an incremental run cannot tell an edit from a re-visit.
        yield Request(
            f"{self.base_url}/robots.txt",
            callback=self.parse_robots,
            errback=self.on_robots_error,
            priority=PRIORITY_SITEMAP,
            dont_filter=True,
        )

    def _after_sitemaps(self) -> Iterator[Request]:
        """Once every sitemap is read: the home page's navigation, and the recent re-checks."""
        if self.pending_sitemaps > 0 or self.navigation_started:
            return
        self.navigation_started = True
        yield from self._follow(
            f"{self.base_url}/", self.parse_page, PRIORITY_LISTING, every_run=True
        )
        for url in self.deferred_pages:
            # A page the sitemap lists is one hop from the home page.
            yield from self._follow(url, self.parse_page, PRIORITY_LISTING, cb_kwargs={"depth": 1})
        for url in self.deferred_articles:
            yield from self._article(url, {})
        self.deferred_pages.clear()
        self.deferred_articles.clear()
        for url in self.stored.recent_urls[: self.recheck_recent]:
            key = canonical_article_url(url)
            if key in self.scheduled:
                continue
            self.scheduled[key] = url
            self.crawler.stats.inc_value("crawl/rechecked")
            yield self._article_request(url, key, {})

    def _sitemap_requests(self, urls: list[str]) -> Iterator[Request]:
        for url in urls:
            for request in self._follow(
                url,
                self.parse_sitemap,
                PRIORITY_SITEMAP,
                errback=self.on_sitemap_error,
                every_run=True,
            ):
                self.pending_sitemaps += 1
                # Liferay sitemaps may be far larger than any page (DOWNLOAD_MAXSIZE).
                request.meta["download_maxsize"] = self.settings.getint("SITEMAP_MAXSIZE")
                yield request

    @property
    def mode(self) -> str:
        if self.full:
            return "full"
        return f"since {self.since.isoformat()}" if self.since else "incremental"

    # --- discovery ----------------------------------------------------------------------------

    def parse_robots(self, response: Response) -> Iterator[Request]:
        text = response.text if isinstance(response, TextResponse) else ""
        sitemaps = parse_robots_sitemaps(text, response.url)
        if not sitemaps:
            # Liferay serves /sitemap.xml whether or not robots.txt names it.
            sitemaps = [f"{self.base_url}/sitemap.xml"]
        yield from self._sitemap_requests(sitemaps)
        yield from self._after_sitemaps()

    def on_robots_error(self, failure: Failure) -> Iterator[Request]:
        self.on_error(failure)
        yield from self._sitemap_requests([f"{self.base_url}/sitemap.xml"])
        yield from self._after_sitemaps()

    def on_sitemap_error(self, failure: Failure) -> Iterator[Request]:
        self.on_error(failure)
        self.pending_sitemaps -= 1
        yield from self._after_sitemaps()

    def parse_sitemap(self, response: Response) -> Iterator[Any]:
        doc = parse_sitemap(response.body, response.url)
        self.crawler.stats.inc_value("crawl/sitemaps")
        if not doc.kind:
            logger.warning("not a sitemap (or empty): %s", response.url)
            self.crawler.stats.inc_value("crawl/sitemaps_empty")
        yield from self._sitemap_requests(doc.sitemaps)
        for entry in doc.entries:
            if not is_article_url(entry.url):
                # One locale of each page is enough: the others list the same articles.
                for _, href in entry.alternates:
                    if href != entry.default_url:
                        self.seen_urls.add(normalize_url(href))
                # Listings lead to articles: they wait until every sitemap (and lastmod) is in.
                self.deferred_pages.append(entry.default_url)
                continue
            key = canonical_article_url(entry.url)
            if entry.lastmod:
                self.lastmods.setdefault(key, entry.lastmod)
            # The default-locale page first, so that is the one fetched.
            for url in (entry.default_url, entry.url, *(href for _, href in entry.alternates)):
                if is_article_url(url) and canonical_article_url(url) == key:
                    yield from self._article(url, {}, lastmod=entry.lastmod)
        self.pending_sitemaps -= 1
        yield from self._after_sitemaps()

    def parse_page(
        self, response: Response, depth: int = 0, walk: str | None = None
    ) -> Iterator[Any]:
        """Any non-article page: its navigation, and its Asset Publisher listing if it has one.
        ``depth``: navigation hops from the home page; ``walk``: the first page of the listing
        walk this page belongs to."""
        if not isinstance(response, HtmlResponse):
            return
        # Further pages of a listing carry the same menus as its first page.
        if page_number(response.url) is None:
            # The same page in the site's other locales lists the same articles: skip it.
            for url in extract_locale_alternates(response.text, response.url):
                self.seen_urls.add(normalize_url(url))
            pages = []
            for url in extract_navigation_links(response.text, response.url):
                if is_article_url(url):
                    yield from self._article(url, {})
                elif self._skipped(normalize_url(url)):
                    self.crawler.stats.inc_value("crawl/skipped_link")
                elif self._unseen_page(url):
                    pages.append(url)
            for url in self.bounds.admit_links(pages, depth + 1, response.url):
                yield from self._follow(
                    url, self.parse_page, PRIORITY_LISTING, cb_kwargs={"depth": depth + 1}
                )
        listing = parse_listing(response.text, response.url)
        if not listing.is_listing:
            return
        self.crawler.stats.inc_value("crawl/listing_pages")
        is_home = urlsplit(response.url).path in {"", "/"}
        context = {
            "listing_name": None if is_home else listing.name,
            "listing_locale": listing.locale,
        }
        walk = walk or response.url
        walk_ended = self.bounds.listing_page(walk, [e.url for e in listing.entries])
        unknown = 0
        for entry in listing.entries:
            if not is_article_url(entry.url):
                continue
            key = canonical_article_url(entry.url)
            if self._wanted(key, entry.date_raw, listing.locale):
                unknown += 1
            meta = {**context, "listing_date_raw": entry.date_raw}
            yield from self._article(entry.url, meta)
        if walk_ended:
            # An empty page, or one already seen: pagers past the end may keep offering a next.
            return
        # Newest first: a page whose every entry is already stored ends the walk.
        if unknown or self.full:
            further = [listing.next_url] if listing.next_url else []
            if self.full:
                further += listing.page_urls
            for url in further:
                if self._unseen_page(url) and self.bounds.admit_listing_page(walk, url):
                    yield from self._follow(
                        url,
                        self.parse_page,
                        PRIORITY_LISTING - 1,
                        cb_kwargs={"depth": depth, "walk": walk},
                    )
        else:
            self.crawler.stats.inc_value("crawl/listing_walk_stopped")

    # --- articles -----------------------------------------------------------------------------

    def parse_article(self, response: Response) -> Iterator[Any]:
        if not isinstance(response, HtmlResponse):
            self.crawler.stats.inc_value("crawl/article_not_html")
            logger.warning("article URL did not return HTML: %s", response.url)
            return
        page = parse_article(response.text, response.url)
        meta = response.meta
        key = meta.get("article_key") or canonical_article_url(response.url)
        preferred = self._preferred_url(page, key)
        elsewhere = preferred and normalize_url(preferred) != normalize_url(response.url)
        if preferred and elsewhere and not meta.get("via_preferred"):
            # Record an article from its default-locale display page, whichever of its URLs
            # (locale prefix, Asset Publisher view) was met first.
            self.crawler.stats.inc_value("crawl/followed_to_default_page")
            # Not dont_filter: in a resumed JOBDIR run the preferred page may already be queued.
            yield self._article_request(preferred, key, {**meta, "via_preferred": True})
            return
        for fld, layer in page.layers.items():
            self.crawler.stats.inc_value(f"extract/{fld}/{layer}")
        category = page.category
        if not category and meta.get("listing_name"):
            category = meta["listing_name"]
            self.crawler.stats.inc_value("extract/category/listing")
        candidates = list(page.date_candidates)
        if meta.get("listing_date_raw"):
            candidates.append(
                {
                    "source": "listing",
                    "raw": meta["listing_date_raw"],
                    "locale": meta.get("listing_locale"),
                    "kind": "published",
                }
            )
        lastmod = self.lastmods.get(key)
        if lastmod:
            candidates.append(
                {"source": "sitemap_lastmod", "raw": lastmod, "locale": None, "kind": "modified"}
            )
        met = [u for u in (meta.get("met_url"), response.url) if u]
        met += self.pending_aliases.pop(key, [])
        self.parsed.add(key)
        yield ArticleItem(
            url=page.canonical_url or response.url,
            site=site_of(self),
            alternate_urls=[
                *(u for u in page.alternate_urls if self._same_article(u, key)),
                *met,
            ],
            title=page.title,
            summary=page.summary,
            body_text=page.body_text,
            body_html=page.body_html,
            author=page.author,
            language=page.locale,
            category=category,
            tags=page.tags,
            images=page.images,
            attachments=page.attachments,
            related_urls=[u for u in page.related_urls if is_article_url(u)],
            source=urlsplit(self.base_url).netloc,
            fetched_url=response.url,
            date_candidates=candidates,
            page_locale=page.locale,
            full_description=page.full_description,
            not_article_reason=page.not_article_reason,
        )
        for url in page.related_urls:
            if not is_article_url(url):
                continue
            if self.navigation_started:
                yield from self._article(url, {})
            else:
                # A related article may sit in a sitemap not read yet: wait for its lastmod.
                self.deferred_articles.append(url)

    @staticmethod
    def _same_article(url: str, key: str) -> bool:
        return is_article_url(url) and canonical_article_url(url) == key

    def _preferred_url(self, page: ArticlePage, key: str) -> str | None:
        x_default = page.alternate_by_lang.get("x-default")
        for url in (x_default, page.canonical_url):
            if url and self._allowed(normalize_url(url)) and self._same_article(url, key):
                return url
        return None

    def _article(self, url: str, meta: dict[str, Any], lastmod: str | None = None) -> Iterator[Any]:
        url = normalize_url(url)
        if not self._allowed(url) or url in self.seen_urls:
            return
        self.seen_urls.add(url)
        key = canonical_article_url(url)
        if key in self.scheduled:
            if url == self.scheduled[key]:
                return
            if key in self.parsed:
                yield ArticleUrlItem(url=url, canonical_url=key)
            else:
                # Not fetched yet: the URL travels in the article's own record.
                self.pending_aliases.setdefault(key, []).append(url)
            return
        if not self._wanted(key, meta.get("listing_date_raw"), meta.get("listing_locale"), lastmod):
            self.crawler.stats.inc_value("crawl/skipped_known")
            if url not in self.stored.known:
                yield ArticleUrlItem(url=url, canonical_url=key)
            return
        self.scheduled[key] = url
        yield self._article_request(url, key, meta)

    def _article_request(self, url: str, key: str, meta: dict[str, Any]) -> Request:
        return Request(
            url,
            callback=self.parse_article,
            errback=self.on_error,
            priority=PRIORITY_ARTICLE,
            meta={"met_url": url, **meta, "article_key": key},
        )

    def _wanted(
        self,
        key: str,
        listing_date: str | None = None,
        locale: str | None = None,
        lastmod: str | None = None,
    ) -> bool:
        """Whether an article must be fetched in this run's mode."""
        if self.full:
            return True
        known = self.stored.known.get(key)
        if self.since is not None:
            published = self._listing_day(listing_date, locale)
            if published is not None:
                return published >= self.since
            return (
                known is None
                or known.published_at is None
                or (known.published_at.astimezone(self.tz).date() >= self.since)
            )
        if known is None:
            return True
        if lastmod and known.modified_at is not None:
            try:
                changed = parse_machine_date(lastmod, self.tz).value
            except DateParseError:
                return False
            # Liferay rounds lastmod to the second; anything newer is an edit.
            return changed > known.modified_at + timedelta(seconds=1)
        return bool(lastmod) and known.modified_at is None

    def _listing_day(self, raw: str | None, locale: str | None) -> date | None:
        if not raw:
            return None
        try:
            return parse_display_date(raw, locale, self.tz).value.date()
        except DateParseError:
            return None

    # --- plumbing -----------------------------------------------------------------------------

    def _follow(
        self,
        url: str,
        callback: Any,
        priority: int,
        errback: Any = None,
        *,
        every_run: bool = False,
        cb_kwargs: dict[str, Any] | None = None,
    ) -> Iterator[Request]:
        """A request for a page of the site; ``every_run`` pages (robots.txt, sitemaps, the home
        page) bypass the duplicate filter that a resumed JOBDIR run inherits, since discovery
        starts from them."""
        url = normalize_url(url)
        if not self._allowed(url) or url in self.seen_urls:
            return
        if self._skipped(url):
            self.crawler.stats.inc_value("crawl/skipped_link")
            return
        self.seen_urls.add(url)
        yield Request(
            url,
            callback=callback,
            errback=errback or self.on_error,
            priority=priority,
            dont_filter=every_run,
            cb_kwargs=cb_kwargs,
        )

    @staticmethod
    def _skipped(url: str) -> bool:
        path = urlsplit(url).path.lower()
        return any(part in path for part in SKIP_PATH_PARTS) or any(
            part in url for part in SKIP_QUERY_PARTS
        )

    def _unseen_page(self, url: str) -> bool:
        """Whether ``_follow`` would request this page (what the per-page bounds count)."""
        url = normalize_url(url)
        return self._allowed(url) and url not in self.seen_urls and not self._skipped(url)

    def _allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}".lower() == self.origin

    def on_error(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        url = request.url if request is not None else "?"
        if failure.check(OffOriginRequest):
            # The fence logged it; a page only reachable off the origin is not recorded.
            self.crawler.stats.inc_value("fetch/off_origin")
            return
        if failure.check(RunLimitReached):
            return
        if failure.check(HttpError):
            status = failure.value.response.status
            self.crawler.stats.inc_value(f"fetch/http_{status}")
            if status in {404, 410}:
                self.crawler.stats.inc_value("fetch/not_found")
                logger.warning("not found (%s): %s", status, url)
                return
        self.crawler.stats.inc_value("fetch/failed")
        logger.error("request failed: %s: %s", url, failure.getErrorMessage())
        # The first error of each kind: the reason a run that got no response at all reports
        # (crawler/extensions/reachability.py).
        kind = failure.type.__name__ if failure.type is not None else "Exception"
        if self.crawler.stats.get_value(f"{FIRST_ERROR_PREFIX}{kind}") is None:
            self.crawler.stats.set_value(f"{FIRST_ERROR_PREFIX}{kind}", failure.getErrorMessage())

    # --- side commands ------------------------------------------------------------------------

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        """What ``scrapy parse URL`` calls without ``-c``: an article page as an article,
        any other page as a listing/navigation page."""
        if is_article_url(response.url):
            yield from self.parse_article(response)
        else:
            yield from self.parse_page(response)
