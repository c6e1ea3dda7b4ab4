"""The frontier: what the crawl fetches next, and what it already has.

Plain Python (no Scrapy): the spider asks it every question and turns its answers into
requests and alias items. It owns

- URL identity: a URL met is normalized, its article key is the canonical URL
  (:mod:`crawler.domain.identity`), a page outside the origin or one that is never a page to crawl
  (login, files, portlet actions) is not followed;
- the seen URLs and the scheduled articles: one fetch per article, whichever URL comes first;
- aliases: another URL of an article already scheduled is held until the article's page is
  parsed (it then travels in the article's own record) or, once parsed, recorded at once;
- the run's sitemap ``lastmod`` per article;
- the incremental decisions (full, since a day, incremental against the stored index);
- the discovery order: sitemaps first, navigation after, so that an article's ``lastmod`` is
  known before it is fetched.

What it met lives in a :class:`FrontierState`: this process's memory
(:class:`MemoryFrontierState`, the default) or Redis, shared by the workers of a cluster crawl
(:mod:`crawler.cluster.frontier_state`), where every check-and-set is one atomic step.

The in-memory state (:meth:`Frontier.to_state`) is a small JSON-able dict: the scheduled
articles, the aliases held for them, which were parsed and their lastmods, each URL written
once. A resumed run (JOBDIR) loads it so that the articles already queued are not scheduled
again. The seen set is not part of it: every run (a resumed one too) starts discovery again
from robots.txt, the sitemaps and the home page, and Scrapy's own duplicate filter keeps the
pages it fetched.
"""

from __future__ import annotations

import contextlib
import re
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from crawler.crawl.redelivery import redelivered
from crawler.crawl.seen import SeenUrls, url_digest
from crawler.domain.dates import DateParseError, parse_display_date, parse_machine_date
from crawler.domain.identity import canonical_url, normalize_url, url_identity

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from datetime import date, tzinfo

    from crawler.crawl.crawl_state import CrawlState, KnownDates, KnownIndex
    from crawler.domain.items import ListingHint

# Links that are never pages to crawl: login/portlet actions, files, feeds, search.
SKIP_PATH_PARTS = ("/c/", "/documents/", "/o/", "/image/", "/group/", "/api/", "/search")
SKIP_QUERY_PARTS = ("p_p_lifecycle=1", "p_p_lifecycle=2", "LoginPortlet", "p_p_state=maximized")
STATE_VERSION = 1
_LASTMOD_ROUNDING = timedelta(seconds=1)
# A sitemap lastmod with seconds and a UTC offset (Liferay: 2023-01-18T10:48:00+0000).
_PLAIN_LASTMOD = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])"
)

# What the frontier says about a URL met.
FETCH = "fetch"  # request it (an article page, or a page to crawl)
ALIAS = "alias"  # another URL of an article handled in this run: record it as an alias now
HELD = "held"  # another URL of an article whose page is not parsed yet: it travels in its record
SKIP_KNOWN = "skip_known"  # a stored article this run's mode does not fetch again
SKIP_LINK = "skip_link"  # never a page to crawl (login, files, portlet actions)
IGNORE = "ignore"  # off the origin, or already met in this run


@dataclass(frozen=True, slots=True)
class Decision:
    action: str
    url: str  # the normalized URL
    key: str = ""  # the article's canonical URL (articles only)
    alias: bool = False  # record ``url`` as an alias of ``key`` now

    @property
    def fetch(self) -> bool:
        return self.action == FETCH


class FrontierState(Protocol):
    """Where the frontier keeps what it met: in this process (:class:`MemoryFrontierState`) or
    shared by every worker of a cluster crawl (crawler/cluster/frontier_state.py). Each
    check-and-set is one step: two workers meeting two URLs of one article schedule it once."""

    def is_seen(self, digest: bytes) -> bool: ...

    def are_seen(self, digests: list[bytes]) -> list[bool]:
        """:meth:`is_seen` of each (a shared state: in one round trip)."""
        ...

    def add_seen(self, digest: bytes) -> bool:
        """Mark a URL met; True when it was not met before."""
        ...

    def mark_seen(self, digests: list[bytes]) -> None:
        """Mark each URL met, nothing decided on them (a shared state: in one round trip)."""
        ...

    def meet_article(
        self,
        digest: bytes,
        key: str,
        url: str,
        wanted: Callable[[], bool],
    ) -> tuple[str, str]:
        """An article URL met (``digest``: of ``url``), in one step: IGNORE (met before, or the
        URL the article is requested under), ALIAS (its page is parsed), HELD (kept for its
        record), or, for an article not scheduled, FETCH (scheduled under ``url``) when
        ``wanted()`` says so, SKIP_KNOWN otherwise. Returns the action and the URL as stored.
        Met by a callback run again (:func:`~crawler.crawl.redelivery.redelivered`, see
        :meth:`Frontier.article`): a URL met before is decided again instead of IGNOREd, FETCH
        when it is the URL its unparsed article is requested under."""
        ...

    def meet_articles(self, met: list[tuple[bytes, str, str, bool]]) -> list[tuple[str, str]]:
        """:meth:`meet_article` of each (digest, key, url, wanted) in turn, as one step (a
        shared state: one round trip for them all)."""
        ...

    def schedule_new(self, urls: list[tuple[str, str]]) -> list[str | None]:
        """Schedule each (key, url) whose article is not scheduled yet: the URL as stored for
        those, None for the others. In a callback run again: also the URL of each article
        scheduled under that very URL and not parsed yet (its request may be lost)."""
        ...

    def is_scheduled(self, key: str) -> bool: ...

    def note_lastmod(self, key: str, lastmod: str) -> None:
        """The first lastmod noted for an article wins."""
        ...

    def lastmod(self, key: str) -> str | None: ...

    def parsed(self, key: str, defer: Sequence[tuple[bytes, str]] = ()) -> list[str]:
        """Mark the article parsed; the URLs held for it, handed over once. Its page parsed by
        a callback run again (a cluster worker was killed before the article's record was
        stored): a shared state hands them over again; this process's own state is never run
        again (nothing redelivers a request in one process) and keeps none. ``defer``: the
        (digest, URL) of the page's related articles, which a shared state may defer in the
        same step (the :meth:`defer_articles` of them that follows then costs nothing)."""
        ...

    def sitemap_requested(self, url: str) -> None:
        """A sitemap requested: pending until :meth:`sitemap_done` (a set: a sitemap requested
        twice, by a callback run again, is pending once)."""
        ...

    def sitemap_done(self, url: str) -> None:
        """A sitemap read (or failed): no longer pending, however often it was requested."""
        ...

    @property
    def navigation_started(self) -> bool: ...

    def start_navigation(self) -> bool:
        """True once (across every worker), when no sitemap requested is still unread."""
        ...

    def defer_page(self, url: str) -> bool:
        """Keep a page for navigation; False (not kept) once navigation has started."""
        ...

    def defer_article(self, url: str) -> bool:
        """Keep an article for navigation; False (not kept) once navigation has started."""
        ...

    def defer_articles(self, met: list[tuple[bytes, str]]) -> list[bool]:
        """Each (URL digest, article URL) met before the sitemaps are all read: True when there
        is nothing to do now (met before, unless in a callback run again; or kept for
        navigation), False for them all once navigation has started. In one step."""
        ...

    def take_deferred(self) -> tuple[list[str], list[str]]:
        """The deferred pages and articles not taken yet, now taken (kept). In a callback run
        again: every one ever taken (its first run's requests may be lost)."""
        ...


@dataclass(slots=True)
class _Article:
    url: str | None = None  # the URL requested for it; None: not scheduled
    parsed: bool = False
    held: tuple[str, ...] = ()  # URLs met before its page was parsed (rare: no list each)
    lastmod: str | None = None  # the raw sitemap lastmod met in this run


class MemoryFrontierState:
    """The frontier's state in this process (a single-process crawl; JOBDIR resumes)."""

    def __init__(self) -> None:
        # Digests, not URLs: the URLs an article is fetched or recorded under live in its
        # entry; every other URL met is kept as 16 bytes (crawler/crawl/seen.py), not a string
        # of 100 to 300, or, a stored one, as a byte beside the stored index.
        self._seen = SeenUrls()
        self._articles: dict[str, _Article] = {}
        self._pending_sitemaps: set[str] = set()
        self._navigation_started = False
        self._deferred_pages: list[str] = []
        self._deferred_articles: list[str] = []
        self._taken_pages: list[str] = []
        self._taken_articles: list[str] = []

    def is_seen(self, digest: bytes) -> bool:
        return digest in self._seen

    def are_seen(self, digests: list[bytes]) -> list[bool]:
        return [digest in self._seen for digest in digests]

    def add_seen(self, digest: bytes) -> bool:
        return self._seen.add(digest)

    def mark_seen(self, digests: list[bytes]) -> None:
        for digest in digests:
            self._seen.add(digest)

    def use_known(self, known: KnownIndex) -> None:
        """The stored index is read: its URLs met from now on are marked in it."""
        self._seen.use_known(known)

    def meet_article(
        self,
        digest: bytes,
        key: str,
        url: str,
        wanted: Callable[[], bool],
    ) -> tuple[str, str]:
        met = not self._seen.add(digest)
        if met and not redelivered():
            return IGNORE, url
        entry = self._articles.get(key)
        if entry is not None and entry.url is not None:
            if url == entry.url:
                return (FETCH, entry.url) if met and not entry.parsed else (IGNORE, url)
            if met and not entry.parsed:
                return IGNORE, url  # held when first met: its record carries it
            if entry.parsed:
                return ALIAS, url
            entry.held = (*entry.held, url)
            return HELD, url
        if not wanted():
            return SKIP_KNOWN, url
        return FETCH, self._schedule(key, url)

    def meet_articles(self, met: list[tuple[bytes, str, str, bool]]) -> list[tuple[str, str]]:
        return [
            self.meet_article(digest, key, url, (lambda: True) if wanted else (lambda: False))
            for digest, key, url, wanted in met
        ]

    def _schedule(self, key: str, url: str) -> str:
        entry = self._articles.setdefault(key, _Article())
        # The same string object when the URL is the key: a URL is kept once.
        entry.url = key if url == key else url
        return entry.url

    def schedule_new(self, urls: list[tuple[str, str]]) -> list[str | None]:
        again = redelivered()
        return [self._schedule_new(key, url, again) for key, url in urls]

    def _schedule_new(self, key: str, url: str, again: bool) -> str | None:
        entry = self._articles.get(key)
        if entry is None or entry.url is None:
            return self._schedule(key, url)
        return entry.url if again and not entry.parsed and entry.url == url else None

    def is_scheduled(self, key: str) -> bool:
        entry = self._articles.get(key)
        return entry is not None and entry.url is not None

    def note_lastmod(self, key: str, lastmod: str) -> None:
        entry = self._articles.setdefault(key, _Article())
        if entry.lastmod is None:
            entry.lastmod = lastmod

    def lastmod(self, key: str) -> str | None:
        entry = self._articles.get(key)
        return entry.lastmod if entry is not None else None

    def parsed(self, key: str, defer: Sequence[tuple[bytes, str]] = ()) -> list[str]:
        # Nothing is redelivered in one process: the held URLs are let go once handed over.
        entry = self._articles.setdefault(key, _Article())
        entry.parsed = True
        held, entry.held = entry.held, ()
        return list(held)

    def sitemap_requested(self, url: str) -> None:
        self._pending_sitemaps.add(url)

    def sitemap_done(self, url: str) -> None:
        self._pending_sitemaps.discard(url)

    @property
    def navigation_started(self) -> bool:
        return self._navigation_started

    def start_navigation(self) -> bool:
        if self._pending_sitemaps or self._navigation_started:
            return False
        self._navigation_started = True
        return True

    def defer_page(self, url: str) -> bool:
        if self._navigation_started:
            return False
        self._deferred_pages.append(url)
        return True

    def defer_article(self, url: str) -> bool:
        if self._navigation_started:
            return False
        self._deferred_articles.append(url)
        return True

    def defer_articles(self, met: list[tuple[bytes, str]]) -> list[bool]:
        if self._navigation_started:
            return [False] * len(met)
        again = redelivered()
        for digest, url in met:
            if again or digest not in self._seen:
                self._deferred_articles.append(url)
        return [True] * len(met)

    def take_deferred(self) -> tuple[list[str], list[str]]:
        pages, articles = self._deferred_pages, self._deferred_articles
        self._deferred_pages, self._deferred_articles = [], []
        self._taken_pages += pages
        self._taken_articles += articles
        if redelivered():
            return list(self._taken_pages), list(self._taken_articles)
        return pages, articles

    def to_state(self) -> dict[str, Any]:
        articles: dict[str, dict[str, Any]] = {}
        for key, entry in self._articles.items():
            data: dict[str, Any] = {}
            if entry.url is not None:
                data["url"] = "" if entry.url == key else entry.url
            if entry.parsed:
                data["parsed"] = True
            if entry.held:
                data["held"] = list(entry.held)
            if entry.lastmod is not None:
                data["lastmod"] = entry.lastmod
            articles[key] = data
        return {"version": STATE_VERSION, "articles": articles}

    def load_state(self, state: dict[str, Any]) -> None:
        version = state.get("version")
        if version != STATE_VERSION:
            raise ValueError(f"frontier state version {version!r}, expected {STATE_VERSION}")
        for key, data in state["articles"].items():
            entry = self._articles.setdefault(key, _Article())
            url = data.get("url")
            if url is not None:
                entry.url = url or key
                self._seen.add(url_digest(normalize_url(entry.url)))
            entry.parsed = entry.parsed or bool(data.get("parsed"))
            entry.held += tuple(u for u in data.get("held", ()) if u not in entry.held)
            if entry.lastmod is None:
                entry.lastmod = data.get("lastmod")


class Frontier:
    def __init__(
        self,
        origin: str,
        tz: tzinfo,
        *,
        full: bool = False,
        since: date | None = None,
        state: FrontierState | None = None,
    ) -> None:
        parts = urlsplit(origin)
        self.origin = f"{parts.scheme}://{parts.netloc}".lower()
        self._origin_path = f"{self.origin}/"
        self.tz = tz
        self.full = full
        self.since = since
        self._stored: CrawlState | None = None
        self._reading: Future[CrawlState] | None = None
        # What was met: in this process, or shared by the workers of a cluster crawl.
        self.state: FrontierState = state if state is not None else MemoryFrontierState()
        # The last sitemap lastmod parsed: an article's URLs (each locale, each of its entries)
        # come one after another with the same lastmod.
        self._last_lastmod: tuple[str, datetime | None] | None = None
        # The last sitemap answer of wanted(): an article's locale entries ask it of the same
        # key and lastmod one after another.
        self._last_wanted: tuple[str, str | None, bool] | None = None
        # the stored index and the keys of the articles it re-checks (needs_lastmod)
        self._recheck_keys: tuple[CrawlState, frozenset[str]] | None = None

    @property
    def mode(self) -> str:
        if self.full:
            return "full"
        return f"since {self.since.isoformat()}" if self.since else "incremental"

    def use_index(self, stored: CrawlState | Future[CrawlState]) -> None:
        """What the database already holds: the incremental decisions compare against it.
        A future (the index still being read): the first decision that needs it waits for it."""
        self._last_wanted = None
        if isinstance(stored, Future):
            self._stored, self._reading = None, stored
        else:
            self._stored, self._reading = stored, None
            self._known_read(stored)

    @property
    def index_reading(self) -> Future[CrawlState] | None:
        """The stored index's read, until :attr:`stored` has taken its result."""
        return self._reading

    @property
    def stored(self) -> CrawlState | None:
        if self._reading is not None:
            # Waits for the read; a failed read raises its error here, every time.
            self._stored = self._reading.result()
            self._reading = None
            self._known_read(self._stored)
        return self._stored

    def _known_read(self, stored: CrawlState) -> None:
        # In this process, the stored URLs met are marked beside the index (crawler/crawl/
        # seen.py); a shared state keeps what every worker met. (An index given as a plain
        # mapping, by a test, has no positions to mark.)
        if isinstance(self.state, MemoryFrontierState) and hasattr(stored.known, "position"):
            self.state.use_known(stored.known)

    # --- URL identity ---------------------------------------------------------------------

    @staticmethod
    def key(url: str) -> str:
        return canonical_url(url)

    def allowed(self, url: str) -> bool:
        # Asked for every URL met: the usual absolute URL skips urlsplit (its netloc ends at
        # the first "/", "?" or "#"); a URL normalized on the origin, a prefix test.
        if url.startswith(self._origin_path):
            return True
        scheme, sep, rest = url.partition("://")
        netloc = rest.partition("/")[0]
        if not sep or "?" in netloc or "#" in netloc:
            parts = urlsplit(url)
            scheme, netloc = parts.scheme, parts.netloc
        return f"{scheme}://{netloc}".lower() == self.origin

    @staticmethod
    def skipped(url: str) -> bool:
        """Never a page to crawl: login and portlet actions, files, feeds, search."""
        path = urlsplit(url).path.lower()
        return any(part in path for part in SKIP_PATH_PARTS) or any(
            part in url for part in SKIP_QUERY_PARTS
        )

    def same_article(self, url: str, key: str) -> bool:
        _, article, url_key = url_identity(url)
        return article and url_key == key

    def preferred_url(self, candidates: Iterable[str | None], key: str) -> str | None:
        """The first of ``candidates`` (x-default, canonical link) that is this article on
        the origin: the page an article is recorded from, whichever URL was met first."""
        for url in candidates:
            if url and self.allowed(normalize_url(url)) and self.same_article(url, key):
                return url
        return None

    def mark_seen(self, url: str) -> None:
        """A URL not to follow (a sitemap-listed locale copy of a page already handled)."""
        self.state.add_seen(url_digest(normalize_url(url)))

    def mark_all_seen(self, urls: list[str]) -> None:
        """:meth:`mark_seen` of each, in one step (a page's locale copies)."""
        if urls:
            self.state.mark_seen([url_digest(normalize_url(url)) for url in urls])

    # --- pages ----------------------------------------------------------------------------

    def is_new_page(self, url: str) -> bool:
        """Whether :meth:`page` would follow it (what the per-page bounds count)."""
        url = normalize_url(url)
        if not self.allowed(url) or (not redelivered() and self.state.is_seen(url_digest(url))):
            return False
        return not self.skipped(url)

    def new_pages(self, urls: list[str]) -> list[bool]:
        """:meth:`is_new_page` of each, in one step (a page's links)."""
        normal = [normalize_url(url) for url in urls]
        candidates = [url for url in normal if self.allowed(url)]
        if redelivered():
            seen: set[str] = set()
        else:
            answers = self.state.are_seen([url_digest(url) for url in candidates])
            seen = {url for url, met in zip(candidates, answers, strict=True) if met}
        return [self.allowed(url) and url not in seen and not self.skipped(url) for url in normal]

    def page(self, url: str) -> Decision:
        """A page of the site (not an article): FETCH once, SKIP_LINK, or IGNORE. Met by a
        callback run again (see :meth:`article`): FETCH even when met before, the cluster's
        duplicate filter dropping the page if it was requested already."""
        url = normalize_url(url)
        digest = url_digest(url)
        again = redelivered()
        if not self.allowed(url):
            return Decision(IGNORE, url)
        if self.skipped(url):
            # Never marked seen (only asked): the others are checked and marked in one step.
            met = not again and self.state.is_seen(digest)
            return Decision(IGNORE if met else SKIP_LINK, url)
        if again:
            self.state.add_seen(digest)
            return Decision(FETCH, url)
        # Met by another worker since it was asked: that one fetches it.
        return Decision(FETCH if self.state.add_seen(digest) else IGNORE, url)

    # --- articles -------------------------------------------------------------------------

    def article(
        self,
        url: str,
        hint: ListingHint | None = None,
        lastmod: str | None = None,
    ) -> Decision:
        """An article URL met: FETCH it, or what becomes of it (ALIAS, HELD, SKIP_KNOWN,
        IGNORE). ``hint``: what the listing said of it; ``lastmod``: the sitemap's.

        In a callback run again (:func:`~crawler.crawl.redelivery.redelivered`: it runs a
        second time for one response, a cluster worker was killed before its output reached
        the queue, and its lease was delivered again): what the first run decided may never
        have been requested, so the URL an unparsed article is requested under is FETCHed again
        (the cluster's duplicate filter drops it when the first request did get queued)."""
        # One identity record per URL met (a sitemap's URLs are nearly all normal already).
        normal, _, key = url_identity(url)
        if normal != url:
            url = normal
            key = canonical_url(url)
        if not self.allowed(url):
            return Decision(IGNORE, url)
        action, stored = self.state.meet_article(
            url_digest(url), key, url, lambda: self.wanted(key, hint, lastmod)
        )
        if action == FETCH:
            # The decision carries the stored string, so the request's ``met_url`` shares it.
            return Decision(FETCH, stored, key)
        if action == SKIP_KNOWN:
            index = self.stored
            return Decision(SKIP_KNOWN, url, key, alias=index is None or url not in index.known)
        if action == ALIAS:
            return Decision(ALIAS, url, key, alias=True)
        return Decision(action, url, key)

    def articles(
        self,
        met: list[tuple[str, str | None]],
        hints: list[ListingHint | None] | None = None,
    ) -> list[Decision]:
        """:meth:`article` of each (url, sitemap lastmod) in turn (with its listing hint, when
        ``hints`` are given), decided in one step (one round trip to a shared state): a
        sitemap's entries, a page's links."""
        decisions: list[Decision | None] = []
        asked: list[tuple[bytes, str, str, bool]] = []
        for n, (given, lastmod) in enumerate(met):
            url, _, key = url_identity(given)
            if url != given:
                key = canonical_url(url)
            if not self.allowed(url):
                decisions.append(Decision(IGNORE, url))
                continue
            decisions.append(None)
            # Asked now, not only when the article is not scheduled: the same answer.
            hint = hints[n] if hints is not None else None
            asked.append((url_digest(url), key, url, self.wanted(key, hint, lastmod)))
        answers = iter(self.state.meet_articles(asked) if asked else [])
        met_keys = iter(asked)
        return [
            decision or self._decision(*next(answers), next(met_keys)[1]) for decision in decisions
        ]

    def _decision(self, action: str, stored: str, key: str) -> Decision:
        if action == FETCH:
            return Decision(FETCH, stored, key)
        if action == SKIP_KNOWN:
            index = self.stored
            return Decision(
                SKIP_KNOWN, stored, key, alias=index is None or stored not in index.known
            )
        if action == ALIAS:
            return Decision(ALIAS, stored, key, alias=True)
        return Decision(action, stored, key)

    def is_scheduled(self, key: str) -> bool:
        return self.state.is_scheduled(key)

    def note_lastmod(self, key: str, lastmod: str) -> None:
        """The sitemap's lastmod of an article (the first one met in this run wins)."""
        self.state.note_lastmod(key, lastmod)

    def needs_lastmod(self, decision: Decision) -> bool:
        """Whether the sitemap's lastmod of the article decided must be noted: it goes in the
        record of an article fetched in this run. A stored article the sitemap says is
        unchanged (SKIP_KNOWN) is fetched again only as a re-check (:meth:`rechecks`, the
        newest stored), so a re-run notes no lastmod for the others: nothing is kept for them
        but the digests of their URLs (a million-article re-run would hold a million)."""
        if decision.action != SKIP_KNOWN:
            return True
        stored = self.stored
        if stored is None:
            return True
        if self._recheck_keys is None or self._recheck_keys[0] is not stored:
            keys = frozenset(canonical_url(url) for url in stored.recent_urls)
            self._recheck_keys = (stored, keys)
        return decision.key in self._recheck_keys[1]

    def lastmod(self, key: str) -> str | None:
        return self.state.lastmod(key)

    def parsed(self, key: str, related: Sequence[str] = ()) -> list[str]:
        """The article's page is parsed: the URLs held for it, to go in its record. URLs met
        for it from now on are aliases to record at once. In a callback run again (see
        :meth:`article`): the held URLs once more, where the state kept them (a cluster's).
        ``related``: the page's related article URLs, which a shared state may defer in the
        same step (see :meth:`defer_articles`)."""
        if not related:
            return self.state.parsed(key)
        return self.state.parsed(key, self._deferral(related))

    def rechecks(self, limit: int) -> list[Decision]:
        """The ``limit`` newest stored articles not scheduled yet: fetched again to catch
        edits the sitemap does not show. In a callback run again (see :meth:`article`): those
        scheduled under that URL and not parsed yet too, their requests perhaps lost."""
        if self.stored is None or limit <= 0:
            return []
        urls = [(canonical_url(url), url) for url in self.stored.recent_urls[:limit]]
        scheduled = self.state.schedule_new(urls)
        return [
            Decision(FETCH, stored, key)
            for (key, _), stored in zip(urls, scheduled, strict=True)
            if stored is not None
        ]

    # --- incremental decisions ------------------------------------------------------------

    def wanted(self, key: str, hint: ListingHint | None = None, lastmod: str | None = None) -> bool:
        """Whether an article must be fetched in this run's mode."""
        if self.full:
            return True
        if hint is None:
            last = self._last_wanted
            if last is not None and last[0] == key and last[1] == lastmod:
                return last[2]
            answer = self._wanted(key, None, lastmod)
            self._last_wanted = (key, lastmod, answer)
            return answer
        return self._wanted(key, hint, lastmod)

    def _wanted(self, key: str, hint: ListingHint | None, lastmod: str | None) -> bool:
        known = self._known(key)
        if self.since is not None:
            published = self._listing_day(hint)
            if published is not None:
                return published >= self.since
            return (
                known is None
                or known.published_at is None
                or known.published_at.astimezone(self.tz).date() >= self.since
            )
        if known is None:
            return True
        if lastmod and known.modified_at is not None:
            changed = self._lastmod_time(lastmod)
            if changed is None:
                return False
            # Liferay rounds lastmod to the second; anything newer is an edit.
            return changed > known.modified_at + _LASTMOD_ROUNDING
        return bool(lastmod) and known.modified_at is None

    def _lastmod_time(self, lastmod: str) -> datetime | None:
        if self._last_lastmod is None or self._last_lastmod[0] != lastmod:
            value: datetime | None = None
            if _PLAIN_LASTMOD.fullmatch(lastmod):
                # The form sitemaps write (every entry of a re-run is compared): read in C;
                # an impossible value is left to the full parser, which says the same.
                with contextlib.suppress(ValueError):
                    value = datetime.fromisoformat(lastmod)
            if value is None:
                try:
                    value = parse_machine_date(lastmod, self.tz).value
                except DateParseError:
                    value = None
            self._last_lastmod = (lastmod, value)
        return self._last_lastmod[1]

    def known(self, key: str) -> KnownDates | None:
        """The stored article of ``key``, if the run's index holds it."""
        return self._known(key)

    def _known(self, key: str) -> KnownDates | None:
        return self.stored.known.get(key) if self.stored is not None else None

    def listing_day(self, hint: ListingHint | None) -> date | None:
        """The publication day a listing gave for an article (chooses a profile's layout)."""
        return self._listing_day(hint)

    def _listing_day(self, hint: ListingHint | None) -> date | None:
        if hint is None or not hint.date_raw:
            return None
        try:
            return parse_display_date(hint.date_raw, hint.locale, self.tz).value.date()
        except DateParseError:
            return None

    # --- discovery order ------------------------------------------------------------------

    def sitemap_requested(self, url: str) -> None:
        """A sitemap requested (by its URL): navigation waits until it is read."""
        self.state.sitemap_requested(url)

    def sitemap_done(self, url: str) -> None:
        """A sitemap read or failed (by the URL it was requested under)."""
        self.state.sitemap_done(url)

    @property
    def navigation_started(self) -> bool:
        return self.state.navigation_started

    def start_navigation(self) -> bool:
        """True once, when every sitemap requested so far is read: navigation may start."""
        return self.state.start_navigation()

    def defer_page(self, url: str) -> bool:
        """A page a sitemap lists: followed once every sitemap (and lastmod) is in. False:
        navigation has started (on another worker, in a cluster): follow it now."""
        return self.state.defer_page(url)

    def defer_article(self, url: str) -> bool:
        """An article met before the sitemaps are all read (its lastmod may still come): kept
        for navigation. True: nothing to do now, as it is kept, or was met before (its
        decision is made; kept, it would wait, a URL string each, until every sitemap is read,
        for :meth:`article` to IGNORE it). False: navigation has started (on another worker,
        in a cluster): follow it now. In a callback run again (see :meth:`article`): kept even
        if met."""
        if not redelivered() and self.state.is_seen(url_digest(url_identity(url)[0])):
            return True
        return self.state.defer_article(url)

    def defer_articles(self, urls: list[str]) -> list[bool]:
        """:meth:`defer_article` of each, in one step (an article's related articles)."""
        if not urls:
            return []
        return self.state.defer_articles(self._deferral(urls))

    @staticmethod
    def _deferral(urls: Sequence[str]) -> list[tuple[bytes, str]]:
        return [(url_digest(url_identity(url)[0]), url) for url in urls]

    def take_deferred(self) -> tuple[list[str], list[str]]:
        """The deferred pages and articles not taken yet. In a callback run again (see
        :meth:`article`): every one taken so far, the first run's requests perhaps lost."""
        return self.state.take_deferred()

    # --- state ----------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """The frontier's articles as a JSON-able dict, each URL once: ``{"version": 1,
        "articles": {key: {"url": requested URL ("" when it is the key; absent when not
        scheduled), "parsed": true, "held": [URLs], "lastmod": raw}}}`` (empty fields left
        out). The in-memory state only: a shared state lives on in its Redis."""
        return self._memory_state().to_state()

    def load_state(self, state: dict[str, Any]) -> None:
        """Take over the articles of :meth:`to_state` (a resumed run)."""
        self._memory_state().load_state(state)

    def _memory_state(self) -> MemoryFrontierState:
        if not isinstance(self.state, MemoryFrontierState):
            raise TypeError(
                f"the frontier state {type(self.state).__name__} is not saved in a JOBDIR "
                "(a cluster crawl resumes from its Redis)"
            )
        return self.state

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any],
        origin: str,
        tz: tzinfo,
        *,
        full: bool = False,
        since: date | None = None,
    ) -> Frontier:
        frontier = cls(origin, tz, full=full, since=since)
        frontier.load_state(state)
        return frontier
