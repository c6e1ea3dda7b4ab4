"""``scrapy crawl liferay -a base_url=URL [-a timezone=Area/City] [-a default_locale=xx-YY]
[-a site=NAME]``: any Liferay 7.x portal, discovered from its robots.txt, sitemaps, navigation
and paging, with or without a site profile."""

from __future__ import annotations

from typing import ClassVar

from crawler.config import LIFERAY_ARGUMENTS
from crawler.spiders.hepza import HepzaSpider


class LiferaySpider(HepzaSpider):
    name = "liferay"
    profile_name: ClassVar[str | None] = None
    arguments: ClassVar[dict[str, str]] = LIFERAY_ARGUMENTS
