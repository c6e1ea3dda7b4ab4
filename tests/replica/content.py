"""The replica's articles: the seed article, the special cases and generated Vietnamese news.

Metadata for every article is built up front; bodies are built per request from a per-article
RNG (random.Random seeded with a string is stable across processes, unlike hash()).
"""

from __future__ import annotations

import html
import random
import re
import unicodedata
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

# A verbatim copy of the reference text, tests/fixtures/reference/seed-article.txt
# (tests/test_replica.py checks that the two still match).
SEED_TEXT_PATH = Path(__file__).with_name("seed-article.txt")
GROUP_ID = 20122
COMPANY_ID = 20098
NBSP = "\u00a0"
UUID_NS = uuid.UUID("6f1d6d3e-2b0c-4c55-9a43-51d1c0d1e7a2")

# (key, name): the leaf news categories; articles belong to exactly one.
CATEGORY_NAMES: dict[str, str] = {
    "tin-hoat-dong": "Tin hoạt động",
    "hoat-dong-dang-doan-the": "Hoạt động Đảng - Đoàn thể",
    "tin-doanh-nghiep": "Tin doanh nghiệp",
    "thong-bao": "Thông báo",
}
LEAF_CATEGORIES: tuple[str, ...] = tuple(CATEGORY_NAMES)

SPECIAL_KINDS: tuple[str, ...] = ("seed", "nfd", "hostile", "images", "no_author")
GENERATED_VARIANTS: tuple[tuple[str | None, int], ...] = (
    (None, 12),
    ("journal_wrapper", 3),
    ("cldr17", 2),
    ("cldr20", 2),
    ("slug_uppercase", 1),
    ("lead_image", 2),
)


def stable_rng(*parts: object) -> random.Random:
    return random.Random(":".join(str(p) for p in parts))


def stable_uuid(*parts: object) -> str:
    return str(uuid.uuid5(UUID_NS, ":".join(str(p) for p in parts)))


def liferay_shorten(text: str, length: int, suffix: str = "...") -> str:
    """StringUtil.shorten: cut at the last whitespace before length - len(suffix)."""
    if len(text) <= length:
        return text
    cut = length
    for j in range(length - len(suffix), -1, -1):
        # Java's Character.isWhitespace is false for the no-break spaces.
        if text[j].isspace() and text[j] not in "\u00a0\u2007\u202f":
            cut = j
            break
    if cut == length:
        cut = length - len(suffix)
    return text[:cut] + suffix


# Separators: ASCII other than [a-z0-9._*], whitespace, and the General Punctuation block.
_URL_TITLE_SEPARATORS = re.compile(r"[^a-z0-9._*\u00aa-\u1fff\u2070-\uffff]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def friendly_url_title(title: str, *, fold_non_ascii: bool = True) -> str:
    """FriendlyURLNormalizerImpl.normalizeWithEncoding, returning the decoded url title."""
    text = title.lower() if fold_non_ascii else title.translate(_ASCII_LOWER)
    return _URL_TITLE_SEPARATORS.sub("-", text).strip("-")


def encode_slug(slug: str, *, lower_hex: bool = False) -> str:
    encoded = quote(slug, safe="._*-")
    if lower_hex:
        encoded = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded)
    return encoded


def fold_text(text: str) -> str:
    """Truth form of a text: NFC, every kind of space folded, runs collapsed."""
    text = unicodedata.normalize("NFC", text)
    return " ".join(text.replace(NBSP, " ").replace("\u202f", " ").split())


@dataclass(frozen=True)
class Block:
    """One block of an article body: its HTML and its truth text (None: not a paragraph)."""

    html: str
    text: str | None


@dataclass(frozen=True)
class Image:
    path: str
    caption: str


@dataclass(frozen=True)
class Attachment:
    path: str
    title: str


@dataclass
class Article:
    number: int
    kind: str  # seed | nfd | hostile | images | no_author | generated | extra
    variant: str | None
    title: str
    slug: str  # decoded url title
    category: str  # key of CATEGORY_NAMES
    published: datetime
    modified: datetime
    author: str | None
    byline_style: int
    tags: tuple[str, ...]
    description: str
    article_id: int
    asset_entry_id: int
    date_style: str = "compat"
    journal_wrapper: bool = False
    lead_image: Image | None = None
    edited: bool = False

    @cached_property
    def slug_path(self) -> str:
        """The percent-encoded url title (upper-case hex), as links and the sitemap show it."""
        return encode_slug(self.slug)

    @cached_property
    def slug_path_lower(self) -> str:
        return encode_slug(self.slug, lower_hex=True)

    @property
    def canonical_path(self) -> str:
        return "/w/" + self.slug_path


# ---------------------------------------------------------------------------------------------
# The seed article (reference text, verbatim)


def load_seed_text() -> list[str]:
    """Reference text blocks: title, date, title, cut summary, body..., byline, heading."""
    lines = SEED_TEXT_PATH.read_text(encoding="utf-8").split("\n")
    return [line for line in lines if line]


def seed_parts() -> tuple[str, str, list[str], str]:
    """Title, full description, body paragraphs (with the no-break-space ones), byline."""
    parts = load_seed_text()
    title = parts[0]
    cut = parts[3]
    first = parts[4]
    body = parts[4:-2]
    byline = parts[-2]
    # The full description is the first sentence of the lead paragraph; the page shows it cut
    # by StringUtil.shorten(description, 150), which must give the reference's cut line.
    description = first[: first.index("2022.") + len("2022.")]
    if liferay_shorten(description, 150) != cut:
        raise ValueError("seed description does not reproduce the reference summary cut")
    return title, description, body, byline


# ---------------------------------------------------------------------------------------------
# Vocabulary for generated articles

ORGS = (
    "Ban Quản lý các Khu chế xuất và công nghiệp TP.HCM",
    "Công đoàn các Khu chế xuất và công nghiệp",
    "Đoàn Thanh niên Ban Quản lý",
    "Đảng ủy Ban Quản lý",
    "Hội đồng quản trị Công ty Tân Thuận",
    "Trung tâm Hỗ trợ doanh nghiệp",
)
PLACES = (
    "Khu chế xuất Tân Thuận",
    "Khu chế xuất Linh Trung I",
    "Khu chế xuất Linh Trung II",
    "Khu công nghiệp Hiệp Phước",
    "Khu công nghiệp Tân Bình",
    "Khu công nghiệp Vĩnh Lộc",
    "Khu công nghiệp Lê Minh Xuân",
    "Khu công nghiệp Tân Tạo",
    "Khu công nghệ cao",
    "Khu công nghiệp Cát Lái",
)
TOPICS = (
    "cải cách hành chính",
    "thu hút vốn đầu tư nước ngoài",
    "an toàn vệ sinh lao động",
    "phòng cháy chữa cháy",
    "chuyển đổi số trong doanh nghiệp",
    "bảo vệ môi trường",
    "phát triển nguồn nhân lực",
    "chăm lo đời sống công nhân",
    "xúc tiến đầu tư",
    "hạ tầng giao thông kết nối",
    "sản xuất xanh",
    "phòng, chống dịch bệnh",
)
COUNTRIES = ("Nhật Bản", "Hàn Quốc", "Singapore", "Đài Loan", "Hoa Kỳ", "Đức", "Úc", "Hà Lan")
COMPANIES = (
    "Công ty TNHH Nidec Việt Nam",
    "Công ty TNHH Juki Việt Nam",
    "Công ty CP Dược phẩm Sài Gòn",
    "Công ty TNHH Freetrend",
    "Công ty TNHH Pouyuen Việt Nam",
    "Công ty TNHH Intel Products Việt Nam",
)
AUTHORS = (
    "Minh Trí",
    "Thu Hà",
    "Ngọc Lan",
    "Hoàng Nam",
    "Thanh Tùng",
    "Bảo Anh",
    "Quốc Việt",
    "Mỹ Linh",
)
TAGS = (
    "khu chế xuất",
    "khu công nghiệp",
    "đầu tư",
    "doanh nghiệp FDI",
    "công đoàn",
    "đảng bộ",
    "thanh niên",
    "môi trường",
    "cải cách hành chính",
    "lao động",
)

TITLE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "tin-hoat-dong": (
        "Hội nghị triển khai công tác {topic} tại {place} năm {year}",
        "Đoàn công tác {country} thăm và làm việc tại {place}",
        "{org} sơ kết công tác {topic} {period} năm {year}",
        "Tập huấn nghiệp vụ {topic} cho doanh nghiệp {place}",
    ),
    "hoat-dong-dang-doan-the": (
        "Đảng bộ {place} tổ chức hội nghị học tập nghị quyết năm {year}",
        "Công đoàn {place} trao quà cho công nhân khó khăn dịp {holiday}",
        "Đoàn Thanh niên ra quân hưởng ứng chương trình {topic} năm {year}",
        "Hội thao công nhân {place} lần thứ {nth}",
    ),
    "tin-doanh-nghiep": (
        "{company} khánh thành nhà máy mới tại {place}",
        "{company} tăng vốn đầu tư thêm {money} triệu USD",
        "Doanh nghiệp {country} tìm hiểu cơ hội đầu tư vào {place}",
        "{company} đạt chứng nhận {topic} năm {year}",
    ),
    "thong-bao": (
        "Thông báo về việc tổ chức hội nghị đối thoại doanh nghiệp {period} năm {year}",
        "Thông báo lịch tiếp công dân của Ban Quản lý tháng {month} năm {year}",
        "Thông báo kết quả tuyển dụng viên chức năm {year} đợt {nth}",
        "Thông báo về việc lấy ý kiến dự thảo quy chế {topic}",
    ),
}
SENTENCES = (
    "Ngày {day}/{month}, {org} đã tổ chức hội nghị về {topic} với sự tham dự của đại diện "
    "hơn {count} doanh nghiệp đang hoạt động tại {place}.",
    "Theo báo cáo, trong {period} năm {year}, các doanh nghiệp tại {place} đã đạt kim ngạch "
    "xuất khẩu hơn {money} triệu USD, tăng {percent}% so với cùng kỳ.",
    "Phát biểu tại buổi làm việc, lãnh đạo {org} đề nghị các đơn vị tiếp tục quan tâm đến "
    "{topic}, bảo đảm việc làm và thu nhập cho người lao động.",
    "Đại diện doanh nghiệp {country} cho biết sẽ mở rộng hoạt động sản xuất, dự kiến tạo thêm "
    "khoảng {count} việc làm mới trong thời gian tới.",
    "Các đại biểu đã thảo luận, đóng góp nhiều ý kiến thiết thực nhằm nâng cao hiệu quả công tác "
    "{topic} trong thời gian tới.",
    "Dịp này, {org} đã trao {count} phần quà cho công nhân, người lao động có hoàn cảnh khó khăn "
    "tại {place}.",
    "Tính đến nay, {place} đã thu hút {count} dự án đầu tư với tổng vốn đăng ký hơn {money} triệu "
    "USD.",
    "Chương trình nhằm cụ thể hóa kế hoạch {topic} của Thành phố, góp phần xây dựng môi trường "
    "đầu tư thông thoáng, minh bạch.",
    "Ban tổ chức cho biết chương trình sẽ được duy trì định kỳ hằng năm, với nhiều hoạt động "
    "thiết thực hướng đến người lao động.",
    "Hồ sơ đăng ký gửi về Văn phòng Ban Quản lý, số 35 Nguyễn Bỉnh Khiêm, Quận 1, trước ngày "
    "{day}/{month}/{year}.",
)
# The block of old articles a portal migration re-created in one afternoon (ReplicaConfig
# migrated_articles): each displays the seed's 1/18/23 5:48 PM hour, its lead opens with the day
# of its event as Vietnamese news writes it, or (the last two forms) with no event day.
# (form, event year written or not); {d} {m} {y} are the event's day, month, year.
MIGRATED_LEADS: tuple[tuple[str, bool], ...] = (
    ("Ngày {d}/{m}, {org} tổ chức hội nghị về {topic} tại {place}.", False),
    ("Sáng {d}/{m}, {org} đã làm việc với doanh nghiệp tại {place} về {topic}.", False),
    ("Chiều ngày {d}/{m}, {org} tổ chức tập huấn {topic} cho doanh nghiệp.", False),
    ("Tối {d}-{m}, {org} tổ chức chương trình văn nghệ chào mừng công nhân {place}.", False),
    ("Ngày {d} tháng {m}, {org} tiếp và làm việc với đoàn doanh nghiệp {country}.", False),
    ("Ngày {d}/{m}/{y}, {org} tổ chức hội nghị sơ kết công tác {topic}.", True),
    ("Theo báo cáo của {org}, trong 6 tháng đầu năm {y}, {place} thu hút thêm vốn đầu tư.", True),
    ("Kể từ ngày {d}/{m}/{y}, doanh nghiệp tại {place} nộp hồ sơ {topic} trực tuyến.", True),
)
MIGRATED_NO_EVENT = frozenset({6, 7})  # the forms above whose lead opens with no event day


def migrated_lead(k: int, event: datetime, seed: int) -> tuple[str, bool]:
    """The lead of the k-th migrated article whose event was on ``event``, and whether the
    lead gives that day as its event day."""
    form, _ = MIGRATED_LEADS[k % len(MIGRATED_LEADS)]
    rng = stable_rng(seed, "migrated", k)
    slots = _Slots(rng, event)
    slots.update(d=str(event.day), m=str(event.month), y=str(event.year))
    return form.format_map(slots), k % len(MIGRATED_LEADS) not in MIGRATED_NO_EVENT


PERIODS = ("6 tháng đầu năm", "9 tháng đầu năm", "quý I", "quý III", "cả năm")
HOLIDAYS = ("Tết Nguyên đán", "Tháng Công nhân", "Trung thu", "Quốc khánh 2/9")


_DRAW: dict[str, Callable[[random.Random, datetime], str]] = {
    "org": lambda rng, when: rng.choice(ORGS),
    "place": lambda rng, when: rng.choice(PLACES),
    "topic": lambda rng, when: rng.choice(TOPICS),
    "country": lambda rng, when: rng.choice(COUNTRIES),
    "company": lambda rng, when: rng.choice(COMPANIES),
    "period": lambda rng, when: rng.choice(PERIODS),
    "holiday": lambda rng, when: rng.choice(HOLIDAYS),
    "year": lambda rng, when: str(when.year),
    "month": lambda rng, when: str(rng.randint(1, 12)),
    "day": lambda rng, when: str(rng.randint(1, 28)),
    "nth": lambda rng, when: str(rng.randint(2, 15)),
    "count": lambda rng, when: str(rng.randint(12, 480)),
    "money": lambda rng, when: str(rng.randint(5, 900)),
    "percent": lambda rng, when: f"{rng.randint(1, 35)},{rng.randint(1, 9)}",
}


class _Slots(dict[str, str]):
    """Template values drawn from the RNG only when a template names them."""

    def __init__(self, rng: random.Random, when: datetime) -> None:
        super().__init__()
        self.rng = rng
        self.when = when

    def __missing__(self, key: str) -> str:
        value = _DRAW[key](self.rng, self.when)
        self[key] = value
        return value


def _fill(template: str, rng: random.Random, when: datetime) -> str:
    return template.format_map(_Slots(rng, when))


def generated_title(art_rng: random.Random, category: str, when: datetime) -> str:
    return _fill(art_rng.choice(TITLE_TEMPLATES[category]), art_rng, when)


def generated_paragraphs(
    number: int, seed: int, when: datetime, *, lead_only: bool = False
) -> list[list[str]]:
    """Paragraphs as lists of sentences; the first sentence is the article's description."""
    rng = stable_rng(seed, number, "body")
    out: list[list[str]] = []
    for _ in range(rng.randint(3, 6)):
        sentences: list[str] = []
        for _ in range(rng.randint(2, 4)):
            sentences.append(_fill(rng.choice(SENTENCES), rng, when))
            if lead_only:
                return [sentences]
        out.append(sentences)
    return out


def document_path(number: int, name: str, seed: int, when: datetime) -> str:
    folder = 40000 + number % 97
    return (
        f"/documents/{GROUP_ID}/{folder}/{name}/{stable_uuid(seed, number, name)}"
        f"?t={int(when.timestamp() * 1000)}"
    )


# ---------------------------------------------------------------------------------------------
# Body rendering (CKEditor-style HTML, as journal article content)

BYLINE_STYLES = (
    '<p style="text-align: right;"><strong>{a}</strong></p>',
    '<p style="text-align:right"><em>{a}</em></p>',
    '<p class="text-right"><b>{a}</b></p>',
    '<div style="text-align: right;"><strong>{a}</strong></div>',
    '<p style="text-align: right;"><strong><em>{a}</em></strong></p>',
)


def byline_block(author: str, style: int) -> Block:
    return Block(BYLINE_STYLES[style % len(BYLINE_STYLES)].format(a=html.escape(author)), None)


def para(text: str) -> Block:
    return Block(f"<p>{html.escape(text).replace(NBSP, '&nbsp;')}</p>", fold_text(text) or None)


EDIT_NOTE = (
    "Cập nhật: Ban Quản lý đã bổ sung thông tin về kết quả thực hiện và kế hoạch triển khai "
    "trong thời gian tới."
)
