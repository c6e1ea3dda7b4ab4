"""The replica's layouts (pages of the site): home, news categories, static pages."""

from __future__ import annotations

from dataclasses import dataclass

from tests.replica.content import LEAF_CATEGORIES, stable_uuid

AP_PORTLET = "com_liferay_asset_publisher_web_portlet_AssetPublisherPortlet"
LOGIN_URL = (
    "/web/guest/trang-chu?p_p_id=com_liferay_login_web_portlet_LoginPortlet&p_p_lifecycle=0"
    "&p_p_state=maximized&p_p_mode=view"
    "&_com_liferay_login_web_portlet_LoginPortlet_mvcRenderCommandName=%2Flogin%2Flogin"
    "&saveLastPath=false"
)
SITE_NAME = "HEPZA"
COMPANY_NAME = "Ban Quản lý các Khu chế xuất và công nghiệp TP.HCM"


@dataclass(frozen=True)
class Layout:
    key: str
    name: str
    friendly: str  # friendly URL without /web/guest
    linked: str  # the form the menu links (virtual host form or /web/guest form)
    plid: int
    kind: str  # home | category | page | display
    # category layouts only
    style: str = ""  # abstracts | abstracts70 | title_list
    pagination: str = ""  # regular | simple
    instance_id: str = ""
    members: tuple[str, ...] = ()
    link_form: str = ""  # how entries link the article (see site.ReplicaSite._entry_href)
    abstract_length: int = 200
    date_label_vi: str = "Ngày đăng"
    rss: bool = False
    journal_wrapper: bool = False  # static pages: inside a Web Content Display portlet

    @property
    def uuid(self) -> str:
        return stable_uuid("layout", self.key)

    @property
    def portlet_id(self) -> str:
        return f"{AP_PORTLET}_INSTANCE_{self.instance_id}"

    @property
    def namespace(self) -> str:
        return f"_{self.portlet_id}_"


HOME = Layout("trang-chu", "Trang chủ", "/trang-chu", "/", 4, "home", instance_id="Hm4tRw9LzQe2")
DISPLAY = Layout("display", "Tin tức chi tiết", "/tin-tuc-chi-tiet", "/w", 31, "display")

CATEGORIES: tuple[Layout, ...] = (
    Layout(
        "tin-tuc-su-kien",
        "Tin tức - Sự kiện",
        "/tin-tuc-su-kien",
        "/tin-tuc-su-kien",
        11,
        "category",
        style="abstracts",
        pagination="regular",
        instance_id="q4USy75NdpUZ",
        members=LEAF_CATEGORIES,
        link_form="w_lower",
        abstract_length=200,
    ),
    Layout(
        "tin-hoat-dong",
        "Tin hoạt động",
        "/tin-hoat-dong",
        "/tin-hoat-dong",
        12,
        "category",
        style="abstracts",
        pagination="regular",
        instance_id="Z4ziKksles4L",
        members=("tin-hoat-dong",),
        link_form="w",
        abstract_length=150,
        date_label_vi="Đăng ngày",
        rss=True,
    ),
    Layout(
        "hoat-dong-dang-doan-the",
        "Hoạt động Đảng - Đoàn thể",
        "/hoat-dong-dang-doan-the",
        "/web/guest/hoat-dong-dang-doan-the",
        13,
        "category",
        style="abstracts70",
        pagination="simple",
        instance_id="ufow",
        members=("hoat-dong-dang-doan-the",),
        link_form="content",
        abstract_length=200,
        date_label_vi="Ngày đăng:",
    ),
    Layout(
        "tin-doanh-nghiep",
        "Tin doanh nghiệp",
        "/tin-doanh-nghiep",
        "/web/guest/tin-doanh-nghiep",
        14,
        "category",
        style="title_list",
        pagination="simple",
        instance_id="Tq7bVx2KmP0c",
        members=("tin-doanh-nghiep",),
        link_form="w_jsession",
    ),
    Layout(
        "thong-bao",
        "Thông báo",
        "/thong-bao",
        "/thong-bao",
        15,
        "category",
        style="title_list",
        pagination="regular",
        instance_id="Nb3xYe8sDf1G",
        members=("thong-bao",),
        link_form="w",
    ),
)

PAGES: tuple[Layout, ...] = (
    Layout(
        "gioi-thieu", "Giới thiệu", "/gioi-thieu", "/gioi-thieu", 21, "page", journal_wrapper=True
    ),
    Layout(
        "tong-quan-ve-tphcm",
        "Tổng quan về TPHCM",
        "/tong-quan-ve-tphcm",
        "/web/guest/tong-quan-ve-tphcm",
        22,
        "page",
        journal_wrapper=True,
    ),
    Layout(
        "van-ban-phap-quy",
        "Văn bản pháp quy",
        "/van-ban-phap-quy",
        "/web/guest/van-ban-phap-quy",
        23,
        "page",
        journal_wrapper=True,
    ),
    Layout("lien-he", "Liên hệ", "/lien-he", "/lien-he", 24, "page"),
    Layout("so-do-website", "Sơ đồ website", "/so-do-website", "/so-do-website", 25, "page"),
)

CATEGORY_BY_KEY: dict[str, Layout] = {c.key: c for c in CATEGORIES}

# (label, layout key or external URL, children)
MENU: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Trang chủ", "trang-chu", ()),
    ("Giới thiệu", "gioi-thieu", ("gioi-thieu", "tong-quan-ve-tphcm")),
    (
        "Tin tức - Sự kiện",
        "tin-tuc-su-kien",
        ("tin-hoat-dong", "hoat-dong-dang-doan-the", "tin-doanh-nghiep", "thong-bao"),
    ),
    ("Văn bản pháp quy", "van-ban-phap-quy", ()),
    ("Liên hệ", "lien-he", ()),
)
