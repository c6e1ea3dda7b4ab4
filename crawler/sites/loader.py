"""The spider loader: the project's spider classes, plus one spider per site profile that has
none of its own, so ``scrapy list`` lists every profile and ``scrapy crawl NAME`` crawls it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy.spiderloader import SpiderLoader

from crawler.config import SPIDER_ARGUMENTS
from crawler.sites.profile import ProfileError, load_profiles, profile_dirs

if TYPE_CHECKING:
    from scrapy import Spider
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
        generic = self._spiders.get("liferay")
        if generic is None:
            return
        try:
            profiles = load_profiles(profile_dirs(settings))
        except ProfileError as exc:
            # `scrapy crawl` reports it as bad usage (crawler/preflight.py); other commands go on.
            logger.error("%s", exc)
            return
        for name in profiles:
            if name not in self._spiders:
                self._spiders[name] = profile_spider(name, generic)
