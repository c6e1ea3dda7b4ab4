"""The probe: a short, polite first look at a Liferay portal, storing nothing.

It is the crawl's spider (crawler/spiders/liferay.py) with its discovery cut short: the same
home-page check (not Liferay: the run fails at once), the same handling of a home page or a
site that does not answer, then robots.txt, the sitemaps, the home page's navigation, up to N
listing pages (their pagers included) and up to N articles, each parsed by the crawl's parsers
with the site's profile. The articles go through the normalizing pipelines (text, fields, URLs,
dates, HTML), not validation, deduplication or storage; what was seen goes into
:class:`~crawler.probe.findings.Findings`.

Not in ``SPIDER_MODULES``: ``scrapy crawl probe`` does not exist; ``scrapy probe`` runs it.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.exceptions import DontCloseSpider
from scrapy.http import HtmlResponse, Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError

from crawler.domain.dates import DateParseError
from crawler.domain.items import ArticleItem, ListingHint
from crawler.domain.urls import url_identity
from crawler.middlewares.robots import RobotsForbidden
from crawler.parsers.article import article_item, parse_article
from crawler.parsers.common import page_selector
from crawler.parsers.liferay import liferay_markers
from crawler.parsers.listing import page_number, parse_listing
from crawler.parsers.navigation import extract_locale_alternates, extract_navigation_links
from crawler.parsers.sitemap import parse_robots_sitemaps, parse_sitemap
from crawler.probe import DEFAULT_PAGES
from crawler.probe.findings import (
    TABLE_FIELDS,
    ArticleSeen,
    Findings,
    ListingSeen,
    SitemapSeen,
    plain,
)
from crawler.spiders.liferay import (
    PRIORITY_ARTICLE,
    PRIORITY_LISTING,
    PRIORITY_SITEMAP,
    LiferaySpider,
    page_of,
)
from pipelines.base import adapter_of
from pipelines.dates import DateNormalizationPipeline
from pipelines.validate import covered_fields, rejection_reasons

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from scrapy.crawler import Crawler
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Budget(Generic[T]):
    """Up to ``limit`` things to fetch, at most ``per_source`` from one source at first (one
    listing must not take every article of the sample); the rest wait, and are handed out a
    source at a time, in turn, once the crawl has nothing else to do."""

    def __init__(self, limit: int, per_source: int) -> None:
        self.limit = limit
        self.per_source = per_source
        self.taken = 0
        self.seen: set[str] = set()
        self.by_source: Counter[str] = Counter()
        self.waiting: dict[str, deque[T]] = {}

    def offer(self, key: str, source: str, value: T) -> bool:
        """True: fetch it now; False: seen already, or waiting."""
        if key in self.seen:
            return False
        self.seen.add(key)
        if self.taken < self.limit and self.by_source[source] < self.per_source:
            self.taken += 1
            self.by_source[source] += 1
            return True
        self.waiting.setdefault(source, deque()).append(value)
        return False

    def rest(self) -> list[T]:
        found: list[T] = []
        while self.taken < self.limit and any(self.waiting.values()):
            for queue in self.waiting.values():
                if queue and self.taken < self.limit:
                    found.append(queue.popleft())
                    self.taken += 1
        return found

    @property
    def left_out(self) -> int:
        return sum(len(queue) for queue in self.waiting.values())


class ProbeSpider(LiferaySpider):
    name = "probe"

    findings: Findings
    pages: Budget[tuple[str, dict[str, Any]]]
    articles: Budget[tuple[str, dict[str, Any]]]
    sitemaps: Budget[str]
    # the findings of each article whose record is on its way through the pipelines
    _pending: dict[int, ArticleSeen]

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> ProbeSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        assert isinstance(spider, ProbeSpider)
        budget = crawler.settings.getint("PROBE_PAGES", DEFAULT_PAGES)
        share = max(1, -(-budget // 4))
        spider.pages = Budget(budget, share)
        spider.articles = Budget(budget, share)
        spider.sitemaps = Budget(budget, budget)
        spider.findings = Findings(
            base_url=spider.base_url,
            site=spider.profile.name,
            profile=spider.args.site or cls.profile_name,
            delay=crawler.settings.getfloat("DOWNLOAD_DELAY"),
            budget=budget,
        )
        spider._pending = {}
        crawler.signals.connect(spider.record_scraped, signal=signals.item_scraped)
        crawler.signals.connect(spider.fill_budget, signal=signals.spider_idle)
        return spider

    @cached_property
    def date_reader(self) -> DateNormalizationPipeline:
        # the date normalizer's own reading (the site's zone and default locale)
        return DateNormalizationPipeline.from_crawler(self.crawler)

    async def start(self) -> AsyncIterator[Any]:
        # Nothing is read from the database: the probe knows nothing of what a crawl stored.
        self.crawler.stats.set_value("crawl/mode", "probe")
        yield Request(
            self.home_url,
            callback=self.check_portal,
            errback=self.on_probe_error,
            priority=PRIORITY_SITEMAP,
            dont_filter=True,
        )

    def check_portal(self, response: Response) -> Iterator[Any]:
        # The crawl's check (not Liferay: the run fails and closes), then robots.txt.
        yield from super().check_portal(response)
        html = response.text if isinstance(response, TextResponse) else ""
        self.findings.home_url = response.url
        self.findings.markers = liferay_markers(html)
        self.pages.seen.add(url_identity(response.url)[0])
        yield from self.probe_page(response, home=True)

    # --- robots.txt and sitemaps (the crawl's robots.txt request, answered here) ---------------

    def parse_robots(self, response: Response) -> Iterator[Request]:
        text = response.text if isinstance(response, TextResponse) else ""
        named = parse_robots_sitemaps(text, response.url)
        self.findings.robots_sitemaps = named
        self.findings.robots = f"HTTP {response.status}, names {len(named)} sitemap(s)"
        if not named:
            self.findings.robots += f"; {self.base_url}/sitemap.xml tried"
        yield from self._sitemap_probes(named or [f"{self.base_url}/sitemap.xml"])

    def on_robots_error(self, failure: Failure) -> Iterator[Request]:
        self.on_error(failure)
        self.findings.robots = f"{_failure_text(failure)}; {self.base_url}/sitemap.xml tried"
        yield from self._sitemap_probes([f"{self.base_url}/sitemap.xml"])

    def _sitemap_probes(self, urls: list[str]) -> Iterator[Request]:
        for url in urls:
            if self.sitemaps.offer(url, "sitemaps", url):
                request = Request(
                    url,
                    callback=self.probe_sitemap,
                    errback=self.probe_sitemap_error,
                    priority=PRIORITY_SITEMAP,
                )
                request.meta["download_maxsize"] = self.settings.getint("SITEMAP_MAXSIZE")
                yield request

    def probe_sitemap(self, response: Response) -> Iterator[Request]:
        doc = parse_sitemap(response.body, response.url)
        seen = SitemapSeen(
            response.url, kind=doc.kind, urls=len(doc.entries), children=len(doc.sitemaps)
        )
        self.findings.sitemaps.append(seen)
        for entry in doc.entries:
            url = entry.default_for(self.profile.default_locale)
            normal, is_article, key = url_identity(url)
            if is_article:
                seen.articles += 1
                self.findings.article_urls_found.add(key)
                yield from self._article_probe(url, "sitemap", lastmod=entry.lastmod)
            else:
                seen.pages += 1
                self.findings.page_urls_found.add(normal)
                yield from self._page_probe(url, "sitemap")
        yield from self._sitemap_probes(doc.sitemaps)
        self.findings.sitemaps_not_read = self.sitemaps.left_out

    def probe_sitemap_error(self, failure: Failure) -> None:
        self.on_error(failure)
        request = getattr(failure, "request", None)
        url = request.url if request is not None else "?"
        self.findings.sitemaps.append(SitemapSeen(url, error=_failure_text(failure)))

    # --- pages: navigation, listings, pagers --------------------------------------------------

    def probe_page(self, response: Response, home: bool = False) -> Iterator[Any]:
        if not isinstance(response, HtmlResponse):
            self.findings.other_pages.append(response.url)
            return
        page = page_selector(response.text)
        config = self.profile.parser_config()
        for url in extract_locale_alternates(page, response.url):
            # the same page in another locale lists the same articles
            self.pages.seen.add(url_identity(url)[0])
        if page_number(response.url) is None:
            for url in extract_navigation_links(page, response.url, config):
                normal, is_article, key = url_identity(url)
                if self.frontier.skipped(url) or not self.frontier.allowed(normal):
                    # what the crawl never follows: login, portlet actions, files, other hosts
                    continue
                if is_article:
                    self.findings.article_urls_found.add(key)
                    yield from self._article_probe(url, "navigation")
                    continue
                if home and url not in self.findings.sections:
                    self.findings.sections.append(url)
                self.findings.page_urls_found.add(normal)
                yield from self._page_probe(url, "navigation")
        listing = parse_listing(page, response.url, config)
        if not listing.is_listing:
            if not home:
                self.findings.other_pages.append(response.url)
            return
        self.findings.listings.append(
            ListingSeen(
                url=response.url,
                name=listing.name,
                locale=listing.locale,
                entries=len(listing.entries),
                page=listing.current_page,
                has_next=listing.next_url is not None,
                pager_links=len(listing.page_urls),
                feeds=len(listing.feed_urls),
            )
        )
        name = None if home else listing.name
        walk = f"listing {urlsplit(response.url).path}"
        for entry in listing.entries:
            _, is_article, key = url_identity(entry.url)
            if not is_article:
                continue
            self.findings.article_urls_found.add(key)
            hint = ListingHint(name, listing.locale, entry.date_raw)
            yield from self._article_probe(entry.url, walk, hint=hint)
        if listing.next_url:
            # one step of the pager shows that paging works
            yield from self._page_probe(listing.next_url, "pager")

    def _page_probe(self, url: str, source: str) -> Iterator[Request]:
        if self.pages.offer(url_identity(url)[0], source, (url, {})):
            yield self._page_request(url)

    def _page_request(self, url: str) -> Request:
        return Request(
            url, callback=self.probe_page, errback=self.probe_error, priority=PRIORITY_LISTING
        )

    # --- articles -----------------------------------------------------------------------------

    def _article_probe(
        self,
        url: str,
        source: str,
        hint: ListingHint | None = None,
        lastmod: str | None = None,
    ) -> Iterator[Request]:
        kwargs = {"hint": hint, "lastmod": lastmod}
        if self.articles.offer(url_identity(url)[2], source, (url, kwargs)):
            yield self._article_probe_request(url, kwargs)

    def _article_probe_request(self, url: str, kwargs: dict[str, Any]) -> Request:
        return Request(
            url,
            callback=self.probe_article,
            errback=self.probe_error,
            priority=PRIORITY_ARTICLE,
            cb_kwargs=kwargs,
        )

    def probe_article(
        self,
        response: Response,
        hint: ListingHint | None = None,
        lastmod: str | None = None,
        via_preferred: bool = False,
    ) -> Iterator[ArticleItem | Request]:
        if not isinstance(response, HtmlResponse):
            self.findings.errors.append(f"{response.url}: not an HTML page")
            return
        config = self.profile.parser_config(self.frontier.listing_day(hint))
        page = parse_article(response.text, response.url, config)
        key = url_identity(response.meta.get("redirect_urls", [response.url])[0])[2]
        preferred = self.frontier.preferred_url(
            (page.alternate_by_lang.get("x-default"), page.canonical_url), key
        )
        if not via_preferred and preferred and page_of(preferred) != page_of(response.url):
            # As the crawl does: the article is read from its default-locale page.
            self.findings.followed_to_default_page += 1
            kwargs = {"hint": hint, "lastmod": lastmod, "via_preferred": True}
            yield self._article_probe_request(preferred, kwargs)
            return
        seen = ArticleSeen(
            url=response.url,
            layers=dict(page.layers),
            locale=page.locale,
            hreflangs=[lang for lang in page.alternate_by_lang if lang != "x-default"],
            not_article=page.not_article_reason,
        )
        if not page.category and hint and hint.name:
            seen.layers["category"] = "listing"
        # published_at's layer is the source the date normalizer chose (record_scraped)
        seen.layers.pop("published_at", None)
        self.findings.articles[response.url] = seen
        item = article_item(
            page,
            response.url,
            site=self.profile.name,
            source=urlsplit(self.base_url).netloc,
            hint=hint,
            lastmod=lastmod,
        )
        self._read_dates(item)
        self._pending[id(item)] = seen
        yield item

    def _read_dates(self, item: ArticleItem) -> None:
        now = datetime.now(UTC)
        for candidate in item.date_candidates:
            try:
                parsed = self.date_reader.parse_candidate(candidate, item, now)
            except DateParseError as exc:
                self.findings.add_date(candidate.source, exc.code, False, candidate.raw)
            else:
                self.findings.add_date(candidate.source, parsed.pattern, True, candidate.raw)

    def record_scraped(self, item: Any) -> None:
        """The record as the normalizing pipelines left it: which fields it carries, what the
        run's coverage would count, what validation would reject."""
        seen = self._pending.pop(id(item), None)
        if seen is None or not isinstance(item, ArticleItem):
            return
        adapter = adapter_of(item)
        seen.present = {name for name in TABLE_FIELDS if plain(adapter.get(name))}
        seen.covered = covered_fields(adapter)
        seen.rejected = [reason["code"] for reason in rejection_reasons(adapter)]
        source = adapter.get("published_at_source")
        if source and adapter.get("published_at"):
            seen.layers["published_at"] = str(source)
        if adapter.get("modified_at"):
            # the normalizer keeps the newest of the modified dates: these sources gave them
            sources = {c.source for c in item.date_candidates if c.kind == "modified"}
            seen.layers["modified_at"] = "+".join(sorted(sources))

    # --- the end ------------------------------------------------------------------------------

    def fill_budget(self) -> None:
        """Nothing left to fetch: the articles and pages that waited for their turn."""
        requests = [self._page_request(url) for url, _ in self.pages.rest()]
        requests += [self._article_probe_request(url, kw) for url, kw in self.articles.rest()]
        if not requests:
            return
        for request in requests:
            self.crawler.engine.crawl(request)
        raise DontCloseSpider

    def probe_error(self, failure: Failure) -> None:
        self.on_error(failure)
        request = getattr(failure, "request", None)
        url = request.url if request is not None else "?"
        self.findings.errors.append(f"{url}: {_failure_text(failure)}")


def _failure_text(failure: Failure) -> str:
    if failure.check(HttpError):
        return f"HTTP {failure.value.response.status}"
    if failure.check(RobotsForbidden):
        return "robots.txt forbids it"
    return failure.getErrorMessage()
