"""Hooks into Scrapy 2.19's redirect middlewares, overriding their private ``_engine_started``
and ``_redirect``. On a Scrapy :mod:`crawler.compat` has not checked (or with its fallbacks
forced) the hooks are not called and Scrapy's redirects run as they are."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.downloadermiddlewares import redirect
from scrapy.exceptions import IgnoreRequest

from crawler.compat import internals_usable

if TYPE_CHECKING:
    from scrapy import Request


class RedirectHooks(redirect.BaseRedirectMiddleware):
    """:meth:`engine_started` once the engine starts; :meth:`check_redirect` before a redirect
    is followed (raise to refuse it); :meth:`redirect_limit_reached` where Scrapy gives up at
    ``REDIRECT_MAX_TIMES`` (an exception to raise instead of its quiet ``IgnoreRequest``)."""

    def engine_started(self) -> None:
        """What to do once the engine started (the crawl's other middlewares exist)."""

    def check_redirect(self, redirected: Request, request: Request) -> None:
        """Raise to refuse ``redirected``, the redirect of ``request``."""

    def redirect_limit_reached(self, redirected: Request, request: Request) -> Exception | None:
        """What to raise instead of Scrapy's "max redirections reached" (None: Scrapy's)."""
        return None

    def _engine_started(self) -> None:
        super()._engine_started()
        if internals_usable(self.crawler.settings):
            self.engine_started()

    def _redirect(self, redirected: Request, request: Request, reason: Any) -> Request:
        if not internals_usable(self.crawler.settings):
            return super()._redirect(redirected, request, reason)
        self.check_redirect(redirected, request)
        try:
            return super()._redirect(redirected, request, reason)
        except IgnoreRequest:
            instead = self.redirect_limit_reached(redirected, request)
            if instead is None:
                raise
            raise instead from None
