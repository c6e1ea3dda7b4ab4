"""Crawls any Liferay 7.x portal's news: robots.txt -> sitemaps, home navigation -> listings ->
pager, articles -> related articles. Only article pages become items.

    scrapy crawl liferay -a base_url=URL [-a timezone=Area/City] [-a default_locale=xx-YY]
                         [-a site=NAME] [-a full=1] [-a since=YYYY-MM-DD]

A site profile (crawler/sites/profiles/NAME.toml, ``-a site=NAME``, or a spider of its own such
as ``hepza``) adds what discovery cannot know; without one the portal is crawled from its
arguments alone. The frontier (crawler/crawl/frontier.py) decides what to fetch; this spider turns
its decisions into requests and pages into items.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.exceptions import CloseSpider, DownloadCancelledError
from scrapy.http import HtmlResponse, Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.misc import load_object

from crawler.compat import internals_usable
from crawler.crawl.backpressure import (
    DEFAULT_SITEMAP_MAX_QUEUED,
    engine_closing,
    wait_for_queue_room,
)
from crawler.crawl.crawl_state import host_refusal, read_crawl_state
from crawler.crawl.frontier import SKIP_KNOWN, SKIP_LINK, Decision, Frontier
from crawler.crawl.limits import CrawlBounds, CrawlLimits
from crawler.crawl.redelivery import per_response, redelivered
from crawler.crawl.replay import NotArchived
from crawler.crawl.streaming import SITEMAP_MAXSIZE_UNSTREAMED, STREAM_META, StreamedResponse
from crawler.domain.dates import format_iso
from crawler.domain.identity import (
    is_article_url,
    is_journal_content_url,
    is_shared_article_form,
    normalize_url,
    url_identity,
)
from crawler.domain.items import ArticleUrlItem, ListingHint
from crawler.domain.outcome import fail_run
from crawler.extensions.reachability import (
    UNREACHABLE,
    SiteUnreachable,
    fail_once,
    note_first_error,
    site_host,
    unreachable_reason,
)
from crawler.middlewares.fence import OffOriginRequest
from crawler.middlewares.redirect import RedirectLoop
from crawler.middlewares.robots import RobotsForbidden
from crawler.middlewares.run_limits import RunLimitReached
from crawler.middlewares.size import refused_size
from crawler.parsers.article import (
    ArticlePage,
    article_item,
    has_article_view_markup,
    parse_article,
)
from crawler.parsers.common import PageSelector, page_selector
from crawler.parsers.liferay import MIN_MARKERS, liferay_markers
from crawler.parsers.listing import page_number, parse_listing
from crawler.parsers.navigation import extract_locale_alternates, extract_navigation_links
from crawler.parsers.sitemap import SitemapStream, parse_robots_sitemaps
from crawler.setup.config import LIFERAY_ARGUMENTS, parse_number, parse_spider_args, parse_timezone
from crawler.sites.resolve import apply_site_settings, resolve_site

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Generator, Iterator
    from datetime import date
    from zoneinfo import ZoneInfo

    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings
    from twisted.python.failure import Failure

    from crawler.crawl.frontier import FrontierState
    from crawler.sites.profile import SiteProfile

logger = logging.getLogger(__name__)

# The article views that make a page met under any URL an article (crawler/parsers/article.py
# ARTICLE_VIEWS; a journal content portlet counts under an article's URL only).
PAGE_ARTICLE_VIEWS = frozenset(("asset_full_content", "display_page"))
PRIORITY_ARTICLE = 20
PRIORITY_SITEMAP = 10
PRIORITY_LISTING = 0
# A sitemap's article URLs decided by the frontier at once (one round trip in a cluster).
SITEMAP_DECISIONS = 100
_STATUS_CODES = frozenset(int(status) for status in http.HTTPStatus)


def _requested_url(request: Request | None, url: str) -> str:
    """The URL ``request`` was first made under, before any redirect (``url`` without a
    request): the name a pending sitemap is counted under."""
    if request is None:
        return url
    return str(request.meta.get("redirect_urls", [request.url])[0])


def _sitemap_limit(settings: BaseSettings) -> int:
    value = settings.get("SITEMAP_MAX_QUEUED", DEFAULT_SITEMAP_MAX_QUEUED)
    return int(parse_number("SITEMAP_MAX_QUEUED", value))


def page_of(url: str) -> str:
    """A URL without its query: the same page whatever its redirect or portlet parameters."""
    return normalize_url(url).split("?", 1)[0]


class LiferaySpider(Spider):
    name = "liferay"
    allowed_domains: list[str]
    # The -a arguments it takes; `scrapy crawl` refuses any other (crawler/setup/preflight.py).
    arguments: ClassVar[dict[str, str]] = LIFERAY_ARGUMENTS

    # The site profile this spider always crawls (crawler/sites/profiles/<name>.toml); None for
    # the generic `liferay` spider, which takes -a site=NAME or crawls from its arguments alone.
    profile_name: ClassVar[str | None] = None

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
        self.args = parsed
        self.base_url_arg = parsed.base_url
        self.full = parsed.full
        self.since: date | None = parsed.since

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> LiferaySpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        # The settings are not frozen yet: the site's zone, locale, politeness and thresholds
        # go where the pipelines and extensions read them.
        spider.profile = resolve_site(spider.args, crawler.settings, cls.profile_name)
        apply_site_settings(crawler.settings, spider.profile)
        base = spider.profile.base_url
        parts = urlsplit(base)
        spider.base_url = base
        spider.origin = f"{parts.scheme}://{parts.netloc}".lower()
        spider.allowed_domains = [str(parts.hostname)]  # parse_base_url checked there is one
        spider.tz = parse_timezone(spider.profile.timezone, "timezone")
        spider.recheck_recent = crawler.settings.getint("RECHECK_RECENT")
        spider.limits = CrawlLimits.from_settings(crawler.settings)
        # Checked now (a bad value is refused before anything is fetched), read when first used.
        _sitemap_limit(crawler.settings)
        return spider

    profile: SiteProfile
    base_url: str
    origin: str
    tz: ZoneInfo
    recheck_recent: int
    limits: CrawlLimits

    # The frontier and the sitemap limit are made when first used, once the crawler's add-ons
    # (which Scrapy applies after creating the spider) have set where the frontier's state is
    # kept (FRONTIER_STATE) and how far the sitemaps may run ahead (SITEMAP_MAX_QUEUED).

    @cached_property
    def sitemap_max_queued(self) -> int:
        return _sitemap_limit(self.settings)

    @cached_property
    def frontier(self) -> Frontier:
        """URL identity, seen and scheduled, aliases and the incremental decisions."""
        return Frontier(
            self.origin, self.tz, full=self.full, since=self.since, state=self._frontier_state()
        )

    def _frontier_state(self) -> FrontierState | None:
        """Where the frontier keeps what it met: FRONTIER_STATE, a factory ``(settings, site)
        -> FrontierState`` (the cluster's, in Redis); empty, this process's memory."""
        factory = self.settings.get("FRONTIER_STATE")
        if not factory:
            return None
        state: FrontierState = load_object(factory)(self.settings, self.profile.name)
        return state

    @cached_property
    def bounds(self) -> CrawlBounds:
        # The crawler's stats exist only once the crawl starts, after from_crawler.
        assert self.crawler.stats is not None
        return CrawlBounds(self.limits, self.crawler.stats)

    async def start(self) -> AsyncIterator[Any]:
        # The stored index is read in a thread of its own; the frontier waits for it where a
        # decision first needs it (the first sitemap entry).
        reading = read_crawl_state(self.crawler)
        self.frontier.use_index(reading)
        # With a JOBDIR, Scrapy's SpiderState keeps ``self.state`` across a stop and resume:
        # the articles already scheduled are then in its queue, not to be scheduled again.
        jobstate = getattr(self, "state", None)
        if isinstance(jobstate, dict) and "frontier" in jobstate:
            self.frontier.load_state(jobstate["frontier"])
        self.crawler.stats.set_value("crawl/mode", self.frontier.mode)
        # Sitemaps first, navigation after: an article's sitemap lastmod must be known before
        # the article is fetched, or an incremental run cannot tell an edit from a re-visit.
        # Is it a Liferay portal at all? Its home page says so before anything else is fetched.
        home = Request(
            self.home_url,
            callback=self.check_portal,
            errback=self.on_probe_error,
            priority=PRIORITY_SITEMAP,
            dont_filter=True,
        )
        # The home page, robots.txt and the sitemaps (which a large portal takes a while to
        # generate) are fetched while the index is read. (A crawl shared with other processes
        # holds its seeds until it knows it is the one to enqueue them: the cluster's
        # spider middleware, crawler/cluster/seeds.py.)
        yield home
        try:
            stored = await asyncio.wrap_future(reading)
        except Exception as exc:
            # As an error raised by start() (the same reason: start_error), without
            # counting the requests already sent as failed ones.
            logger.error("Error while reading start items and requests: %s", exc)
            raise CloseSpider("start_error") from None
        if stored.host_owners:
            message = host_refusal(self.crawler, self.base_url, stored.host_owners)
            # Bad usage (exit 2, one line), found once the database is read.
            self.crawler.stats.set_value("run/usage_error", message)
            fail_run(self.crawler, "host_of_another_site", message)
            raise CloseSpider("host_of_another_site")
        self.crawler.stats.set_value("crawl/known_articles", stored.article_count)
        logger.info(
            "crawling %s (%s mode, %d articles already stored)",
            self.base_url,
            self.frontier.mode,
            stored.article_count,
        )

    @property
    def home_url(self) -> str:
        group = self.profile.group
        return f"{self.base_url}/web/{group}/" if group else f"{self.base_url}/"

    def _robots_request(self) -> Request:
        return Request(
            f"{self.base_url}/robots.txt",
            callback=self.parse_robots,
            errback=self.on_robots_error,
            priority=PRIORITY_SITEMAP,
            dont_filter=True,
        )

    def check_portal(self, response: Response) -> Iterator[Request]:
        html = response.text if isinstance(response, TextResponse) else ""
        markers = liferay_markers(html)
        if len(markers) < MIN_MARKERS:
            message = (
                f"{self.base_url} is not a Liferay portal: its home page shows "
                f"{len(markers)} of Liferay's markers (at least {MIN_MARKERS} expected: the "
                "Liferay JavaScript object, portlet ids, lfr- classes...); check base_url"
            )
            self.crawler.stats.set_value("run/usage_error", message)
            fail_run(self.crawler, "not_liferay", message)
            raise CloseSpider("not_liferay")
        self.crawler.stats.set_value("crawl/liferay_markers", len(markers))
        yield self._robots_request()

    def on_probe_error(self, failure: Failure) -> None:
        """The home page failed for good (retries spent): the run ends here with the reason.
        Without the home page there is no portal to judge, and robots.txt and the sitemaps of
        a wrong base_url answer 404 too, so a crawl from them would "succeed" with nothing."""
        self.on_error(failure)
        if failure.check(RunLimitReached, SiteUnreachable):
            return  # the run failed already with its reason, and is closing
        code, message = self._home_failure(failure)
        fail_once(self.crawler, code, message)
        # Closed from here rather than raised: a CloseSpider raised by an errback is logged
        # by Scrapy with the download error's traceback.
        deferred_from_coro(self.crawler.engine.close_spider_async(reason=code))

    def _home_failure(self, failure: Failure) -> tuple[str, str]:
        """(failure code, message) of a home page that failed for good."""
        url = self.home_url
        if failure.check(RobotsForbidden):
            return (
                "robots_disallowed",
                f"robots.txt of {self.origin} disallows the crawl of {url}: the crawler obeys "
                "robots.txt, so nothing of the site was fetched",
            )
        if failure.check(HttpError):
            status = failure.value.response.status
            phrase = http.HTTPStatus(status).phrase if status in _STATUS_CODES else ""
            return (
                "home_unavailable",
                f"the home page {url} answered HTTP {status}{f' {phrase}' if phrase else ''}: "
                "check base_url (and the site profile's group)",
            )
        error = failure.getErrorMessage()
        if failure.check(OffOriginRequest):
            return "home_unavailable", f"the home page {url} leads off the site: {error}"
        assert self.crawler.stats is not None
        unreachable = unreachable_reason(self.crawler.stats.get_stats(), site_host(self.crawler))
        if unreachable is not None:
            return UNREACHABLE, unreachable
        return "home_unavailable", f"the home page {url} could not be fetched: {error}"

    def closed(self, reason: str) -> None:
        # Runs before SpiderState pickles ``self.state`` (both on spider_closed, the spider's
        # handler connected first).
        jobstate = getattr(self, "state", None)
        if isinstance(jobstate, dict):
            jobstate["frontier"] = self.frontier.to_state()

    def _after_sitemaps(self) -> Iterator[Request]:
        """Once every sitemap is read: the home page's navigation, and the recent re-checks.
        In a callback run again (crawler/crawl/redelivery.py): navigation may have started in
        the run that was lost."""
        if not self.frontier.start_navigation() and not (
            redelivered() and self.frontier.navigation_started
        ):
            return
        yield from self._follow(self.home_url, self.parse_page, PRIORITY_LISTING, every_run=True)
        pages, articles = self.frontier.take_deferred()
        for url in pages:
            # A page the sitemap lists is one hop from the home page.
            yield from self._follow(url, self.parse_page, PRIORITY_LISTING, cb_kwargs={"depth": 1})
        # Decided in one step each hundred (a cluster's frontier: one round trip).
        yield from self._articles([(url, None) for url in articles])
        for decision in self.frontier.rechecks(self.recheck_recent):
            self.crawler.stats.inc_value("crawl/rechecked")
            yield self._article_request(decision.url, decision.key)

    @cached_property
    def _sitemap_maxsize(self) -> int:
        limit = self.settings.getint("SITEMAP_MAXSIZE")
        if internals_usable(self.settings):
            return limit
        # Read into memory as any page: a streamed sitemap's allowance would cost gigabytes.
        return min(limit, SITEMAP_MAXSIZE_UNSTREAMED) if limit else SITEMAP_MAXSIZE_UNSTREAMED

    def _sitemap_requests(self, urls: list[str]) -> Iterator[Request]:
        for url in urls:
            for request in self._follow(
                url,
                self.read_sitemap,
                PRIORITY_SITEMAP,
                errback=self.on_sitemap_error,
                every_run=True,
            ):
                self.frontier.sitemap_requested(request.url)
                # Liferay sitemaps may be far larger than any page (DOWNLOAD_MAXSIZE).
                request.meta["download_maxsize"] = self._sitemap_maxsize
                # Streamed to a temporary file, never held whole (crawler/crawl/streaming.py): only
                # the encodings it decodes while streaming are offered.
                request.meta[STREAM_META] = True
                request.headers.setdefault(b"Accept-Encoding", b"gzip, deflate")
                yield request

    @property
    def mode(self) -> str:
        return self.frontier.mode

    # --- discovery ----------------------------------------------------------------------------

    @per_response
    def parse_robots(self, response: Response) -> Iterator[Request]:
        text = response.text if isinstance(response, TextResponse) else ""
        sitemaps = parse_robots_sitemaps(text, response.url)
        if not sitemaps:
            # Liferay serves /sitemap.xml whether or not robots.txt names it.
            sitemaps = [f"{self.base_url}/sitemap.xml"]
        yield from self._sitemap_requests(sitemaps)
        yield from self._after_sitemaps()

    @per_response
    def on_robots_error(self, failure: Failure) -> Iterator[Request]:
        self.on_error(failure)
        yield from self._sitemap_requests([f"{self.base_url}/sitemap.xml"])
        yield from self._after_sitemaps()

    @per_response
    def on_sitemap_error(self, failure: Failure) -> Iterator[Request]:
        self.on_error(failure)
        # Scrapy gives an errback's failure its request.
        request: Request = getattr(failure, "request")  # noqa: B009 (untyped on Failure)
        reason = sitemap_failure(failure, closing=engine_closing(self.crawler.engine))
        if reason is not None:
            # The lastmod of every article it lists was not compared with the database: an
            # edit only this sitemap signals goes unseen, so the run did not do its job.
            fail_run(
                self.crawler,
                "sitemap_unread",
                f"sitemap not read: {request.url} ({reason}); the articles it lists were not "
                "checked for edits",
            )
        if self._index_unreadable():
            return
        self.frontier.sitemap_done(_requested_url(request, request.url))
        yield from self._after_sitemaps()

    def _index_unreadable(self) -> bool:
        """Waits for the stored index: True when it could not be read, which start() reports
        as the crawl's error (start_error) and nothing is decided without it."""
        try:
            _ = self.frontier.stored
        except Exception:
            return True
        return False

    async def read_sitemap(self, response: Response) -> AsyncIterator[Any]:
        """The sitemap callback: :meth:`parse_sitemap`'s output once the stored index is read
        (waited for without holding the reactor, so the other sitemaps, which a large portal
        takes a while to generate, keep arriving meanwhile), read on only while the scheduler
        has room for its requests (SITEMAP_MAX_QUEUED, crawler/crawl/backpressure.py), and not at
        all
        once the crawl is closing."""
        reading = self.frontier.index_reading
        if reading is not None:
            # A failed read is reported by start(); parse_sitemap then decides nothing.
            with contextlib.suppress(Exception):
                await asyncio.wrap_future(reading)
        outputs = self.parse_sitemap(response)
        try:
            for output in outputs:
                if engine_closing(self.crawler.engine):
                    # Stopped, or its spider closing: nothing yielded now would be fetched.
                    self.crawler.stats.inc_value("crawl/sitemaps_stopped")
                    logger.info("stopped reading %s: the crawl is closing", response.url)
                    return
                yield output
                if isinstance(output, Request):
                    engine = self.crawler.engine
                    waited = await wait_for_queue_room(engine, self.sitemap_max_queued)
                    if waited:
                        stats = self.crawler.stats
                        stats.inc_value("crawl/sitemap_paused_ms", round(waited * 1000))
        finally:
            # Its temporary file closed (deleted) now, not when the generator is collected.
            outputs.close()

    @per_response
    def parse_sitemap(self, response: Response) -> Generator[Any, None, None]:
        if self._index_unreadable():
            return
        # Read entry by entry: a sitemap's entries are never all held at once, nor its body when
        # it was streamed to a file (closed, so deleted, once read).
        streamed = response.body_file if isinstance(response, StreamedResponse) else None
        if streamed is not None:
            self.crawler.stats.inc_value("crawl/sitemaps_streamed")
        with streamed or contextlib.nullcontext():
            stream = SitemapStream(streamed or response.body, response.url)
            yield from self._sitemap_entries(response, stream)

    def _sitemap_entries(self, response: Response, stream: SitemapStream) -> Iterator[Any]:
        self.crawler.stats.inc_value("crawl/sitemaps")
        # The stored articles a re-run skips (tens of thousands): counted once per sitemap.
        skipped = 0
        # The entries read (what tells a sitemap read only in part), counted by the thousand
        # as they go, so that a sitemap whose reading stopped midway is counted too.
        entries = 0
        previous: tuple[str, dict[str, None]] | None = None
        # Article URLs met and not decided yet: decided together, SITEMAP_DECISIONS at a time
        # (a cluster's shared frontier answers them in one round trip).
        met: list[tuple[str, str | None]] = []
        for entry in stream:
            if isinstance(entry, str):
                yield from self._sitemap_requests([entry])
                continue
            entries += 1
            if entries % 1000 == 0:
                self.crawler.stats.inc_value("crawl/sitemap_entries", 1000)
            default = entry.default_for(self.profile.default_locale)
            # The entry's identity once: whether it is an article, and its key.
            _, is_article, key = url_identity(entry.url)
            if not is_article:
                # One locale of each page is enough: the others list the same articles.
                for _, href in entry.alternates:
                    if href != default:
                        self.frontier.mark_seen(href)
                # Listings lead to articles: they wait until every sitemap (and lastmod) is in;
                # and which of a page's URLs (/x, /web/guest/x naming /x its x-default) is
                # fetched must not depend on whether its sitemap or its menu answers first.
                if not self.frontier.defer_page(default):
                    # Navigation already started (on another worker, in a cluster crawl).
                    yield from self._follow(
                        default,
                        self.parse_page,
                        PRIORITY_LISTING,
                        cb_kwargs={"depth": 1},
                    )
                continue
            # The default-locale page first, so that is the one fetched; each URL once (the
            # default is also the entry's URL or one of its alternates).
            urls = dict.fromkeys((default, entry.url, *(h for _, h in entry.alternates)))
            if previous is not None and previous[0] == key and previous[1] == urls:
                # Liferay lists a page once per locale, each entry naming the same URLs: the
                # frontier met every one of them for the entry before (IGNORE each now).
                continue
            previous = (key, urls)
            for url in urls:
                # The entry's own URL is the article of its key by definition.
                if url == entry.url or self.frontier.same_article(url, key):
                    met.append((url, entry.lastmod))
            if len(met) >= SITEMAP_DECISIONS:
                skipped += yield from self._sitemap_decisions(met)
                met = []
        skipped += yield from self._sitemap_decisions(met)
        if skipped:
            self.crawler.stats.inc_value("crawl/skipped_known", skipped)
        self.crawler.stats.inc_value("crawl/sitemap_entries", entries % 1000)
        if not stream.kind:
            logger.warning("not a sitemap (or empty): %s", response.url)
            self.crawler.stats.inc_value("crawl/sitemaps_empty")
        self.frontier.sitemap_done(_requested_url(response.request, response.url))
        yield from self._after_sitemaps()

    def _sitemap_decisions(self, met: list[tuple[str, str | None]]) -> Generator[Any, None, int]:
        """A sitemap's article URLs (each with the entry's lastmod) decided in one step, and
        their requests; how many were skipped as stored and unchanged. An article's lastmod
        is noted once, where its decision needs it (Frontier.needs_lastmod: a re-run keeps none
        for the unchanged stored articles), before any request for it is yielded."""
        skipped = 0
        noted: set[str] = set()
        for (_, lastmod), decision in zip(met, self.frontier.articles(met), strict=True):
            key = decision.key
            if lastmod and key and key not in noted and self.frontier.needs_lastmod(decision):
                self.frontier.note_lastmod(key, lastmod)
                noted.add(key)
            skipped += decision.action == SKIP_KNOWN
            yield from self._decided(decision)
        return skipped

    @per_response
    def parse_page(
        self, response: Response, depth: int = 0, walk: str | None = None
    ) -> Iterator[Any]:
        """Any non-article page: its navigation, and its Asset Publisher listing if it has one.
        ``depth``: navigation hops from the home page; ``walk``: the first page of the listing
        walk this page belongs to."""
        if not isinstance(response, HtmlResponse):
            return
        # One parse of the page for its listing, navigation, alternates and article view.
        selector = page_selector(response.text)
        yield from self._page(response, selector, depth, walk, article_view=True)

    def _page(
        self,
        response: HtmlResponse,
        page: PageSelector,
        depth: int,
        walk: str | None = None,
        *,
        article_view: bool = False,
    ) -> Iterator[Any]:
        """:meth:`parse_page` of a parsed page; ``article_view``: a page whose main content
        is one article (whatever its URL) is recorded as that article."""
        # Further pages of a listing carry the same menus as its first page.
        if page_number(response.url) is None:
            yield from self._navigation(response, page, depth)
        listing = parse_listing(page, response.url, self.profile.parser_config())
        if article_view and has_article_view_markup(page):
            article = parse_article(page, response.url, self.profile.parser_config())
            # A layout's own web content (a journal content portlet placed on "About us") is
            # that page's text; an article shown as a page is the Asset Publisher's view of it,
            # its display page, or the journal content portlet's view of it by its id.
            views = PAGE_ARTICLE_VIEWS
            if is_journal_content_url(response.url):
                views = views | {"journal_content"}
            # A listing's entries are other articles; an article view's related assets are
            # all a listing parser may take for entries there.
            related = set(article.related_urls)
            others = [e for e in listing.entries if e.url not in related]
            if article.view in views and article.not_article_reason is None and not others:
                self.crawler.stats.inc_value("crawl/article_by_page")
                key = self.frontier.key(article.canonical_url or response.url)
                yield from self._record(response, article, key, None, None)
                return
        if not listing.is_listing:
            return
        self.crawler.stats.inc_value("crawl/listing_pages")
        is_home = urlsplit(response.url).path in {"", "/"}
        name = None if is_home else listing.name
        walk = walk or response.url
        walk_ended = self.bounds.listing_page(walk, [e.url for e in listing.entries])
        unknown = 0
        entries: list[tuple[str, ListingHint | None]] = []
        for entry in listing.entries:
            if not is_article_url(entry.url):
                continue
            hint = ListingHint(name, listing.locale, entry.date_raw)
            if self.frontier.wanted(self.frontier.key(entry.url), hint):
                unknown += 1
            entries.append((entry.url, hint))
        # The page's articles decided in one step (a cluster's frontier: one round trip).
        yield from self._articles(entries)
        if walk_ended:
            # An empty page, or one already seen: pagers past the end may keep offering a next.
            return
        # Newest first: a page whose every entry is already stored ends the walk.
        if not (unknown or self.full):
            self.crawler.stats.inc_value("crawl/listing_walk_stopped")
            return
        further = [listing.next_url] if listing.next_url else []
        if self.full:
            further += listing.page_urls
        for url, new in zip(further, self.frontier.new_pages(further), strict=True):
            if new and self.bounds.admit_listing_page(walk, url):
                yield from self._follow(
                    url,
                    self.parse_page,
                    PRIORITY_LISTING - 1,
                    cb_kwargs={"depth": depth, "walk": walk},
                )

    def _navigation(self, response: HtmlResponse, page: PageSelector, depth: int) -> Iterator[Any]:
        # The same page in the site's other locales lists the same articles: skip it.
        self.frontier.mark_all_seen(list(extract_locale_alternates(page, response.url)))
        links: list[str] = []
        articles: list[tuple[str, ListingHint | None]] = []
        for url in extract_navigation_links(page, response.url, self.profile.parser_config()):
            if is_article_url(url):
                articles.append((url, None))
            elif self.frontier.skipped(url):
                self.crawler.stats.inc_value("crawl/skipped_link")
            else:
                links.append(url)
        # Each kind of the page's links decided in one step (a cluster's frontier: one round
        # trip each), not one by one.
        yield from self._articles(articles)
        pages = [url for url, new in zip(links, self.frontier.new_pages(links), strict=True) if new]
        for url in self.bounds.admit_links(pages, depth + 1, response.url):
            yield from self._follow(
                url,
                self.parse_page,
                PRIORITY_LISTING,
                cb_kwargs={"depth": depth + 1},
            )

    # --- articles -----------------------------------------------------------------------------

    @per_response
    def parse_article(
        self,
        response: Response,
        key: str | None = None,
        hint: ListingHint | None = None,
        via_preferred: bool = False,
        met_url: str | None = None,
    ) -> Iterator[Any]:
        """An article page. ``key``: the article's canonical URL; ``hint``: what the listing
        that led here said; ``via_preferred``: this is already the page the article is
        recorded from; ``met_url``: the URL first met for it, when the page is another.
        Without ``key``, the request's first URL (before any redirect) is both the key and
        the URL met (:meth:`_article_request` left them out of its cb_kwargs)."""
        if not isinstance(response, HtmlResponse):
            self.crawler.stats.inc_value("crawl/article_not_html")
            logger.warning("article URL did not return HTML: %s", response.url)
            return
        # The profile's selectors first; its layout of the day the listing says, if it said.
        config = self.profile.parser_config(self.frontier.listing_day(hint))
        selector = page_selector(response.text)
        page = parse_article(selector, response.url, config)
        if key is None:
            key = met_url = response.meta.get("redirect_urls", [response.url])[0]
        if page.view is None and self._not_an_article(response, selector):
            # The URL's shape made it worth fetching first; the page says it is none (another
            # portlet's friendly URL, a listing): it is crawled as the page it is.
            self.crawler.stats.inc_value("crawl/article_url_not_article")
            yield from self._page(response, selector, depth=1)
            return
        preferred = self.frontier.preferred_url(
            (page.alternate_by_lang.get("x-default"), page.canonical_url), key
        )
        if not via_preferred and preferred and page_of(preferred) != page_of(response.url):
            # Record an article from its default-locale display page, whichever of its URLs
            # (locale prefix, Asset Publisher view) was met first.
            self.crawler.stats.inc_value("crawl/followed_to_default_page")
            yield self._article_request(
                preferred, key, hint, via_preferred=True, met_url=met_url or response.url
            )
            return
        yield from self._record(response, page, key, hint, met_url)

    def _not_an_article(self, response: HtmlResponse, selector: PageSelector) -> bool:
        """Whether a page met under an article URL but showing no article view is not one:
        a URL form other portlets' pages share (only the page could say), or a listing.
        Under a display page or Asset Publisher content URL any other page is recorded, with
        the reason it is no article when it is none (a soft 404, an empty shell)."""
        if not is_shared_article_form(response.url):
            listing = parse_listing(selector, response.url, self.profile.parser_config())
            return listing.is_listing and bool(listing.entries)
        return True

    def _record(
        self,
        response: HtmlResponse,
        page: ArticlePage,
        key: str,
        hint: ListingHint | None,
        met_url: str | None,
    ) -> Iterator[Any]:
        """The record of an article page (``key``: the article's canonical URL), and the
        related articles it links."""
        for fld, layer in page.layers.items():
            self.crawler.stats.inc_value(f"extract/{fld}/{layer}")
        if not page.category and hint and hint.name:
            self.crawler.stats.inc_value("extract/category/listing")
        met = [u for u in (met_url, response.url) if u]
        related = [url for url in page.related_urls if is_article_url(url)]
        # Parsed first: a shared frontier hands over the held URLs and the lastmod together,
        # and defers the related articles in the same step.
        held = self.frontier.parsed(key, related)
        item = article_item(
            page,
            response.url,
            site=self.profile.name,
            source=urlsplit(self.base_url).netloc,
            hint=hint,
            lastmod=self.frontier.lastmod(key),
            met_urls=[*met, *held],
            same_article=lambda url: self.frontier.same_article(url, key),
            stored_published_at=self._stored_time(key),
        )
        # Where the archive keeps this page (crawler/extensions/archive.py); none unarchived.
        item.archive_record = response.meta.get("archive_record")
        captured = response.meta.get("archive_date")
        if captured:
            # A reparse: the page was fetched when the archive says, not now.
            item.crawled_at = format_iso(datetime.fromisoformat(captured).astimezone(self.tz))
        yield item
        # A related article may sit in a sitemap not read yet: wait for its lastmod (in one
        # step: in a cluster crawl, another worker may start navigation meanwhile; sent with
        # the parse above); the others decided in one step too.
        kept = self.frontier.defer_articles(related)
        yield from self._articles(
            [(url, None) for url, deferred in zip(related, kept, strict=True) if not deferred]
        )

    def _stored_time(self, key: str) -> str | None:
        """The stored published_at of the article, when it is known to the minute."""
        known = self.frontier.known(key) if self.frontier.stored is not None else None
        if known is None or known.published_at is None:
            return None
        if known.published_at_precision != "minute":
            return None
        return known.published_at.isoformat()

    def _article(
        self,
        url: str,
        hint: ListingHint | None = None,
        lastmod: str | None = None,
    ) -> Iterator[Any]:
        decision = self.frontier.article(url, hint, lastmod)
        if decision.action == SKIP_KNOWN:
            self.crawler.stats.inc_value("crawl/skipped_known")
        yield from self._decided(decision, hint)

    def _articles(self, met: list[tuple[str, ListingHint | None]]) -> Iterator[Any]:
        """:meth:`_article` of each (url, listing hint), decided in one step."""
        if not met:
            return
        hints = [hint for _, hint in met]
        decisions = self.frontier.articles([(url, None) for url, _ in met], hints)
        for decision, hint in zip(decisions, hints, strict=True):
            if decision.action == SKIP_KNOWN:
                self.crawler.stats.inc_value("crawl/skipped_known")
            yield from self._decided(decision, hint)

    def _decided(self, decision: Decision, hint: ListingHint | None = None) -> Iterator[Any]:
        """An article URL's decision as output: its alias item, its request."""
        if decision.alias:
            yield ArticleUrlItem(url=decision.url, canonical_url=decision.key)
        if decision.fetch:
            yield self._article_request(decision.url, decision.key, hint)

    def _article_request(
        self,
        url: str,
        key: str,
        hint: ListingHint | None = None,
        *,
        via_preferred: bool = False,
        met_url: str | None = None,
    ) -> Request:
        # Not dont_filter: in a resumed JOBDIR run the page may already be queued.
        request = Request(
            url,
            callback=self.parse_article,
            errback=self.on_error,
            priority=PRIORITY_ARTICLE,
        )
        # The usual article request (its URL is its key and the URL met, no listing hint)
        # carries no cb_kwargs: parse_article derives both from its URL, one dict less for
        # each of the thousands of requests a sitemap queues at once.
        met_url = met_url or url
        if hint is not None or via_preferred or not key == met_url == request.url:
            request.cb_kwargs.update(
                key=key, hint=hint, via_preferred=via_preferred, met_url=met_url
            )
        return request

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
        starts from them (so a callback run again may request one of them twice: fetched and
        stored twice, harmless, storage being idempotent)."""
        decision: Decision = self.frontier.page(url)
        if decision.action == SKIP_LINK:
            self.crawler.stats.inc_value("crawl/skipped_link")
        if not decision.fetch:
            return
        yield Request(
            decision.url,
            callback=callback,
            errback=errback or self.on_error,
            priority=priority,
            dont_filter=every_run,
            cb_kwargs=cb_kwargs,
        )

    def on_error(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        url = request.url if request is not None else "?"
        if failure.check(OffOriginRequest, RedirectLoop):
            # Named by the fence or the redirect middleware; a page only reachable off the
            # origin is not recorded. A redirect loop, or a page the crawl needs (an article, a
            # sitemap, robots.txt, the home page) sent off the origin, is a failed request, in
            # the run's error rate; a listing or menu page leading elsewhere is ordinary
            # (crawler/middlewares/redirect.py).
            off_origin = failure.check(OffOriginRequest) is not None
            if off_origin:
                self.crawler.stats.inc_value("fetch/off_origin")
            if not off_origin or request is None or request.callback != self.parse_page:
                self.crawler.stats.inc_value("fetch/failed")
            return
        if failure.check(RunLimitReached, SiteUnreachable, NotArchived):
            # NotArchived: a reparse met a page the archived crawl never fetched (counted in
            # reparse/not_archived); nothing failed.
            return
        if failure.check(RobotsForbidden):
            # The site asks not to be crawled there: obeyed, not a failure (Scrapy counts it
            # in robotstxt/forbidden).
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
        note_first_error(self.crawler, kind, failure.getErrorMessage())

    # --- side commands ------------------------------------------------------------------------

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        """What ``scrapy parse URL`` calls without ``-c``: an article page as an article,
        any other page as a listing/navigation page."""
        if is_article_url(response.url):
            # The record this page gives, not a request for the article's default-locale page
            # (which a crawl follows to): every form of one article parses to its record.
            yield from self.parse_article(
                response, key=self.frontier.key(response.url), via_preferred=True
            )
        else:
            yield from self.parse_page(response)


def sitemap_failure(failure: Failure, *, closing: bool = False) -> str | None:
    """Why a sitemap that could not be read fails the run, or None when it does not: a sitemap
    the portal does not have (404, 410: nothing it would list was missed), one robots.txt
    forbids, and a crawl already stopping (``closing``), stopped by a run-wide cap or by an
    unreachable site (their own outcome says so)."""
    if failure.check(RunLimitReached, SiteUnreachable, RobotsForbidden):
        return None
    if failure.check(HttpError):
        status = failure.value.response.status
        return None if status in {404, 410} else f"HTTP {status}"
    size = refused_size(failure.value)
    if size is not None:
        # Streamed to disk, a sitemap's size costs no memory: raising the limit is safe.
        return f"{size[0]:,} bytes, over the {size[1]:,}-byte limit: raise SITEMAP_MAXSIZE"
    if failure.check(DownloadCancelledError):
        if closing:
            return None
        # A body without Content-Length is cut once it passes the limit (Scrapy's message then
        # gives no size).
        return "cut past SITEMAP_MAXSIZE: raise SITEMAP_MAXSIZE"
    return f"{type(failure.value).__name__}: {failure.getErrorMessage()}"
