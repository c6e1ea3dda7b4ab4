"""Display-date strings as Liferay renders them (reference §3), per locale and JDK provider."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SITE_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

# "compat": JDK 8 or JRE,COMPAT,CLDR (what HEPZA shows); "cldr17": CLDR on JDK 11-19;
# "cldr20": CLDR on JDK 20+ (U+202F before AM/PM, two-digit Vietnamese years).
DATE_STYLES: tuple[str, ...] = ("compat", "cldr17", "cldr20")

EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _en_time(dt: datetime, space: str = " ") -> str:
    hour = dt.hour % 12 or 12
    return f"{hour}:{dt.minute:02d}{space}{'AM' if dt.hour < 12 else 'PM'}"


def short_short(dt: datetime, locale: str, style: str = "compat") -> str:
    """DateTime SHORT,SHORT: the display-page date fragment."""
    dt = dt.astimezone(SITE_TZ)
    yy = f"{dt.year % 100:02d}"
    if locale == "en-US":
        date = f"{dt.month}/{dt.day}/{yy}"
        if style == "compat":
            return f"{date} {_en_time(dt)}"
        if style == "cldr17":
            return f"{date}, {_en_time(dt)}"
        return f"{date}, {_en_time(dt, chr(0x202F))}"
    hm = f"{dt.hour:02d}:{dt.minute:02d}"
    if style == "compat":
        return f"{hm} {dt.day:02d}/{dt.month:02d}/{dt.year}"
    if style == "cldr17":
        return f"{hm}, {dt.day:02d}/{dt.month:02d}/{dt.year}"
    return f"{hm} {dt.day}/{dt.month}/{yy}"


def short_date(dt: datetime, locale: str) -> str:
    """Date SHORT under COMPAT: the Asset Publisher abstracts date."""
    dt = dt.astimezone(SITE_TZ)
    if locale == "en-US":
        return f"{dt.month}/{dt.day}/{dt.year % 100:02d}"
    return f"{dt.day:02d}/{dt.month:02d}/{dt.year}"


def long_short(dt: datetime, locale: str) -> str:
    """DateTime LONG,SHORT under COMPAT: the Asset Publisher 7.4 title list date."""
    dt = dt.astimezone(SITE_TZ)
    if locale == "en-US":
        return f"{EN_MONTHS[dt.month - 1]} {dt.day}, {dt.year} {_en_time(dt)}"
    return f"{dt.hour:02d}:{dt.minute:02d} Ngày {dt.day} tháng {dt.month} năm {dt.year}"


def iso_offset(dt: datetime) -> str:
    """Truth form: local time with +07:00."""
    return dt.astimezone(SITE_TZ).isoformat(timespec="seconds")


def sitemap_lastmod(dt: datetime) -> str:
    """DateUtil ISO_8601_PATTERN on a JVM running in GMT: 2023-01-18T10:48:00+0000."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def atom_date(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)
