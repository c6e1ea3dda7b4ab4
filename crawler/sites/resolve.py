"""The site a run crawls: its profile, completed by the spider's arguments and the settings.

Precedence, most specific first: the spider's arguments (``-a base_url/timezone/
default_locale``), settings given explicitly (``-s`` or their ``HEPZA_*`` environment variable),
the site's profile, the generic defaults (a Liferay portal of Ho Chi Minh City: Vietnamese,
Asia/Ho_Chi_Minh). A portal without a profile gets one made from its arguments, named after its
host, so it is its own site in the database.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from crawler.setup.config import (
    ENVIRONMENT_OVERRIDES,
    ConfigError,
    parse_base_url,
    parse_locale,
    parse_timezone,
)
from crawler.setup.paths import PROJECT_PRIORITY
from crawler.sites.profile import SiteProfile, find_profile, profile_dirs, profile_from_dict

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

    from crawler.setup.config import SpiderArguments

# setting -> the environment variable a deployment sets it with: such a value wins over the
# profile's, as a -s value does.
ENVIRONMENT = ENVIRONMENT_OVERRIDES


def explicit(settings: BaseSettings, name: str) -> bool:
    """Whether a person gave the setting (-s, or its environment variable)."""
    if (settings.getpriority(name) or 0) > PROJECT_PRIORITY:
        return True
    env = ENVIRONMENT.get(name)
    return bool(env and os.environ.get(env))


def site_name_of(base_url: str) -> str:
    """The site key of a portal without a profile: its host (and port), as a slug."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "site").lower()
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    if parts.port and parts.port != default_port:
        host = f"{host}-{parts.port}"
    return re.sub(r"[^a-z0-9]+", "-", host).strip("-") or "site"


def resolve_site(
    args: SpiderArguments, settings: BaseSettings, profile_name: str | None = None
) -> SiteProfile:
    """The profile a run crawls with (``profile_name``: the spider's own profile, if any)."""
    name = profile_name or args.site
    if name is not None:
        profile = find_profile(name, profile_dirs(settings))
        base_url = args.base_url or _deployment_base_url(settings, profile) or profile.base_url
    else:
        if not args.base_url:
            raise ConfigError(
                "base_url is required without a site profile: "
                "scrapy crawl liferay -a base_url=https://portal.example.gov.vn "
                "[-a timezone=Area/City] [-a default_locale=xx-YY] (or -a site=NAME)"
            )
        base_url = args.base_url
        profile = profile_from_dict(
            {"name": site_name_of(base_url), "base_url": base_url}, "<arguments>"
        )
    timezone = args.timezone or _setting(settings, "SITE_TIMEZONE") or profile.timezone
    parse_timezone(timezone, "timezone" if args.timezone else "SITE_TIMEZONE")
    locale = args.default_locale or _setting(settings, "SITE_DEFAULT_LOCALE")
    locale = parse_locale(locale, "SITE_DEFAULT_LOCALE") if locale else profile.default_locale
    locales = profile.locales if locale in profile.locales else (locale, *profile.locales)
    return replace(
        profile,
        base_url=base_url,
        timezone=timezone,
        default_locale=locale,
        locales=locales,
    )


def _setting(settings: BaseSettings, name: str) -> str | None:
    value = settings.get(name)
    return str(value) if value and explicit(settings, name) else None


def _deployment_base_url(settings: BaseSettings, profile: SiteProfile) -> str | None:
    """``HEPZA_BASE_URL`` (``-s`` or environment) moves the hepza profile to a mirror."""
    if profile.name != "hepza":
        return None
    value = _setting(settings, "HEPZA_BASE_URL")
    return parse_base_url(value, "HEPZA_BASE_URL") if value else None


def apply_site_settings(settings: BaseSettings, profile: SiteProfile) -> None:
    """Write the site's values into the (not yet frozen) crawl settings, where the pipelines
    and extensions read them; a value a person gave explicitly stays.

    A crawl creates its spider before it freezes its settings (``Crawler.crawl``); a crawler
    that is frozen already (``scrapy.utils.test.get_crawler``) keeps the settings it has."""
    if settings.frozen:
        return
    spider_priority = "spider"
    settings.set("SITE_NAME", profile.name, priority="cmdline")
    settings.set("SITE_BASE_URL", profile.base_url, priority="cmdline")
    # The resolved zone and locale already took -a and -s into account.
    settings.set("SITE_TIMEZONE", profile.timezone, priority="cmdline")
    settings.set("SITE_DEFAULT_LOCALE", profile.default_locale, priority="cmdline")
    if profile.concurrency is not None and not explicit(settings, "CONCURRENT_REQUESTS_PER_DOMAIN"):
        settings.set(
            "CONCURRENT_REQUESTS_PER_DOMAIN", profile.concurrency, priority=spider_priority
        )
    if profile.download_delay is not None and not explicit(settings, "DOWNLOAD_DELAY"):
        settings.set("DOWNLOAD_DELAY", profile.download_delay, priority=spider_priority)
    if profile.coverage and not explicit(settings, "COVERAGE_THRESHOLDS"):
        thresholds = {**settings.getdict("COVERAGE_THRESHOLDS"), **profile.coverage}
        settings.set("COVERAGE_THRESHOLDS", thresholds, priority=spider_priority)
