"""``scrapy crawl hepza``: the HEPZA portal (https://hepza.hochiminhcity.gov.vn), the generic
Liferay spider with its profile (crawler/sites/profiles/hepza.toml).

Spider arguments:
  base_url=http://host:port  crawl another copy of the site (a mirror, the local replica)
  full=1                     ignore what the database already holds and fetch everything
  since=YYYY-MM-DD           re-fetch every article published on or after that day
"""

from __future__ import annotations

from typing import ClassVar

from crawler.setup.config import SPIDER_ARGUMENTS
from crawler.spiders.liferay import LiferaySpider


class HepzaSpider(LiferaySpider):
    name = "hepza"
    profile_name: ClassVar[str | None] = "hepza"
    arguments: ClassVar[dict[str, str]] = SPIDER_ARGUMENTS
