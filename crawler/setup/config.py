"""Every value a person gives a run (spider arguments, settings), parsed in one place.

The spider and the ``scrapy crawl`` preflight (crawler/setup/preflight.py) both parse through these
functions, so what the preflight accepts is exactly what the spider runs with. A bad value
raises :class:`ConfigError` with one line naming the value and what is expected.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crawler.domain.errors import ConfigError
from crawler.domain.locales import parse_locale as parse_locale_id
from crawler.setup.paths import PROJECT_PRIORITY

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from scrapy.settings import BaseSettings


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
    "KEEP_ARCHIVES": (int, 0, None),
    "ARCHIVE_MAX_BYTES": (int, 1, None),
    "KEEP_LOGS": (int, 1, None),
    "MAX_TITLE_CHARS": (int, 1, None),
    "MAX_SUMMARY_CHARS": (int, 1, None),
    "MAX_AUTHOR_CHARS": (int, 1, None),
    "MAX_CATEGORY_CHARS": (int, 1, None),
    "MAX_BODY_CHARS": (int, 1, None),
    "SITEMAP_MAXSIZE": (int, 0, None),
    "SITEMAP_MAX_QUEUED": (int, 0, None),
}
# Alerts (crawler/ledger/alerts.py): 0 is the default port of ALERT_SMTP_SECURITY, and switches the
# coverage-drop and no-new-articles alerts off.
NUMERIC_SETTINGS.update(
    {
        "ALERT_SMTP_PORT": (int, 0, 65535),
        "ALERT_TIMEOUT": (float, 0.1, None),
        "ALERT_COVERAGE_DROP": (float, 0, 1),
        "ALERT_NO_NEW_DAYS": (int, 0, None),
    }
)
# Cluster politeness (crawler/cluster/host_limit.py); unset: the site's own values.
NUMERIC_SETTINGS.update(
    {
        "CLUSTER_HOST_CONCURRENCY": (int, 1, None),
        "CLUSTER_HOST_DELAY": (float, 0, None),
    }
)


def parse_number(name: str, value: object, shown: str | None = None) -> float:
    """``value`` as the number ``name`` takes; ``shown``: the name the person gave it under
    (its environment variable), in the error."""
    kind, low, high = NUMERIC_SETTINGS[name]
    shown = shown or name
    noun = "a whole number" if kind is int else "a number"
    if high is not None:
        bounds = f" from {low:g} to {high:g}"
    else:
        bounds = f" of at least {low:g}" if low > -math.inf else ""
    try:
        number: float = kind(str(value).strip())
    except ValueError:
        raise ConfigError(f"{shown}={value!r} is not {noun}: expected {noun}{bounds}") from None
    if not math.isfinite(number) or number < low or (high is not None and number > high):
        raise ConfigError(f"{shown}={value!r} is out of range: expected {noun}{bounds}")
    return number


def check_numeric_settings(settings: BaseSettings) -> None:
    for name in NUMERIC_SETTINGS:
        value = settings.get(name)
        if value is not None:
            parse_number(name, value, shown_name(settings, name))


# Cluster mode (crawler/cluster/): the lease of a worker's requests, the bound on Redis retries.
NUMERIC_SETTINGS.update(
    {
        "CLUSTER_LEASE_SECONDS": (float, 1, None),
        "CLUSTER_REDIS_RETRY_SECONDS": (float, 0, None),
        "CLUSTER_LEASE_BATCH": (int, 1, 1000),
        "CLUSTER_RETENTION_SECONDS": (float, 0, None),
    }
)
# A host slot's lease (crawler/cluster/host_limit.py), renewed while its request runs.
NUMERIC_SETTINGS.update({"CLUSTER_HOST_SLOT_SECONDS": (float, 1, None)})
# How long the site has to give its first answer (crawler/extensions/reachability.py); 0: no
# bound.
NUMERIC_SETTINGS.update({"REACHABILITY_TIMEOUT": (float, 0, None)})
# `scrapy search` (pipelines/storage/search.py): a search is always bounded in time.
NUMERIC_SETTINGS.update({"SEARCH_TIMEOUT_SECONDS": (float, 0.001, None)})


# --- every setting a person gives, checked by its type ------------------------------------------
# Scrapy's settings a person commonly passes with -s: numbers with their bounds. Any other
# Scrapy setting is checked by the type of its default (a yes/no, a number, a JSON object).
NUMERIC_SETTINGS.update(
    {
        "CONCURRENT_ITEMS": (int, 1, None),
        "DOWNLOAD_WARNSIZE": (int, 0, None),
        "DOWNLOAD_DELAY_JITTER": (float, 0, None),
        "DEPTH_LIMIT": (int, 0, None),
        "DEPTH_PRIORITY": (int, -math.inf, None),
        "CLOSESPIDER_TIMEOUT": (float, 0, None),
        "CLOSESPIDER_TIMEOUT_NO_ITEM": (float, 0, None),
        "CLOSESPIDER_ITEMCOUNT": (int, 0, None),
        "CLOSESPIDER_PAGECOUNT": (int, 0, None),
        "CLOSESPIDER_PAGECOUNT_NO_ITEM": (int, 0, None),
        "CLOSESPIDER_ERRORCOUNT": (int, 0, None),
        "AUTOTHROTTLE_START_DELAY": (float, 0, None),
        "AUTOTHROTTLE_MAX_DELAY": (float, 0, None),
        # Scrapy refuses a target of 0 or less (NotConfigured would switch throttling off).
        "AUTOTHROTTLE_TARGET_CONCURRENCY": (float, 0.01, None),
        "REDIRECT_MAX_TIMES": (int, 0, None),
        "RETRY_PRIORITY_ADJUST": (int, -math.inf, None),
        "REDIRECT_PRIORITY_ADJUST": (int, -math.inf, None),
        "DNS_TIMEOUT": (float, 0, None),
        "DNSCACHE_SIZE": (int, 0, None),
        "REACTOR_THREADPOOL_MAXSIZE": (int, 1, None),
        "URLLENGTH_LIMIT": (int, 0, None),
        "LOGSTATS_INTERVAL": (float, 0, None),
        "HTTPCACHE_EXPIRATION_SECS": (int, 0, None),
        "MEMUSAGE_LIMIT_MB": (int, 0, None),
        "MEMUSAGE_WARNING_MB": (int, 0, None),
        "MEMUSAGE_CHECK_INTERVAL_SECONDS": (float, 0, None),
        "FEED_EXPORT_BATCH_ITEM_COUNT": (int, 0, None),
        "STORAGE_RETRY_SECONDS": (float, 0, None),
        "PUBLISHED_AT_BULK_THRESHOLD": (int, 2, None),
        "CLUSTER_STATS_INTERVAL": (float, 0, None),
    }
)
# Read with getbool: Scrapy's words only (1/0, True/False, true/false).
BOOLEAN_SETTINGS = frozenset(
    {"RECORD_RUN", "TELNETCONSOLE_ENABLED", "SCRAPY_COMPAT_FALLBACK", "ARCHIVE_ENABLED"}
)
# Log levels: a name of Python's logging (upper case) or its number.
LOG_LEVEL_SETTINGS = frozenset(
    {"LOG_LEVEL", "RETRY_GIVE_UP_LOG_LEVEL", "DEFAULT_DROPITEM_LOG_LEVEL"}
)
# Scrapy's ordered components: {"dotted.path.Class": order or null}.
COMPONENT_SETTINGS = frozenset(
    {
        "DOWNLOADER_MIDDLEWARES",
        "SPIDER_MIDDLEWARES",
        "EXTENSIONS",
        "ITEM_PIPELINES",
        "ADDONS",
        "SPIDER_CONTRACTS",
    }
)
# Lists of HTTP statuses.
STATUS_LIST_SETTINGS = frozenset({"RETRY_HTTP_CODES", "HTTPERROR_ALLOWED_CODES"})
# The fields a run's coverage is judged on (COVERAGE_THRESHOLDS, a site profile's coverage).
COVERAGE_FIELDS = ("title", "published_at", "body_text", "author")

# setting -> the environment variable a deployment sets it with (crawler/settings.py,
# crawler/setup/paths.py): a bad value is reported under the name the operator set.
ENVIRONMENT_OVERRIDES: dict[str, str] = {
    "SITE_PROFILES_DIR": "HEPZA_SITE_PROFILES_DIR",
    "USER_AGENT": "HEPZA_USER_AGENT",
    "OUTPUT_DIR": "HEPZA_OUTPUT_DIR",
    "DATABASE_URL": "DATABASE_URL",
    "REPORTS_DIR": "HEPZA_REPORTS_DIR",
    "REJECTS_PATH": "HEPZA_REJECTS_PATH",
    "EXPORTS_DIR": "HEPZA_EXPORTS_DIR",
    "KEEP_FEEDS": "HEPZA_KEEP_FEEDS",
    "KEEP_REPORTS": "HEPZA_KEEP_REPORTS",
    "ARCHIVE_ENABLED": "HEPZA_ARCHIVE_ENABLED",
    "ARCHIVE_DIR": "HEPZA_ARCHIVE_DIR",
    "ARCHIVE_MAX_BYTES": "HEPZA_ARCHIVE_MAX_BYTES",
    "KEEP_ARCHIVES": "HEPZA_KEEP_ARCHIVES",
    "KEEP_LOGS": "HEPZA_KEEP_LOGS",
    "HEPZA_BASE_URL": "HEPZA_BASE_URL",
    "SITE_TIMEZONE": "HEPZA_SITE_TIMEZONE",
    "SITE_DEFAULT_LOCALE": "HEPZA_SITE_DEFAULT_LOCALE",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "HEPZA_CONCURRENCY",
    "DOWNLOAD_DELAY": "HEPZA_DOWNLOAD_DELAY",
    "MAX_LISTING_PAGES": "HEPZA_MAX_LISTING_PAGES",
    "MAX_LINK_DEPTH": "HEPZA_MAX_LINK_DEPTH",
    "MAX_LINKS_PER_PAGE": "HEPZA_MAX_LINKS_PER_PAGE",
    "MAX_REQUESTS": "HEPZA_MAX_REQUESTS",
    "MAX_RUN_SECONDS": "HEPZA_MAX_RUN_SECONDS",
    "RECHECK_RECENT": "HEPZA_RECHECK_RECENT",
    "PROGRESS_INTERVAL": "HEPZA_PROGRESS_INTERVAL",
    "SITEMAP_MAX_QUEUED": "HEPZA_SITEMAP_MAX_QUEUED",
    "STORAGE_BATCH_SIZE": "HEPZA_STORAGE_BATCH_SIZE",
    "STORAGE_RETRY_SECONDS": "HEPZA_STORAGE_RETRY_SECONDS",
    "PUBLISHED_AT_BULK_THRESHOLD": "HEPZA_PUBLISHED_AT_BULK_THRESHOLD",
    "REACHABILITY_TIMEOUT": "HEPZA_REACHABILITY_TIMEOUT",
    "SEARCH_TIMEOUT_SECONDS": "HEPZA_SEARCH_TIMEOUT_SECONDS",
    "SCRAPY_COMPAT_FALLBACK": "HEPZA_SCRAPY_COMPAT_FALLBACK",
    "LOG_LEVEL": "HEPZA_LOG_LEVEL",
    "ALERT_EMAIL_TO": "HEPZA_ALERT_EMAIL_TO",
    "ALERT_EMAIL_FROM": "HEPZA_ALERT_EMAIL_FROM",
    "ALERT_SMTP_HOST": "HEPZA_ALERT_SMTP_HOST",
    "ALERT_SMTP_PORT": "HEPZA_ALERT_SMTP_PORT",
    "ALERT_SMTP_SECURITY": "HEPZA_ALERT_SMTP_SECURITY",
    "ALERT_SMTP_USER": "HEPZA_ALERT_SMTP_USER",
    "ALERT_WEBHOOK_URL": "HEPZA_ALERT_WEBHOOK_URL",
    "ALERT_TIMEOUT": "HEPZA_ALERT_TIMEOUT",
    "ALERT_COVERAGE_DROP": "HEPZA_ALERT_COVERAGE_DROP",
    "ALERT_NO_NEW_DAYS": "HEPZA_ALERT_NO_NEW_DAYS",
    "CLUSTER_REDIS_URL": "HEPZA_CLUSTER_REDIS_URL",
    "CLUSTER_KEY_PREFIX": "HEPZA_CLUSTER_KEY_PREFIX",
    "CLUSTER_LEASE_SECONDS": "HEPZA_CLUSTER_LEASE_SECONDS",
    "CLUSTER_REDIS_RETRY_SECONDS": "HEPZA_CLUSTER_REDIS_RETRY_SECONDS",
    "CLUSTER_LEASE_BATCH": "HEPZA_CLUSTER_LEASE_BATCH",
    "CLUSTER_RETENTION_SECONDS": "HEPZA_CLUSTER_RETENTION_SECONDS",
    "CLUSTER_HOST_CONCURRENCY": "HEPZA_CLUSTER_HOST_CONCURRENCY",
    "CLUSTER_HOST_DELAY": "HEPZA_CLUSTER_HOST_DELAY",
    "CLUSTER_HOST_SLOT_SECONDS": "HEPZA_CLUSTER_HOST_SLOT_SECONDS",
}


def shown_name(settings: BaseSettings, name: str) -> str:
    """The name a setting's value was given under: its environment variable when the value
    came from there (the settings module read it), else the setting's own (``-s NAME=...``)."""
    env = ENVIRONMENT_OVERRIDES.get(name)
    if env is None or os.environ.get(env) is None:
        return name
    if (settings.getpriority(name) or 0) > PROJECT_PRIORITY:
        return name
    return env


def _json_object(shown: str, value: object, example: str) -> dict[Any, Any]:
    if hasattr(value, "copy_to_dict"):  # a BaseSettings (Scrapy keeps component dicts so)
        return dict(value.copy_to_dict())
    parsed = value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
    if not isinstance(parsed, dict):
        raise ConfigError(f"{shown}={_shown_value(value)} is not a JSON object: expected {example}")
    return parsed


def _shown_value(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _check_bool(shown: str, value: object) -> None:
    # Exactly BaseSettings.getbool: an int, or one of four words.
    if isinstance(value, bool | int):
        return
    try:
        int(str(value))
    except ValueError:
        if value not in {"True", "true", "False", "false"}:
            raise ConfigError(
                f"{shown}={value!r} is not a yes/no value: expected 1/0, True/False or true/false"
            ) from None


def _check_number(shown: str, value: object) -> None:
    if isinstance(value, bool):
        raise ConfigError(f"{shown}={value!r} is not a number")
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ConfigError(f"{shown}={value!r} is not a number: expected a number") from None
    if not math.isfinite(number):
        raise ConfigError(f"{shown}={value!r} is out of range: expected a finite number")


def _check_log_level(shown: str, value: object) -> None:
    if isinstance(value, int) or str(value) in logging.getLevelNamesMapping():
        return
    raise ConfigError(
        f"{shown}={value!r} is not a log level: expected CRITICAL, ERROR, WARNING, INFO or DEBUG"
    )


def _check_json_object(shown: str, value: object) -> None:
    _json_object(shown, value, '{"name": value, ...}')


def _check_components(shown: str, value: object) -> None:
    components = _json_object(shown, value, '{"package.module.Class": 500, ...}')
    for path, order in components.items():
        if order is not None and (isinstance(order, bool) or not isinstance(order, int | float)):
            raise ConfigError(
                f"{shown}: {path!r} has the order {order!r}: expected a number, or null to "
                "switch the component off"
            )


def _check_statuses(shown: str, value: object) -> None:
    if not value:
        return
    items: Iterable[object] = value.split(",") if isinstance(value, str) else value  # type: ignore[assignment]
    try:
        statuses = [int(str(item).strip()) for item in items]
    except (TypeError, ValueError):
        statuses = []
    if not statuses or any(not 100 <= status <= 599 for status in statuses):
        raise ConfigError(
            f"{shown}={_shown_value(value)} is not a list of HTTP statuses: expected e.g. 500,503"
        )


def _check_coverage(shown: str, value: object) -> None:
    thresholds = _json_object(shown, value, '{"title": 0.98, "body_text": 0.95}')
    for field, share in thresholds.items():
        if field not in COVERAGE_FIELDS:
            raise ConfigError(
                f"{shown}: {field!r} is not a field coverage is judged on: "
                f"expected keys among {', '.join(COVERAGE_FIELDS)}"
            )
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise ConfigError(
                f"{shown}: the share of {field!r} is {share!r}: expected a share from 0 to 1"
            )


def _check_feeds(shown: str, value: object) -> None:
    feeds = _json_object(shown, value, '{"out.jsonl": {"format": "jsonlines"}}')
    for uri, options in feeds.items():
        if not isinstance(options, dict) and not hasattr(options, "copy_to_dict"):
            raise ConfigError(
                f"{shown}: the feed {uri!r} has options {options!r}: expected an object "
                'such as {"format": "jsonlines"}'
            )


def _check_site_url(shown: str, value: object) -> None:
    parse_base_url(str(value), shown)


def _check_timezone(shown: str, value: object) -> None:
    parse_timezone(str(value), shown)


def _check_locale(shown: str, value: object) -> None:
    parse_locale(str(value), shown)


def _numeric_check(name: str) -> Callable[[str, object], None]:
    def check(shown: str, value: object) -> None:
        parse_number(name, value, shown)

    return check


def setting_checks() -> dict[str, Callable[[str, object], None]]:
    """setting -> its check (``check(shown_name, value)`` raises :class:`ConfigError`): the
    project's tables, then every other Scrapy setting by the type of its default."""
    # Scrapy only here: crawler.ops.cron imports this module and must stay quick to start.
    from scrapy.settings import default_settings  # noqa: PLC0415

    checks: dict[str, Callable[[str, object], None]] = {}
    for name in dir(default_settings):
        default = getattr(default_settings, name)
        if not name.isupper():
            continue
        if isinstance(default, bool):
            checks[name] = _check_bool
        elif isinstance(default, int | float):
            checks[name] = _check_number
        elif isinstance(default, dict):
            checks[name] = _check_json_object
    by_kind: list[tuple[frozenset[str], Callable[[str, object], None]]] = [
        (BOOLEAN_SETTINGS, _check_bool),
        (LOG_LEVEL_SETTINGS, _check_log_level),
        (COMPONENT_SETTINGS, _check_components),
        (STATUS_LIST_SETTINGS, _check_statuses),
        (frozenset({"COVERAGE_THRESHOLDS"}), _check_coverage),
        (frozenset({"FEEDS"}), _check_feeds),
        (frozenset({"HEPZA_BASE_URL"}), _check_site_url),
        (frozenset({"SITE_TIMEZONE"}), _check_timezone),
        (frozenset({"SITE_DEFAULT_LOCALE"}), _check_locale),
    ]
    for names, check in by_kind:
        checks.update(dict.fromkeys(names, check))
    for name in NUMERIC_SETTINGS:
        checks[name] = _numeric_check(name)
    # Scrapy's *_BASE dictionaries are its own defaults, never a person's.
    for name in [name for name in checks if name.endswith("_BASE")]:
        del checks[name]
    return checks


def check_settings(settings: BaseSettings) -> None:
    """Every setting with a known type, each named as the person gave it; the first bad one
    raises :class:`ConfigError`."""
    for name, check in setting_checks().items():
        value = settings.get(name)
        if value is not None:
            check(shown_name(settings, name), value)
