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

from pipelines.dates import DateParseError, parse_display_date

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
