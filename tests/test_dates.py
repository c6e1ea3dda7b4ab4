from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scrapy.utils.test import get_crawler

from crawler.domain.dates import (
    DateParseError,
    ParsedDate,
    format_iso,
    locale_of,
    parse_display_date,
    parse_machine_date,
)
from crawler.domain.items import ArticleItem, ArticleUrlItem, DateCandidate
from pipelines.dates import PROBLEM_CODES, DateNormalizationPipeline

if TYPE_CHECKING:
    from collections.abc import Callable

SITE_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
# With "now" in mid-2049 the two-digit-year window is 1969-2068.
PIVOT_NOW = datetime(2049, 6, 1, tzinfo=UTC)

A = datetime(2023, 1, 18, 17, 48, tzinfo=SITE_TZ)
B = datetime(2026, 2, 4, 8, 30, tzinfo=SITE_TZ)

# (provider, en_US A, en_US B, vi_VN A, vi_VN B, has_time, en pattern, vi pattern): every row of
# the table in liferay.md §3. Example B strings the reference does not print are the same
# pattern applied to 2026-02-04 08:30.
REFERENCE_TABLE = [
    ("SHORT,SHORT COMPAT", "1/18/23 5:48 PM", "2/4/26 8:30 AM", "17:48 18/01/2023",
     "08:30 04/02/2026", True, "en.compat.short_short", "vi.compat.short_short"),
    ("SHORT,SHORT CLDR 17", "1/18/23, 5:48 PM", "2/4/26, 8:30 AM", "17:48, 18/01/2023",
     "08:30, 04/02/2026", True, "en.cldr.short_short", "vi.cldr.short_short"),
    ("SHORT,SHORT CLDR 25", "1/18/23, 5:48\u202fPM", "2/4/26, 8:30\u202fAM", "17:48 18/1/23",
     "08:30 4/2/26", True, "en.cldr.short_short", "vi.compat.short_short"),
    ("SHORT COMPAT", "1/18/23", "2/4/26", "18/01/2023", "04/02/2026", False, "en.short",
     "vi.short"),
    ("SHORT CLDR 17", "1/18/23", "2/4/26", "18/01/2023", "04/02/2026", False, "en.short",
     "vi.short"),
    ("SHORT CLDR 25", "1/18/23", "2/4/26", "18/1/23", "4/2/26", False, "en.short", "vi.short"),
    ("LONG,SHORT COMPAT", "January 18, 2023 5:48 PM", "February 4, 2026 8:30 AM",
     "17:48 Ngày 18 tháng 1 năm 2023", "08:30 Ngày 4 tháng 2 năm 2026", True,
     "en.compat.long_short", "vi.compat.long_short"),
    ("LONG,SHORT CLDR 17", "January 18, 2023, 5:48 PM", "February 4, 2026, 8:30 AM",
     "17:48, 18 tháng 1, 2023", "08:30, 4 tháng 2, 2026", True, "en.cldr.long_short",
     "vi.cldr.long_short"),
    ("LONG,SHORT CLDR 25", "January 18, 2023, 5:48\u202fPM", "February 4, 2026, 8:30\u202fAM",
     "17:48 18 tháng 1, 2023", "08:30 4 tháng 2, 2026", True, "en.cldr.long_short",
     "vi.cldr.long_short"),
    ("MEDIUM COMPAT", "Jan 18, 2023", "Feb 4, 2026", "18-01-2023", "04-02-2026", False,
     "en.medium", "vi.medium"),
    ("LONG COMPAT", "January 18, 2023", "February 4, 2026", "Ngày 18 tháng 1 năm 2023",
     "Ngày 4 tháng 2 năm 2026", False, "en.long", "vi.compat.long"),
]  # fmt: skip


def _table_cases() -> list[Any]:
    cases = []
    for row in REFERENCE_TABLE:
        provider, en_a, en_b, vi_a, vi_b, has_time, en_pattern, vi_pattern = row
        for locale, raw, expected, pattern in (
            ("en-US", en_a, A, en_pattern),
            ("en-US", en_b, B, en_pattern),
            ("vi-VN", vi_a, A, vi_pattern),
            ("vi-VN", vi_b, B, vi_pattern),
        ):
            cases.append(
                pytest.param(raw, locale, expected, has_time, pattern, id=f"{provider}-{raw}")
            )
    return cases


@pytest.mark.parametrize(("raw", "locale", "expected", "has_time", "pattern"), _table_cases())
def test_reference_table(
    raw: str, locale: str, expected: datetime, has_time: bool, pattern: str
) -> None:
    parsed = parse_display_date(raw, locale, SITE_TZ, now=NOW)
    assert parsed.has_time is has_time
    assert parsed.pattern == pattern
    if has_time:
        assert parsed.value == expected
        assert format_iso(parsed.value) == format_iso(expected)
    else:
        assert parsed.value == expected.replace(hour=0, minute=0)
    assert parsed.value.tzinfo is SITE_TZ


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2023-01-18T10:48:00+0000", "2023-01-18T17:48:00+07:00"),  # sitemap lastmod (GMT)
        ("2024-10-02T11:57:26Z", "2024-10-02T18:57:26+07:00"),  # headless delivery
        ("2023-01-18T17:48:00+07:00", "2023-01-18T17:48:00+07:00"),  # article:published_time
        ("2023-01-18T05:48:00.123-05:00", "2023-01-18T17:48:00+07:00"),
        ("2023-01-18t10:48z", "2023-01-18T17:48:00+07:00"),
        ("2023-01-18 17:48:00", "2023-01-18T17:48:00+07:00"),  # naive: site time
        ("2023-01-18T17:48", "2023-01-18T17:48:00+07:00"),
        ("Wed, 18 Jan 2023 10:48:00 GMT", "2023-01-18T17:48:00+07:00"),  # RSS pubDate
        ("Wed, 18 Jan 2023 10:48:00 -0000", "2023-01-18T17:48:00+07:00"),
    ],
)
def test_machine_dates(raw: str, expected: str) -> None:
    parsed = parse_machine_date(raw, SITE_TZ)
    assert parsed.has_time
    assert format_iso(parsed.value) == expected


def test_machine_date_only() -> None:
    parsed = parse_machine_date(" 2023-01-18 ", SITE_TZ)
    assert parsed == ParsedDate(datetime(2023, 1, 18, tzinfo=SITE_TZ), False, "iso8601.date")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "2023-13-01T00:00:00Z",
        "2023-02-30",
        "2023-01-18T25:00:00Z",
        "2023-01-18T10:48:00+2500",
        "18/01/2023",
        "yesterday",
        "Wed, 32 Jan 2023 10:48:00 GMT",
    ],
)
def test_bad_machine_dates(raw: str) -> None:
    with pytest.raises(DateParseError) as excinfo:
        parse_machine_date(raw, SITE_TZ)
    assert excinfo.value.code == "unparseable_date"


@pytest.mark.parametrize(
    ("raw", "locale", "expected", "pattern"),
    [
        ("Published 1/18/23", None, date(2023, 1, 18), "en.short"),
        ("Published: 1/18/23", "vi-VN", date(2023, 1, 18), "en.short"),
        ("Ngày đăng: 18/01/2023", None, date(2023, 1, 18), "vi.short"),
        ("Ngày đăng 18/01/2023", None, date(2023, 1, 18), "vi.short"),
        ("Đăng ngày 18/01/2023", None, date(2023, 1, 18), "vi.short"),
        ("Cập nhật: 18/01/2023", None, date(2023, 1, 18), "vi.short"),
        ("NGÀY ĐĂNG: 18/01/2023", None, date(2023, 1, 18), "vi.short"),
        ("Tin hoạt động | 18/01/2023", "vi-VN", date(2023, 1, 18), "vi.short"),
        ("Tin hoạt động - 1/18/23", "en-US", date(2023, 1, 18), "en.short"),
        ("ngày 18 tháng 1 năm 2023", None, date(2023, 1, 18), "vi.compat.long"),
        ("NGÀY 18 THÁNG 1 NĂM 2023", None, date(2023, 1, 18), "vi.compat.long"),
        ("18 tháng 01 năm 2023", None, date(2023, 1, 18), "vi.compat.long"),
        ("18 tháng 1, 2023", None, date(2023, 1, 18), "vi.cldr.long"),
        ("Sept. 4, 2026", None, date(2026, 9, 4), "en.medium"),
        ("Dec 4, 2026", None, date(2026, 12, 4), "en.medium"),
        ("4 February 2026", None, date(2026, 2, 4), "en.day_month_year"),
    ],
)
def test_labels_and_long_forms(raw: str, locale: str | None, expected: date, pattern: str) -> None:
    parsed = parse_display_date(raw, locale, SITE_TZ, now=NOW)
    assert parsed.value.date() == expected
    assert not parsed.has_time
    assert parsed.pattern == pattern


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ngày đăng: 17:48 18/01/2023", datetime(2023, 1, 18, 17, 48, tzinfo=SITE_TZ)),
        ("Cập nhật lúc 08:30 ngày 04/02/2026", datetime(2026, 2, 4, 8, 30, tzinfo=SITE_TZ)),
        ("18/01/2023 lúc 17:48", datetime(2023, 1, 18, 17, 48, tzinfo=SITE_TZ)),
        ("Published January 18, 2023 at 5:48 p.m.", A),
        ("1/18/23 12:05 AM", datetime(2023, 1, 18, 0, 5, tzinfo=SITE_TZ)),
        ("1/18/23 12:05 PM", datetime(2023, 1, 18, 12, 5, tzinfo=SITE_TZ)),
        ("1/18/23 5:48PM", A),
    ],
)
def test_times_with_labels_and_separators(raw: str, expected: datetime) -> None:
    parsed = parse_display_date(raw, None, SITE_TZ, now=NOW)
    assert parsed.has_time
    assert parsed.value == expected


def test_locale_decides_the_order_of_a_numeric_date() -> None:
    assert parse_display_date("01/02/2023", "en-US", SITE_TZ).value.date() == date(2023, 1, 2)
    assert parse_display_date("01/02/2023", "en", SITE_TZ).value.date() == date(2023, 1, 2)
    assert parse_display_date("01/02/2023", "vi_VN", SITE_TZ).value.date() == date(2023, 2, 1)
    assert parse_display_date("01/02/2023", "/en/w/x", SITE_TZ).value.date() == date(2023, 1, 2)


@pytest.mark.parametrize("raw", ["18/01/2023", "01/02/2023", "5/5/23", "18-01-2023", "1/18/23"])
def test_numeric_date_without_locale_is_ambiguous_even_when_digits_could_tell(raw: str) -> None:
    with pytest.raises(DateParseError) as excinfo:
        parse_display_date(raw, None, SITE_TZ, now=NOW)
    assert excinfo.value.code == "ambiguous_date"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1/2/23 5:48 PM", date(2023, 1, 2)),  # AM/PM: en
        ("17:48 01/02/2023", date(2023, 2, 1)),  # time first: vi
        ("Ngày 01/02/2023", date(2023, 2, 1)),  # Vietnamese word: vi
        ("Feb 1, 2023", date(2023, 2, 1)),  # English month
    ],
)
def test_forms_that_name_their_locale_need_none(raw: str, expected: date) -> None:
    assert parse_display_date(raw, None, SITE_TZ, now=NOW).value.date() == expected


def test_form_evidence_wins_over_a_wrong_page_locale() -> None:
    # en pages print AM/PM; a vi_VN page never does, so the form is the better witness.
    assert parse_display_date("1/18/23 5:48 PM", "vi-VN", SITE_TZ, now=NOW).value == A
    assert parse_display_date("17:48 18/01/2023", "en-US", SITE_TZ, now=NOW).value == A


def test_unknown_locale() -> None:
    with pytest.raises(DateParseError) as excinfo:
        parse_display_date("18/01/2023", "fr-FR", SITE_TZ)
    assert excinfo.value.code == "unknown_locale"
    # A form that names its own order needs no locale support.
    assert parse_display_date("January 18, 2023", "fr-FR", SITE_TZ).value.date() == A.date()


@pytest.mark.parametrize(
    ("raw", "locale"),
    [
        ("13/13/2023", "vi-VN"),
        ("1/13/2023", "vi-VN"),
        ("2/30/23", "en-US"),
        ("30/02/2023", "vi-VN"),
        ("29/02/2023", "vi-VN"),
        ("32 tháng 1, 2023", None),
        ("Ngày 1 tháng 13 năm 2023", None),
        ("Febtember 4, 2026", None),
        ("1/18/23 13:48 PM", "en-US"),
        ("1/18/23 0:48 AM", "en-US"),
        ("24:00 18/01/2023", "vi-VN"),
        ("17:60 18/01/2023", "vi-VN"),
        ("17:48 18/01/2023 17:48", "vi-VN"),
        ("", "vi-VN"),
        ("Ngày đăng:", "vi-VN"),
        ("không rõ", None),
        ("18/01/2023 (GMT+7) xem thêm", "vi-VN"),
    ],
)
def test_impossible_or_unknown_forms_are_unparseable(raw: str, locale: str | None) -> None:
    with pytest.raises(DateParseError) as excinfo:
        parse_display_date(raw, locale, SITE_TZ, now=NOW)
    assert excinfo.value.code == "unparseable_date"
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize(
    ("now_year", "yy", "year"),
    [
        (2026, 23, 2023),
        (2026, 45, 2045),
        (2026, 46, 1946),
        (2026, 99, 1999),
        (2026, 0, 2000),
        (2049, 69, 1969),
        (2049, 68, 2068),
        (2100, 20, 2020),
        (2100, 19, 2119),
    ],
)
def test_two_digit_year_pivot(now_year: int, yy: int, year: int) -> None:
    now = datetime(now_year, 6, 1, tzinfo=UTC)
    parsed = parse_display_date(f"1/18/{yy:02d}", "en-US", SITE_TZ, now=now)
    assert parsed.value.year == year


@pytest.mark.parametrize(
    ("hints", "expected"),
    [
        (("en",), "en-US"),
        (("EN",), "en-US"),
        (("en-US",), "en-US"),
        (("en_US",), "en-US"),
        (("vi_VN",), "vi-VN"),
        (("vi-vn",), "vi-VN"),
        (("vi",), "vi-VN"),
        (("zh-Hant-TW",), "zh-Hant-TW"),
        (("fr_FR",), "fr-FR"),
        (("/en/w/x",), "en-US"),
        (("https://hepza.hochiminhcity.gov.vn/en/w/x",), "en-US"),
        (("https://hepza.hochiminhcity.gov.vn/vi-VN/w/x",), "vi-VN"),
        (("https://hepza.hochiminhcity.gov.vn/w/x", "vi-VN"), "vi-VN"),
        (("https://hepza.hochiminhcity.gov.vn/web/guest/w/x",), None),
        ((None, "", "  ", "en-US"), "en-US"),
        (("not a locale", "vi"), "vi-VN"),
        ((), None),
    ],
)
def test_locale_of(hints: tuple[str | None, ...], expected: str | None) -> None:
    assert locale_of(*hints) == expected


def test_format_iso() -> None:
    assert format_iso(A) == "2023-01-18T17:48:00+07:00"
    assert format_iso(datetime(2023, 1, 18, 10, 48, tzinfo=UTC)) == "2023-01-18T10:48:00+00:00"
    with pytest.raises(ValueError, match="naive"):
        format_iso(datetime(2023, 1, 18))


# --- round trip: every supported form, every instant ---------------------------------------

EN_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December"]  # fmt: skip


def _h12(d: datetime) -> str:
    return f"{d.hour % 12 or 12}:{d.minute:02d}"


def _ampm(d: datetime) -> str:
    return "AM" if d.hour < 12 else "PM"


def _hm(d: datetime) -> str:
    return f"{d.hour:02d}:{d.minute:02d}"


def _yy(d: datetime) -> str:
    return f"{d.year % 100:02d}"


def _yyyy(d: datetime) -> str:
    return f"{d.year:04d}"


@dataclass(frozen=True)
class Form:
    locale: str
    pattern: str  # ParsedDate.pattern expected
    fmt: Callable[[datetime], str]
    has_time: bool
    two_digit_year: bool
    names_locale: bool  # parses with locale None
    java: str  # the Java pattern it imitates, for test ids


FORMS = [
    # en_US
    Form("en-US", "en.compat.short_short",
         lambda d: f"{d.month}/{d.day}/{_yy(d)} {_h12(d)} {_ampm(d)}", True, True, True,
         "M/d/yy h:mm a"),
    Form("en-US", "en.compat.short_short",
         lambda d: f"{d.month}/{d.day}/{_yyyy(d)} {_h12(d)} {_ampm(d)}", True, False, True,
         "M/d/yyyy h:mm a"),
    Form("en-US", "en.cldr.short_short",
         lambda d: f"{d.month}/{d.day}/{_yy(d)}, {_h12(d)} {_ampm(d)}", True, True, True,
         "M/d/yy, h:mm a"),
    Form("en-US", "en.cldr.short_short",
         lambda d: f"{d.month}/{d.day}/{_yy(d)}, {_h12(d)}\u202f{_ampm(d)}", True, True, True,
         "M/d/yy, h:mm<NNBSP>a"),
    Form("en-US", "en.cldr.short_short",
         lambda d: f"{d.month}/{d.day}/{_yy(d)}, {_h12(d)}\u00a0{_ampm(d)}", True, True, True,
         "M/d/yy, h:mm<NBSP>a"),
    Form("en-US", "en.compat.short_short",
         lambda d: f"{d.month}/{d.day}/{_yy(d)} {_h12(d)}\u202f{_ampm(d)}", True, True, True,
         "M/d/yy h:mm<NNBSP>a"),
    Form("en-US", "en.short", lambda d: f"{d.month}/{d.day}/{_yy(d)}", False, True, False,
         "M/d/yy"),
    Form("en-US", "en.short", lambda d: f"{d.month}/{d.day}/{_yyyy(d)}", False, False, False,
         "M/d/yyyy"),
    Form("en-US", "en.short", lambda d: f"Published {d.month}/{d.day}/{_yy(d)}", False, True,
         True, "'Published' M/d/yy"),
    Form("en-US", "en.compat.long_short",
         lambda d: f"{EN_MONTHS[d.month - 1]} {d.day}, {_yyyy(d)} {_h12(d)} {_ampm(d)}", True,
         False, True, "MMMM d, yyyy h:mm a"),
    Form("en-US", "en.cldr.long_short",
         lambda d: f"{EN_MONTHS[d.month - 1]} {d.day}, {_yyyy(d)}, {_h12(d)} {_ampm(d)}", True,
         False, True, "MMMM d, yyyy, h:mm a"),
    Form("en-US", "en.cldr.long_short",
         lambda d: f"{EN_MONTHS[d.month - 1]} {d.day}, {_yyyy(d)}, {_h12(d)}\u202f{_ampm(d)}",
         True, False, True, "MMMM d, yyyy, h:mm<NNBSP>a"),
    Form("en-US", "en.medium", lambda d: f"{EN_MONTHS[d.month - 1][:3]} {d.day}, {_yyyy(d)}",
         False, False, True, "MMM d, yyyy"),
    Form("en-US", "en.long", lambda d: f"{EN_MONTHS[d.month - 1]} {d.day}, {_yyyy(d)}", False,
         False, True, "MMMM d, yyyy"),
    # vi_VN
    Form("vi-VN", "vi.compat.short_short",
         lambda d: f"{_hm(d)} {d.day:02d}/{d.month:02d}/{_yyyy(d)}", True, False, True,
         "HH:mm dd/MM/yyyy"),
    Form("vi-VN", "vi.cldr.short_short",
         lambda d: f"{_hm(d)}, {d.day:02d}/{d.month:02d}/{_yyyy(d)}", True, False, True,
         "HH:mm, dd/MM/y"),
    Form("vi-VN", "vi.compat.short_short", lambda d: f"{_hm(d)} {d.day}/{d.month}/{_yy(d)}",
         True, True, True, "HH:mm d/M/yy"),
    Form("vi-VN", "vi.cldr.short_short", lambda d: f"{_hm(d)}, {d.day}/{d.month}/{_yy(d)}",
         True, True, True, "HH:mm, d/M/yy"),
    Form("vi-VN", "vi.short", lambda d: f"{d.day:02d}/{d.month:02d}/{_yyyy(d)}", False, False,
         False, "dd/MM/yyyy"),
    Form("vi-VN", "vi.short", lambda d: f"{d.day}/{d.month}/{_yy(d)}", False, True, False,
         "d/M/yy"),
    Form("vi-VN", "vi.medium", lambda d: f"{d.day:02d}-{d.month:02d}-{_yyyy(d)}", False, False,
         False, "dd-MM-yyyy"),
    Form("vi-VN", "vi.short",
         lambda d: f"Ngày đăng: {d.day:02d}/{d.month:02d}/{_yyyy(d)}", False, False, True,
         "'Ngày đăng:' dd/MM/yyyy"),
    Form("vi-VN", "vi.short", lambda d: f"Đăng ngày {d.day:02d}/{d.month:02d}/{_yyyy(d)}",
         False, False, True, "'Đăng ngày' dd/MM/yyyy"),
    Form("vi-VN", "vi.compat.short_short",
         lambda d: f"Cập nhật {_hm(d)} {d.day:02d}/{d.month:02d}/{_yyyy(d)}", True, False,
         True, "'Cập nhật' HH:mm dd/MM/yyyy"),
    Form("vi-VN", "vi.compat.long_short",
         lambda d: f"{_hm(d)} Ngày {d.day} tháng {d.month} năm {_yyyy(d)}", True, False, True,
         "HH:mm 'Ngày' d 'tháng' M 'năm' yyyy"),
    Form("vi-VN", "vi.cldr.long_short",
         lambda d: f"{_hm(d)}, {d.day} tháng {d.month}, {_yyyy(d)}", True, False, True,
         "HH:mm, d 'tháng' M, y"),
    Form("vi-VN", "vi.cldr.long_short",
         lambda d: f"{_hm(d)} {d.day} tháng {d.month}, {_yyyy(d)}", True, False, True,
         "HH:mm d 'tháng' M, y"),
    Form("vi-VN", "vi.compat.long",
         lambda d: f"Ngày {d.day} tháng {d.month} năm {_yyyy(d)}", False, False, True,
         "'Ngày' d 'tháng' M 'năm' yyyy"),
    Form("vi-VN", "vi.compat.long",
         lambda d: f"NGÀY {d.day} THÁNG {d.month} NĂM {_yyyy(d)}", False, False, True,
         "upper-case LONG"),
    Form("vi-VN", "vi.compat.long", lambda d: f"{d.day} tháng {d.month} năm {_yyyy(d)}",
         False, False, True, "d 'tháng' M 'năm' yyyy"),
    Form("vi-VN", "vi.cldr.long", lambda d: f"{d.day} tháng {d.month}, {_yyyy(d)}", False,
         False, True, "d 'tháng' M, y"),
]  # fmt: skip

ZONES = st.sampled_from([SITE_TZ, ZoneInfo("UTC"), ZoneInfo("America/New_York")])


def _instants(two_digit_year: bool) -> st.SearchStrategy[datetime]:
    low, high = (1970, 2068) if two_digit_year else (2, 9998)
    return st.datetimes(
        min_value=datetime(low, 1, 1),
        max_value=datetime(high, 12, 31, 23, 59),
        timezones=ZONES,
        allow_imaginary=False,
    ).map(lambda d: d.replace(second=0, microsecond=0))


def _check_round_trip(form: Form, local: datetime, locale: str | None) -> None:
    tz = local.tzinfo
    assert tz is not None
    # A wall time the clocks show twice (DST end) cannot name one instant; no form can say
    # which one was meant.
    assume(local.replace(fold=0).utcoffset() == local.replace(fold=1).utcoffset())
    parsed = parse_display_date(form.fmt(local), locale, tz, now=PIVOT_NOW)
    assert parsed.has_time is form.has_time
    # "May" is its own abbreviation, so MMM and MMMM print the same string for it.
    long_may = form.pattern == "en.medium" and local.month == 5
    assert parsed.pattern == ("en.long" if long_may else form.pattern)
    assert parsed.value.tzinfo is tz
    if form.has_time:
        assert parsed.value.astimezone(UTC) == local.astimezone(UTC)
    else:
        assert parsed.value.date() == local.date()
        assert (parsed.value.hour, parsed.value.minute) == (0, 0)


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f"{f.locale} {f.java}")
@settings(deadline=None)
@given(data=st.data())
def test_every_form_round_trips(form: Form, data: st.DataObject) -> None:
    local = data.draw(_instants(form.two_digit_year))
    _check_round_trip(form, local, form.locale)
    if form.names_locale:
        _check_round_trip(form, local, None)


@pytest.mark.parametrize(
    "form", [f for f in FORMS if not f.names_locale], ids=lambda f: f"{f.locale} {f.java}"
)
@given(data=st.data())
def test_numeric_forms_without_locale_are_ambiguous(form: Form, data: st.DataObject) -> None:
    local = data.draw(_instants(form.two_digit_year))
    with pytest.raises(DateParseError) as excinfo:
        parse_display_date(form.fmt(local), None, SITE_TZ, now=PIVOT_NOW)
    assert excinfo.value.code == "ambiguous_date"


@given(
    st.datetimes(
        min_value=datetime(2, 1, 1),
        max_value=datetime(9998, 12, 31),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), SITE_TZ]),
        allow_imaginary=False,
    )
)
def test_machine_dates_round_trip(instant: datetime) -> None:
    parsed = parse_machine_date(instant.isoformat(), SITE_TZ)
    assert parsed.value.astimezone(UTC) == instant.astimezone(UTC)
    assert parsed.value.tzinfo is SITE_TZ


# --- the pipeline ---------------------------------------------------------------------------


def _pipeline(**settings_dict: Any) -> tuple[DateNormalizationPipeline, dict[str, Any]]:
    crawler = get_crawler(settings_dict=settings_dict or None)
    assert crawler.stats is not None
    pipeline = DateNormalizationPipeline.from_crawler(crawler)
    pipeline.clock = lambda: NOW
    return pipeline, crawler.stats.get_stats()


def _candidate(
    source: str, raw: str, kind: str = "published", locale: str | None = None
) -> DateCandidate:
    return DateCandidate(source, raw, locale, kind)


def _codes(item: ArticleItem) -> list[str]:
    return [problem["code"] for problem in item.problems]


def test_published_at_raw_loses_bidi_controls() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        date_candidates=[_candidate("display_date", "18/01/2023\u202e 17:48\u2069")],
    )
    pipeline.process_item(item)
    assert item.published_at == "2023-01-18T17:48:00+07:00"
    assert item.published_at_raw == "18/01/2023 17:48"


def test_hepza_english_page() -> None:
    pipeline, stats = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        fetched_url="https://h/en/w/x",
        page_locale="en-US",
        date_candidates=[
            _candidate("listing", "Published 1/18/23"),
            _candidate("display_date", "1/18/23 5:48 PM"),
            _candidate("sitemap_lastmod", "2023-01-19T02:00:00+0000", "modified"),
        ],
    )
    pipeline.process_item(item)
    assert item.published_at == "2023-01-18T17:48:00+07:00"
    assert item.published_at_raw == "1/18/23 5:48 PM"
    assert item.published_at_source == "display_date"
    assert item.modified_at == "2023-01-19T09:00:00+07:00"
    assert item.crawled_at == "2026-11-26T19:00:00+07:00"
    assert item.problems == []
    assert stats["normalize/published_at"] == 1
    assert stats["normalize/published_at_source/display_date"] == 1


def test_vietnamese_page_takes_locale_from_site_default() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        fetched_url="https://h/w/x",
        date_candidates=[
            _candidate("listing", "Ngày đăng 04/02/2026"),
            _candidate("display_date", "08:30 04/02/2026"),
            _candidate("listing", "04/02/2026"),
        ],
    )
    pipeline.process_item(item)
    assert item.published_at == "2026-02-04T08:30:00+07:00"
    assert item.problems == []


def test_trust_order_prefers_structured_data() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        page_locale="vi-VN",
        date_candidates=[
            _candidate("listing", "17:48 18/01/2023"),
            _candidate("display_date", "17:48 18/01/2023"),
            _candidate("meta", "2023-01-18T10:48:00Z"),
            _candidate("json_ld", "2023-01-18T17:48:30+07:00"),
        ],
    )
    pipeline.process_item(item)
    assert item.published_at_source == "json_ld"
    assert item.published_at == "2023-01-18T17:48:30+07:00"
    # Display dates carry no seconds: 17:48 agrees with 17:48:30.
    assert item.problems == []


def test_a_candidate_with_a_time_beats_a_more_trusted_date_only_one() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        page_locale="en-US",
        date_candidates=[
            _candidate("json_ld", "2023-01-18"),
            _candidate("display_date", "1/18/23 5:48 PM"),
        ],
    )
    pipeline.process_item(item)
    assert item.published_at == "2023-01-18T17:48:00+07:00"
    assert item.published_at_source == "display_date"
    assert item.problems == []


def test_date_only_published_at_is_flagged() -> None:
    pipeline, stats = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        page_locale="en_US",
        date_candidates=[_candidate("listing", "Published 1/18/23")],
    )
    pipeline.process_item(item)
    assert item.published_at == "2023-01-18T00:00:00+07:00"
    assert item.published_at_raw == "Published 1/18/23"
    assert _codes(item) == ["published_at_date_only"]
    assert stats["normalize/published_at_date_only"] == 1


def test_a_date_only_published_at_says_its_precision_is_the_day() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(
        url="https://h/-/x", date_candidates=[_candidate("display_date", "18/01/2023")]
    )
    pipeline.process_item(item)
    assert (item.published_at, item.published_at_precision) == (
        "2023-01-18T00:00:00+07:00",
        "day",
    )


def test_a_time_on_the_page_makes_the_precision_the_minute() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        page_locale="en-US",
        date_candidates=[
            _candidate("display_date", "Published 1/18/23"),
            _candidate("display_date", "1/18/23 5:48 PM"),
        ],
    )
    pipeline.process_item(item)
    assert (item.published_at, item.published_at_precision) == (
        "2023-01-18T17:48:00+07:00",
        "minute",
    )
    assert item.problems == []


def test_a_day_only_page_keeps_the_stored_time_of_that_day() -> None:
    pipeline, stats = _pipeline()
    item = ArticleItem(
        url="https://h/-/x",
        date_candidates=[
            _candidate("display_date", "18/01/2023"),
            _candidate("stored", "2023-01-18T17:48:00+07:00"),
        ],
    )
    pipeline.process_item(item)
    assert (item.published_at, item.published_at_precision) == (
        "2023-01-18T17:48:00+07:00",
        "minute",
    )
    assert item.published_at_raw == "18/01/2023"
    assert item.published_at_source == "stored"
    assert item.problems == []
    assert stats["normalize/published_at_kept_stored_time"] == 1


def test_a_stored_time_of_another_day_is_not_kept_nor_a_disagreement() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(
        url="https://h/-/x",
        date_candidates=[
            _candidate("display_date", "19/01/2023"),
            _candidate("stored", "2023-01-18T17:48:00+07:00"),
        ],
    )
    pipeline.process_item(item)
    assert (item.published_at, item.published_at_precision) == (
        "2023-01-19T00:00:00+07:00",
        "day",
    )
    assert _codes(item) == ["published_at_date_only"]


def test_a_stored_time_never_overrides_a_time_the_page_gives() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        date_candidates=[
            _candidate("display_date", "08:15 18/01/2023"),
            _candidate("stored", "2023-01-18T17:48:00+07:00"),
        ],
    )
    pipeline.process_item(item)
    assert (item.published_at, item.published_at_source) == (
        "2023-01-18T08:15:00+07:00",
        "display_date",
    )


def test_disagreement_names_both_sources_and_values() -> None:
    pipeline, stats = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        page_locale="en-US",
        date_candidates=[
            _candidate("display_date", "1/18/23 5:48 PM"),
            _candidate("listing", "Published 1/19/23"),
            _candidate("meta", "2023-01-18T10:49:00Z"),
        ],
    )
    pipeline.process_item(item)
    assert item.published_at_source == "meta"
    assert _codes(item) == ["date_disagreement", "date_disagreement"]
    first, second = (p["message"] for p in item.problems)
    assert "meta" in first and "display_date" in first and "17:48" in first
    assert "listing" in second and "2023-01-19" in second
    assert stats["normalize/date_disagreement"] == 2


def test_failed_candidate_is_reported_and_the_next_one_used() -> None:
    pipeline, stats = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        page_locale="vi-VN",
        date_candidates=[
            _candidate("display_date", "17:48 45/13/2023"),
            _candidate("listing", "17:48 Ngày 18 tháng 1 năm 2023"),
        ],
    )
    pipeline.process_item(item)
    assert item.published_at == "2023-01-18T17:48:00+07:00"
    assert item.published_at_source == "listing"
    assert _codes(item) == ["unparseable_date"]
    assert "display_date" in item.problems[0]["message"]
    assert "17:48 45/13/2023" in item.problems[0]["message"]
    assert item.problems[0]["field"] == "published_at"
    assert stats["normalize/unparseable_date"] == 1


def test_candidate_locale_wins_over_page_locale_and_url() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        fetched_url="https://h/en/w/x",
        page_locale="en-US",
        date_candidates=[_candidate("display_date", "01/02/2023", locale="vi-VN")],
    )
    pipeline.process_item(item)
    assert item.published_at == "2023-02-01T00:00:00+07:00"


def test_url_prefix_locale_is_used_when_the_page_has_none() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        fetched_url="https://h/en/w/x",
        date_candidates=[_candidate("display_date", "01/02/2023")],
    )
    pipeline.process_item(item)
    assert item.published_at == "2023-01-02T00:00:00+07:00"


def test_settings_choose_timezone_and_default_locale() -> None:
    pipeline, _ = _pipeline(SITE_TIMEZONE="UTC", SITE_DEFAULT_LOCALE="en-US")
    item = ArticleItem(
        url="https://h/w/x",
        date_candidates=[
            _candidate("display_date", "01/02/2023 5:48 PM"),
            _candidate("sitemap_lastmod", "2023-01-18T10:48:00+0000", "modified"),
        ],
    )
    pipeline.process_item(item)
    assert item.published_at == "2023-01-02T17:48:00+00:00"
    assert item.modified_at == "2023-01-18T10:48:00+00:00"
    assert item.crawled_at == "2026-11-26T12:00:00+00:00"


def test_all_candidates_fail() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        date_candidates=[
            _candidate("display_date", "18/01/2023", locale="fr-FR"),
            _candidate("listing", "hôm qua"),
        ],
    )
    pipeline.process_item(item)
    assert item.published_at is None
    assert item.published_at_raw is None
    assert _codes(item) == ["unknown_locale", "unparseable_date"]


def test_no_candidates() -> None:
    pipeline, stats = _pipeline()
    item = ArticleItem(url="https://h/w/x")
    pipeline.process_item(item)
    assert item.published_at is None
    assert _codes(item) == ["missing_published_at"]
    assert stats["normalize/missing_published_at"] == 1


def test_modified_is_the_newest_and_checked_against_published() -> None:
    pipeline, stats = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        page_locale="vi-VN",
        date_candidates=[
            _candidate("display_date", "17:48 18/01/2023"),
            _candidate("sitemap_lastmod", "2023-01-17T01:00:00+0000", "modified"),
            _candidate("meta_modified", "2023-01-18T10:00:00+0000", "modified"),
        ],
    )
    pipeline.process_item(item)
    assert item.modified_at == "2023-01-18T17:00:00+07:00"
    assert item.published_at == "2023-01-18T17:48:00+07:00"
    assert _codes(item) == ["modified_before_published"]
    assert "meta_modified" in item.problems[0]["message"]
    assert stats["normalize/modified_before_published"] == 1


def test_modified_on_the_same_day_as_a_date_only_published_is_fine() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        page_locale="vi-VN",
        date_candidates=[
            _candidate("listing", "18/01/2023"),
            _candidate("sitemap_lastmod", "2023-01-18", "modified"),
        ],
    )
    pipeline.process_item(item)
    assert _codes(item) == ["published_at_date_only"]


def test_crawled_at_is_kept_when_set() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(url="https://h/w/x", crawled_at="2026-01-01T00:00:00+07:00")
    pipeline.process_item(item)
    assert item.crawled_at == "2026-01-01T00:00:00+07:00"


def test_problem_codes_are_documented() -> None:
    pipeline, _ = _pipeline()
    items = [
        ArticleItem(url="https://h/w/x"),
        ArticleItem(
            url="https://h/w/x",
            date_candidates=[
                _candidate("display_date", "1/18/23 5:48 PM"),
                _candidate("listing", "1/19/23", locale="en-US"),
                _candidate("json_ld", "nope"),
                _candidate("listing", "5/5/23"),
                _candidate("sitemap_lastmod", "2020-01-01T00:00:00Z", "modified"),
            ],
        ),
    ]
    codes: set[str] = set()
    for item in items:
        pipeline.process_item(item)
        codes.update(_codes(item))
    assert codes == {
        "missing_published_at",
        "date_disagreement",
        "unparseable_date",
        "modified_before_published",
    }
    assert codes <= set(PROBLEM_CODES)


def test_other_items_pass_through_untouched() -> None:
    pipeline, _ = _pipeline()
    other = ArticleUrlItem(url="https://h/w/x", canonical_url="https://h/w/x")
    assert pipeline.process_item(other) is other
