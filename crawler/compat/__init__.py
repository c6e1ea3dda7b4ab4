"""Scrapy's internals, behind one door.

Everything the crawler needs from Scrapy that Scrapy does not offer as public API is reached
here, and only here, each use checked against the Scrapy versions in :data:`CHECKED_SCRAPY`:

- sitemaps streamed to a temporary file (``http11.py``): ``_ScrapyAgent``,
  ``_ResponseReader``, ``scrapy.utils._download_handlers`` and the HTTP/1.1 handler's private
  attributes. Fallback: sitemaps read into memory, as any page.
- a sitemap callback stops when the engine closes (:func:`engine_closing`):
  ``ExecutionEngine._slot.closing``. Fallback: only a stopped engine (``engine.running``).
- a sitemap callback waits while the scheduler is full (:func:`can_wait_for_scheduler`):
  ``ExecutionEngine._slot`` and ``Scraper.slot.needs_backout()``. Fallback: no back-pressure.
- the scheduler's length in progress lines (:func:`scheduler_of`): an older engine's
  ``_slot.scheduler``. Fallback: ``engine.scheduler`` only.
- each feed's item count checked against what it accepted (:func:`feed_slots`):
  ``FeedExporter.slots``. Fallback: feeds judged by Scrapy's ``feedexport/failed_count``
  stats, items counted from the ``item_scraped`` signal.
- a robots.txt that cannot be fetched logged in one line, not a traceback (``robots.py``, for
  ``crawler/middlewares/robots.py``): the robots.txt middleware's private state. Fallback:
  Scrapy's own method.
- redirects off the origin and redirect loops refused aloud (``redirects.py``, for
  ``crawler/middlewares/redirect.py``): the redirect middlewares' private ``_redirect`` and
  ``_engine_started``. Fallback: Scrapy's redirects as they are.
- the HTTP/1.1 handler closed without a stray error (:meth:`StreamingDownloadHandler.close`,
  ``http11.py``): the handler's private connection pool and disconnect timeout. Fallback:
  Scrapy's ``close``.
- a cluster lease acknowledged once a response's output is processed
  (:func:`install_scrape_ack`): ``Scraper.enqueue_scrape`` wrapped. No safe fallback:
  ``scrapy cluster work`` refuses to run.
- a cluster worker told to stop (SIGTERM, SIGINT) waits for Redis no more before a graceful
  shutdown that waits for every crawler to close (:func:`on_shutdown_signal`): Scrapy's
  signal handlers replaced through its public ``install_shutdown_handlers``, no private name.

On start-up :class:`CompatCheck` logs one WARNING naming the fallbacks when the running Scrapy
is not a checked one. ``-s SCRAPY_COMPAT_FALLBACK=True`` (or ``HEPZA_SCRAPY_COMPAT_FALLBACK=1``)
forces the fallbacks on a checked Scrapy: the tests crawl the replica that way.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy import signals
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.exceptions import NotConfigured

from crawler.crawl.streaming import STREAM_META

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy import Request
    from scrapy.core.engine import ExecutionEngine
    from scrapy.crawler import Crawler
    from scrapy.extensions.feedexport import FeedExporter
    from scrapy.http import Response
    from scrapy.settings import BaseSettings
    from twisted.internet.defer import Deferred

logger = logging.getLogger(__name__)

# Scrapy major.minor versions whose internals these uses were read from and tested against.
CHECKED_SCRAPY = ("2.19",)
FALLBACK_SETTING = "SCRAPY_COMPAT_FALLBACK"
FALLBACK_ENV = "HEPZA_SCRAPY_COMPAT_FALLBACK"
FALLBACKS = (
    "sitemaps are read into memory, not streamed",
    "no back-pressure on sitemaps",
    "feed item counts come from the item_scraped signal only",
    "scrapy cluster refuses to run",
)


def scrapy_minor(version: str | None = None) -> str:
    parts = (version or scrapy.__version__).split(".")
    return ".".join(parts[:2])


def forced_fallback(settings: BaseSettings | None = None) -> bool:
    if os.environ.get(FALLBACK_ENV, "").strip().lower() in {"1", "true", "yes"}:
        return True
    return settings is not None and settings.getbool(FALLBACK_SETTING, False)


def internals_usable(settings: BaseSettings | None = None) -> bool:
    """Whether the running Scrapy is a checked one and no fallback is forced."""
    return scrapy_minor() in CHECKED_SCRAPY and not forced_fallback(settings)


def _engine_settings(engine: Any) -> BaseSettings | None:
    crawler = getattr(engine, "crawler", None)
    return getattr(crawler, "settings", None)


def engine_closing(engine: ExecutionEngine | None) -> bool:
    """Whether the engine is stopping or closing its spider. No engine, or one without an open
    spider (a callback driven by hand), is not closing."""
    if engine is None:
        return False
    if not internals_usable(_engine_settings(engine)):
        return getattr(engine, "running", True) is False
    slot = getattr(engine, "_slot", None)
    if slot is None:
        return False
    return not engine.running or slot.closing is not None


def can_wait_for_scheduler(engine: ExecutionEngine) -> bool:
    """Whether a callback may wait for the scheduler to drain without stopping the crawl: an
    open, not closing engine whose scraper is under its active size (Scrapy says "closing"
    publicly only through ``needs_backout()``, which a full downloader also sets)."""
    if not internals_usable(_engine_settings(engine)):
        return False
    slot = getattr(engine, "_slot", None)
    if slot is None or slot.closing is not None:
        return False
    scraper_slot = engine.scraper.slot
    return scraper_slot is not None and not scraper_slot.needs_backout()


def wake_engine(engine: ExecutionEngine | None) -> bool:
    """Has the engine look at its scheduler, and whether its spider is idle, on the reactor's
    next turn, as its heartbeat does every 5 s: a spider kept open (``DontCloseSpider``) while
    its own last work finished closes then, not up to a beat later. False (nothing done, the
    heartbeat will) without the internals or an open engine."""
    if engine is None or not internals_usable(_engine_settings(engine)):
        return False
    slot = getattr(engine, "_slot", None)
    if slot is None or slot.closing is not None:
        return False
    slot.nextcall.schedule()
    return True


def scheduler_of(engine: Any) -> Any:
    scheduler = getattr(engine, "scheduler", None)
    if scheduler is None and internals_usable(_engine_settings(engine)):
        slot = getattr(engine, "slot", None) or getattr(engine, "_slot", None)
        scheduler = getattr(slot, "scheduler", None)
    return scheduler


def feed_slots(exporter: FeedExporter, settings: BaseSettings | None = None) -> list[Any] | None:
    """The feed exporter's open feeds (each with ``uri``, ``itemcount``, ``storage``,
    ``store_empty``, ``filter``); None where they cannot be read."""
    if not internals_usable(settings):
        return None
    slots = getattr(exporter, "slots", None)
    return list(slots) if isinstance(slots, list) else None


def install_scrape_ack(crawler: Crawler, wrap: Callable[..., Deferred[None]]) -> None:
    """Has ``wrap(enqueue_scrape, result, request)`` run in place of the scraper's
    ``enqueue_scrape``, whose Deferred fires once a response's callback output is processed
    (items through the pipelines, requests queued): the one point a cluster lease can be
    acknowledged without losing work. Refused (RuntimeError) on an unchecked Scrapy."""
    if not internals_usable(crawler.settings):
        raise RuntimeError(
            f"Scrapy {scrapy.__version__} is not one crawler/compat was checked against "
            f"({', '.join(CHECKED_SCRAPY)}): a cluster lease cannot be acknowledged safely"
        )
    assert crawler.engine is not None
    scraper = crawler.engine.scraper
    enqueue_scrape = scraper.enqueue_scrape

    def acking_enqueue_scrape(result: Any, request: Request) -> Any:
        return wrap(enqueue_scrape, result, request)

    scraper.enqueue_scrape = acking_enqueue_scrape  # type: ignore[method-assign]


def on_shutdown_signal(process: Any, first: Callable[[], None]) -> None:
    """Has ``first()`` (signal-safe) run when the process gets SIGTERM or SIGINT, then stops
    every crawler and lets the reactor stop once the last one closed (a second signal: at
    once, as Scrapy's own second signal does). Scrapy's own graceful stop stops the reactor
    as soon as the crawlers it stopped closed, and skips one already closing: that one's
    share would never be judged. Installed once the reactor runs, right after Scrapy's
    handlers (a startup trigger its ``start()`` adds), which it replaces. What it logs, it logs
    on the reactor's thread, never in the handler (the interrupted code may be writing to the
    same stream)."""
    import signal  # noqa: PLC0415
    from contextlib import suppress  # noqa: PLC0415

    from scrapy.utils.defer import deferred_from_coro  # noqa: PLC0415
    from scrapy.utils.ossignal import install_shutdown_handlers, signal_names  # noqa: PLC0415
    from twisted.internet import reactor  # noqa: PLC0415 (installed by the crawler process)

    def stop_crawlers() -> None:
        for crawler in list(process.crawlers):
            deferred_from_coro(crawler.stop_async())

    def stop_reactor() -> None:
        with suppress(RuntimeError):  # already stopped, or stopping
            reactor.stop()  # type: ignore[misc]  # twisted's module-level reactor

    def killing(signum: int, frame: Any) -> None:
        install_shutdown_handlers(signal.SIG_IGN)
        said = "Received %s twice, forcing unclean shutdown"
        reactor.callFromThread(logger.info, said, signal_names[signum])
        reactor.callFromThread(stop_reactor)

    def stopping(signum: int, frame: Any) -> None:
        first()
        install_shutdown_handlers(killing)
        said = "Received %s, shutting down gracefully. Send again to force"
        reactor.callFromThread(logger.info, said, signal_names[signum])
        reactor.callFromThread(stop_crawlers)

    reactor.callWhenRunning(reactor.callLater, 0, install_shutdown_handlers, stopping)


def cluster_refusal(settings: BaseSettings | None = None) -> str | None:
    """Why ``scrapy cluster`` cannot run on this Scrapy (None: it can)."""
    if internals_usable(settings):
        return None
    return (
        f"cluster mode needs a Scrapy whose internals crawler/compat was checked against "
        f"({', '.join(CHECKED_SCRAPY)}); this is {scrapy.__version__}"
        + (" with the fallbacks forced" if forced_fallback(settings) else "")
    )


class StreamingDownloadHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 handler; a request with ``STREAM_META`` gets a
    :class:`crawler.crawl.streaming.StreamedResponse` where the internals are usable."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._internals = internals_usable(crawler.settings)

    async def download_request(self, request: Request) -> Response:
        if not self._internals or not request.meta.get(STREAM_META):
            return await super().download_request(request)
        from crawler.compat import http11  # noqa: PLC0415 - only on a checked Scrapy

        return await http11.download_streamed(self, request)

    async def close(self) -> None:
        """Scrapy's close, with its give-up timer harmless once the pool has closed.

        Scrapy stops waiting for the pool's cached connections after its disconnect timeout
        by firing the pool's Deferred from a timer, and cancels that timer only when the
        waiting coroutine resumes. When the reactor was blocked past the timeout (a cluster
        worker retrying an unavailable Redis while another site's crawler closes), the
        connections' close and the expired timer run in one reactor turn, before the
        coroutine resumes: the timer fires an already-fired Deferred and an
        ``AlreadyCalledError`` traceback lands on stderr of a run that failed cleanly.
        """
        if not self._internals:
            await super().close()
            return
        from crawler.compat import http11  # noqa: PLC0415 - only on a checked Scrapy

        await http11.close_pool(self, super().close)


async def wait_closed(closing: Deferred[Any], timeout: float, clock: Any) -> None:
    """Wait for ``closing`` at most ``timeout`` seconds of ``clock`` (an ``IReactorTime``)."""
    from scrapy.utils.defer import maybe_deferred_to_future  # noqa: PLC0415

    def give_up() -> None:
        if not closing.called:
            closing.callback(None)

    timer = clock.callLater(timeout, give_up)
    try:
        await maybe_deferred_to_future(closing)
    finally:
        if timer.active():
            timer.cancel()


class CompatCheck:
    """One WARNING when the crawl runs on Scrapy's public API only, once its log is open."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CompatCheck:
        if internals_usable(crawler.settings):
            raise NotConfigured
        reason = (
            "the fallbacks are forced"
            if forced_fallback(crawler.settings)
            else f"Scrapy {scrapy.__version__} is not one crawler/compat was checked against "
            f"({', '.join(CHECKED_SCRAPY)})"
        )
        check = cls(reason)
        crawler.signals.connect(check.spider_opened, signal=signals.spider_opened)
        return check

    def spider_opened(self) -> None:
        logger.warning("%s: %s", self.reason, "; ".join(FALLBACKS))
