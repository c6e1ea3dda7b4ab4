"""Babel's CLDR data as an independent oracle for the date normalizer.

A Liferay portal running on the JDK's CLDR locale data prints dates as CLDR says; Babel formats
from the same data with code nobody here wrote. Every instant below is formatted by Babel in
every style of both locales and must parse back to the exact instant (or day).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date, format_datetime, get_time_format
from scrapy.utils.test import get_crawler

from crawler.domain.dates import DateParseError, parse_display_date
from crawler.domain.items import ArticleItem, DateCandidate
from pipelines.dates import PROBLEM_CODES, DateNormalizationPipeline

SEED = 20200301
INSTANTS = 400
LOCALES = ("en_US", "vi_VN")
STYLES = ("short", "medium", "long", "full")
SITE_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# Two-digit years ("M/d/yy") resolve within 80 years before and 20 after this.
NOW = datetime(2030, 6, 1, tzinfo=UTC)
# Display zones a portal may run in. Forms without a printed zone are only checked in zones
# without daylight saving time: a wall time the clocks show twice names no single instant.
PLAIN_ZONES = (SITE_TZ, ZoneInfo("UTC"), ZoneInfo("Asia/Tokyo"), ZoneInfo("Asia/Kolkata"))
# Forms that print their zone: (zone the date is printed in, the site zone it is parsed with).
# The printed zone must win over a site zone that differs from it. America's abbreviations
# (EST, CST, PST) name other zones elsewhere too: only a portal in that zone vouches for them.
PRINTED_ZONES: tuple[tuple[ZoneInfo, ZoneInfo], ...] = (
    (SITE_TZ, ZoneInfo("UTC")),
    (ZoneInfo("UTC"), SITE_TZ),
    (ZoneInfo("Europe/London"), SITE_TZ),
    (ZoneInfo("Europe/Paris"), SITE_TZ),
    (ZoneInfo("Asia/Tokyo"), SITE_TZ),
    (ZoneInfo("Asia/Singapore"), SITE_TZ),
    (ZoneInfo("Asia/Bangkok"), ZoneInfo("UTC")),
    (ZoneInfo("Asia/Kolkata"), SITE_TZ),
    (ZoneInfo("America/New_York"), ZoneInfo("America/New_York")),
    (ZoneInfo("America/Los_Angeles"), ZoneInfo("America/Los_Angeles")),
)


def _instants() -> list[datetime]:
    # The years a Liferay portal dates its news in. A zone name says the offset its zones keep
    # today: before 1982 some of them kept another (Singapore +07:30, Saigon +08:00).
    rng = random.Random(SEED)
    low = datetime(1990, 1, 1, tzinfo=UTC)
    span = int((datetime(2039, 12, 31, tzinfo=UTC) - low).total_seconds())
    return [low + timedelta(seconds=rng.randrange(span)) for _ in range(INSTANTS)]


@dataclass(frozen=True)
class Case:
    raw: str
    expected: datetime  # the instant, to the precision the form prints
    site_tz: tzinfo


def _cases(locale: str, style: str, kind: str) -> list[Case]:
    cases = []
    with_seconds = "s" in get_time_format(style, locale=locale).pattern
    zone_printed = kind == "datetime" and style in ("long", "full")
    for i, instant in enumerate(_instants()):
        if zone_printed:
            zone, site_tz = PRINTED_ZONES[i % len(PRINTED_ZONES)]
        else:
            zone = site_tz = PLAIN_ZONES[i % len(PLAIN_ZONES)]
        local = instant.astimezone(zone)
        if kind == "date":
            raw = format_date(local, style, locale=locale)
            expected = local.replace(hour=0, minute=0, second=0)
        else:
            raw = format_datetime(instant, style, tzinfo=zone, locale=locale)
            expected = local if with_seconds else local.replace(second=0)
        cases.append(Case(raw, expected, site_tz))
    return cases


FORMS = [
    pytest.param(locale, style, kind, id=f"{locale}-{style}-{kind}")
    for locale in LOCALES
    for style in STYLES
    for kind in ("date", "datetime")
]


@pytest.mark.parametrize(("locale", "style", "kind"), FORMS)
def test_every_babel_cldr_form_parses_to_the_exact_instant(
    locale: str, style: str, kind: str
) -> None:
    wrong: list[str] = []
    for case in _cases(locale, style, kind):
        try:
            parsed = parse_display_date(case.raw, locale.replace("_", "-"), case.site_tz, now=NOW)
        except DateParseError as exc:
            wrong.append(f"{case.raw!r}: refused ({exc.code}: {exc})")
            continue
        if kind == "date":
            got, want = parsed.value.date(), case.expected.date()
            exact = got == want and not parsed.has_time
        else:
            got, want = parsed.value.astimezone(UTC), case.expected.astimezone(UTC)
            exact = got == want and parsed.has_time
        if not exact:
            wrong.append(f"{case.raw!r}: read as {parsed.value.isoformat()}, is {want}")
        assert parsed.value.tzinfo is case.site_tz
    assert not wrong, f"{len(wrong)} of {INSTANTS} wrong, e.g. {wrong[:3]}"


# A numeric short date cannot say its own day/month order (test_dates.py checks that it is
# refused without a locale); every other CLDR form names its locale by itself.
FORMS_NAMING_THEIR_LOCALE = [
    pytest.param(locale, style, kind, id=f"{locale}-{style}-{kind}")
    for locale in LOCALES
    for style in STYLES
    for kind in ("date", "datetime")
    if (style, kind) != ("short", "date")
]


@pytest.mark.parametrize(("locale", "style", "kind"), FORMS_NAMING_THEIR_LOCALE)
def test_every_babel_cldr_form_is_read_without_a_page_locale(
    locale: str, style: str, kind: str
) -> None:
    for case in _cases(locale, style, kind)[:50]:
        parsed = parse_display_date(case.raw, None, case.site_tz, now=NOW)
        if kind == "date":
            assert parsed.value.date() == case.expected.date()
        else:
            assert parsed.value.astimezone(UTC) == case.expected.astimezone(UTC)


# --- printed zones and weekdays ----------------------------------------------------------------

INSTANT = datetime(2020, 3, 1, 4, 6, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw",
    [
        "March 1, 2020, 11:06:00 AM +0700",
        "March 1, 2020, 11:06:00\u202fAM +0700",
        "Sunday, March 1, 2020, 11:06:00 AM Indochina Time",
        "Sunday, March 1, 2020 at 11:06:00 AM Indochina Time",
        "11:06:00 Giờ Đông Dương Chủ Nhật, 1 tháng 3, 2020",
        "11:06:00 +0700 1 tháng 3, 2020",
        "March 1, 2020, 11:06 AM GMT+7",
        "March 1, 2020, 11:06 AM GMT+07:00",
        "11:06 UTC+07:00 1/3/2020",
        "04:06:00 UTC 1 thg 3, 2020",
        "March 1, 2020, 4:06:00 AM Coordinated Universal Time",
        "11:06:00 Giờ Việt Nam Chủ Nhật, 1 tháng 3, 2020",
        "March 1, 2020, 11:06:00 AM ICT",
    ],
)
def test_a_printed_offset_or_zone_name_wins_over_the_site_zone(raw: str) -> None:
    site_tz = ZoneInfo("America/New_York")
    parsed = parse_display_date(raw, "vi-VN" if "/" in raw else None, site_tz, now=NOW)
    assert parsed.value == INSTANT
    assert parsed.value.tzinfo is site_tz


def test_a_country_s_zone_name_follows_that_zone_s_history() -> None:
    # Saigon kept +08:00 until 1975; "Vietnam Time" is the zone, not today's offset.
    parsed = parse_display_date("21:03:04 Giờ Việt Nam 4 tháng 1, 1974", None, UTC, now=NOW)
    assert parsed.value == datetime(1974, 1, 4, 13, 3, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw",
    [
        "March 1, 2020, 11:06:00 AM Mars Standard Time",
        "11:06:00 Giờ Sao Hỏa 1 tháng 3, 2020",
        "March 1, 2020, 11:06:00 AM XYZT",
    ],
)
def test_an_unknown_zone_name_is_refused_not_read_as_the_site_zone(raw: str) -> None:
    with pytest.raises(DateParseError) as excinfo:
        parse_display_date(raw, None, SITE_TZ, now=NOW)
    assert excinfo.value.code == "unknown_timezone"


def test_an_ambiguous_abbreviation_is_read_only_in_the_site_zone_that_prints_it() -> None:
    raw = "March 1, 2020, 11:06:00 AM CST"
    chicago = parse_display_date(raw, None, ZoneInfo("America/Chicago"), now=NOW)
    assert chicago.value == datetime(2020, 3, 1, 17, 6, tzinfo=UTC)
    shanghai = parse_display_date(raw, None, ZoneInfo("Asia/Shanghai"), now=NOW)
    assert shanghai.value == datetime(2020, 3, 1, 3, 6, tzinfo=UTC)
    with pytest.raises(DateParseError) as excinfo:
        parse_display_date(raw, None, SITE_TZ, now=NOW)
    assert excinfo.value.code == "unknown_timezone"


def test_the_printed_abbreviation_tells_which_repeated_hour_was_meant() -> None:
    new_york = ZoneInfo("America/New_York")
    first = parse_display_date("November 3, 2024, 1:30:00 AM EDT", None, new_york, now=NOW)
    second = parse_display_date("November 3, 2024, 1:30:00 AM EST", None, new_york, now=NOW)
    # Compared in UTC: a wall time in the fold never equals another zone's (PEP 495).
    assert first.value.astimezone(UTC) == datetime(2024, 11, 3, 5, 30, tzinfo=UTC)
    assert second.value.astimezone(UTC) == datetime(2024, 11, 3, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw", ["18/01/2023 17:48 xem", "17:48 abc 18/01/2023", "March 1, 2020, 11:06 AM GMT+25"]
)
def test_a_word_or_impossible_offset_after_a_time_is_unparseable(raw: str) -> None:
    with pytest.raises(DateParseError) as excinfo:
        parse_display_date(raw, "vi-VN", SITE_TZ, now=NOW)
    assert excinfo.value.code == "unparseable_date"


@pytest.mark.parametrize(
    ("raw", "locale"),
    [
        ("Monday, March 1, 2020", None),
        ("Thứ Hai, 1 tháng 3, 2020", None),
        ("11:06:00 Giờ Đông Dương Thứ Hai, 1 tháng 3, 2020", None),
        ("Thứ Hai, 01/03/2020", "vi-VN"),
    ],
)
def test_a_weekday_that_is_not_the_date_s_is_unparseable(raw: str, locale: str | None) -> None:
    with pytest.raises(DateParseError) as excinfo:
        parse_display_date(raw, locale, SITE_TZ, now=NOW)
    assert excinfo.value.code == "unparseable_date"
    assert "Sunday" in str(excinfo.value)


@pytest.mark.parametrize(
    ("raw", "locale"),
    [
        ("Chủ Nhật, 01/03/2020", "vi-VN"),
        ("CN, 1 thg 3, 2020", None),
        ("Sun, Mar 1, 2020", None),
        ("Sunday, 3/1/2020", "en-US"),
        ("Sunday edition 1/3/2020", "vi-VN"),
    ],
)
def test_a_weekday_before_the_date_is_read(raw: str, locale: str | None) -> None:
    parsed = parse_display_date(raw, locale, SITE_TZ, now=NOW)
    assert parsed.value.date() == INSTANT.date()


def test_the_pipeline_records_an_unknown_zone_as_a_problem() -> None:
    crawler = get_crawler()
    assert crawler.stats is not None
    pipeline = DateNormalizationPipeline.from_crawler(crawler)
    raw = "March 1, 2020, 11:06:00 AM Mars Standard Time"
    item = ArticleItem(
        url="https://h/w/x",
        date_candidates=[DateCandidate("display_date", raw, None, "published")],
    )
    pipeline.process_item(item)
    assert item.published_at is None
    assert [p["code"] for p in item.problems] == ["unknown_timezone"]
    assert crawler.stats.get_value("normalize/unknown_timezone") == 1
    assert "unknown_timezone" in PROBLEM_CODES
