from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scrapy.utils.test import get_crawler

from crawler.domain.items import ArticleItem, ArticleUrlItem
from crawler.domain.text import BIDI_CONTROLS, is_truncated, normalize_paragraphs, normalize_text
from pipelines.fields import PROBLEM_CODES, ArticleFieldsPipeline
from pipelines.html import sanitize_html
from pipelines.text import TextNormalizationPipeline

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Hội   nghị \n sơ kết  ", "Hội nghị sơ kết"),
        ("Minh\u00a0Trí", "Minh Trí"),
        ("5:48\u202fPM", "5:48 PM"),
        ("1\u2007000", "1 000"),
        ("a\u2003\u3000b", "a b"),
        ("Đảng\u200b ủy\u200c\u200d", "Đảng ủy"),
        ("\ufeffBan Quản lý", "Ban Quản lý"),
        ("công\u00adnghiệp", "côngnghiệp"),
        ("tab\tand\r\nnewline", "tab and newline"),
        ("\u00a0\u200b \n", ""),
        # NFD "Hội nghị" (o + combining horn + combining dot below) becomes NFC.
        (unicodedata.normalize("NFD", "Hội nghị"), "Hội nghị"),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


@given(st.text())
def test_normalize_text_is_idempotent_nfc_and_trimmed(raw: str) -> None:
    once = normalize_text(raw)
    assert normalize_text(once) == once
    assert unicodedata.is_normalized("NFC", once)
    assert once == once.strip()
    assert "  " not in once
    assert not any(ch in once for ch in "\u00a0\u202f\u2007\u200b\u200c\u200d\ufeff\u00ad\n")


def test_normalize_paragraphs_splits_on_blank_lines_and_drops_empty_ones() -> None:
    text = (
        "  Ngày 12/10,  Đảng ủy\ntổ chức hội nghị.\n\n\u00a0\n\n\n"
        "Trong 9 tháng\u00a0đầu năm\n \n\u200b\nMinh Trí "
    )
    assert normalize_paragraphs(text) == (
        "Ngày 12/10, Đảng ủy tổ chức hội nghị.\n\nTrong 9 tháng đầu năm\n\nMinh Trí"
    )


def test_normalize_paragraphs_handles_crlf_and_empty_input() -> None:
    assert normalize_paragraphs("a\r\n\r\nb\r\nc") == "a\n\nb c"
    assert normalize_paragraphs(" \n\u00a0\n") == ""


@pytest.mark.parametrize(
    ("text", "truncated"),
    [
        ("Ngày 12/10, Đảng ủy Ban Quản lý...", True),
        ("Ngày 12/10, Đảng ủy Ban Quản lý…", True),
        ("Ngày 12/10, Đảng ủy Ban Quản lý...\u00a0", True),
        ("Ngày 12/10, Đảng ủy Ban Quản lý.", False),
        ("3.5 tỷ USD", False),
        ("", False),
    ],
)
def test_is_truncated(text: str, truncated: bool) -> None:
    assert is_truncated(text) is truncated


FULL = (
    "Ngày 12/10, Đảng ủy Ban Quản lý các Khu Chế xuất và Công nghiệp Thành phố tổ chức "
    "hội nghị sơ kết công tác xây dựng Đảng bộ 9 tháng đầu năm."
)


class TextStages:
    """The text pipeline, then the fields pipeline (summary, byline, caps), as a crawl runs them."""

    def __init__(self, crawler: Crawler) -> None:
        self.stages = [
            TextNormalizationPipeline.from_crawler(crawler),
            ArticleFieldsPipeline.from_crawler(crawler),
        ]

    def process_item(self, item: Any) -> Any:
        for stage in self.stages:
            item = stage.process_item(item)
        return item


def _pipeline() -> tuple[TextStages, dict[str, Any]]:
    crawler = get_crawler()
    assert crawler.stats is not None
    return TextStages(crawler), crawler.stats.get_stats()


def test_pipeline_normalizes_every_text_field() -> None:
    pipeline, stats = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        title=" Hội\u00a0nghị  sơ kết ",
        body_text="Đoạn\u00a0một\n\n\n đoạn hai ",
        author="\u200b",
        category=" Tin  hoạt động ",
        tags=["KCX", " kcx ", "Đảng\u00a0ủy", "", "KCN", "Đảng ủy"],
        images=[{"url": "https://h/a.jpg", "caption": " Ảnh\u00a0hội nghị "}],
        attachments=[{"url": "https://h/a.pdf", "title": "  "}],
        full_description=f" {FULL} ",
    )
    pipeline.process_item(item)
    assert item.title == "Hội nghị sơ kết"
    assert item.body_text == "Đoạn một\n\nđoạn hai"
    assert item.author is None
    assert item.category == "Tin hoạt động"
    assert item.tags == ["KCX", "Đảng ủy", "KCN"]
    assert item.images == [{"url": "https://h/a.jpg", "caption": "Ảnh hội nghị"}]
    assert item.attachments == [{"url": "https://h/a.pdf", "title": None}]
    assert item.full_description == FULL
    assert stats["normalize/tags_deduplicated"] == 2


def test_truncated_summary_is_replaced_by_the_full_description() -> None:
    pipeline, stats = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        summary=FULL[:120] + "...",
        full_description=FULL,
    )
    pipeline.process_item(item)
    assert item.summary == FULL
    assert item.summary_truncated is False
    assert item.problems == []
    assert stats["normalize/summary_expanded"] == 1


def test_truncated_summary_matches_description_after_folding_case_and_spaces() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        summary="NGÀY 12/10,\u00a0ĐẢNG ỦY ban quản lý…",
        full_description=FULL,
    )
    pipeline.process_item(item)
    assert item.summary == FULL
    assert item.summary_truncated is False


def test_truncated_summary_without_description_is_kept_and_flagged() -> None:
    pipeline, stats = _pipeline()
    item = ArticleItem(url="https://h/w/x", summary="Ngày 12/10, Đảng ủy Ban Quản lý...")
    pipeline.process_item(item)
    assert item.summary == "Ngày 12/10, Đảng ủy Ban Quản lý..."
    assert item.summary_truncated is True
    assert [p["code"] for p in item.problems] == ["summary_truncated"]
    assert item.problems[0]["field"] == "summary"
    assert stats["normalize/summary_truncated"] == 1


def test_truncated_summary_with_an_unrelated_description_is_kept_and_flagged() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        summary="Trong 9 tháng đầu năm 2022...",
        full_description=FULL,
    )
    pipeline.process_item(item)
    assert item.summary == "Trong 9 tháng đầu năm 2022..."
    assert item.summary_truncated is True
    assert [p["code"] for p in item.problems] == ["summary_truncated"]


def test_untruncated_summary_is_kept_even_when_description_differs() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(url="https://h/w/x", summary="Tóm tắt ngắn.", full_description=FULL)
    pipeline.process_item(item)
    assert item.summary == "Tóm tắt ngắn."
    assert item.summary_truncated is False


def test_missing_summary_is_taken_from_the_full_description() -> None:
    pipeline, stats = _pipeline()
    item = ArticleItem(url="https://h/w/x", summary=" ", full_description=FULL)
    pipeline.process_item(item)
    assert item.summary == FULL
    assert stats["normalize/summary_from_description"] == 1


def test_byline_equal_to_author_is_dropped_from_body() -> None:
    pipeline, stats = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        author="Minh Trí",
        body_text="Đoạn một.\n\nĐoạn hai.\n\n\u00a0\n\nMinh\u00a0Trí",
    )
    pipeline.process_item(item)
    assert item.body_text == "Đoạn một.\n\nĐoạn hai."
    assert stats["normalize/byline_dropped"] == 1


def test_last_paragraph_that_is_not_the_author_stays() -> None:
    pipeline, stats = _pipeline()
    item = ArticleItem(url="https://h/w/x", author="Minh Trí", body_text="Đoạn một.\n\nHết.")
    pipeline.process_item(item)
    assert item.body_text == "Đoạn một.\n\nHết."
    assert "normalize/byline_dropped" not in stats


def test_empty_strings_become_none() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(url="https://h/w/x", title="\u00a0", body_text="\n\n", summary="")
    pipeline.process_item(item)
    assert (item.title, item.body_text, item.summary) == (None, None, None)


def test_other_items_pass_through_untouched() -> None:
    pipeline, _ = _pipeline()
    other = ArticleUrlItem(url=" https://h/w/x ", canonical_url="https://h/w/x")
    assert pipeline.process_item(other) is other
    assert other.url == " https://h/w/x "


def test_pipeline_is_idempotent() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        title=" A\u00a0b ",
        summary="Ngày 12/10, Đảng ủy...",
        full_description=FULL,
        body_text="x\n\ny",
        tags=["a", "A"],
    )
    pipeline.process_item(item)
    snapshot = (item.title, item.summary, item.body_text, list(item.tags), list(item.problems))
    pipeline.process_item(item)
    assert (item.title, item.summary, item.body_text, item.tags, item.problems) == snapshot


def test_problem_codes_are_documented() -> None:
    pipeline, _ = _pipeline()
    item = ArticleItem(url="https://h/w/x", summary="abc...")
    pipeline.process_item(item)
    assert {p["code"] for p in item.problems} <= set(PROBLEM_CODES)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hội\x00 nghị\x1b", "Hội nghị"),
        ("Ban\x7f Quản\x9d lý", "Ban Quản lý"),
        ("tách\x0bbằng\x0cdấu\x85cách", "tách bằng dấu cách"),
        ("tab\tgiữ", "tab giữ"),
    ],
)
def test_normalize_text_strips_control_characters(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_normalize_paragraphs_strips_control_characters_and_keeps_paragraphs() -> None:
    text = "Đoạn\x01 một\x02.\n\n\x03\n\nĐoạn\x9f hai."
    assert normalize_paragraphs(text) == "Đoạn một.\n\nĐoạn hai."


def _every_text_field_after_the_pipeline(
    title: str,
    summary: str,
    body: str,
    author: str,
    category: str,
    tag: str,
    caption: str,
    name: str,
) -> list[str]:
    """The text fields of a record with these values, once through the text pipeline."""
    pipeline, _ = _pipeline()
    item = ArticleItem(
        url="https://h/w/x",
        title=title,
        summary=summary,
        body_text=body,
        author=author,
        category=category,
        tags=[tag],
        images=[{"url": "https://h/a.jpg", "caption": caption}],
        attachments=[{"url": "https://h/a.pdf", "title": name}],
    )
    pipeline.process_item(item)
    return [
        item.title,
        item.summary,
        item.body_text,
        item.author,
        item.category,
        *item.tags,
        item.images[0]["caption"],
        item.attachments[0]["title"],
    ]


def test_pipeline_strips_control_characters_from_every_text_field() -> None:
    values = _every_text_field_after_the_pipeline(
        "Tiêu\x00 đề\x1f",
        "Tóm\x08 tắt.",
        "Nội\x07 dung.",
        "Minh\x81 Trí",
        "Tin\x10 hoạt động",
        "KCX\x0e",
        "Ảnh\x05",
        "Tờ\x06 trình",
    )
    assert values == [
        "Tiêu đề",
        "Tóm tắt.",
        "Nội dung.",
        "Minh Trí",
        "Tin hoạt động",
        "KCX",
        "Ảnh",
        "Tờ trình",
    ]


def _capped_pipeline(**limits: int) -> TextStages:
    settings = {f"MAX_{name.upper()}_CHARS": limit for name, limit in limits.items()}
    return TextStages(get_crawler(settings_dict=settings))


def test_a_100000_character_title_is_capped_with_a_problem_naming_its_length() -> None:
    pipeline = _capped_pipeline(title=1000)
    item = ArticleItem(url="https://h/w/x", title="Hội nghị " * 12_500)
    pipeline.process_item(item)
    assert item.title is not None
    assert len(item.title) <= 1000
    assert item.title.startswith("Hội nghị Hội nghị")
    assert [(p["field"], p["code"]) for p in item.problems] == [("title", "title_too_long")]
    assert "112499 characters" in item.problems[0]["message"]


def test_summary_author_and_category_are_capped_by_their_settings() -> None:
    pipeline = _capped_pipeline(summary=50, author=10, category=10)
    item = ArticleItem(
        url="https://h/w/x", summary="x" * 60, author="y" * 11, category="Tin hoạt động"
    )
    pipeline.process_item(item)
    assert (item.summary, item.author, item.category) == ("x" * 50, "y" * 10, "Tin hoạt đ")
    assert [p["code"] for p in item.problems] == [
        "summary_too_long",
        "author_too_long",
        "category_too_long",
    ]
    assert {p["code"] for p in item.problems} <= set(PROBLEM_CODES)


def test_values_within_the_caps_carry_no_problem_and_capping_is_idempotent() -> None:
    pipeline = _capped_pipeline(title=20)
    item = ArticleItem(url="https://h/w/x", title="Tiêu đề vừa đủ dài để bị cắt bớt")
    pipeline.process_item(item)
    capped = (item.title, list(item.problems))
    pipeline.process_item(item)
    assert (item.title, item.problems) == capped
    short = ArticleItem(url="https://h/w/x", title="Ngắn")
    pipeline.process_item(short)
    assert short.problems == []


def test_default_caps_come_from_the_project_settings() -> None:
    from crawler import settings  # noqa: PLC0415

    assert (settings.MAX_TITLE_CHARS, settings.MAX_SUMMARY_CHARS) == (1000, 5000)


# --- bidirectional controls -------------------------------------------------------------------

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
VIETNAMESE_WORDS = ["Hội", "nghị", "sơ", "kết", "Đảng", "ủy", "Khu", "chế", "xuất", "Tân", "Thuận"]


def test_the_bidi_controls_are_the_twelve_unicode_names() -> None:
    assert set(BIDI_CONTROLS) == set(BIDI)
    assert {unicodedata.bidirectional(ch) for ch in BIDI} == {
        "LRE", "RLE", "PDF", "LRO", "RLO", "LRI", "RLI", "FSI", "PDI", "L", "R", "AL"
    }  # fmt: skip


@pytest.mark.parametrize("control", list(BIDI))
def test_normalize_text_removes_each_bidi_control(control: str) -> None:
    assert normalize_text(f"Hội nghị{control} sơ kết{control}") == "Hội nghị sơ kết"
    assert normalize_paragraphs(f"Đoạn{control} một.\n\n{control}\n\nHai.") == "Đoạn một.\n\nHai."


@given(st.lists(st.sampled_from(VIETNAMESE_WORDS), min_size=1), st.data())
def test_bidi_controls_anywhere_in_vietnamese_leave_exactly_the_nfc_words(
    words: list[str], data: st.DataObject
) -> None:
    text = ""
    for word in words:
        # NFD as some editors write it, with controls before, inside and after each word
        decomposed = unicodedata.normalize("NFD", word)
        cut = data.draw(st.integers(0, len(decomposed)))
        noise = data.draw(st.text(alphabet=BIDI, max_size=3))
        text += noise + decomposed[:cut] + noise + decomposed[cut:] + " "
    assert normalize_text(text) == " ".join(words)
    assert normalize_paragraphs(text) == " ".join(words)


@given(st.text(alphabet=st.sampled_from([*BIDI, "a", "ê", "\u0301", " ", "\n", "\u200b"])))
def test_normalize_text_never_keeps_a_bidi_control_and_stays_idempotent(raw: str) -> None:
    once = normalize_text(raw)
    assert not set(once) & set(BIDI)
    assert normalize_text(once) == once
    assert unicodedata.is_normalized("NFC", once)
    assert not set(normalize_paragraphs(raw)) & set(BIDI)


def test_pipeline_removes_bidi_controls_from_every_text_field() -> None:
    values = _every_text_field_after_the_pipeline(
        "Tiêu\u202e đề",
        "Tóm\u2066 tắt.\u2069",
        "Nội\u200f dung.",
        "Minh\u061c Trí",
        "Tin\u202d hoạt động",
        "KCX\u2067",
        "Ảnh\u202b",
        "hđ\u202egpj.exe",
    )
    assert values == [
        "Tiêu đề",
        "Tóm tắt.",
        "Nội dung.",
        "Minh Trí",
        "Tin hoạt động",
        "KCX",
        "Ảnh",
        "hđgpj.exe",
    ]


def test_body_html_loses_bidi_controls_and_keeps_its_vietnamese() -> None:
    html = sanitize_html("<p>Nghị\u202e quyết\u2066 số 1</p>", "https://h/w/x")
    assert html == "<p>Nghị quyết số 1</p>"
