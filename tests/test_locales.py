from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel import Locale
from babel.dates import format_datetime

from crawler.domain.locales import (
    MONTH_NAMES,
    WEEKDAY_NAMES,
    ZONE_NAMES,
    page_locale_of,
    parse_locale,
    split_locale_prefix,
)
from crawler.setup.config import ConfigError


@pytest.mark.parametrize(
    ("value", "expected"),
    [("vi-VN", "vi-VN"), ("vi_VN", "vi-VN"), ("en-us", "en-US"), (" EN_us ", "en-US")],
)
def test_parse_locale_reads_every_spelling_of_xx_yy(value: str, expected: str) -> None:
    assert parse_locale(value) == expected


@pytest.mark.parametrize("value", ["vi", "", "english", "vi-VNM", "zh-Hant-TW", "1-2"])
def test_parse_locale_refuses_anything_else_in_one_line(value: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_locale(value, "-a default_locale")
    message = str(excinfo.value)
    assert message.startswith(f"-a default_locale={value!r} is not a locale: expected xx-YY")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/en/w/x", ("en", "/w/x")),
        ("/vi-VN/w/x", ("vi-VN", "/w/x")),
        ("/en", ("en", "/")),
        ("/tin/w/x", (None, "/tin/w/x")),
        ("/web/guest/w/x", (None, "/web/guest/w/x")),
    ],
)
def test_split_locale_prefix(path: str, expected: tuple[str | None, str]) -> None:
    assert split_locale_prefix(path) == expected


@pytest.mark.parametrize(
    ("html_lang", "og_locale", "expected"),
    [
        ("vi-VN", "en_US", "vi-VN"),
        (None, "vi_VN", "vi-VN"),
        ("en", None, "en"),
        ("not a locale", "en_US", "en-US"),
        (None, None, None),
    ],
)
def test_page_locale_of_trusts_html_lang_then_og_locale(
    html_lang: str | None, og_locale: str | None, expected: str | None
) -> None:
    assert page_locale_of(html_lang, og_locale) == expected


# --- the names agree with CLDR (Babel) ---------------------------------------------------------


@pytest.mark.parametrize(("babel_locale", "lang"), [("en_US", "en"), ("vi_VN", "vi")])
def test_weekday_names_are_cldr_s(babel_locale: str, lang: str) -> None:
    locale = Locale.parse(babel_locale)
    for width in ("wide", "abbreviated"):
        for day, name in locale.days["format"][width].items():
            assert WEEKDAY_NAMES[lang][name.lower()] == day


def test_english_month_names_are_cldr_s() -> None:
    locale = Locale.parse("en_US")
    for width in ("wide", "abbreviated"):
        for month, name in locale.months["format"][width].items():
            assert MONTH_NAMES[name.lower()] == month


@pytest.mark.parametrize(
    "zone",
    [
        "Asia/Ho_Chi_Minh", "Asia/Bangkok", "Asia/Jakarta", "Asia/Shanghai", "Asia/Singapore",
        "Asia/Kuala_Lumpur", "Asia/Manila", "Asia/Hong_Kong", "Asia/Tokyo", "Asia/Seoul",
        "Asia/Kolkata", "Australia/Sydney", "Etc/UTC", "Etc/GMT", "Europe/London",
        "Europe/Paris", "Europe/Bucharest", "America/New_York", "America/Chicago",
        "America/Denver", "America/Los_Angeles",
    ],
)  # fmt: skip
def test_zone_names_are_cldr_s_with_the_offset_they_print(zone: str) -> None:
    tz = ZoneInfo(zone)
    for month in (1, 7):
        wall = datetime(2024, month, 15, 12, tzinfo=tz)
        for locale in ("en_US", "vi_VN"):
            # zzzz: the specific name (Indochina Time); vvvv: the generic one (Vietnam Time).
            for pattern in ("zzzz", "vvvv"):
                name = format_datetime(wall, pattern, tzinfo=tz, locale=locale)
                if "(" in name:  # "Indonesia (Jakarta) Time": a location, not a zone's name
                    continue
                mapped = ZONE_NAMES[name.lower()]
                if mapped.startswith(("+", "-")):
                    hours, minutes = int(mapped[1:3]), int(mapped[4:6])
                    sign = -1 if mapped[0] == "-" else 1
                    offset = sign * timedelta(hours=hours, minutes=minutes)
                else:
                    offset = wall.replace(tzinfo=ZoneInfo(mapped)).utcoffset()
                assert offset == wall.utcoffset(), f"{name} ({zone})"
