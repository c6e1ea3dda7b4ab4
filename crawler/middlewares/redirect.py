"""Scrapy's redirects, with the two ways a redirect lost a page without a word said:

- **off the origin**: a redirect to another host was dropped by Scrapy's OffsiteMiddleware when
  it was scheduled, logged at DEBUG, its errback never called (the article missing, the run
  "succeeded", ``fence/refused`` 0). It is refused here, as the origin fence refuses any request
  (crawler/middlewares/fence.py: counted in ``fence/refused`` and ``fence/redirect_refused``,
  named at WARNING), and the request's errback gets :class:`OffOriginRequest`;
- **a loop**: a redirect back to a URL of its own chain (``/w/a`` -> ``/w/a?x=1`` -> ``/w/a``)
  was dropped by the duplicate filter, silently (Scrapy gives a redirect its request's
  ``dont_filter``: an article's is filtered, a sitemap's looped on); one that never ends
  (``?x=1`` -> ``?x=2`` -> ...) ended at ``REDIRECT_MAX_TIMES`` as an anonymous error. Both
  are a :class:`RedirectLoop` now, counted in ``fetch/redirect_loop`` and named at WARNING
  with the chain, and the request's errback gets it.

The hooks into Scrapy's private redirect methods are crawler/compat/redirects.py's: on a Scrapy
it has not checked, redirects are Scrapy's own again.

What the lost page costs the run is the spider's decision (``LiferaySpider.on_error``): a page
caught in a loop, or an article, a sitemap, robots.txt or the home page sent off the origin, is
a failed request (``fetch/failed``, in the run's error rate against ``MAX_ERROR_RATE``), as if it
had answered 500: one moved article is a WARNING and a count in the report, a portal that sends
its articles elsewhere fails the run. A listing or menu page redirected off the origin (a menu
item leading to another portal) is counted and named only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares import redirect
from scrapy.exceptions import IgnoreRequest

from crawler.compat.redirects import RedirectHooks
from crawler.middlewares.fence import OriginFence, origin_of

if TYPE_CHECKING:
    from scrapy import Request

logger = logging.getLogger(__name__)


class RedirectLoop(IgnoreRequest):
    """A redirect back into its own chain, or a chain longer than ``REDIRECT_MAX_TIMES``."""


class _Watched(RedirectHooks):
    # Set when the engine starts (None: no fence in this crawl, or not started: unit tests
    # set it themselves).
    fence: OriginFence | None = None

    def engine_started(self) -> None:
        self.fence = self.crawler.get_downloader_middleware(OriginFence)

    def check_redirect(self, redirected: Request, request: Request) -> None:
        chain = [*request.meta.get("redirect_urls", []), request.url]
        fence = self.fence
        allowed = fence.allowed() if fence is not None else None
        if fence is not None and allowed is not None and origin_of(redirected.url) != allowed:
            raise fence.refuse(redirected.url, allowed, chain[0])
        fingerprint = self.crawler.request_fingerprinter.fingerprint
        target = fingerprint(redirected)
        if any(fingerprint(request.replace(url=url)) == target for url in chain):
            raise self._loop(chain, redirected.url, "back into its own chain")

    def redirect_limit_reached(self, redirected: Request, request: Request) -> Exception | None:
        # Scrapy's "max redirections reached", at DEBUG otherwise.
        chain = [*request.meta.get("redirect_urls", []), request.url]
        endless = f"more than REDIRECT_MAX_TIMES ({self.max_redirect_times})"
        return self._loop(chain, redirected.url, endless)

    def _loop(self, chain: list[str], url: str, how: str) -> RedirectLoop:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("fetch/redirect_loop")
        shown = " -> ".join([*chain[:3], "...", *chain[-2:]] if len(chain) > 6 else chain)
        logger.warning("redirect loop (%s), not followed: %s -> %s", how, shown, url)
        return RedirectLoop(f"redirect loop ({how}): {chain[0]}")


class RedirectMiddleware(_Watched, redirect.RedirectMiddleware):
    """Scrapy's RedirectMiddleware (3xx), its off-origin redirects and loops refused aloud."""


class MetaRefreshMiddleware(_Watched, redirect.MetaRefreshMiddleware):
    """Scrapy's MetaRefreshMiddleware, its off-origin redirects and loops refused aloud."""
