"""Everything the crawler knows about locales: locale ids, the locale of a page, and the words
and orders a locale prints dates with (month, weekday, AM/PM and time zone names).

Liferay writes a locale three ways: ``vi-VN`` (html lang, W3C), ``vi_VN`` (og:locale, its
language id) and a URL prefix (``/vi/``, ``/en-US/``). Names and orders are CLDR's (as the JDK
prints them with its CLDR locale data) plus the JDK's COMPAT forms Liferay 7.4 renders by
default; pipelines/dates.py reads dates with them.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from crawler.domain.errors import ConfigError

# --- locale ids -------------------------------------------------------------------------------

_LOCALE_ID = re.compile(r"(?P<lang>[A-Za-z]{2,3})[-_](?P<region>[A-Za-z]{2})")
_LOCALE_TAG = re.compile(
    r"(?P<lang>[A-Za-z]{2,3})(?:[-_](?P<script>[A-Za-z]{4}))?(?:[-_](?P<region>[A-Za-z]{2}|\d{3}))?"
)
# Liferay renders "lang" as a W3C id (vi-VN), og:locale as a language id (vi_VN).
_PAGE_LOCALE = re.compile(r"^([a-z]{2,3})(?:[-_]([A-Za-z]{2}))?$")
# A Liferay i18n path prefix: en, vi, en-US, en_US, vi-VN, zh-Hant-TW, fil-PH. Three-letter
# languages only with a region so that short layout names ("tin") are not taken for locales.
LOCALE_SEGMENT = re.compile(
    r"[a-z]{2}(?:[-_][A-Za-z]{4})?(?:[-_](?:[A-Za-z]{2}|\d{3}))?"
    r"|[a-z]{3}(?:[-_][A-Za-z]{4})?[-_](?:[A-Za-z]{2}|\d{3})"
)
# A page or URL naming only its language ("/en/") means the region the crawler reads dates for.
DEFAULT_REGIONS: dict[str, str] = {"en": "US", "vi": "VN"}


def parse_locale(value: str, name: str = "default_locale") -> str:
    """A locale a person gives (``vi-VN``, ``vi_VN``, ``VI-vn``) as ``xx-YY``; anything else
    is a one-line :class:`ConfigError`."""
    match = _LOCALE_ID.fullmatch(str(value).strip())
    if match is None:
        raise ConfigError(f"{name}={value!r} is not a locale: expected xx-YY, e.g. vi-VN or en-US")
    return f"{match['lang'].lower()}-{match['region'].upper()}"


def _format_locale(match: re.Match[str]) -> str:
    lang = match["lang"].lower()
    parts = [lang]
    if match["script"]:
        parts.append(match["script"].title())
    region = match["region"] or (None if match["script"] else DEFAULT_REGIONS.get(lang))
    if region:
        parts.append(region.upper())
    return "-".join(parts)


def locale_of(*hints: str | None) -> str | None:
    """The first hint that names a locale, as a W3C id; a hint is a locale id in any of
    Liferay's spellings, or a URL or path whose first segment is a locale prefix."""
    for hint in hints:
        tag = (hint or "").strip()
        if "/" in tag:
            # A URL or path: only a Liferay i18n prefix names a locale.
            tag = urlsplit(tag).path.lstrip("/").partition("/")[0]
            if not LOCALE_SEGMENT.fullmatch(tag):
                continue
        match = _LOCALE_TAG.fullmatch(tag)
        if match:
            return _format_locale(match)
    return None


def split_locale_prefix(path: str) -> tuple[str | None, str]:
    """A path's locale prefix (as written) and the path without it."""
    first, sep, rest = path.lstrip("/").partition("/")
    if first and LOCALE_SEGMENT.fullmatch(first):
        return first, "/" + rest if sep else "/"
    return None, path


def page_locale_of(html_lang: str | None, og_locale: str | None) -> str | None:
    """A page's locale as a W3C id (vi-VN, or the bare language when the page names no region),
    from html lang, then og:locale."""
    for raw in (html_lang, og_locale):
        if not raw:
            continue
        match = _PAGE_LOCALE.match(raw.strip())
        if match:
            lang, region = match.groups()
            return f"{lang}-{region.upper()}" if region else lang
    return None


def language(locale: str | None) -> str | None:
    resolved = locale_of(locale)
    return resolved.split("-")[0] if resolved else None


# --- what dates look like in each language ----------------------------------------------------

# How a numeric date orders day and month: "md" (1/18/23) or "dm" (18/1/23). A language missing
# here has no known order: the date normalizer refuses its numeric dates rather than guess.
NUMERIC_DATE_ORDER: dict[str, str] = {"en": "md", "vi": "dm"}

MONTH_NAMES: dict[str, int] = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6,
    "july": 7, "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8,
    "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
FULL_MONTH_NAMES = frozenset(
    {"january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"}
)  # fmt: skip
# Vietnamese months are numbered: "tháng 3" (MMMM), "thg 3" (CLDR MMM).
VI_MONTH_WORDS: dict[str, str] = {"tháng": "long", "thg": "medium"}

# Weekday (Monday = 0, as datetime.weekday()) by lower-case name, per language: CLDR wide and
# abbreviated names, and the JDK COMPAT spellings.
WEEKDAY_NAMES: dict[str, dict[str, int]] = {
    "en": {
        "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4,
        "saturday": 5, "sunday": 6,
        "mon": 0, "tue": 1, "tues": 1, "wed": 2, "thu": 3, "thur": 3, "thurs": 3, "fri": 4,
        "sat": 5, "sun": 6,
    },
    "vi": {
        "thứ hai": 0, "thứ ba": 1, "thứ tư": 2, "thứ năm": 3, "thứ sáu": 4, "thứ bảy": 5,
        "chủ nhật": 6,
        "th 2": 0, "th 3": 1, "th 4": 2, "th 5": 3, "th 6": 4, "th 7": 5, "cn": 6,
        "thứ 2": 0, "thứ 3": 1, "thứ 4": 2, "thứ 5": 3, "thứ 6": 4, "thứ 7": 5,
        "t2": 0, "t3": 1, "t4": 2, "t5": 3, "t6": 4, "t7": 5,
    },
}  # fmt: skip
WEEKDAYS: dict[str, tuple[str, int]] = {
    name: (lang, day) for lang, names in WEEKDAY_NAMES.items() for name, day in names.items()
}

# AM/PM words (lower case, dots removed) -> (language, is PM). vi_VN prints a 24-hour clock, but
# a portal that switched its pattern to "h:mm a" prints CLDR's SA/CH.
MERIDIEMS: dict[str, tuple[str, bool]] = {
    "am": ("en", False),
    "pm": ("en", True),
    "sa": ("vi", False),
    "ch": ("vi", True),
}

# Time zone names as CLDR prints them (pattern letters z/zzzz/vvvv) in English and Vietnamese,
# lower case, each to a fixed UTC offset ("+07:00") or, for a generic name that follows daylight
# saving time, to CLDR's reference IANA zone for it.
ZONE_NAMES: dict[str, str] = {
    "utc": "+00:00",
    "ut": "+00:00",
    "gmt": "+00:00",
    "coordinated universal time": "+00:00",
    "giờ phối hợp quốc tế": "+00:00",
    "greenwich mean time": "+00:00",
    "giờ trung bình greenwich": "+00:00",
    "indochina time": "+07:00",
    "giờ đông dương": "+07:00",
    "ict": "+07:00",
    "western indonesia time": "+07:00",
    "giờ miền tây indonesia": "+07:00",
    "wib": "+07:00",
    "china standard time": "+08:00",
    "giờ chuẩn trung quốc": "+08:00",
    "singapore standard time": "+08:00",
    "giờ singapore": "Asia/Singapore",
    "sgt": "+08:00",
    "malaysia time": "+08:00",
    "giờ malaysia": "+08:00",
    "myt": "+08:00",
    "philippine standard time": "+08:00",
    "giờ chuẩn philippin": "+08:00",
    "hong kong standard time": "+08:00",
    "giờ chuẩn hồng kông": "+08:00",
    "hkt": "+08:00",
    "japan standard time": "+09:00",
    "giờ chuẩn nhật bản": "+09:00",
    "jst": "+09:00",
    "korean standard time": "+09:00",
    "giờ chuẩn hàn quốc": "+09:00",
    "kst": "+09:00",
    "india standard time": "+05:30",
    "giờ chuẩn ấn độ": "+05:30",
    "australian eastern standard time": "+10:00",
    "giờ chuẩn miền đông australia": "+10:00",
    "aest": "+10:00",
    "australian eastern daylight time": "+11:00",
    "giờ mùa hè miền đông australia": "+11:00",
    "aedt": "+11:00",
    "australian eastern time": "Australia/Sydney",
    "giờ miền đông australia": "Australia/Sydney",
    "british summer time": "+01:00",
    "giờ mùa hè vương quốc anh": "+01:00",
    "british time": "Europe/London",
    "giờ vương quốc anh": "Europe/London",
    "central european standard time": "+01:00",
    "giờ chuẩn trung âu": "+01:00",
    "cet": "+01:00",
    "central european summer time": "+02:00",
    "giờ mùa hè trung âu": "+02:00",
    "cest": "+02:00",
    "central european time": "Europe/Paris",
    "giờ trung âu": "Europe/Paris",
    "eastern european standard time": "+02:00",
    "giờ chuẩn đông âu": "+02:00",
    "eet": "+02:00",
    "eastern european summer time": "+03:00",
    "giờ mùa hè đông âu": "+03:00",
    "eest": "+03:00",
    "eastern european time": "Europe/Bucharest",
    "giờ đông âu": "Europe/Bucharest",
    "eastern standard time": "-05:00",
    "giờ chuẩn miền đông": "-05:00",
    "eastern daylight time": "-04:00",
    "giờ mùa hè miền đông": "-04:00",
    "eastern time": "America/New_York",
    "giờ miền đông": "America/New_York",
    "central standard time": "-06:00",
    "giờ chuẩn miền trung": "-06:00",
    "central daylight time": "-05:00",
    "giờ mùa hè miền trung": "-05:00",
    "central time": "America/Chicago",
    "giờ miền trung": "America/Chicago",
    "mountain standard time": "-07:00",
    "giờ chuẩn miền núi": "-07:00",
    "mountain daylight time": "-06:00",
    "giờ mùa hè miền núi": "-06:00",
    "mountain time": "America/Denver",
    "giờ miền núi": "America/Denver",
    "pacific standard time": "-08:00",
    "giờ chuẩn thái bình dương": "-08:00",
    "pacific daylight time": "-07:00",
    "giờ mùa hè thái bình dương": "-07:00",
    "pacific time": "America/Los_Angeles",
    "giờ thái bình dương": "America/Los_Angeles",
}
# A single-zone country's generic name (CLDR vvvv prints "Vietnam Time" there), read with the
# zone's own history (Saigon kept +08:00 until 1975).
ZONE_NAMES.update(
    {
        "vietnam time": "Asia/Ho_Chi_Minh",
        "giờ việt nam": "Asia/Ho_Chi_Minh",
        "thailand time": "Asia/Bangkok",
        "giờ thái lan": "Asia/Bangkok",
        "china time": "Asia/Shanghai",
        "giờ trung quốc": "Asia/Shanghai",
        "singapore time": "Asia/Singapore",
        "india time": "Asia/Kolkata",
        "giờ ấn độ": "Asia/Kolkata",
        "japan time": "Asia/Tokyo",
        "giờ nhật bản": "Asia/Tokyo",
        "korean time": "Asia/Seoul",
        "giờ hàn quốc": "Asia/Seoul",
        "philippine time": "Asia/Manila",
        "giờ philippin": "Asia/Manila",
        "hong kong time": "Asia/Hong_Kong",
        "giờ hồng kông": "Asia/Hong_Kong",
    }
)
# Abbreviations that name different zones in different places (CST: China or US Central; IST:
# India, Ireland or Israel; BST, PST, MST, EST ...) are not in ZONE_NAMES: the date normalizer
# accepts one only when it is the site zone's own abbreviation at that time, never by guessing.
