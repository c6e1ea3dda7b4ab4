"""Other Liferay 7.4 portals than HEPZA, for the generic crawler: the Classic theme, Clay
pagination, every page under ``/web/<group>/``, Asset Publisher content URLs as the only article
URLs (no display pages), their own default locale, time zone, categories and labels.

The markup follows what liferay-portal 7.4 renders (frontend-theme-classic portal_normal.ftl and
the navigation menu's bar template, asset-publisher-web view_asset_entries_*.jsp and
view_asset_entry_full_content.jsp, the lexicon search paginator, the asset-links taglib); only
the journal article template inside ``.journal-content-article`` is the portal's own, as on
every real portal. ``ReplicaConfig(portal="classic-en")`` (or ``"classic-vi"``) selects one;
``ReplicaServer`` serves it and ``PortalSite.truth()`` says what a crawl must find.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from tests.replica.content import encode_slug, fold_text, friendly_url_title, stable_rng
from tests.replica.render import esc
from tests.replica.site import ReplicaConfig, ReplicaResponse, ReplicaSite

HTML = "text/html;charset=UTF-8"
XML = "text/xml;charset=UTF-8"
AP = "com_liferay_asset_publisher_web_portlet_AssetPublisherPortlet"
NAV = "com_liferay_site_navigation_menu_web_portlet_SiteNavigationMenuPortlet"
CLASS_NAME_ID = 32104
START = datetime(2021, 3, 1, 6, 0, tzinfo=UTC)
END = datetime(2025, 11, 30, 18, 0, tzinfo=UTC)
LAYOUT_MODIFIED = datetime(2023, 2, 1, 3, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Category:
    key: str  # the page's friendly URL
    name: str  # menu label, portlet title and the article's category
    style: str  # abstracts | title_list
    pager: str  # regular | simple (Clay/lexicon markup both)
    instance_id: str

    @property
    def portlet_id(self) -> str:
        return f"{AP}_INSTANCE_{self.instance_id}"

    @property
    def ns(self) -> str:
        return f"_{self.portlet_id}_"


@dataclass(frozen=True)
class Portal:
    name: str
    site_name: str
    group: str
    default_locale: str
    other_locale: str
    timezone: str
    home: str  # friendly URL of the home page
    home_name: str
    home_instance: str
    categories: tuple[Category, ...]
    pages: tuple[tuple[str, str, str], ...]  # (friendly URL, name, text)
    authors: tuple[str, ...]
    tags: tuple[str, ...]
    topics: tuple[str, ...]
    title_forms: tuple[str, ...]
    sentences: tuple[str, ...]
    seed: tuple[str, str, tuple[str, ...], str]  # title, summary, paragraphs, author

    @property
    def base_path(self) -> str:
        return f"/web/{self.group}"

    @property
    def locales(self) -> tuple[str, str]:
        return (self.default_locale, self.other_locale)


# UI words per locale: Liferay's language keys as a 7.4 portal prints them.
UI: dict[str, dict[str, str]] = {
    "en-US": {
        "published": "Published",
        "related": "Related Assets",
        "site_pages": "Site Pages",
        "sign_in": "Sign In",
        "search": "Search",
        "previous": "Previous",
        "next": "Next",
        "entries": "{d} Entries",
        "per_page": "per Page",
        "showing": "Showing {a} to {b} of {n} entries.",
        "topic": "Topic",
        "tags": "Tags",
        "not_found": "The requested resource could not be found.",
        "powered": "Powered By",
    },
    "vi-VN": {
        "published": "Ngày xuất bản",
        "related": "Nội dung liên quan",
        "site_pages": "Các trang",
        "sign_in": "Đăng nhập",
        "search": "Tìm kiếm",
        "previous": "Trang trước",
        "next": "Trang sau",
        "entries": "{d} mục",
        "per_page": "mỗi trang",
        "showing": "Đang hiển thị {a} đến {b} của {n} mục.",
        "topic": "Lĩnh vực",
        "tags": "Nhãn",
        "not_found": "Không tìm thấy tài nguyên được yêu cầu.",
        "powered": "Được cung cấp bởi",
    },
}

CLASSIC_EN = Portal(
    name="classic-en",
    site_name="Department of Planning and Investment",
    group="dpi",
    default_locale="en-US",
    other_locale="vi-VN",
    timezone="UTC",
    home="/home",
    home_name="Home",
    home_instance="hOmE4nEwS9aB",
    categories=(
        Category("press-releases", "Press Releases", "abstracts", "regular", "pR3ssR3l9xQa"),
        Category("investment-news", "Investment News", "title_list", "regular", "iNv3stN3wsZk"),
        Category("announcements", "Announcements", "abstracts", "simple", "aNn0unc3M3nt"),
    ),
    pages=(
        (
            "/about-us",
            "About Us",
            "The Department of Planning and Investment advises the City on economic planning, "
            "public investment and business registration.",
        ),
        ("/contact", "Contact", "Write to the Department at its office in District 1."),
    ),
    authors=("Jane Nguyen", "Michael Tran", "Anna Le", "David Pham", "Linh Vo"),
    tags=("investment", "planning", "FDI", "public investment", "business", "infrastructure"),
    topics=(
        "public investment disbursement",
        "the new industrial park",
        "business registration",
        "foreign direct investment",
        "the metro line",
        "digital transformation",
    ),
    title_forms=(
        "City reviews {topic} in {period}",
        "Investors discuss {topic} at the annual forum",
        "Department announces plan for {topic}",
        "New guidance on {topic} takes effect",
    ),
    sentences=(
        "The meeting reviewed {topic} and agreed on the next steps for the coming months.",
        "Officials said the results of {period} were better than the targets set in spring.",
        "Representatives of more than forty companies took part in the discussion.",
        "The Department will publish the full report on its portal after the review.",
        "Several districts asked for clearer procedures and shorter processing times.",
        "The plan covers land clearance, capital allocation and the training of staff.",
        "Participants also proposed a shared database for projects under construction.",
    ),
    seed=(
        "City reviews public investment disbursement in the first quarter",
        "The City disbursed 21 percent of its public investment plan in the first quarter, "
        "the Department reported on Wednesday.",
        (
            "At the review meeting, the Department of Planning and Investment said that 15 "
            "large projects had completed land clearance ahead of schedule.",
            "Delays remain in three transport projects, where compensation plans are still "
            "being approved by the districts.",
            "The Department proposed moving unused capital to projects that are ready to "
            "spend it before the end of June.",
        ),
        "Jane Nguyen",
    ),
)

CLASSIC_VI = Portal(
    name="classic-vi",
    site_name="Sở Khoa học và Công nghệ",
    group="sokhcn",
    default_locale="vi-VN",
    other_locale="en-US",
    timezone="UTC",
    home="/trang-chu",
    home_name="Trang chủ",
    home_instance="tRaNgChU7kLm",
    categories=(
        Category("tin-khoa-hoc", "Tin khoa học", "abstracts", "regular", "kHoaHoc2pQrS"),
        Category("hoat-dong-cua-so", "Hoạt động của Sở", "title_list", "simple", "hOatDong8tUv"),
    ),
    pages=(
        (
            "/gioi-thieu-so",
            "Giới thiệu Sở",
            "Sở Khoa học và Công nghệ là cơ quan chuyên môn tham mưu về khoa học, công nghệ và "
            "đổi mới sáng tạo.",
        ),
    ),
    authors=("Ngọc Hân", "Quốc Bảo", "Thanh Tùng", "Mỹ Linh"),
    tags=("đổi mới sáng tạo", "khởi nghiệp", "chuyển đổi số", "sở hữu trí tuệ", "nghiên cứu"),
    topics=(
        "chương trình khởi nghiệp sáng tạo",
        "đề tài nghiên cứu cấp thành phố",
        "chuyển đổi số trong doanh nghiệp",
        "tiêu chuẩn đo lường chất lượng",
        "sở hữu trí tuệ",
    ),
    title_forms=(
        "Sở tổ chức hội thảo về {topic}",
        "Nghiệm thu kết quả {topic} {period}",
        "Triển khai kế hoạch {topic}",
    ),
    sentences=(
        "Hội thảo đã đánh giá kết quả {topic} và thống nhất các bước tiếp theo.",
        "Theo báo cáo, kết quả {period} vượt chỉ tiêu đề ra từ đầu năm.",
        "Đại diện nhiều trường đại học và viện nghiên cứu đã tham dự buổi làm việc.",
        "Sở sẽ công bố toàn văn báo cáo trên cổng thông tin sau khi hoàn tất.",
        "Các doanh nghiệp đề nghị đơn giản hóa thủ tục và rút ngắn thời gian xử lý hồ sơ.",
        "Kế hoạch gồm các nội dung về nguồn vốn, nhân lực và hạ tầng thử nghiệm.",
    ),
    seed=(
        "Sở tổ chức hội thảo về chương trình khởi nghiệp sáng tạo năm 2023",
        "Sáng 18/01, Sở Khoa học và Công nghệ tổ chức hội thảo tổng kết chương trình khởi "
        "nghiệp sáng tạo của Thành phố.",
        (
            "Tại hội thảo, đại diện Sở cho biết chương trình đã hỗ trợ 120 dự án khởi nghiệp, "
            "trong đó 35 dự án đã gọi vốn thành công.",
            "Các chuyên gia đề xuất mở rộng mạng lưới cố vấn và tăng kinh phí cho giai đoạn "
            "ươm tạo.",
            "Sở sẽ trình Ủy ban nhân dân Thành phố kế hoạch giai đoạn tiếp theo trong quý II.",
        ),
        "Ngọc Hân",
    ),
)

PORTALS: dict[str, Portal] = {p.name: p for p in (CLASSIC_EN, CLASSIC_VI)}
PERIODS = {
    "en-US": ("the first quarter", "the first half", "the year"),
    "vi-VN": ("quý I", "6 tháng đầu năm", "năm nay"),
}


@dataclass
class PortalArticle:
    number: int
    title: str
    slug: str
    category: Category
    published: datetime
    modified: datetime
    author: str
    tags: tuple[str, ...]
    summary: str
    paragraphs: tuple[str, ...]

    @property
    def slug_path(self) -> str:
        return encode_slug(self.slug)


# --- dates as the portal prints them (JDK COMPAT, in the portal's zone: UTC) -------------------


def _en_time(dt: datetime) -> str:
    return f"{dt.hour % 12 or 12}:{dt.minute:02d} {'AM' if dt.hour < 12 else 'PM'}"


def short_date(dt: datetime, locale: str) -> str:
    if locale == "en-US":
        return f"{dt.month}/{dt.day}/{dt.year % 100:02d}"
    return f"{dt.day:02d}/{dt.month:02d}/{dt.year}"


def short_datetime(dt: datetime, locale: str) -> str:
    if locale == "en-US":
        return f"{short_date(dt, locale)} {_en_time(dt)}"
    return f"{dt.hour:02d}:{dt.minute:02d} {short_date(dt, locale)}"


class PortalSite:
    """One replica portal: the same ``handle``/``truth`` interface as ReplicaSite."""

    def __init__(self, config: ReplicaConfig) -> None:
        self.config = config
        self.portal = PORTALS[config.portal]
        self.articles: list[PortalArticle] = []
        self._lock = threading.Lock()
        self._build()

    # ------------------------------------------------------------------------------- model

    def _build(self) -> None:
        p, cfg = self.portal, self.config
        title, summary, paragraphs, author = p.seed
        seed_when = datetime(2023, 1, 18, 3, 48, tzinfo=UTC)
        self._add(
            PortalArticle(
                1,
                title,
                "",
                p.categories[0],
                seed_when,
                seed_when,
                author,
                p.tags[:2],
                summary,
                paragraphs,
            )
        )
        step = (END - START) / max(cfg.articles, 1)
        for i in range(cfg.articles - 1):
            number = i + 2
            rng = stable_rng(cfg.seed, p.name, number)
            when = (START + step * i + timedelta(minutes=rng.randint(0, 900))).replace(second=0)
            fill = {
                "topic": rng.choice(p.topics),
                "period": rng.choice(PERIODS[p.default_locale]),
            }
            title = rng.choice(p.title_forms).format(**fill)
            sentences = [s.format(**fill) for s in rng.sample(p.sentences, 4)]
            paras = (" ".join(sentences[1:3]), sentences[3])
            self._add(
                PortalArticle(
                    number,
                    title,
                    "",
                    rng.choice(p.categories),
                    when,
                    when + timedelta(hours=rng.choice((0, 0, 5))),
                    rng.choice(p.authors),
                    tuple(rng.sample(p.tags, 2)),
                    sentences[0],
                    paras,
                )
            )
        order = sorted(self.articles, key=lambda a: (a.published, a.number), reverse=True)
        self.newest = order
        self.listing = {c.key: [a for a in order if a.category == c] for c in p.categories}
        self.by_slug = {a.slug: a for a in self.articles}
        self.by_number = {a.number: a for a in self.articles}

    def _add(self, art: PortalArticle) -> None:
        base = friendly_url_title(art.title)
        slug, n = base, 0
        # Liferay keeps url titles unique by appending -1, -2...
        while any(a.slug == slug for a in self.articles):
            n += 1
            slug = f"{base}-{n}"
        art.slug = slug
        self.articles.append(art)

    def related_of(self, art: PortalArticle) -> list[PortalArticle]:
        rng = stable_rng(self.config.seed, self.portal.name, art.number, "related")
        picks = rng.sample(range(1, len(self.articles) + 1), min(4, len(self.articles)))
        return [self.by_number[n] for n in picks if n != art.number][:3]

    # ------------------------------------------------------------------------------- URLs

    def prefix(self, locale: str) -> str:
        return (
            "" if locale == self.portal.default_locale else "/" + locale.split("-", maxsplit=1)[0]
        )

    def layout_path(self, friendly: str, locale: str) -> str:
        return f"{self.prefix(locale)}{self.portal.base_path}{friendly}"

    def page_query(self, cat: Category, cur: int) -> str:
        return (
            f"?p_p_id={cat.portlet_id}&p_p_lifecycle=0&p_p_state=normal&p_p_mode=view"
            f"&{cat.ns}delta={self.config.delta}&p_r_p_resetCur=false&{cat.ns}cur={cur}"
        )

    def listing_page_path(self, cat: Category, cur: int, locale: str) -> str:
        path = self.layout_path("/" + cat.key, locale)
        return path if cur == 1 else path + self.page_query(cat, cur)

    def content_path(self, art: PortalArticle, locale: str, layout: str = "", iid: str = "") -> str:
        """The article's Asset Publisher content URL on a layout (default: its category's)."""
        layout = layout or "/" + art.category.key
        iid = iid or art.category.instance_id
        return f"{self.layout_path(layout, locale)}/-/asset_publisher/{iid}/content/{art.slug_path}"

    # --- the forms of ReplicaConfig.url_forms (Liferay's sitemap: JournalArticleSitemapURL-
    # Provider writes groupFriendlyURL + "/-/" + urlTitle for an article with a layoutUuid, the
    # display page template's /w/<urlTitle> for the others)

    def legacy(self, art: PortalArticle) -> bool:
        """The article has a legacy display page (a layoutUuid: its category's layout)."""
        return self.config.url_forms and art.number % 2 == 1

    def display_path(self, art: PortalArticle, locale: str) -> str:
        return f"{self.layout_path('', locale)}/w/{art.slug_path}"

    def legacy_path(self, art: PortalArticle, locale: str, layout: str = "") -> str:
        """``<group>/-/<urlTitle>`` (``layout`` empty), or ``<layout>/-/<urlTitle>``."""
        return f"{self.layout_path(layout, locale)}/-/{art.slug_path}"

    def sitemap_path(self, art: PortalArticle, locale: str) -> str:
        if self.legacy(art):
            return self.legacy_path(art, locale)
        return self.display_path(art, locale)

    def portlet_path(self, art: PortalArticle, locale: str) -> str:
        """The Asset Publisher's view-content portlet URL (no friendly URL mapping applied)."""
        cat = art.category
        return (
            f"{self.layout_path('/' + cat.key, locale)}?p_p_id={cat.portlet_id}&p_p_lifecycle=0"
            f"&p_p_state=maximized&p_p_mode=view&{cat.ns}mvcPath=%2Fview_content.jsp"
            f"&{cat.ns}type=content&{cat.ns}urlTitle={art.slug_path}"
        )

    def category_id(self, cat: Category) -> int:
        return 40100 + self.portal.categories.index(cat)

    def filter_paths(self, locale: str) -> list[str]:
        """The category and tag filter pages (Asset Publisher listings) and another portlet's
        friendly URL (a form's) that url_forms links from its menu: never articles."""
        p = self.portal
        cat = p.categories[0]
        layout = self.layout_path("/" + cat.key, locale)
        return [
            f"{layout}/-/categories/{self.category_id(cat)}",
            f"{layout}/-/tags/{quote(p.tags[0])}",
            f"{self.layout_path(p.pages[-1][0], locale)}/-/form",
        ]

    JOURNAL = "com_liferay_journal_content_web_portlet_JournalContentPortlet_INSTANCE_jcNews01"
    GROUP_ID = 20121

    def journal_path(self, art: PortalArticle, locale: str) -> str:
        """The journal content portlet's view of the article by its id (friendly URL)."""
        page = self.layout_path(self.portal.pages[0][0], locale)
        return f"{page}/-/journal_content/{self.JOURNAL}/{self.GROUP_ID}/{30000 + art.number}"

    def home_href(self, art: PortalArticle, locale: str) -> str:
        """How the home page's Asset Publisher links an article (url_forms): in the context
        of its legacy display page's layout, or by the portlet URL."""
        if self.legacy(art):
            return self.legacy_path(art, locale, "/" + art.category.key)
        return self.portlet_path(art, locale)

    def entry_href(
        self, art: PortalArticle, locale: str, redirect: str, layout: str = "", iid: str = ""
    ) -> str:
        return self.content_path(art, locale, layout, iid) + "?redirect=" + quote(redirect, safe="")

    def entry_paths(self, art: PortalArticle) -> set[str]:
        """Every path under which the portal links the article (truth)."""
        p = self.portal
        paths: set[str] = set()
        for locale in p.locales:
            paths.add(self.content_path(art, locale))
            pos = self.listing[art.category.key].index(art)
            page = self.listing_page_path(art.category, pos // self.config.delta + 1, locale)
            paths.add(self.entry_href(art, locale, page))
            if art in self.newest[:5]:
                home = self.layout_path(p.home, locale)
                paths.add(self.entry_href(art, locale, home, p.home, p.home_instance))
            if self.config.url_forms and art.number <= 2:
                paths.add(self.journal_path(art, locale))
            if self.config.url_forms:
                paths.update(
                    (
                        self.sitemap_path(art, locale),
                        self.portlet_path(art, locale),
                        self.legacy_path(art, locale, "/" + art.category.key),
                    )
                    if self.legacy(art)
                    else (self.display_path(art, locale), self.portlet_path(art, locale))
                )
        return paths

    # ------------------------------------------------------------------------------- routing

    def handle(
        self, method: str, path_and_query: str, attempt: int, *, base_url: str | None = None
    ) -> ReplicaResponse:
        base = (base_url or "https://portal.example.gov.vn").rstrip("/")
        if method not in ("GET", "HEAD"):
            return ReplicaResponse(405, (("Content-Type", HTML), ("Allow", "GET, HEAD")), b"")
        status, headers, body = self._route(path_and_query, base)
        return ReplicaResponse(status, headers, body)

    def _route(
        self, path_and_query: str, base: str
    ) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        p = self.portal
        path, _, query = path_and_query.partition("?")
        path = "/".join(seg.split(";", 1)[0] for seg in path.split("/")) or "/"
        if path == "/robots.txt":
            text = "User-Agent: *\nDisallow: /c/\nDisallow: /group/\nAllow: /\n\n"
            text += f"Sitemap: {base}/sitemap.xml\n"
            return 200, (("Content-Type", "text/plain;charset=UTF-8"),), text.encode()
        if path == "/sitemap.xml":
            return 200, (("Content-Type", XML),), self._sitemap(base)
        if path.startswith("/o/classic-theme/"):
            return 200, (("Content-Type", "text/css"),), b"/* replica */"
        if path == "/":
            return 302, (("Content-Type", HTML), ("Location", base + p.base_path + p.home)), b""
        locale, rest = p.default_locale, path
        other = "/" + p.other_locale.split("-")[0]
        if rest == other or rest.startswith(other + "/"):
            locale, rest = p.other_locale, rest[len(other) :] or "/"
        if rest.rstrip("/") == p.base_path:
            rest = p.base_path + p.home
        if not rest.startswith(p.base_path + "/"):
            return self._not_found(base, path_and_query, locale)
        rest = rest[len(p.base_path) :].rstrip("/")
        if self.config.url_forms:
            found = self._url_form(base, locale, rest, path_and_query)
            if found is not None:
                return found
        layout, _, tail = rest.partition("/-/asset_publisher/")
        if tail:
            return self._content(base, locale, layout, tail, path_and_query)
        if layout == p.home:
            return self._page(base, locale, layout, p.home_name, self._home_body(base, locale))
        for cat in p.categories:
            if layout == "/" + cat.key:
                return self._listing(base, locale, cat, query)
        for friendly, name, text in p.pages:
            if layout == friendly:
                body = self._journal(f"<h2>{esc(name)}</h2><p>{esc(text)}</p>", name)
                return self._page(base, locale, layout, name, body)
        return self._not_found(base, path_and_query, locale)

    def _url_form(
        self, base: str, locale: str, rest: str, path_and_query: str
    ) -> tuple[int, tuple[tuple[str, str], ...], bytes] | None:
        """The pages of url_forms: display pages, legacy display pages under the group or any
        layout, category and tag filters, a form portlet's friendly URL; None: another page."""
        p = self.portal
        if rest.startswith("/w/"):
            art = self.by_slug.get(unquote(rest[3:]))
            if art is None or self.legacy(art):
                return self._not_found(base, path_and_query, locale)
            return self._display_page(base, locale, art)
        if "/-/" not in rest or "/-/asset_publisher/" in rest:
            return None
        layout, _, tail = rest.partition("/-/")
        parts = tail.split("/")
        cat = next((c for c in p.categories if "/" + c.key == layout), None)
        if cat is not None and parts == ["categories", str(self.category_id(cat))]:
            return self._listing(base, locale, cat, "", heading=f"{cat.name}: {cat.name}")
        if cat is not None and len(parts) == 2 and parts[0] == "tags":
            tag = unquote(parts[1])
            arts = [a for a in self.newest if tag in a.tags]
            return self._listing(base, locale, cat, "", heading=f"{cat.name}: {tag}", arts=arts)
        if len(parts) == 4 and parts[:3] == ["journal_content", self.JOURNAL, str(self.GROUP_ID)]:
            number = int(parts[3]) - 30000 if parts[3].isdigit() else 0
            art = self.by_number.get(number)
            if art is None or layout != p.pages[0][0]:
                return self._not_found(base, path_and_query, locale)
            inner = f"<h2>{esc(art.title)}</h2>{self.article_template(art, locale)}"
            alt = {loc: self.sitemap_path(art, loc) for loc in p.locales}
            return self._page(
                base,
                locale,
                layout,
                art.title,
                self._journal(inner, art.title),
                canonical=base + alt[locale],
                alt_path=alt,
            )
        if parts == ["form"] and layout == p.pages[-1][0]:
            form = (
                '<div class="ddm-form-builder-app"><form action="'
                f"{esc(self.layout_path(layout, locale))}?p_p_id=com_liferay_dynamic_data_mapping"
                '_form_web_portlet_DDMFormPortlet&amp;p_p_lifecycle=1" method="post">'
                '<h3 class="lfr-ddm-form-page-title">Feedback</h3>'
                '<input name="message" type="text" /><button type="submit">Send</button></form>'
                "</div>"
            )
            body = self._portlet(
                "com_liferay_dynamic_data_mapping_form_web_portlet_DDMFormPortlet",
                "Form",
                form,
                "portlet-forms-display",
            )
            return self._page(base, locale, layout, p.pages[-1][1], body)
        art = self.by_slug.get(unquote(tail)) if len(parts) == 1 else None
        if art is None or not self.legacy(art) or layout not in ("", "/" + art.category.key):
            return self._not_found(base, path_and_query, locale)
        cat = art.category
        return self._article_page(base, locale, art, "/" + cat.key, cat.instance_id)

    def _display_page(
        self, base: str, locale: str, art: PortalArticle
    ) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        """A display page template's fragments mapped to the article's fields (7.4): heading,
        display date and time, author, the article's content, categories and tags."""
        frags = [
            (
                "heading",
                "1f0a",
                (
                    '<h1 class="component-heading mb-0 text-break" '
                    'data-lfr-editable-id="element-text" '
                    f'data-lfr-editable-type="text">{esc(art.title)}</h1>'
                ),
            ),
            (
                # the display page's own header fragment, its editables mapped to the
                # article's author and display date
                "header",
                "2e1b",
                (
                    '<p class="article-author" data-lfr-editable-id="author" '
                    f'data-lfr-editable-type="text">{esc(art.author)}</p>'
                    '<p class="article-date" data-lfr-editable-id="display-date" '
                    f'data-lfr-editable-type="text">{esc(short_datetime(art.published, locale))}'
                    "</p>"
                ),
            ),
            (
                "paragraph",
                "3d2c",
                (
                    '<div class="clearfix component-paragraph text-break" data-lfr-editable-id='
                    f'"element-text" data-lfr-editable-type="rich-text">'
                    f"{self.article_template(art, locale)}</div>"
                ),
            ),
        ]
        body = "\n".join(
            f'<div class="lfr-layout-structure-item-basic-component-{kind} '
            f'lfr-layout-structure-item-{uid}" data-layout-structure-item-id="{uid}">'
            f'<div id="fragment-{uid}">{inner}</div></div>'
            for kind, uid, inner in frags
        )
        body += self._taxonomy(base, art, locale)
        alt = {loc: self.display_path(art, loc) for loc in self.portal.locales}
        meta = f'<meta property="og:title" content="{esc(art.title)}">\n'
        return self._page(
            base,
            locale,
            "/" + art.category.key,
            art.title,
            '<div class="lfr-layout-structure-item-container">' + body + "</div>",
            canonical=base + alt[locale],
            alt_path=alt,
            head_extra=meta,
        )

    # ------------------------------------------------------------------------------- pages

    def _not_found(
        self, base: str, path_and_query: str, locale: str
    ) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        ui = UI[locale]
        inner = (
            '<div class="portlet-boundary portlet-status"><h3 class="alert alert-danger">'
            f"Not Found</h3>\n{esc(ui['not_found'])}\n<br /><br />\n"
            f'<code class="lfr-url-error">{esc(base + path_and_query)}</code></div>'
        )
        html = self._theme(base, locale, self.portal.home, "Not Found", self._grid(inner))
        return 404, (("Content-Type", HTML),), html.encode()

    def _page(
        self,
        base: str,
        locale: str,
        layout: str,
        name: str,
        body: str,
        *,
        canonical: str | None = None,
        alt_path: dict[str, str] | None = None,
        head_extra: str = "",
    ) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        html = self._theme(
            base,
            locale,
            layout,
            name,
            self._grid(body),
            canonical=canonical,
            alt_path=alt_path,
            head_extra=head_extra,
        )
        return 200, (("Content-Type", HTML),), html.encode()

    def _grid(self, inner: str) -> str:
        return (
            '<div class="columns-1" id="main-content" role="main"><div class="portlet-layout row">'
            f'<div class="col-md-12 portlet-column portlet-column-only" id="column-1">'
            f'<div class="portlet-dropzone portlet-column-content" id="layout-column_column-1">\n'
            f"{inner}\n</div></div></div></div>"
        )

    def _portlet(
        self, portlet_id: str, title: str, body: str, css: str, *, barebone: bool = False
    ) -> str:
        base_id = portlet_id.split("_INSTANCE_", maxsplit=1)[0]
        header = (
            ""
            if barebone
            else (
                '<div class="autofit-float autofit-row portlet-header"><div class="autofit-col '
                f'autofit-col-expand"><h2 class="portlet-title-text">{esc(title)}</h2></div></div>'
            )
        )
        deco = "portlet-barebone" if barebone else "portlet-decorate"
        return (
            f'<div class="portlet-boundary portlet-boundary_{base_id}_  portlet-static '
            f'portlet-static-end {deco} {css} " id="p_p_id_{portlet_id}_">'
            f'<span id="p_{portlet_id}"></span><section class="portlet" id="portlet_{portlet_id}">'
            f'<div class="portlet-content">{header}<div class=" portlet-content-container">'
            f'<div class="portlet-body">\n{body}\n</div></div></div></section></div>'
        )

    def _journal(self, inner: str, title: str) -> str:
        return self._portlet(
            f"com_liferay_journal_content_web_portlet_JournalContentPortlet_INSTANCE_{len(title):04d}jc",
            title,
            '<div class="journal-content-article" data-analytics-asset-type="web-content">'
            f"{inner}</div>",
            "portlet-journal-content",
            barebone=True,
        )

    def _navigation(self, locale: str, layout: str) -> str:
        """The Classic theme's navigation menu widget (7.4 bar template)."""
        p, ui = self.portal, UI[locale]
        items: list[tuple[str, str, list[tuple[str, str]]]] = [
            (p.home, p.home_name, []),
            (
                "/" + p.categories[0].key,
                p.categories[0].name,
                [("/" + c.key, c.name) for c in p.categories[1:]],
            ),
            *[(f, n, []) for f, n, _ in p.pages],
        ]
        lis: list[str] = []
        for i, (friendly, name, children) in enumerate(items, start=1):
            selected = friendly == layout or any(f == layout for f, _ in children)
            cls = "lfr-nav-item nav-item" + (" selected active" if selected else "")
            cls += " dropdown" if children else ""
            href = self.layout_path(friendly, locale)
            toggle = (
                ' <span class="lfr-nav-child-toggle"><svg class="lexicon-icon lexicon-icon-angle-'
                'down" focusable="false" role="presentation"><use href="/o/classic-theme/images/'
                'clay/icons.svg#angle-down"></use></svg></span>'
                if children
                else ""
            )
            link_cls = "nav-link text-truncate" + (" dropdown-toggle" if children else "")
            popup = ' aria-haspopup="true"' if children else ""
            sub = ""
            if children:
                sub = (
                    '<ul aria-expanded="false" class="child-menu dropdown-menu" role="menu">'
                    + "".join(
                        f'<li class="" id="layout_{i}{j}" role="presentation"><a '
                        'aria-labelledby="layout_'
                        f'{i}{j}" class="dropdown-item" href="{esc(self.layout_path(f, locale))}" '
                        f'role="menuitem">{esc(n)}</a></li>'
                        for j, (f, n) in enumerate(children, start=1)
                    )
                    + "</ul>"
                )
            lis.append(
                f'<li class="{cls}" id="layout_{i}" role="presentation"><a '
                f'aria-labelledby="layout_{i}"'
                f'{popup} class="{link_cls}" href="{esc(href)}" role="menuitem"><span class="text-'
                f'truncate">{esc(name)}{toggle}</span></a>{sub}</li>'
            )
        if self.config.url_forms:
            # filter pages and another portlet's friendly URL, linked as menu items are
            links = [
                *zip(self.filter_paths(locale), ("Topic", "Tag", "Feedback"), strict=True),
                *((self.journal_path(a, locale), a.title) for a in self.articles[:2]),
            ]
            subs = "".join(
                f'<li class="" id="layout_9{j}" role="presentation"><a aria-labelledby="layout_9'
                f'{j}" class="dropdown-item" href="{esc(path)}" role="menuitem">{esc(name)}</a>'
                "</li>"
                for j, (path, name) in enumerate(links)
            )
            lis.append(
                '<li class="lfr-nav-item nav-item dropdown" id="layout_9" role="presentation"><a '
                'aria-labelledby="layout_9" aria-haspopup="true" class="nav-link text-truncate '
                f'dropdown-toggle" href="{esc(self.filter_paths(locale)[0])}" role="menuitem">'
                '<span class="text-truncate">Browse</span></a><ul aria-expanded="false" '
                f'class="child-menu dropdown-menu" role="menu">{subs}</ul></li>'
            )
        menu = (
            f'<div id="navbar_{NAV}_INSTANCE_main">'
            f'<ul aria-label="{esc(ui["site_pages"])}" class="navbar-blank navbar-nav navbar-site" '
            f'role="menubar">{"".join(lis)}</ul></div>'
        )
        return (
            '<button aria-controls="navigationCollapse" aria-expanded="false" aria-label="Toggle '
            'navigation" class="navbar-toggler navbar-toggler-right" '
            'data-target="#navigationCollapse"'
            ' data-toggle="liferay-collapse" type="button"><span '
            'class="navbar-toggler-icon"></span>'
            '</button><div class="collapse navbar-collapse" id="navigationCollapse">'
            + self._portlet(f"{NAV}_INSTANCE_main", "", menu, "portlet-navigation", barebone=True)
            + "</div>"
        )

    def _theme(
        self,
        base: str,
        locale: str,
        layout: str,
        title: str,
        content: str,
        *,
        canonical: str | None = None,
        alt_path: dict[str, str] | None = None,
        head_extra: str = "",
    ) -> str:
        p, ui = self.portal, UI[locale]
        alt_path = alt_path or {loc: self.layout_path(layout, loc) for loc in p.locales}
        own = alt_path[locale]
        links = "".join(
            f'<link data-senna-track="temporary" href="{esc(base + alt_path[loc])}" '
            f'hreflang="{loc}" rel="alternate" />'
            for loc in p.locales
        ) + (
            f'<link data-senna-track="temporary" href="{esc(base + alt_path[p.default_locale])}" '
            'hreflang="x-default" rel="alternate" />'
        )
        home = self.layout_path(p.home, locale)
        lang_id = locale.replace("-", "_")
        head = (
            f"<title>{esc(title)} - {esc(p.site_name)} - Liferay</title>\n"
            '<meta content="initial-scale=1.0, width=device-width" name="viewport" />\n'
            '<meta content="text/html; charset=UTF-8" http-equiv="content-type" />\n'
            f'<link data-senna-track="temporary" href="{esc(canonical or base + own)}" '
            'rel="canonical" />\n'
            f"{links}\n"
            f'<meta property="og:locale" content="{lang_id}">\n'
            f'<meta property="og:site_name" content="{esc(p.site_name)}">\n'
            f"{head_extra}"
            '<link class="lfr-css-file" data-senna-track="temporary" href="/o/classic-theme/css/'
            f'main.css?browserId=other&amp;themeId=classic_WAR_classictheme&amp;languageId={lang_id}"'
            ' id="liferayThemeCSS" rel="stylesheet" type="text/css" />\n'
            "<script>var themeDisplay = Liferay.ThemeDisplay = {getLanguageId: function() "
            f"{{return '{lang_id}';}}, getPathMain: function() {{return '/c';}}}};</script>"
        )
        other = p.other_locale if locale == p.default_locale else p.default_locale
        language = (
            f'<a class="language-entry-short-text" href="{esc(alt_path[other])}" lang="{other}">'
            f"{other.split('-')[0]}</a>"
        )
        header = (
            '<header id="banner"><div class="navbar navbar-classic navbar-top py-3">'
            '<div class="container-fluid container-fluid-max-xl user-personal-bar">'
            '<div class="align-items-center autofit-row">'
            '<a class="logo custom-logo align-items-center d-md-inline-flex d-sm-none d-none '
            'logo-md" '
            f'href="{esc(home)}" title="Go to {esc(p.site_name)}"><img alt="" class="mr-2" '
            'height="56" '
            f'src="/o/classic-theme/images/logo.png" /><h1 class="font-weight-bold h2 mb-0 '
            f'text-dark">{esc(p.site_name)}</h1></a>'
            '<div class="autofit-col autofit-col-expand"><div class="justify-content-md-end mr-4 '
            f'navbar-form" role="search"><form action="{esc(self.layout_path("/search", locale))}" '
            f'method="get"><input name="q" placeholder="{esc(ui["search"])}" type="text" /></form>'
            f'</div></div><div class="autofit-col">{language} '
            '<a class="sign-in text-default" data-redirect="false" '
            'href="/c/portal/login?p_l_id=5" '
            f'rel="nofollow">{esc(ui["sign_in"])}</a></div></div></div></div>'
            '<div class="navbar navbar-classic navbar-expand-md navbar-light pb-3">'
            '<div class="container-fluid container-fluid-max-xl">'
            f'<a class="logo custom-logo align-items-center d-inline-flex d-md-none logo-xs" '
            f'href="{esc(home)}" rel="nofollow"><img alt="" class="mr-2" height="56" '
            'src="/o/classic-theme/images/logo.png" /></a>'
            f"{self._navigation(locale, layout)}</div></div></header>"
        )
        return (
            "<!DOCTYPE html>\n"
            f'<html class="ltr" dir="ltr" lang="{locale}">\n<head>\n{head}\n</head>\n'
            '<body class="chrome controls-visible yui3-skin-sam signed-out public-page site">\n'
            '<div class="d-flex flex-column min-vh-100"><div class="d-flex flex-column flex-fill '
            f'position-relative" id="wrapper">\n{header}\n'
            f'<section class="container-fluid flex-fill" id="content">\n'
            f'<h2 class="sr-only" role="heading" aria-level="1">{esc(title)}</h2>\n'
            f"{content}\n</section>\n"
            '<footer id="footer"><div class="container"><div class="row"><div class="col-md-12 '
            f'text-center text-md-left">{esc(ui["powered"])} <a class="text-decoration-underline '
            'text-white" href="http://www.liferay.com" rel="external">Liferay</a></div></div></div>'
            "</footer>\n</div></div>\n</body>\n</html>\n"
        )

    # ------------------------------------------------------------------------------- listings

    def _abstract(self, art: PortalArticle, locale: str, href: str) -> str:
        ui = UI[locale]
        return (
            '<div class="asset-abstract mb-5 default-asset-publisher" '
            f'data-fragments-editor-item-id="{CLASS_NAME_ID}-{30000 + art.number}" '
            'data-fragments-editor-item-type="fragments-editor-mapped-item">\n'
            '<div class="align-items-center d-flex mb-2"><p class="component-title h4">'
            f'<a class="asset-title d-inline" href="{esc(href)}">{esc(art.title)}</a></p></div>\n'
            f'<span class="asset-anchor lfr-asset-anchor" id="{50000 + art.number}"></span>\n'
            '<div class="autofit-row metadata-author mb-4"><div class="autofit-col '
            'autofit-col-expand">'
            '<div class="asset-user-info text-secondary"><span '
            f'class="date-info">{esc(ui["published"])} '
            f"{esc(short_date(art.published, locale))}</span></div></div></div>\n"
            '<div class="asset-content mb-3"><div class="asset-summary">'
            f"{esc(art.summary)}</div></div>\n"
            "</div>"
        )

    def _title_item(self, art: PortalArticle, locale: str, href: str) -> str:
        ui = UI[locale]
        return (
            '<li class="list-group-item list-group-item-flex " '
            f'data-fragments-editor-item-id="{CLASS_NAME_ID}-{30000 + art.number}" '
            'data-fragments-editor-item-type="fragments-editor-mapped-item">\n'
            '<div class="autofit-col autofit-col-expand">\n'
            '<p class="h4 list-group-title text-truncate">'
            f'<span class="asset-anchor lfr-asset-anchor" id="{50000 + art.number}"></span>'
            f'<a href="{esc(href)}"> {esc(art.title)}\n</a></p>\n'
            f'<p class="list-group-subtitle text-truncate">\n{esc(ui["published"])} '
            f"{esc(short_date(art.published, locale))}\n</p>\n</div>\n</li>"
        )

    def _pager(
        self, base: str, locale: str, cat: Category, cur: int, pages: int, total: int
    ) -> str:
        """The lexicon search paginator (Clay markup), regular or simple."""
        ui = UI[locale]

        def url(n: int) -> str:
            return base + self.layout_path("/" + cat.key, locale) + self.page_query(cat, n)

        def item(n: int | None, label: str, extra: str = "") -> str:
            if n is None:
                return (
                    f'<li class="page-item disabled"><a class="page-link" href="javascript:;" '
                    f'tabindex="-1">{label}</a></li>'
                )
            href = esc(url(n))
            return (
                f'<li class="page-item{extra}"><a class="page-link" href="{href}">{label}</a></li>'
            )

        prev_label = (
            '<svg class="lexicon-icon lexicon-icon-angle-left" focusable="false" '
            'role="presentation">'
            '<use href="/o/classic-theme/images/clay/icons.svg#angle-left"></use></svg>'
            f'<span class="sr-only">{esc(ui["previous"])}</span>'
        )
        next_label = prev_label.replace("left", "right").replace(
            esc(ui["previous"]), esc(ui["next"])
        )
        items = [item(cur - 1 if cur > 1 else None, prev_label)]
        if cat.pager == "regular":
            for n in range(1, pages + 1):
                if n == cur:
                    items.append(
                        f'<li class="page-item active"><a aria-current="page" class="page-link" '
                        f'href="{esc(url(n))}">{n}</a></li>'
                    )
                else:
                    items.append(item(n, str(n)))
        items.append(item(cur + 1 if cur < pages else None, next_label))
        ul = '<ul class="pagination">' + "".join(items) + "</ul>"
        if cat.pager == "simple":
            return f'<div class="pagination-bar" data-qa-id="paginator">{ul}</div>'
        here = base + self.layout_path("/" + cat.key, locale)
        deltas = "".join(
            f'<li><a class="dropdown-item" href="{esc(here)}'
            f'?p_p_id={cat.portlet_id}&amp;{cat.ns}delta={d}&amp;p_r_p_resetCur=true">{d}</a></li>'
            for d in (4, 8, 20, 40)
        )
        first, last = (cur - 1) * self.config.delta + 1, min(cur * self.config.delta, total)
        return (
            '<div class="pagination-bar" data-qa-id="paginator" '
            f'id="{cat.ns}ocerSearchContainerPageIterator">'
            '<div class="dropdown pagination-items-per-page"><a aria-expanded="false" '
            'aria-haspopup="true" class="dropdown-toggle page-link" data-toggle="liferay-dropdown" '
            f'href="javascript:;" role="button">{esc(ui["entries"].format(d=self.config.delta))}'
            f'<span class="sr-only">&nbsp;{esc(ui["per_page"])}</span></a>'
            f'<ul class="dropdown-menu dropdown-menu-top">{deltas}</ul></div>'
            '<div class="pagination-results">'
            f"{esc(ui['showing'].format(a=first, b=last, n=total))}</div>"
            f"{ul}</div>"
        )

    def _entries(
        self, cat_style: str, arts: list[PortalArticle], locale: str, hrefs: list[str]
    ) -> str:
        if cat_style == "title_list":
            return (
                '<ul class="list-group show-quick-actions-on-hover">'
                + "".join(self._title_item(a, locale, h) for a, h in zip(arts, hrefs, strict=True))
                + "</ul>"
            )
        return "\n".join(self._abstract(a, locale, h) for a, h in zip(arts, hrefs, strict=True))

    def _listing(
        self,
        base: str,
        locale: str,
        cat: Category,
        query: str,
        *,
        heading: str = "",
        arts: list[PortalArticle] | None = None,
    ) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        """The category's listing page (``arts``: a filter's articles, first page only)."""
        params = parse_qs(query) if query else {}
        own = params.get("p_p_id", [""])[0] == cat.portlet_id
        url_title = params.get(cat.ns + "urlTitle", [""])[0] if own else ""
        if self.config.url_forms and url_title:
            art = self.by_slug.get(url_title)
            if art is None or art.category != cat:
                return self._not_found(base, self.layout_path("/" + cat.key, locale), locale)
            return self._article_page(base, locale, art, "/" + cat.key, cat.instance_id)
        cur_raw = params.get(cat.ns + "cur", ["1"])[0] if own else "1"
        filtered = arts is not None
        arts = self.listing[cat.key] if arts is None else arts
        delta = self.config.delta
        pages = max(1, -(-len(arts) // delta))
        if self.config.listing_pages and not filtered:
            # the portal's listing stops here: older articles are in its sitemap only
            pages = min(pages, self.config.listing_pages)
            if cur_raw.isdigit() and int(cur_raw) > pages:
                return self._not_found(base, self.layout_path("/" + cat.key, locale), locale)
        cur = 1 if filtered else min(max(int(cur_raw) if cur_raw.isdigit() else 1, 1), pages)
        shown = arts[(cur - 1) * delta : cur * delta]
        here = self.listing_page_path(cat, cur, locale)
        hrefs = [base + self.entry_href(a, locale, here) for a in shown]
        body = self._entries(cat.style, shown, locale, hrefs)
        if len(arts) > delta and not filtered:
            body += "\n" + self._pager(base, locale, cat, cur, pages, len(arts))
        title = heading or cat.name
        portlet = self._portlet(cat.portlet_id, title, body, "portlet-asset-publisher")
        return self._page(base, locale, "/" + cat.key, title, portlet)

    def _home_body(self, base: str, locale: str) -> str:
        p = self.portal
        here = self.layout_path(p.home, locale)
        latest = self.newest[:5]
        hrefs = [base + self.entry_href(a, locale, here, p.home, p.home_instance) for a in latest]
        if self.config.url_forms:
            hrefs = [base + self.home_href(a, locale) for a in latest]
        title = "Latest News" if p.default_locale == "en-US" else "Tin mới nhất"
        return self._portlet(
            f"{AP}_INSTANCE_{p.home_instance}",
            title,
            self._entries("abstracts", latest, locale, hrefs),
            "portlet-asset-publisher",
        )

    # ------------------------------------------------------------------------------- article

    def article_template(self, art: PortalArticle, locale: str) -> str:
        """The portal's own web content template (its structure's FreeMarker output)."""
        paras = "".join(f"<p>{esc(t)}</p>" for t in art.paragraphs)
        # an older structure's template (a legacy article's) prints the day only
        when = short_date if self.legacy(art) else short_datetime
        return (
            '<div class="news-article">'
            f'<p class="news-article-date">{esc(when(art.published, locale))}</p>'
            f'<div class="news-article-summary"><p>{esc(art.summary)}</p></div>'
            f'<div class="news-article-body">{paras}</div></div>'
        )

    def _taxonomy(self, base: str, art: PortalArticle, locale: str) -> str:
        """The categories and tags summaries; url_forms links the Asset Publisher's filters."""
        ui = UI[locale]
        cat_href = base + self.layout_path("/" + art.category.key, locale)
        if self.config.url_forms:
            cat_link = f"{cat_href}/-/categories/{self.category_id(art.category)}"
            tag_links = [f"{cat_href}/-/tags/{quote(t)}" for t in art.tags]
        else:
            cat_link = cat_href
            tag_links = [f"{cat_href}?tag={quote(t)}" for t in art.tags]
        tags = " ".join(
            f'<a class="badge badge-default badge-sm" href="{esc(h)}">{esc(t)}</a>'
            for t, h in zip(art.tags, tag_links, strict=True)
        )
        return (
            '<div class="asset-categories mb-3"><span class="taglib-asset-categories-summary">'
            f'<span class="asset-vocabulary">{esc(ui["topic"])}:</span> <a class="asset-category" '
            f'href="{esc(cat_link)}">{esc(art.category.name)}</a></span></div>\n'
            '<div class="asset-tags mb-3"><span class="taglib-asset-tags-summary">'
            f"{tags}</span></div>\n"
        )

    def full_content(self, base: str, art: PortalArticle, locale: str) -> str:
        ui = UI[locale]
        related = "".join(
            '<li class="list-group-item list-group-item-flex"><div class="autofit-col"><div '
            'class="sticker sticker-secondary"><span class="inline-item"><svg class="lexicon-icon '
            'lexicon-icon-web-content" focusable="false" '
            'role="presentation"></svg></span></div></div>'
            '<div class="autofit-col autofit-col-expand"><section class="autofit-section"><div '
            'class="list-group-title text-truncate-inline"><a class="text-truncate" '
            f'href="{esc(base + self._related_path(r, locale))}" target="_self">{esc(r.title)}</a>'
            "</div></section></div></li>"
            for r in self.related_of(art)
        )
        return (
            '<div class="asset-full-content clearfix mb-5 default-asset-publisher '
            'show-asset-title" '
            f'data-fragments-editor-item-id="{CLASS_NAME_ID}-{30000 + art.number}" '
            'data-fragments-editor-item-type="fragments-editor-mapped-item">\n'
            '<div class="align-items-center d-flex mb-2"><p class="component-title h4">'
            f'<span class="asset-title d-inline">{esc(art.title)}</span></p></div>\n'
            f'<span class="asset-anchor lfr-asset-anchor" id="{50000 + art.number}"></span>\n'
            '<div class="autofit-row mb-4 metadata-author"><div class="autofit-col asset-avatar '
            'inline-item-before mr-3 pt-1"><span class="sticker sticker-circle sticker-lg '
            'user-icon-color-3"><span class="sticker-overlay"></span></span></div>'
            '<div class="autofit-col autofit-col-expand"><div class="text-truncate-inline">'
            f'<span class="text-truncate user-info"><strong>{esc(art.author)}</strong></span></div>'
            '<div class="asset-user-info text-secondary"><span '
            f'class="date-info">{esc(ui["published"])} '
            f"{esc(short_date(art.published, locale))}</span></div></div></div>\n"
            '<div class="asset-content mb-3"><div class="journal-content-article" '
            f'data-analytics-asset-id="{30000 + art.number}" '
            f'data-analytics-asset-title="{esc(art.title)}"'
            ' data-analytics-asset-type="web-content">'
            f"{self.article_template(art, locale)}</div></div>\n"
            f"{self._taxonomy(base, art, locale)}"
            '<div class="asset-links mb-4"><h2 class="mb-3 '
            f'sheet-tertiary-title">{esc(ui["related"])}'
            f'</h2><ul class="list-group sidebar-list-group">{related}</ul></div>\n</div>'
        )

    def _content(
        self, base: str, locale: str, layout: str, tail: str, path_and_query: str
    ) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        p = self.portal
        parts = tail.split("/")
        pairs = {("/" + c.key, c.instance_id): c.name for c in p.categories}
        pairs[(p.home, p.home_instance)] = p.home_name
        if (layout, parts[0]) not in pairs or len(parts) != 3 or parts[1] != "content":
            return self._not_found(base, path_and_query, locale)
        art = self.by_slug.get(unquote(parts[2]))
        if art is None or (layout != p.home and "/" + art.category.key != layout):
            return self._not_found(base, path_and_query, locale)
        return self._article_page(base, locale, art, layout, parts[0])

    def _related_path(self, art: PortalArticle, locale: str) -> str:
        return (
            self.sitemap_path(art, locale)
            if self.config.url_forms
            else self.content_path(art, locale)
        )

    def _article_page(
        self, base: str, locale: str, art: PortalArticle, layout: str, iid: str
    ) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        """The Asset Publisher's full-content view of ``art`` on ``layout``; its canonical
        URL is this content URL, or (url_forms) the article's sitemap form."""
        p = self.portal
        name = p.home_name if layout == p.home else art.category.name
        body = self._portlet(
            f"{AP}_INSTANCE_{iid}",
            name,
            self.full_content(base, art, locale),
            "portlet-asset-publisher",
        )
        if self.config.url_forms:
            alt = {loc: self.sitemap_path(art, loc) for loc in p.locales}
        else:
            alt = {loc: self.content_path(art, loc, layout, iid) for loc in p.locales}
        meta = (
            f'<meta property="og:title" content="{esc(art.title)}">\n'
            f'<meta content="{esc(art.summary)}" name="description" />\n'
        )
        return self._page(
            base,
            locale,
            layout,
            art.title,
            body,
            canonical=base + alt[locale],
            alt_path=alt,
            head_extra=meta,
        )

    # ------------------------------------------------------------------------------- sitemap

    def _sitemap(self, base: str) -> bytes:
        p = self.portal
        layouts = [p.home, *("/" + c.key for c in p.categories), *(f for f, _, _ in p.pages)]
        lastmod = LAYOUT_MODIFIED.strftime("%Y-%m-%dT%H:%M:%S+0000")
        urls = []
        for friendly in layouts:
            alternates = "".join(
                f'    <xhtml:link href="{esc(base + self.layout_path(friendly, loc))}" '
                f'hreflang="{loc}" rel="alternate"/>\n'
                for loc in p.locales
            )
            for loc in p.locales:
                urls.append(
                    f"  <url>\n    <loc>{esc(base + self.layout_path(friendly, loc))}</loc>\n"
                    f"    <lastmod>{lastmod}</lastmod>\n{alternates}  </url>\n"
                )
        for art in self.articles if self.config.url_forms else ():
            # Liferay lists an article once per locale, each with every locale's URL
            forms = {loc: esc(base + self.sitemap_path(art, loc)) for loc in p.locales}
            alternates = "".join(
                f'    <xhtml:link href="{forms[loc]}" hreflang="{loc}" rel="alternate"/>\n'
                for loc in p.locales
            ) + (
                f'    <xhtml:link href="{forms[p.default_locale]}" hreflang="x-default" '
                'rel="alternate"/>\n'
            )
            modified = art.modified.strftime("%Y-%m-%dT%H:%M:%S+0000")
            for loc in p.locales:
                urls.append(
                    f"  <url>\n    <loc>{forms[loc]}</loc>\n"
                    f"    <lastmod>{modified}</lastmod>\n{alternates}  </url>\n"
                )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/'
            'schemas/sitemap/0.9" xmlns:xhtml="http://www.w3.org/1999/xhtml">\n'
            + "".join(urls)
            + "</urlset>"
        ).encode()

    # ------------------------------------------------------------------------------- truth

    def truth(self) -> dict[str, Any]:
        p = self.portal
        articles = [
            {
                "number": a.number,
                "slug": a.slug_path,
                "paths": sorted(self.entry_paths(a)),
                "canonical_path": (
                    self.sitemap_path(a, p.default_locale)
                    if self.config.url_forms
                    else self.content_path(a, p.default_locale)
                ),
                "sitemap_paths": (
                    [self.sitemap_path(a, loc) for loc in p.locales]
                    if self.config.url_forms
                    else []
                ),
                "legacy_display_page": self.legacy(a),
                # the day only, at midnight in the portal's zone (UTC), where its pages print
                # no time
                "published_at_precision": "day" if self.legacy(a) else "minute",
                "title": fold_text(a.title),
                "summary": fold_text(a.summary),
                "body_paragraphs": [fold_text(t) for t in a.paragraphs],
                "author": a.author,
                "published_at": (
                    a.published.replace(hour=0, minute=0) if self.legacy(a) else a.published
                ).isoformat(timespec="seconds"),
                "modified_at": a.modified.isoformat(timespec="seconds"),
                "category": a.category.name,
                "tags": list(a.tags),
                "images": [],
                "attachments": [],
                "related_paths": [
                    self.content_path(r, p.default_locale) for r in self.related_of(a)
                ],
                "language": p.default_locale,
                "date_strings": {loc: short_datetime(a.published, loc) for loc in p.locales},
            }
            for a in self.articles
        ]
        layouts = [p.home, *("/" + c.key for c in p.categories), *(f for f, _, _ in p.pages)]
        non_articles = ["/", *(self.layout_path(f, loc) for f in layouts for loc in p.locales)]
        if self.config.url_forms:
            non_articles += [path for loc in p.locales for path in self.filter_paths(loc)]
        return {
            "base_url_placeholder": "{base_url}",
            "portal": {
                "name": p.name,
                "site_name": p.site_name,
                "group": p.group,
                "base_path": p.base_path,
                "home_path": p.base_path + p.home,
                "default_locale": p.default_locale,
                "locales": list(p.locales),
                "locale_prefixes": {loc: self.prefix(loc) for loc in p.locales},
                "timezone": p.timezone,
            },
            "config": {
                "articles": self.config.articles,
                "seed": self.config.seed,
                "delta": self.config.delta,
                "url_forms": self.config.url_forms,
                "listing_pages": self.config.listing_pages,
            },
            "articles": articles,
            "non_article_paths": non_articles,
            "non_articles": [],
            "categories": [
                {
                    "key": c.key,
                    "name": c.name,
                    "path": self.layout_path("/" + c.key, p.default_locale),
                    "style": c.style,
                    "pagination": f"clay-{c.pager}",
                    "portlet_id": c.portlet_id,
                    "pages": max(1, -(-len(self.listing[c.key]) // self.config.delta)),
                    "article_numbers": [a.number for a in self.listing[c.key]],
                }
                for c in p.categories
            ],
        }


def make_site(config: ReplicaConfig) -> ReplicaSite | PortalSite:
    """The site a config describes: HEPZA (the default) or one of PORTALS."""
    if config.portal == "hepza":
        return ReplicaSite(config)
    if config.portal not in PORTALS:
        known = ", ".join(["hepza", *PORTALS])
        raise ValueError(
            f"portal={config.portal!r} is not a replica portal: expected one of {known}"
        )
    return PortalSite(config)
