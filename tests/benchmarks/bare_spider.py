"""The ceiling for our crawl: a bare spider that requests the same pages and extracts nothing.

Run with ``scrapy runspider`` from a directory outside the project, so that none of our
settings, pipelines, middlewares or extensions load. It follows what our spider follows:
robots.txt -> sitemaps -> pages and articles; home navigation -> listings -> the next page;
article links on listings and articles. Each article is requested once (locale prefix, query,
fragment, jsessionid and asset_publisher forms folded), as our spider does.

    scrapy runspider bare_spider.py -a base_url=http://127.0.0.1:PORT -a stats_path=stats.json
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urljoin, urlsplit

from scrapy import Request, Spider
from scrapy.http import HtmlResponse, Response, TextResponse
from scrapy.utils.sitemap import Sitemap

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

# The same exclusions as our spider (kept as a copy: this file must not import the project).
SKIP_PATH_PARTS = ("/c/", "/documents/", "/o/", "/image/", "/group/", "/api/", "/search")
SKIP_QUERY_PARTS = ("p_p_lifecycle=1", "p_p_lifecycle=2", "LoginPortlet", "p_p_state=maximized")


def _hrefs(*containers: str) -> str:
    return ", ".join(f"{c} a::attr(href)" for c in containers)


# The containers our spider's parsers read links from.
NAV_LINKS = _hrefs(
    "section.hmenu", "nav", "#navigation", ".navbar", "ul.nav", ".dropdown-menu", "footer"
)
PAGER_LINKS = _hrefs(
    "ul.lfr-pagination-buttons", ".lfr-pagination-page-selector", "ul.pagination", ".pagination-bar"
)
ENTRY_LINKS = _hrefs(".asset-abstract", ".list-group-item", ".asset-full-content")
ARTICLE_PATH = re.compile(r"/w/[^/]+/?$|/-/asset_publisher/[^/]+/content/[^/]+/?$")
LOCALE_PREFIX = re.compile(r"^/[a-z]{2}(?:[-_][A-Za-z]{2,4})?(?=/)")
ASSET_CONTENT = re.compile(r"^.*/-/asset_publisher/[^/]+/content/")
CUR_PARAM = re.compile(r"(^|_)cur$")
PAGER_CUR = re.compile(r"cur=(\d+)(?!\d)")


def _clean(url: str) -> str:
    url = url.split("#", 1)[0]
    return re.sub(r";jsessionid=[^/?#]*", "", url, flags=re.IGNORECASE)


def _page_number(url: str) -> int | None:
    for name, value in parse_qsl(urlsplit(url).query):
        if CUR_PARAM.search(name) and value.isdigit():
            return int(value)
    return None


def article_key(url: str) -> str:
    path = unicodedata.normalize("NFC", unquote(urlsplit(url).path)).lower().rstrip("/")
    path = ASSET_CONTENT.sub("/w/", path)
    path = path.removeprefix("/web/guest")
    return LOCALE_PREFIX.sub("", path)


class BareSpider(Spider):
    name = "bare"

    def __init__(self, base_url: str, stats_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        parts = urlsplit(base_url)
        self.base_url = base_url.rstrip("/")
        self.origin = f"{parts.scheme}://{parts.netloc}".lower()
        self.allowed_domains = [parts.hostname or ""]
        self.stats_path = stats_path
        self.seen: set[str] = set()

    async def start(self) -> AsyncIterator[Request]:
        yield Request(f"{self.base_url}/robots.txt", callback=self.parse_robots, priority=10)
        yield Request(f"{self.base_url}/", callback=self.parse_page)

    def parse_robots(self, response: Response) -> Iterator[Request]:
        if not isinstance(response, TextResponse):
            return
        for line in response.text.splitlines():
            name, _, value = line.partition(":")
            if name.strip().lower() == "sitemap" and value.strip():
                yield from self.follow(
                    urljoin(response.url, value.strip()), self.parse_sitemap, priority=10
                )

    def parse_sitemap(self, response: Response) -> Iterator[Request]:
        if not response.body.strip():
            return
        sitemap = Sitemap(response.body)
        for entry in sitemap:
            loc = urljoin(response.url, entry["loc"])
            if sitemap.type == "sitemapindex":
                yield from self.follow(loc, self.parse_sitemap, priority=10)
            elif ARTICLE_PATH.search(urlsplit(loc).path):
                for url in (loc, *entry.get("alternate", [])):
                    yield from self.follow(urljoin(response.url, url), self.parse_article)
            else:
                yield from self.follow(loc, self.parse_page)

    def parse_page(self, response: Response) -> Iterator[Request]:
        if not isinstance(response, HtmlResponse):
            return
        for href in response.css(ENTRY_LINKS).getall():
            if "/w/" in href or "/asset_publisher/" in href:
                yield from self.follow(response.urljoin(href), self.parse_article)
        for href in response.css(NAV_LINKS).getall():
            yield from self.follow(response.urljoin(href), self.parse_page)
        wanted = (_page_number(response.url) or 1) + 1
        for href in response.css(PAGER_LINKS).getall():
            match = PAGER_CUR.search(href)
            if match and int(match.group(1)) == wanted:
                yield from self.follow(response.urljoin(href), self.parse_page, priority=-1)

    def parse_article(self, response: Response) -> Iterator[Request]:
        if not isinstance(response, HtmlResponse):
            return
        for href in response.css("a::attr(href)").getall():
            if "/w/" in href or "/asset_publisher/" in href:
                yield from self.follow(response.urljoin(href), self.parse_article)

    def follow(self, url: str, callback: Any, priority: int = 0) -> Iterator[Request]:
        url = _clean(url)
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}".lower() != self.origin:
            return
        is_article = callback == self.parse_article
        key = "a:" + article_key(url) if is_article else "p:" + url
        if key in self.seen:
            return
        if not is_article and (
            any(p in parts.path.lower() for p in SKIP_PATH_PARTS)
            or any(p in url for p in SKIP_QUERY_PARTS)
        ):
            return
        self.seen.add(key)
        yield Request(
            url,
            callback=callback,
            errback=self.on_error,
            priority=20 if is_article else priority,
        )

    def on_error(self, failure: Any) -> None:
        self.crawler.stats.inc_value("bare/errors")

    def closed(self, reason: str) -> None:
        if self.stats_path:
            stats = {"finish_reason": reason, **self.crawler.stats.get_stats()}
            Path(self.stats_path).write_text(json.dumps(stats, default=str, indent=1))
