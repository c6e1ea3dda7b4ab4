"""event_date: the day of the event a lead opens with (crawler/domain/dates.py), set on every
record by the dates pipeline (pipelines/dates.py); published_at_quality: the display hours a
migration stamped, kept current by the store (pipelines/storage/quality.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from scrapy.utils.test import get_crawler

from crawler.domain.dates import event_date_of_lead
from crawler.domain.identity import article_id
from crawler.domain.items import ArticleItem, DateCandidate
from pipelines.dates import DateNormalizationPipeline
from pipelines.storage.models import Article
from pipelines.storage.quality import best_date_of
from pipelines.storage.store import ArticleStore
from tests.crawl_runner import run_scrapy

SEED_DISPLAY = date(2023, 1, 18)  # the seed article's 1/18/23 5:48 PM

# (lead, display day, event day or None): real forms of Vietnamese (and English) news leads.
LEADS: list[tuple[str, date | None, date | None]] = [
    # the seed article
    (
        "Ngày 12/10, Đảng ủy Ban Quản lý các Khu Chế xuất và Công nghiệp Thành phố tổ chức hội "
        "nghị sơ kết công tác xây dựng Đảng bộ 9 tháng đầu năm",
        SEED_DISPLAY,
        date(2022, 10, 12),
    ),
    (
        "Sáng 17/5, Ban Quản lý tổ chức hội nghị đối thoại doanh nghiệp.",
        SEED_DISPLAY,
        date(2022, 5, 17),
    ),
    ("Chiều ngày 8/3, Công đoàn các KCX-KCN tổ chức họp mặt.", SEED_DISPLAY, date(2022, 3, 8)),
    ("Tối 12-10, Đoàn Thanh niên tổ chức chương trình văn nghệ.", SEED_DISPLAY, date(2022, 10, 12)),
    ("Ngày 12 tháng 10, Ban Quản lý làm việc với doanh nghiệp.", SEED_DISPLAY, date(2022, 10, 12)),
    ("Ngày 12/10/2022, Ban Quản lý làm việc với doanh nghiệp.", SEED_DISPLAY, date(2022, 10, 12)),
    ("Ngày 12 tháng 10 năm 2021, hội nghị được tổ chức.", SEED_DISPLAY, date(2021, 10, 12)),
    ("Sáng ngày 5/1, đoàn công tác đến thăm.", SEED_DISPLAY, date(2023, 1, 5)),
    ("Trưa 18/1, lãnh đạo Ban Quản lý thăm hỏi công nhân.", SEED_DISPLAY, date(2023, 1, 18)),
    ("Đêm 31/12, chương trình chào năm mới diễn ra.", SEED_DISPLAY, date(2022, 12, 31)),
    ("Sáng nay (17/1), Ban Quản lý tổ chức lễ ra quân.", SEED_DISPLAY, date(2023, 1, 17)),
    ("Chiều qua (16/1), đoàn công tác đã kiểm tra.", SEED_DISPLAY, date(2023, 1, 16)),
    ("Hôm qua (17/1), Ban Quản lý công bố kết quả.", SEED_DISPLAY, date(2023, 1, 17)),
    ("Sáng thứ Hai, ngày 16/1, hội nghị khai mạc.", SEED_DISPLAY, date(2023, 1, 16)),
    ("Ngày 12/10 vừa qua, Ban Quản lý tổ chức hội thảo.", SEED_DISPLAY, date(2022, 10, 12)),
    ("Sáng 17/5 tại Hội trường Ban Quản lý, hội nghị diễn ra.", SEED_DISPLAY, date(2022, 5, 17)),
    (
        "(HEPZA) - Ngày 12/10, Đảng ủy Ban Quản lý tổ chức hội nghị.",
        SEED_DISPLAY,
        date(2022, 10, 12),
    ),
    ("TP.HCM – Chiều 8/3, hội nghị tổng kết được tổ chức.", SEED_DISPLAY, date(2022, 3, 8)),
    ("Ngày 12-13/10, Ban Quản lý tổ chức tập huấn.", SEED_DISPLAY, date(2022, 10, 12)),
    ("Ngày 12.10.2022, hội nghị khai mạc.", SEED_DISPLAY, date(2022, 10, 12)),
    ("Vào sáng ngày 9/11, hội nghị được tổ chức.", SEED_DISPLAY, date(2022, 11, 9)),
    ("Lúc 9 giờ 30 phút ngày 12/10, lễ khởi công diễn ra.", SEED_DISPLAY, date(2022, 10, 12)),
    ("NGÀY 12/10, ĐẢNG ỦY BAN QUẢN LÝ TỔ CHỨC HỘI NGHỊ.", SEED_DISPLAY, date(2022, 10, 12)),
    # a lead in decomposed Unicode (NFD) and with no-break spaces
    ("Sa\u0301ng\u00a017/5, hội nghị diễn ra.", SEED_DISPLAY, date(2022, 5, 17)),
    # year boundaries: the latest such day on or before the display day
    ("Ngày 30/12, Ban Quản lý tổng kết năm.", date(2024, 1, 2), date(2023, 12, 30)),
    ("Sáng 2/1, lễ ra quân đầu năm.", date(2024, 1, 2), date(2024, 1, 2)),
    ("Ngày 3/1, hội nghị diễn ra.", date(2024, 1, 2), date(2023, 1, 3)),
    ("Ngày 29/2, hội nghị diễn ra.", date(2023, 3, 1), date(2020, 2, 29)),
    # English pages
    ("On October 12, the Party Committee held a conference.", SEED_DISPLAY, date(2022, 10, 12)),
    ("On 12 October 2022, the board met investors.", SEED_DISPLAY, date(2022, 10, 12)),
    ("On the morning of May 17, HEPZA held a dialogue.", SEED_DISPLAY, date(2022, 5, 17)),
    ("On Monday, January 16, 2023, the delegation visited.", SEED_DISPLAY, date(2023, 1, 16)),
    # refusals: not an opening event day
    ("Kể từ ngày 15/8/2022, doanh nghiệp phải nộp hồ sơ trực tuyến.", SEED_DISPLAY, None),
    ("Theo báo cáo của Ban Quản lý, trong 8 tháng đầu năm, vốn đầu tư tăng.", SEED_DISPLAY, None),
    ("Từ ngày 12 đến 14/10, Ban Quản lý tổ chức hội chợ.", SEED_DISPLAY, None),
    ("Trong 9 tháng đầu năm 2022, với phương châm thích ứng an toàn.", SEED_DISPLAY, None),
    ("Ban Quản lý thông báo: ngày 12/10, hội nghị diễn ra.", SEED_DISPLAY, None),
    ("Hội nghị diễn ra ngày 12/10, tại Hội trường.", SEED_DISPLAY, None),
    ("Ngày 1/5 là ngày Quốc tế Lao động.", SEED_DISPLAY, None),
    ("Ngày 20/1 tới, Ban Quản lý tổ chức hội nghị.", SEED_DISPLAY, None),
    ("Sáng 20/1, Ban Quản lý sẽ tổ chức hội nghị đối thoại.", SEED_DISPLAY, None),
    ("Ngày 20/1, dự kiến có 300 doanh nghiệp tham dự.", SEED_DISPLAY, None),
    ("3/4 doanh nghiệp, đã hoàn thành kế hoạch.", SEED_DISPLAY, None),
    ("Ngày 32/10, hội nghị diễn ra.", SEED_DISPLAY, None),
    ("Ngày 12/13, hội nghị diễn ra.", SEED_DISPLAY, None),
    # an explicit year after the display day is an announcement
    ("Ngày 12/10/2023, Ban Quản lý tổ chức hội nghị.", SEED_DISPLAY, None),
    # no display day: a day without a year is never guessed; one with a year is read
    ("Ngày 12/10, Đảng ủy tổ chức hội nghị.", None, None),
    ("Ngày 12/10/2022, Đảng ủy tổ chức hội nghị.", None, date(2022, 10, 12)),
    ("On October 12, the board will meet investors.", SEED_DISPLAY, None),
    ("In October, the board met investors.", SEED_DISPLAY, None),
    ("", SEED_DISPLAY, None),
]


def test_the_lead_table_has_at_least_thirty_real_forms_with_refusals():
    assert len(LEADS) >= 30
    assert sum(expected is None for _, _, expected in LEADS) >= 10


@pytest.mark.parametrize(("lead", "display", "expected"), LEADS, ids=[row[0][:40] for row in LEADS])
def test_event_date_of_a_lead_is_its_opening_day_or_none(
    lead: str, display: date | None, expected: date | None
) -> None:
    assert event_date_of_lead(lead, display) == expected


# --- the pipeline ---------------------------------------------------------------------------


def _normalized(**fields: Any) -> ArticleItem:
    crawler = get_crawler()
    pipeline = DateNormalizationPipeline.from_crawler(crawler)
    item = ArticleItem(url="https://h/w/x", **fields)
    pipeline.process_item(item)
    return item


def test_pipeline_sets_event_date_from_the_summary_against_the_chosen_display_day():
    item = _normalized(
        summary="Ngày 12/10, Đảng ủy Ban Quản lý tổ chức hội nghị sơ kết...",
        date_candidates=[DateCandidate("display_date", "1/18/23 5:48 PM", "en-US")],
    )
    assert item.published_at == "2023-01-18T17:48:00+07:00"
    assert (item.event_date, item.event_date_source) == ("2022-10-12", "lead")


def test_pipeline_reads_the_bodys_first_paragraph_when_the_summary_has_no_day():
    item = _normalized(
        summary="Hội nghị sơ kết công tác Đảng bộ.",
        body_text="Sáng 17/5, hội nghị khai mạc.\n\nNgày 20/5, hội nghị bế mạc.",
        date_candidates=[DateCandidate("display_date", "18/01/2023 17:48", "vi-VN")],
    )
    assert (item.event_date, item.event_date_source) == ("2022-05-17", "lead")


def test_pipeline_leaves_event_date_null_without_an_opening_day_or_a_display_day():
    no_day = _normalized(
        summary="Theo báo cáo, trong 8 tháng đầu năm vốn đầu tư tăng.",
        body_text="Kể từ ngày 15/8/2022, doanh nghiệp nộp hồ sơ trực tuyến.",
        date_candidates=[DateCandidate("display_date", "18/01/2023 17:48", "vi-VN")],
    )
    assert (no_day.event_date, no_day.event_date_source) == (None, None)
    undated = _normalized(summary="Ngày 12/10, Đảng ủy tổ chức hội nghị.")
    assert undated.published_at is None
    assert (undated.event_date, undated.event_date_source) == (None, None)


# --- published_at_quality -------------------------------------------------------------------


def _qualities(store: ArticleStore) -> dict[str, tuple[str | None, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(Article.url, Article.published_at_quality, Article.event_date)
        ).all()
    return {url.rsplit("/", 1)[1]: (quality, event) for url, quality, event in rows}


def test_a_display_hour_many_articles_share_is_bulk_and_an_arrival_remarks_earlier_ones(
    database_url, make_article_record
):
    store = ArticleStore(database_url, bulk_threshold=3)
    hour = "2023-01-18T17:{:02d}:00+07:00"
    store.write_batch(
        [
            make_article_record(
                "m1",
                body_text="1",
                published_at=hour.format(48),
                event_date="2022-10-12",
                event_date_source="lead",
            ),
            make_article_record("m2", body_text="2", published_at=hour.format(5)),
            make_article_record("alone", body_text="3", published_at="2023-01-18T18:00:00+07:00"),
            make_article_record("undated", body_text="4", published_at=None),
        ],
        "run-1",
    )
    assert _qualities(store) == {
        "m1": ("ok", date(2022, 10, 12)),
        "m2": ("ok", None),
        "alone": ("ok", None),
        "undated": (None, None),
    }
    # A later crawl meets the third article of that hour: the two stored before become bulk.
    store.write_batch(
        [make_article_record("m3", body_text="5", published_at=hour.format(59))], "r2"
    )
    marks = {name: quality for name, (quality, _) in _qualities(store).items()}
    assert marks == {"m1": "bulk", "m2": "bulk", "m3": "bulk", "alone": "ok", "undated": None}
    # An article moved out of the hour (its page now says another date) undoes the cluster.
    store.write_batch(
        [make_article_record("m3", body_text="5", published_at="2023-02-01T09:00:00+07:00")], "r3"
    )
    marks = {name: quality for name, (quality, _) in _qualities(store).items()}
    assert marks == {"m1": "ok", "m2": "ok", "m3": "ok", "alone": "ok", "undated": None}
    store.close()


def _other_site_record(make_article_record: Any, published_at: str) -> dict[str, Any]:
    url = "https://other.example/w/o"
    record = make_article_record("o", site="other", body_text="o", published_at=published_at)
    return {**record, "url": url, "id": article_id(url), "alternate_urls": []}


def test_a_whole_site_recount_applies_a_changed_threshold_to_one_site_only(
    database_url, make_article_record
):
    store = ArticleStore(database_url)
    hour = "2023-01-18T17:{:02d}:00+07:00"
    store.write_batch(
        [
            make_article_record(f"a{i}", body_text=f"a{i}", published_at=hour.format(i))
            for i in range(3)
        ]
        + [_other_site_record(make_article_record, hour.format(1))],
        "run-1",
    )
    assert set(_qualities(store).values()) == {("ok", None)}
    store.close()
    stricter = ArticleStore(database_url, bulk_threshold=3)
    assert stricter.mark_publication_quality("hepza") == 3
    marks = {name: quality for name, (quality, _) in _qualities(stricter).items()}
    assert marks == {"a0": "bulk", "a1": "bulk", "a2": "bulk", "o": "ok"}
    assert stricter.mark_publication_quality("hepza") == 0
    stricter.close()


def test_best_date_is_the_event_day_only_where_the_display_date_is_bulk():
    bulk = {"published_at": "2023-01-18T17:48:00+07:00", "published_at_quality": "bulk"}
    assert best_date_of({**bulk, "event_date": date(2022, 10, 12)}) == date(2022, 10, 12)
    assert best_date_of({**bulk, "event_date": None}) == date(2023, 1, 18)
    ok = {**bulk, "published_at_quality": "ok", "event_date": date(2022, 10, 12)}
    assert best_date_of(ok) == date(2023, 1, 18)
    assert best_date_of({"published_at": None, "event_date": None}) is None


@pytest.mark.parametrize("command", ["export", "search"])
def test_by_event_without_since_is_one_line_and_exit_2(tmp_path, command):
    args = ["-f", "jsonl"] if command == "export" else ["dau tu"]
    result = run_scrapy(tmp_path, command, *args, "--by", "event")
    assert result.returncode == 2
    assert result.stderr.strip() == f"{command}: --by event needs --since YYYY-MM-DD"
