"""The spider loader: the project's spider classes, plus one spider per site profile that has
none of its own, so ``scrapy list`` lists every profile and ``scrapy crawl NAME`` crawls it.

A profile's spider handles the URLs of its site's host (``find_by_request``), as a Scrapy
spider declaring ``allowed_domains`` would: ``scrapy parse URL`` finds it from the URL."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.spiderloader import SpiderLoader

from crawler.setup.config import SPIDER_ARGUMENTS, ConfigError, SpiderArguments
from crawler.sites.profile import ProfileError, load_profiles, profile_dirs

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.http import Request
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)


def profile_spider(name: str, base: type[Spider]) -> type[Spider]:
    """A spider class for the profile ``name``: the generic Liferay spider, its site fixed."""
    attributes: dict[str, Any] = {
        "name": name,
        "profile_name": name,
        "arguments": SPIDER_ARGUMENTS,
        "__doc__": f"Crawls the {name} portal (crawler/sites/profiles/{name}.toml).",
    }
    return type(f"{name.title().replace('-', '')}Spider", (base,), attributes)


class SiteSpiderLoader(SpiderLoader):
    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self._settings = settings
        generic = self._spiders.get("liferay")
        if generic is None:
            return
        try:
            profiles = load_profiles(profile_dirs(settings))
        except ProfileError as exc:
            # `scrapy crawl` reports it as bad usage (crawler/setup/preflight.py); other commands
            # go on.
            logger.error("%s", exc)
            return
        for name in profiles:
            if name not in self._spiders:
                self._spiders[name] = profile_spider(name, generic)

    def site_url(self, name: str) -> str | None:
        """The base URL of the site the spider ``name`` crawls: its profile's (moved by
        ``HEPZA_BASE_URL`` for hepza); None for the generic spider, whose site comes from its
        arguments."""
        # Late: crawler.sites.resolve imports the middlewares, which the loader does not need.
        from crawler.sites.resolve import resolve_site  # noqa: PLC0415

        profile_name = getattr(self._spiders.get(name), "profile_name", None)
        if profile_name is None:
            return None
        try:
            return resolve_site(SpiderArguments(), self._settings, profile_name).base_url
        except ConfigError:
            return None  # a bad profile or HEPZA_BASE_URL: `scrapy crawl` names it

    def find_by_request(self, request: Request) -> list[str]:
        """The spiders whose site's host is the request's (or a subdomain of it)."""
        return [
            name
            for name in self._spiders
            if (site := self.site_url(name)) and on_site_host(request.url, site)
        ]


def on_site_host(url: str, base_url: str) -> bool:
    """Whether ``url`` is on the host of ``base_url`` or a subdomain of it, as Scrapy matches
    ``allowed_domains``; and on its port, when the site has one (a mirror, the replica)."""
    try:
        parts, site = urlsplit(url), urlsplit(base_url)
        port, site_port = parts.port, site.port
    except ValueError:
        return False
    host, site_host = (parts.hostname or ""), (site.hostname or "")
    if not site_host or not (host == site_host or host.endswith(f".{site_host}")):
        return False
    return site_port is None or port == site_port
