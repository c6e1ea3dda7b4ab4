"""Every value a person gives a run (spider arguments, settings), parsed in one place.

The spider and the ``scrapy crawl`` preflight (crawler/preflight.py) both parse through these
functions, so what the preflight accepts is exactly what the spider runs with. A bad value
raises :class:`ConfigError` with one line naming the value and what is expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scrapy.settings import BaseSettings


class ConfigError(ValueError):
    """Bad usage: a spider argument or setting a run cannot start with (exit status 2)."""


# name -> meaning, as `scrapy crawl hepza -a name=value` takes them.
SPIDER_ARGUMENTS: dict[str, str] = {
    "base_url": "crawl another copy of the site, an http(s) URL such as http://host:port",
    "full": "fetch every article again whatever the database holds (1/0, true/false, yes/no)",
    "since": "re-fetch every article published on or after that day (YYYY-MM-DD)",
}
# The generic `liferay` spider (and a profile's spider) also take these.
SITE_ARGUMENTS: dict[str, str] = {
    "site": "a site profile's name (crawler/sites/profiles/NAME.toml); `scrapy list` lists them",
    "timezone": "the zone of the portal's display dates, an IANA name such as Asia/Ho_Chi_Minh",
    "default_locale": "the locale of pages that do not say theirs, xx-YY such as en-US",
}
LIFERAY_ARGUMENTS: dict[str, str] = {**SPIDER_ARGUMENTS, **SITE_ARGUMENTS}
TRUE_WORDS = frozenset({"1", "true", "yes"})
FALSE_WORDS = frozenset({"0", "false", "no"})
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_SITE_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True)
class SpiderArguments:
    base_url: str | None = None
    full: bool = False
    since: date | None = None
    site: str | None = None
    timezone: str | None = None
    default_locale: str | None = None


def parse_base_url(value: str, name: str = "base_url") -> str:
    """An http(s) URL with a host and nothing after it, without its trailing slash."""
    parts = urlsplit(value.strip())
    try:
        has_host = bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number, or out of range
        has_host = False
    if parts.scheme.lower() not in {"http", "https"} or not has_host:
        raise ConfigError(
            f"{name}={value!r} is not a site URL: expected http(s)://host[:port], "
            "e.g. https://hepza.hochiminhcity.gov.vn"
        )
    path = parts.path.rstrip("/")
    if path or parts.query or parts.fragment:
        # The crawl's pages (robots.txt, sitemaps, the home page) hang off the origin: with a
        # path they would all be asked for under it, answer 404, and the portal be misjudged.
        extra = "a path" if path else "a query or fragment"
        raise ConfigError(
            f"{name}={value!r} has {extra}: expected http(s)://host[:port] alone; a portal whose "
            f"news lives under /web/<group>/ is crawled with the site profile field group"
            f"{_group_hint(path)} (crawler/sites/profiles/<name>.toml)"
        )
    return value.strip().rstrip("/")


def _group_hint(path: str) -> str:
    """`` = "x"`` when ``path`` is a Liferay site group's /web/x, else nothing."""
    match = re.fullmatch(r"/web/([^/]+)", path)
    return f' = "{match[1]}"' if match else ""


def parse_full(value: str) -> bool:
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"full={value!r} is not a yes/no word: expected 1/0, true/false or yes/no")


def parse_since(value: str) -> date:
    text = str(value).strip()
    try:
        if not _DAY.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"since={value!r} is not a day: since must be YYYY-MM-DD, e.g. since=2025-01-31"
        ) from None


def parse_spider_args(
    args: Mapping[str, object], known: Mapping[str, str] = SPIDER_ARGUMENTS
) -> SpiderArguments:
    """The spider's arguments; an unknown name or a bad value is a :class:`ConfigError`."""
    unknown = sorted(set(args) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown spider argument {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )
    values = {name: str(value) for name, value in args.items() if value is not None}
    timezone = values.get("timezone")
    if timezone is not None:
        parse_timezone(timezone, "timezone")
    return SpiderArguments(
        base_url=parse_base_url(values["base_url"]) if "base_url" in values else None,
        full=parse_full(values["full"]) if "full" in values else False,
        since=parse_since(values["since"]) if "since" in values else None,
        site=parse_site_name(values["site"]) if "site" in values else None,
        timezone=timezone,
        default_locale=(
            parse_locale(values["default_locale"], "default_locale")
            if "default_locale" in values
            else None
        ),
    )


def parse_site_name(value: str, name: str = "site") -> str:
    if not _SITE_NAME.fullmatch(value.strip()):
        raise ConfigError(
            f"{name}={value!r} is not a site name: expected a-z, 0-9 and '-', e.g. hepza"
        )
    return value.strip()


def parse_locale(value: str, name: str = "default_locale") -> str:
    """A locale as ``xx-YY`` (``vi_VN``, Liferay's own spelling, is read as ``vi-VN``)."""
    # crawler.locales owns locale ids; it raises this module's ConfigError, hence the late import.
    from crawler.locales import parse_locale as parse_locale_id  # noqa: PLC0415

    return parse_locale_id(value, name)


def parse_timezone(value: str, name: str = "SITE_TIMEZONE") -> ZoneInfo:
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{name}={value!r} is not a known time zone: expected an IANA name "
            "such as Asia/Ho_Chi_Minh"
        ) from None


# Numeric settings a person sets (-s or HEPZA_* environment): name -> (type, minimum, maximum
# or None). crawler/settings.py keeps environment values as strings so a bad one is reported here.
NUMERIC_SETTINGS: dict[str, tuple[type[int] | type[float], float, float | None]] = {
    "RECHECK_RECENT": (int, 0, None),
    "STORAGE_BATCH_SIZE": (int, 1, None),
    "PROGRESS_INTERVAL": (float, 0, None),
    "COVERAGE_MIN_ARTICLES": (int, 0, None),
    "MAX_ERROR_RATE": (float, 0, 1),
    "CONCURRENT_REQUESTS": (int, 1, None),
    "CONCURRENT_REQUESTS_PER_DOMAIN": (int, 1, None),
    "DOWNLOAD_DELAY": (float, 0, None),
    "DOWNLOAD_TIMEOUT": (float, 0, None),
    "DOWNLOAD_MAXSIZE": (int, 0, None),
    "RETRY_TIMES": (int, 0, None),
    "RETRY_BACKOFF_BASE": (float, 0, None),
    "RETRY_BACKOFF_MAX": (float, 0, None),
    "MAX_LISTING_PAGES": (int, 1, None),
    "MAX_LINK_DEPTH": (int, 1, None),
    "MAX_LINKS_PER_PAGE": (int, 1, None),
    "MAX_REQUESTS": (int, 0, None),
    "MAX_RUN_SECONDS": (float, 0, None),
    "KEEP_FEEDS": (int, 0, None),
    "KEEP_REPORTS": (int, 0, None),
    "KEEP_LOGS": (int, 1, None),
    "MAX_TITLE_CHARS": (int, 1, None),
    "MAX_SUMMARY_CHARS": (int, 1, None),
    "MAX_AUTHOR_CHARS": (int, 1, None),
    "MAX_CATEGORY_CHARS": (int, 1, None),
    "MAX_BODY_CHARS": (int, 1, None),
    "SITEMAP_MAXSIZE": (int, 0, None),
    "SITEMAP_MAX_QUEUED": (int, 0, None),
}
# Alerts (crawler/alerts.py): 0 is the default port of ALERT_SMTP_SECURITY, and switches the
# coverage-drop and no-new-articles alerts off.
NUMERIC_SETTINGS.update(
    {
        "ALERT_SMTP_PORT": (int, 0, 65535),
        "ALERT_TIMEOUT": (float, 0.1, None),
        "ALERT_COVERAGE_DROP": (float, 0, 1),
        "ALERT_NO_NEW_DAYS": (int, 0, None),
    }
)
# Cluster politeness (crawler/middlewares/host_limit.py); unset: the site's own values.
NUMERIC_SETTINGS.update(
    {
        "CLUSTER_HOST_CONCURRENCY": (int, 1, None),
        "CLUSTER_HOST_DELAY": (float, 0, None),
    }
)


def parse_number(name: str, value: object) -> float:
    kind, low, high = NUMERIC_SETTINGS[name]
    noun = "a whole number" if kind is int else "a number"
    bounds = f" from {low:g} to {high:g}" if high is not None else f" of at least {low:g}"
    try:
        number: float = kind(str(value).strip())
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not {noun}: expected {noun}{bounds}") from None
    if number < low or (high is not None and number > high):
        raise ConfigError(f"{name}={value!r} is out of range: expected {noun}{bounds}")
    return number


def check_numeric_settings(settings: BaseSettings) -> None:
    for name in NUMERIC_SETTINGS:
        value = settings.get(name)
        if value is not None:
            parse_number(name, value)


# Cluster mode (crawler/cluster/): the lease of a worker's requests, the bound on Redis retries.
NUMERIC_SETTINGS.update(
    {
        "CLUSTER_LEASE_SECONDS": (float, 1, None),
        "CLUSTER_REDIS_RETRY_SECONDS": (float, 0, None),
    }
)
# A host slot's lease (crawler/middlewares/host_limit.py), renewed while its request runs.
NUMERIC_SETTINGS.update({"CLUSTER_HOST_SLOT_SECONDS": (float, 1, None)})
# How long the site has to give its first answer (crawler/extensions/reachability.py); 0: no
# bound.
NUMERIC_SETTINGS.update({"REACHABILITY_TIMEOUT": (float, 0, None)})
