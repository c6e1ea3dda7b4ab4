"""Every date rule of the crawler: display dates as Liferay renders them, machine dates, and the
choice of published_at / modified_at among what the page and its listings showed, and the day of
the event an article's lead opens with (:func:`event_date_of_lead`).

Display forms are those of ``FastDateFormatFactoryUtil`` under the JDK's COMPAT and CLDR locale
data for en_US and vi_VN (reference: liferay.md §3), every CLDR style from SHORT to FULL
(tests/test_dates_cldr.py checks them against Babel). A numeric d/m date is read in the order its
locale dictates and never guessed from the digits. A zone printed after the time (``+0700``,
``GMT+7``, ``UTC``, ``Indochina Time``, ``Giờ Đông Dương``) wins over the site's zone; a zone
name without a known offset is refused, never read as the site's zone. The words and orders of
each locale live in crawler/domain/locales.py. The pipeline that applies them to an article is
pipelines/dates.py.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from crawler.domain.locales import (
    FULL_MONTH_NAMES,
    MERIDIEMS,
    MONTH_NAMES,
    NUMERIC_DATE_ORDER,
    VI_MONTH_WORDS,
    WEEKDAYS,
    ZONE_NAMES,
    locale_of,
)
from crawler.domain.text import normalize_text

if TYPE_CHECKING:
    from collections.abc import Iterable


PARSE_ERROR_CODES = frozenset(
    {"unparseable_date", "ambiguous_date", "unknown_locale", "unknown_timezone"}
)

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
DEFAULT_LOCALE = "vi-VN"


@dataclass(frozen=True)
class ParsedDate:
    value: datetime
    has_time: bool
    pattern: str


class DateParseError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def format_iso(dt: datetime) -> str:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt!r} has no offset to print")
    return dt.isoformat(timespec="seconds")


# --- display dates --------------------------------------------------------------------------

# Labels Liferay and Vietnamese portals put before a listing date; what they say about the
# locale is kept as a hint. Text before the first digit or month name is dropped in any case.
DATE_LABELS: dict[str, str] = {
    "published on": "en",
    "published": "en",
    "posted on": "en",
    "posted": "en",
    "last updated": "en",
    "updated on": "en",
    "updated": "en",
    "last modified": "en",
    "modified": "en",
    "ngày đăng": "vi",
    "đăng ngày": "vi",
    "đăng lúc": "vi",
    "ngày cập nhật": "vi",
    "cập nhật lúc": "vi",
    "cập nhật ngày": "vi",
    "cập nhật": "vi",
    "ngày xuất bản": "vi",
    "xuất bản": "vi",
    "thời gian": "vi",
}


def _alternatives(words: Iterable[str]) -> str:
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


_MONTH = _alternatives(MONTH_NAMES)
_WEEKDAY = _alternatives(WEEKDAYS)
_MERIDIEM = "|".join(r"\.?".join(word) + r"\.?" for word in MERIDIEMS)
_LABEL = re.compile(rf"(?P<label>{_alternatives(DATE_LABELS)})\s*[:\-–]?\s*")
_DATE_START = re.compile(rf"\d|\b(?:{_MONTH})\b")
# A weekday before the date is read (and checked against the date) when the date follows it.
_WEEKDAY_OR_DATE_START = re.compile(rf"\d|\b(?:{_MONTH}|{_WEEKDAY})\b")
_VI_WORDS = re.compile(r"\b(?:ngày|tháng|năm|lúc)\b")
# What may follow a time as its zone: an offset (+0700, GMT+7, UTC+07:00), a zone name as CLDR
# words it ("Indochina Time", "Giờ Đông Dương") or an abbreviation (UTC, ICT).
_ZONE = (
    r"(?:gmt|utc|ut)?\s?[+-]\d{1,2}(?::?\d{2})?"
    r"|(?:[^\W\d_]+\s+){0,5}?time"
    r"|giờ(?:\s+[^\W\d_]+){0,6}?"
    r"|[a-z]{2,5}"
)
_OFFSET = re.compile(r"(?:gmt|utc|ut)?\s?(?P<sign>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?")
_ABBREVIATION = re.compile(r"[a-z]{2,5}")


def _time(n: int) -> str:
    # The zone is tried last (lazy): "17:48 ngày 04/02/2026" has no zone called "ngày".
    return (
        rf"(?P<h{n}>\d{{1,2}}):(?P<mi{n}>\d{{2}})(?::(?P<s{n}>\d{{2}}))?"
        rf"(?:\s?(?P<ap{n}>{_MERIDIEM}))?"
        rf"(?:\s*(?P<z{n}>{_ZONE}))??"
    )


def _sep(n: int) -> str:
    return rf"(?P<sep{n}>\s*[,|]\s*|\s+-\s+|\s+(?:lúc|at)\s+|\s+)"


_NUMERIC = r"(?P<n1>\d{1,2})(?P<nsep>[/.\-])(?P<n2>\d{1,2})(?P=nsep)(?P<ny>\d{4}|\d{2})"
_VI_MONTH_WORD = _alternatives(VI_MONTH_WORDS)
_VI_LONG = (
    rf"(?P<vd>\d{{1,2}})\s+(?P<vw>{_VI_MONTH_WORD})\s+(?P<vm>\d{{1,2}})"
    r"(?P<vsep>\s+năm\s+|\s*,\s*|\s+)(?P<vy>\d{4})"
)
_EN_MONTH_FIRST = rf"(?P<em>{_MONTH})\.?\s+(?P<ed>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<ey>\d{{4}})"
_EN_DAY_FIRST = rf"(?P<fd>\d{{1,2}})\s+(?P<fm>{_MONTH})\.?,?\s+(?P<fy>\d{{4}})"
_DISPLAY_FORM = re.compile(
    rf"(?:{_time(1)}{_sep(1)})?"
    rf"(?:(?P<wd>{_WEEKDAY})\.?\s*,?\s*)?"
    rf"(?:(?:ngày\s+)?(?:{_NUMERIC}|{_VI_LONG})|{_EN_MONTH_FIRST}|{_EN_DAY_FIRST})"
    rf"(?:{_sep(2)}{_time(2)})?"
)


def _two_digit_year(yy: int, now: datetime) -> int:
    # java.text.SimpleDateFormat: the century that puts the year within 80 years before and
    # 20 years after now (at year precision).
    start = now.year - 80
    year = start - start % 100 + yy
    return year + 100 if year < start else year


def _meridiem(match: re.Match[str], n: int) -> tuple[str, bool] | None:
    word = match[f"ap{n}"]
    return MERIDIEMS[word.replace(".", "")] if word else None


def _form_locales(
    match: re.Match[str], label_locale: str | None, vietnamese_words: bool
) -> set[str]:
    hints: set[str] = set()
    if label_locale:
        hints.add(label_locale)
    for n in (1, 2):
        meridiem = _meridiem(match, n)
        if meridiem:
            hints.add(meridiem[0])
    if match["em"] or match["fm"]:
        hints.add("en")
    if match["wd"]:
        hints.add(WEEKDAYS[match["wd"]][0])
    if match["vd"] or vietnamese_words:
        hints.add("vi")
    # Only Vietnamese puts a 24-hour time before the date (COMPAT "HH:mm dd/MM/yyyy").
    if match["h1"] and not match["ap1"]:
        hints.add("vi")
    return hints


def _provider(separator: str | None) -> str:
    # CLDR data put a comma between date and time; COMPAT (JRE) data do not.
    return "cldr" if separator and "," in separator else "compat"


# SHORT is d/M/y in both locales; vi_VN MEDIUM under COMPAT is dd-MM-yyyy.
_NUMERIC_DATE_STYLES = {"/": "short", "-": "medium"}


def _time_style(match: re.Match[str], n: int) -> str:
    # Java's styles: SHORT h:mm, MEDIUM h:mm:ss, LONG adds the zone (z), FULL its name (zzzz).
    zone = match[f"z{n}"]
    if zone:
        return "full" if " " in zone else "long"
    return "medium" if match[f"s{n}"] else "short"


def _pattern_name(lang: str, match: re.Match[str]) -> str:
    time_first = match["h1"] is not None
    has_time = time_first or match["h2"] is not None
    separator = match["sep1"] if time_first else match["sep2"]
    time_style = f"_{_time_style(match, 1 if time_first else 2)}" if has_time else ""
    if match["n1"]:
        if not has_time:
            return f"{lang}.{_NUMERIC_DATE_STYLES.get(match['nsep'], 'dotted')}"
        liferay_order = (lang == "vi" and time_first) or (lang == "en" and not time_first)
        if liferay_order:
            return f"{lang}.{_provider(separator)}.short{time_style}"
        return f"{lang}.{'time_date' if time_first else 'date_time'}"
    if match["vd"]:
        provider = "compat" if "năm" in match["vsep"] else "cldr"
        style = "full" if match["wd"] else VI_MONTH_WORDS[match["vw"]]
        return f"vi.{provider}.{style}{time_style}"
    if match["em"]:
        style = "full" if match["wd"] else "long" if match["em"] in FULL_MONTH_NAMES else "medium"
        if has_time:
            return f"en.{_provider(separator)}.{style}{time_style}"
        return f"en.{style}"
    return "en.day_month_year" + (".time" if has_time else "")


def _date_order_language(hints: set[str], locale: str | None, raw: str) -> str:
    # The form's own evidence wins over the page locale: Liferay never prints AM/PM for vi_VN
    # nor a time before the date for en_US.
    if len(hints) == 1:
        return next(iter(hints))
    resolved = locale_of(locale)
    if resolved is None:
        raise DateParseError("ambiguous_date", f"{raw!r}: day/month order unknown without a locale")
    lang = resolved.split("-")[0]
    if lang not in NUMERIC_DATE_ORDER:
        raise DateParseError("unknown_locale", f"{raw!r}: no date order known for {resolved}")
    return lang


def _clock_time(match: re.Match[str], raw: str) -> tuple[int, int, int] | None:
    n = 1 if match["h1"] is not None else 2 if match["h2"] is not None else 0
    if not n:
        return None
    hour, minute = int(match[f"h{n}"]), int(match[f"mi{n}"])
    second = int(match[f"s{n}"] or 0)
    meridiem = _meridiem(match, n)
    if meridiem:
        if not 1 <= hour <= 12:
            raise DateParseError("unparseable_date", f"{raw!r}: hour {hour} with AM/PM")
        hour = hour % 12 + (12 if meridiem[1] else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise DateParseError("unparseable_date", f"{raw!r}: impossible time")
    return hour, minute, second


def _fixed_offset(text: str) -> tzinfo | None:
    match = _OFFSET.fullmatch(text)
    if match is None:
        return None
    hours, minutes = int(match["h"]), int(match["m"] or 0)
    if hours > 23 or minutes > 59:
        return None
    sign = -1 if match["sign"] == "-" else 1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _in_printed_zone(name: str, wall: datetime, raw: str) -> datetime:
    """The instant of ``wall`` (a wall time in the site's zone) read in the zone printed after
    its time, which wins over the site's zone."""
    name = " ".join(name.split())
    if _OFFSET.fullmatch(name):
        offset = _fixed_offset(name)
        if offset is None:
            raise DateParseError("unparseable_date", f"{raw!r}: impossible UTC offset {name!r}")
        return wall.replace(tzinfo=offset)
    known = ZONE_NAMES.get(name)
    if known is not None:
        return wall.replace(tzinfo=_fixed_offset(known) or ZoneInfo(known))
    # An abbreviation that names zones in several places (EST, CST, IST) is only taken when it
    # is the site zone's own at that time: EST on an America/New_York portal. It also tells
    # which of the two 1:30 AM of a DST end was meant.
    for fold in (0, 1):
        candidate = wall.replace(fold=fold)
        if (candidate.tzname() or "").lower() == name:
            return candidate
    if _ABBREVIATION.fullmatch(name) and name.upper() not in normalize_text(raw):
        # A lower-case word after a time is no zone abbreviation, only a form we do not know.
        raise DateParseError("unparseable_date", f"{raw!r}: matches no supported date form")
    raise DateParseError(
        "unknown_timezone",
        f"{raw!r}: the time zone {name!r} is not one the crawler can name an offset for",
    )


def _match_display_form(text: str) -> re.Match[str] | None:
    for start_pattern in (_WEEKDAY_OR_DATE_START, _DATE_START):
        start = start_pattern.search(text)
        if start is None:
            continue
        match = _DISPLAY_FORM.fullmatch(text[start.start() :])
        if match is not None:
            return match
    return None


def parse_display_date(
    raw: str, locale: str | None, tz: tzinfo, *, now: datetime | None = None
) -> ParsedDate:
    text = normalize_text(raw).lower()
    # Looked for before the noise in front of the date is cut: "Ngày 01/02/2023" is Vietnamese.
    vietnamese_words = _VI_WORDS.search(text) is not None
    label_locale = None
    label = _LABEL.match(text)
    if label:
        label_locale = DATE_LABELS[label["label"]]
        text = text[label.end() :]
    if _DATE_START.search(text) is None:
        raise DateParseError("unparseable_date", f"{raw!r}: no date in it")
    match = _match_display_form(text.rstrip(" .,;|-"))
    if match is None or (match["h1"] and match["h2"]):
        raise DateParseError("unparseable_date", f"{raw!r}: matches no supported date form")

    hints = _form_locales(match, label_locale, vietnamese_words)
    lang = "en" if (match["em"] or match["fm"]) else "vi" if match["vd"] else ""
    if match["n1"]:
        lang = _date_order_language(hints, locale, raw)
        first, second = int(match["n1"]), int(match["n2"])
        month_first = NUMERIC_DATE_ORDER[lang] == "md"
        month, day = (first, second) if month_first else (second, first)
        year = int(match["ny"])
        if len(match["ny"]) == 2:
            year = _two_digit_year(year, now or datetime.now(tz))
    elif match["vd"]:
        day, month, year = int(match["vd"]), int(match["vm"]), int(match["vy"])
    elif match["em"]:
        day, month, year = int(match["ed"]), MONTH_NAMES[match["em"]], int(match["ey"])
    else:
        day, month, year = int(match["fd"]), MONTH_NAMES[match["fm"]], int(match["fy"])

    clock = _clock_time(match, raw)
    hour, minute, second = clock or (0, 0, 0)
    try:
        value = datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError as exc:
        raise DateParseError("unparseable_date", f"{raw!r}: {exc}") from None
    if match["wd"] and WEEKDAYS[match["wd"]][1] != value.weekday():
        raise DateParseError(
            "unparseable_date", f"{raw!r}: {value.date()} is a {value:%A}, not {match['wd']!r}"
        )
    # A printed offset or zone name wins over the site's zone.
    zone_name = match["z1"] or match["z2"]
    if zone_name:
        value = _in_printed_zone(zone_name, value, raw).astimezone(tz)
    return ParsedDate(value=value, has_time=clock is not None, pattern=_pattern_name(lang, match))


# --- machine dates --------------------------------------------------------------------------

_ISO_8601 = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<frac>\d+))?)?"
    r"\s*(?P<off>Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?)?",
    re.IGNORECASE,
)
_RFC_2822 = re.compile(
    r"(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{1,2}:\d{2}(?::\d{2})?\s*\S*"
)


def looks_machine(raw: str) -> bool:
    raw = raw.strip()
    return bool(_ISO_8601.fullmatch(raw) or _RFC_2822.fullmatch(raw))


def _offset(text: str, raw: str) -> tzinfo:
    if text.upper() == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    # Seconds appear only in historical local-mean-time offsets, as Python prints them.
    hours, minutes, seconds = int(digits[:2]), int(digits[2:4] or 0), int(digits[4:6] or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise DateParseError("unparseable_date", f"{raw!r}: impossible UTC offset")
    return timezone(sign * timedelta(hours=hours, minutes=minutes, seconds=seconds))


def parse_machine_date(raw: str, tz: tzinfo) -> ParsedDate:
    text = raw.strip()
    match = _ISO_8601.fullmatch(text)
    if match is None:
        if _RFC_2822.fullmatch(text):
            return _parse_rfc_2822(text, raw, tz)
        raise DateParseError("unparseable_date", f"{raw!r}: not an ISO 8601 or RFC 2822 date")
    has_time = match["h"] is not None
    zone = _offset(match["off"], raw) if match["off"] else tz
    micro = int((match["frac"] or "0")[:6].ljust(6, "0"))
    try:
        value = datetime(
            int(match["y"]),
            int(match["mo"]),
            int(match["d"]),
            int(match["h"] or 0),
            int(match["mi"] or 0),
            int(match["s"] or 0),
            micro,
            tzinfo=zone,
        )
    except ValueError as exc:
        raise DateParseError("unparseable_date", f"{raw!r}: {exc}") from None
    pattern = "iso8601" if match["off"] else "iso8601.local" if has_time else "iso8601.date"
    return ParsedDate(value=value.astimezone(tz), has_time=has_time, pattern=pattern)


def _parse_rfc_2822(text: str, raw: str, tz: tzinfo) -> ParsedDate:
    try:
        value = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        raise DateParseError("unparseable_date", f"{raw!r}: bad RFC 2822 date") from None
    if value.tzinfo is None:
        # RFC 2822 "-0000": UTC with no claim about the local zone.
        value = value.replace(tzinfo=UTC)
    return ParsedDate(value=value.astimezone(tz), has_time=True, pattern="rfc2822")


# --- the pipeline ---------------------------------------------------------------------------


# --- the event day a lead opens with ------------------------------------------------------------

# Where an event_date came from.
EVENT_DATE_SOURCES: tuple[str, ...] = ("lead",)
# How far back a year-less 29/2 is looked for (a leap day is at most 8 years away).
_LEAP_SEARCH_YEARS = 8

# A dateline before the lead ("(HEPZA) - ", "TP.HCM – "): a few words, then a dash.
_DATELINE = r"(?:\(?[^\W\d_][\w.]*(?:\s[^\W\d_][\w.]*){0,3}\)?\s*[-–—]\s*)?"
# A first sentence that says what will happen announces the day; it did not happen yet.
_FUTURE = re.compile(r"\b(?:sẽ|dự\s+kiến|sắp|will|is\s+to\s+be|is\s+scheduled)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_VI_PART_OF_DAY = r"(?:sáng\s+sớm|rạng\s+sáng|chiều\s+tối|sáng|trưa|chiều|tối|đêm|khuya)"
_VI_WEEKDAY = r"(?:thứ\s+(?:hai|ba|tư|năm|sáu|bảy|[2-7])|chủ\s+nhật)"
# "Lúc 9 giờ 30," "Vào lúc 14h ngày ..."
_VI_CLOCK = r"(?:(?:vào\s+)?lúc\s+\d{1,2}\s*(?:giờ|g|h)(?:\s*\d{1,2}(?:\s*phút)?)?\s*,?\s+)"
# "Ngày", "Sáng", "Chiều ngày", "Sáng nay", "Tối thứ Bảy," "Hôm qua": at least one of them
# must come before the day (a bare "3/4 doanh nghiệp" is a fraction, not a date).
_VI_OPENING = (
    rf"{_VI_CLOCK}?(?:vào\s+)?"
    rf"(?:(?:{_VI_PART_OF_DAY}(?:\s+(?:nay|qua|hôm\s+nay|hôm\s+qua))?"
    rf"(?:\s*,?\s+{_VI_WEEKDAY})?(?:\s*,?\s+ngày)?)"
    rf"|(?:hôm\s+(?:nay|qua))"
    rf"|(?:{_VI_WEEKDAY}(?:\s*,?\s+ngày)?)"
    rf"|ngày)"
)
# 12/10, 12-10, 12.10, 12/10/2022, a range 12-13/10 or 12 và 13/10 (its first day), and
# "12 tháng 10 (năm 2022)". The month is not followed by a digit: 12-10-2022 is not 12-10 + 20.
_VI_DAY = (
    r"(?P<d>\d{1,2})(?:\s*(?:-|–|và)\s*\d{1,2})?"
    r"(?:(?P<sep>[/.\-])(?P<m>\d{1,2})(?!\d)(?:(?P=sep)(?P<y>\d{4}|\d{2})(?!\d))?"
    r"|\s+tháng\s+(?P<wm>\d{1,2})(?!\d)(?:\s*(?:năm|,)\s*(?P<wy>\d{4})(?!\d))?)"
)
# What may follow the day: the lead goes on ("," ":" " - "), "vừa qua", or the place.
_VI_AFTER = r"\s*(?:,|:|\s[-–—]\s|\s+(?:vừa\s+qua|vừa\s+rồi|vừa\s+diễn\s+ra)\b|\s+(?:tại|ở)\s)"
_VI_LEAD = re.compile(
    rf"{_DATELINE}{_VI_OPENING}\s*\(?\s*{_VI_DAY}\s*\)?{_VI_AFTER}", re.IGNORECASE
)
_EN_MONTH = _alternatives(MONTH_NAMES)
_EN_WEEKDAY = _alternatives(n for n, (lang, _) in WEEKDAYS.items() if lang == "en")
_EN_LEAD = re.compile(
    rf"{_DATELINE}on\s+(?:the\s+(?:morning|afternoon|evening|night)\s+of\s+)?"
    rf"(?:(?:{_EN_WEEKDAY})\s*,?\s+)?"
    rf"(?:(?P<em>{_EN_MONTH})\.?\s+(?P<ed>\d{{1,2}})(?:st|nd|rd|th)?"
    rf"|(?:the\s+)?(?P<fd>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<fm>{_EN_MONTH})\.?)"
    rf"(?!\d)(?:\s*,?\s*(?P<y>\d{{4}})(?!\d))?\s*,",
    re.IGNORECASE,
)


def _latest_on_or_before(day: int, month: int, last: date) -> date | None:
    """The latest ``day``/``month`` on or before ``last``; None when there is no such day."""
    for year in range(last.year, last.year - _LEAP_SEARCH_YEARS - 1, -1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            if not (1 <= month <= 12 and 1 <= day <= 31):
                return None
            continue
        if candidate <= last:
            return candidate
    return None


def _announces(text: str) -> bool:
    end = _SENTENCE_END.search(text)
    return _FUTURE.search(text[: end.start() if end else len(text)]) is not None


def event_date_of_lead(lead: str | None, display_day: date | None) -> date | None:
    """The day of the event ``lead`` opens with, as Vietnamese news writes it ("Ngày 12/10,",
    "Sáng 17/5,", "Chiều ngày 8/3,", "Tối 12-10,", "Ngày 12 tháng 10,", each with or without
    a year; "On October 12," on an English page); None when the lead does not open with one.

    A day without a year is the latest such day on or before ``display_day`` (the page's own
    date): "Ngày 30/12," displayed on 2 January 2024 is 2023-12-30; without a display day it
    is None, never a guess. A date later than the display day is an announcement, not an
    event day: None, as is a first sentence that says what will happen ("sẽ", "dự kiến",
    "will"). Only the opening counts: "Kể từ ngày 15/8/2022, ..." (from that day on),
    "Theo báo cáo ..." and dates further in are not the event's day.
    """
    if not lead:
        return None
    text = " ".join(unicodedata.normalize("NFC", lead).replace("\u00a0", " ").split())
    match = _VI_LEAD.match(text)
    if match is not None and _announces(text):
        return None
    if match is not None:
        day = int(match["d"])
        month = int(match["m"] or match["wm"])
        year_text = match["y"] or match["wy"]
    else:
        match = _EN_LEAD.match(text)
        if match is None or _announces(text):
            return None
        day = int(match["ed"] or match["fd"])
        month = MONTH_NAMES[(match["em"] or match["fm"]).lower()]
        year_text = match["y"]
    if year_text is None:
        return _latest_on_or_before(day, month, display_day) if display_day else None
    year = int(year_text)
    if len(year_text) == 2:
        year += 2000
    try:
        value = date(year, month, day)
    except ValueError:
        return None
    if display_day is not None and value > display_day:
        return None
    return value
