"""HTML and XML of the replica, following /work/shared/reference/liferay.md.

Pure string building: callers pass everything a page shows; nothing here knows the routing.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from tests.replica.structure import (
    CATEGORIES,
    COMPANY_NAME,
    HOME,
    LOGIN_URL,
    MENU,
    PAGES,
    SITE_NAME,
    Layout,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

LAYOUT_BY_KEY: dict[str, Layout] = {lay.key: lay for lay in (HOME, *CATEGORIES, *PAGES)}

LABELS: dict[str, dict[str, str]] = {
    "vi-VN": {
        "search": "Tìm kiếm",
        "login": "Đăng nhập",
        "read_more": "Xem thêm",
        "first": "&larr; Đầu",
        "prev": "Trước",
        "next": "Tiếp theo",
        "last": "Cuối &rarr;",
        "showing": "Hiển thị {a} - {b} của {n} kết quả.",
        "page_of": "Trang {c} của {p}",
        "per_page": "{d} mục mỗi trang",
        "back": "Quay lại",
        "categories": "Chuyên mục",
        "tags": "Từ khóa",
        "latest": "Tin mới",
        "not_found": "Không tìm thấy",
        "language": "Ngôn ngữ",
    },
    "en-US": {
        "search": "Search",
        "login": "Sign In",
        "read_more": "Read More",
        "first": "&larr; First",
        "prev": "Previous",
        "next": "Next",
        "last": "Last &rarr;",
        "showing": "Showing {a} - {b} of {n} results.",
        "page_of": "Page {c} of {p}",
        "per_page": "{d} Items per Page",
        "back": "Back",
        "categories": "Categories",
        "tags": "Tags",
        "latest": "Tin mới",
        "not_found": "Not Found",
        "language": "Language",
    },
}
RELATED_HEADING = "Bài viết liên quan"  # hard-coded in the display page: shown on /en/ too
NOT_FOUND_TEXT = "The requested resource could not be found."
# Fragment ids belong to the display page template, so every article page shares them.
FRAG_HEADING = "8f1c2d9e-5a4b-4e1f-9b7a-1c2d3e4f5a61"
FRAG_DATE = "0b9e3f7a-2c1d-4a8b-8e6f-5d4c3b2a1f02"
FRAG_BODY = "c3d2e1f0-9a8b-4c7d-8e6f-0a1b2c3d4e53"
FRAG_RELATED_HEADING = "d4e5f6a7-b8c9-4d0e-8f1a-2b3c4d5e6f74"
FRAG_RELATED = "e5f6a7b8-c9d0-4e1f-9a2b-3c4d5e6f7a85"
JOURNAL_CONTENT_PORTLET = "com_liferay_journal_content_web_portlet_JournalContentPortlet"
JOURNAL_CLASS_NAME_ID = 32104
ICON_ANGLE_LEFT = (
    '<svg class="lexicon-icon lexicon-icon-angle-left" focusable="false" role="presentation">'
    '<use href="/o/kcx-hepza/images/clay/icons.svg#angle-left"></use></svg>'
)


def esc(text: str) -> str:
    return html.escape(text, quote=True)


@dataclass(frozen=True)
class Ctx:
    base: str  # scheme://host[:port], no trailing slash
    locale: str  # vi-VN | en-US
    extra_menu: tuple[tuple[str, str], ...] = ()  # (label, path) menu items of trap modes

    @property
    def prefix(self) -> str:
        return "/en" if self.locale == "en-US" else ""

    @property
    def labels(self) -> dict[str, str]:
        return LABELS[self.locale]

    @property
    def language_id(self) -> str:
        return self.locale.replace("-", "_")

    def abs(self, path: str) -> str:
        return self.base + path


@dataclass(frozen=True)
class Seo:
    title: str  # full <title>
    vi_path: str  # URL of the page in the default locale (no prefix)
    en_path: str
    description: str | None = None
    image: str | None = None  # absolute
    og_type: str = "website"
    canonical: str | None = None  # absolute; default: the page's own locale URL
    feed: str | None = None  # absolute Atom URL


def full_title(*parts: str) -> str:
    return " - ".join([*parts, SITE_NAME, COMPANY_NAME])


def head(ctx: Ctx, seo: Seo) -> str:
    own = seo.en_path if ctx.locale == "en-US" else seo.vi_path
    canonical = seo.canonical or ctx.abs(own)
    other_locale = "vi_VN" if ctx.locale == "en-US" else "en_US"
    out = [
        '<meta content="text/html; charset=UTF-8" http-equiv="content-type" />',
        f"<title>{esc(seo.title)}</title>",
        '<meta content="initial-scale=1.0, width=device-width" name="viewport" />',
        f'<link data-senna-track="temporary" href="{esc(canonical)}" rel="canonical" />',
        f'<link data-senna-track="temporary" href="{esc(ctx.abs(seo.en_path))}" '
        'hreflang="en-US" rel="alternate" />',
        f'<link data-senna-track="temporary" href="{esc(ctx.abs(seo.vi_path))}" '
        'hreflang="vi-VN" rel="alternate" />',
        f'<link data-senna-track="temporary" href="{esc(ctx.abs(seo.vi_path))}" '
        'hreflang="x-default" rel="alternate" />',
    ]
    if seo.description is not None:
        out.append(
            f'<meta property="og:description" content="{esc(seo.description)}">'
            if seo.og_type == "article"
            else f'<meta content="{esc(seo.description)}" name="description" />'
        )
    out += [
        f'<meta property="og:locale" content="{ctx.language_id}">',
        f'<meta property="og:locale:alternate" content="{other_locale}">',
        f'<meta property="og:site_name" content="{SITE_NAME}">',
        f'<meta property="og:title" content="{esc(seo.title)}">',
        f'<meta property="og:type" content="{seo.og_type}">',
        f'<meta property="og:url" content="{esc(canonical)}">',
    ]
    if seo.image:
        out += [
            f'<meta property="og:image" content="{esc(seo.image)}">',
            '<meta property="og:image:type" content="image/jpeg">',
            f'<meta property="og:image:url" content="{esc(seo.image)}">',
        ]
    if seo.feed:
        out.append(
            f'<link href="{esc(seo.feed)}" rel="alternate" title="RSS" '
            'type="application/atom+xml" />'
        )
    out += [
        '<link href="/o/kcx-hepza/images/favicon.ico" rel="icon" />',
        '<link class="lfr-css-file" data-senna-track="temporary" href="/o/kcx-hepza/css/main.css'
        f"?browserId=other&amp;themeId=kcxhepza_WAR_kcxhepza&amp;languageId={ctx.language_id}"
        '&amp;t=1672531200000" id="liferayThemeCSS" rel="stylesheet" type="text/css" />',
        "<script>var themeDisplay = Liferay.ThemeDisplay = {getLanguageId: function() "
        f"{{return '{ctx.language_id}';}}, getScopeGroupId: function() {{return '20122';}}}};"
        "</script>",
    ]
    return "\n".join(out)


def layout_href(ctx: Ctx, key: str) -> str:
    lay = LAYOUT_BY_KEY[key]
    return ctx.prefix + lay.linked if lay.linked != "/" else (ctx.prefix or "/")


def navigation(ctx: Ctx) -> str:
    items: list[str] = []
    for label, key, children in MENU:
        if children:
            kids = "".join(
                f'<a class="dropdown-item" href="{layout_href(ctx, c)}">'
                f"{esc(LAYOUT_BY_KEY[c].name)}</a>"
                for c in children
            )
            items.append(
                '<li class="nav-item dropdown"><a class="nav-link dropdown-toggle text-uppercase" '
                f'href="{layout_href(ctx, key)}">{esc(label)}</a>'
                f'<div class="dropdown-menu p-0">{kids}</div></li>'
            )
        else:
            items.append(
                f'<li class="nav-item"><a class="nav-link text-uppercase" '
                f'href="{layout_href(ctx, key)}">{esc(label)}</a></li>'
            )
    items += [
        f'<li class="nav-item"><a class="nav-link text-uppercase" href="{esc(path)}">'
        f"{esc(label)}</a></li>"
        for label, path in ctx.extra_menu
    ]
    return (
        '<section class="hmenu pr-7 pl-7"><ul class="nav justify-content-between">'
        + "".join(items)
        + "</ul></section>"
    )


def language_selector(ctx: Ctx, seo: Seo) -> str:
    if ctx.locale == "en-US":
        links = (
            f'<a class="language-entry-short-text" href="{esc(seo.vi_path)}" lang="vi-VN">vi</a>'
            '<span class="language-entry-short-text selected" lang="en-US">en</span>'
        )
    else:
        links = (
            '<span class="language-entry-short-text selected" lang="vi-VN">vi</span>'
            f'<a class="language-entry-short-text" href="{esc(seo.en_path)}" lang="en-US">en</a>'
        )
    return (
        '<div class="portlet-boundary portlet-boundary_com_liferay_site_navigation_language_web'
        '_portlet_SiteNavigationLanguagePortlet_ portlet-static portlet-language" '
        'id="p_p_id_com_liferay_site_navigation_language_web_portlet_SiteNavigationLanguagePortlet_">'
        f'<span class="sr-only">{ctx.labels["language"]}</span>{links}</div>'
    )


def theme(ctx: Ctx, seo: Seo, content: str, body_class: str = "") -> str:
    lab = ctx.labels
    header = (
        '<header id="banner"><nav class="hheader">'
        '<div class="hheader-top d-flex justify-content-between">'
        '<a class="logo custom-logo" href="' + (ctx.prefix or "/") + '" title="HEPZA">'
        '<img alt="HEPZA" height="90" src="/image/layout_set_logo?img_id=20139&amp;t=1672531200000"'
        ' width="90" /></a>'
        '<div class="hheader-title"><p class="hheader-title-1">CỔNG THÔNG TIN ĐIỆN TỬ</p>'
        '<p class="hheader-title-2">BAN QUẢN LÝ KHU CHẾ XUẤT &amp; CÔNG NGHIỆP TP.HCM</p></div>'
        '<div class="hheader-contact">'
        '<a href="tel:842838290414"><i class="fa fa-phone"></i> 84-28.38290.414 - 38290.405</a>'
        '<a href="mailto:hepza@tphcm.gov.vn"><i class="fa fa-envelope"></i> hepza@tphcm.gov.vn</a>'
        "<span>35 Nguyễn Bỉnh Khiêm,Quận 1,TP-HCM,Việt Nam</span></div>"
        '<div class="hheader-tools">'
        f'<form action="/search" class="hsearch" method="get"><input name="q" placeholder="'
        f'{lab["search"]}" type="text" /><button type="submit">{lab["search"]}</button></form>'
        f"{language_selector(ctx, seo)}"
        f'<a class="sign-in" data-redirect="false" href="{esc(LOGIN_URL)}" rel="nofollow">'
        f"{lab['login']}</a>"
        "</div></div></nav>"
        f"{navigation(ctx)}</header>"
    )
    footer = (
        '<footer id="footer" role="contentinfo"><div class="footer-links">'
        '<a href="/index">Trang chủ</a> | '
        f'<a href="{layout_href(ctx, "gioi-thieu")}">Giới thiệu</a> | '
        f'<a href="{layout_href(ctx, "tong-quan-ve-tphcm")}">Tổng quan về TPHCM</a> | '
        f'<a href="{layout_href(ctx, "lien-he")}">Liên hệ</a> '
        f'<a href="{layout_href(ctx, "so-do-website")}">Sơ đồ website</a> | '
        f'<a href="{layout_href(ctx, "van-ban-phap-quy")}">Văn bản pháp quy</a> | '
        '<a href="https://dichvucong.hochiminhcity.gov.vn/" target="_blank">'
        "Thủ tục hành chính công</a></div>"
        '<div class="footer-social"><a href="https://www.facebook.com/hepza.hochiminhcity" '
        'target="_blank">Facebook</a> <a href="javascript:void(0);" onclick="window.scrollTo(0,0)">'
        "Lên đầu trang</a></div>"
        "<p>@ 2022 Bản quyền thuộc về BQL CÁC KHU CHẾ XUẤT VÀ CÔNG NGHIỆP TP.HCM</p></footer>"
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html class="ltr" dir="ltr" lang="{ctx.locale}">\n<head>\n{head(ctx, seo)}\n</head>\n'
        f'<body class="controls-visible chrome signed-out public-page site {body_class}">\n'
        '<div class="d-flex flex-column min-vh-100"><div class="d-flex flex-column flex-fill" '
        f'id="wrapper">\n{header}\n<section id="content">\n'
        '<h2 class="hide-accessible sr-only" role="heading" aria-level="1">'
        f"{esc(seo.title)}</h2>\n{content}\n</section>\n{footer}\n</div></div>\n</body>\n</html>\n"
    )


def portlet(portlet_id: str, title: str, body: str, *, css: str, hidden_title: bool) -> str:
    # Some 7.0-era decorators print the portlet title twice (a hidden accessible copy).
    hidden = f'<span class="hide-accessible">{esc(title)}</span>' if hidden_title else ""
    header = (
        '<div class="autofit-float autofit-row portlet-header"><div class="autofit-col '
        f'autofit-col-expand"><h2 class="portlet-title-text">{esc(title)}</h2>{hidden}</div>'
        '<div class="autofit-col autofit-col-end"><div class="autofit-section"></div></div></div>'
    )
    base = portlet_id.split("_INSTANCE_", maxsplit=1)[0]
    return (
        f'<div class="portlet-boundary portlet-boundary_{base}_  portlet-static '
        f'portlet-static-end decorate {css} " id="p_p_id_{portlet_id}_">\n'
        f'<span id="p_{portlet_id}"></span>\n'
        f'<section class="portlet" id="portlet_{portlet_id}">\n<div class="portlet-content">\n'
        f"{header}\n"
        f'<div class=" portlet-content-container"><div class="portlet-body">\n{body}\n'
        "</div></div>\n</div>\n</section>\n</div>"
    )


def layout_grid(inner: str) -> str:
    return (
        '<div class="layout-content portlet-layout" id="main-content" role="main">'
        '<div class="container-fluid container-fluid-max-xl"><div class="row">'
        f'<div class="col-md-12 portlet-column" id="column-1">\n{inner}\n'
        "</div></div></div></div>"
    )


# ---------------------------------------------------------------------------------------------
# Asset Publisher entries and paginator


@dataclass(frozen=True)
class Entry:
    title: str
    href: str  # already escaped-ready (raw URL)
    summary: str  # already shortened
    date_short: str
    date_long: str
    asset_entry_id: int
    resource_prim_key: int
    image: str | None


def entry_abstract_74(e: Entry, label: str) -> str:
    cover = (
        '<div class="aspect-ratio aspect-ratio-8-to-3 aspect-ratio-bg-cover cover-image mb-4" '
        f'style="background-image: url({esc(e.image)})"></div>'
        if e.image
        else ""
    )
    return (
        '<div class="asset-abstract mb-5 default-asset-publisher" '
        f'data-fragments-editor-item-id="{JOURNAL_CLASS_NAME_ID}-{e.resource_prim_key}" '
        'data-fragments-editor-item-type="fragments-editor-mapped-item">\n'
        '<div class="align-items-center d-flex mb-2"><p class="component-title h4">'
        f'<a class="asset-title d-inline" href="{esc(e.href)}">{esc(e.title)}</a></p></div>\n'
        f'<span class="asset-anchor lfr-asset-anchor" id="{e.asset_entry_id}"></span>\n'
        '<div class="autofit-row metadata-author mb-4"><div class="autofit-col autofit-col-expand">'
        f'<div class="asset-user-info text-secondary"><span class="date-info">{esc(label)} '
        f"{esc(e.date_short)}</span></div></div></div>\n"
        f'<div class="asset-content mb-3"><div class="asset-summary">{cover}'
        f"{esc(e.summary)}</div></div>\n</div>"
    )


def entry_abstract_70(e: Entry, label: str, read_more: str) -> str:
    return (
        '<div class="asset-abstract ">\n'
        f'<span class="asset-anchor lfr-asset-anchor" id="{e.asset_entry_id}"></span>\n'
        '<div class="autofit-row autofit-row-center mb-3"><div class="autofit-col '
        f'autofit-col-expand"><h4 class="asset-title component-title">{esc(e.title)}</h4>'
        "</div></div>\n"
        '<div class="asset-metadata"><span class="metadata-entry metadata-publish-date">'
        f"{esc(label)} {esc(e.date_short)}</span></div>\n"
        f'<div class="asset-content mb-3"><div class="asset-summary">{esc(e.summary)}</div></div>\n'
        '<div class="asset-details autofit-row"><div class="autofit-col mr-3">'
        f'<a href="{esc(e.href)}">{esc(read_more)} <span class="hide-accessible">'
        f"{esc(e.title)}</span></a></div></div>\n</div>"
    )


def entry_title_list(e: Entry) -> str:
    return (
        '<li class="list-group-item list-group-item-flex " '
        f'data-fragments-editor-item-id="{JOURNAL_CLASS_NAME_ID}-{e.resource_prim_key}" '
        'data-fragments-editor-item-type="fragments-editor-mapped-item">\n'
        '<div class="autofit-col autofit-col-expand">\n'
        '<p class="h4 list-group-title text-truncate">'
        f'<span class="asset-anchor lfr-asset-anchor" id="{e.asset_entry_id}"></span>'
        f'<a href="{esc(e.href)}"> {esc(e.title)}\n</a></p>\n'
        f'<p class="list-group-subtitle text-truncate"> {esc(e.date_long)} </p>\n</div>\n</li>'
    )


def pager_li(href: str | None, label: str, extra_class: str = "") -> str:
    if href is None:
        cls = f"disabled{extra_class}"
        return (
            f'<li class="{cls}"><a href="javascript:;" onclick="" tabIndex="-1" '
            f'target="_self">{label}</a></li>'
        )
    return (
        f'<li class="{extra_class}"><a href="{esc(href)}" onclick="" tabIndex="0" '
        f'target="_self">{label}</a></li>'
    )


def paginator_html(
    ctx: Ctx, lay: Layout, cur: int, pages: int, total: int, delta: int, url: Callable[[int], str]
) -> str:
    """Legacy page_iterator/start.jsp; url(n) is the absolute URL of page n."""
    lab = ctx.labels
    prev = url(cur - 1) if cur > 1 else None
    nxt = url(cur + 1) if cur < pages else None
    buttons: list[str] = []
    if lay.pagination == "regular":
        buttons.append(pager_li(url(1) if cur > 1 else None, lab["first"], " first"))
    buttons.append(pager_li(prev, lab["prev"]))
    buttons.append(pager_li(nxt, lab["next"]))
    if lay.pagination == "regular":
        buttons.append(pager_li(url(pages) if cur < pages else None, lab["last"], " last"))
    ul = '<ul class="lfr-pagination-buttons pager">\n' + "\n".join(buttons) + "\n</ul>"
    script = (
        f"<script>function {lay.namespace}submitForm(curParam, cur) {{"
        "var url = window.location.href; window.location = url;}</script>"
    )
    if lay.pagination == "simple":
        return f'<div class="clearfix lfr-pagination">{ul}</div>\n{script}'
    # The real menu lists every page; long listings (benchmarks) get a window around the
    # current page so that a listing request stays O(delta).
    if pages <= 50:
        shown: Iterable[int] = range(1, pages + 1)
    else:
        shown = sorted({1, pages, *range(max(1, cur - 10), min(pages, cur + 10) + 1)})
    menu = "".join(
        f'<li role="presentation"><a class="dropdown-item" href="{esc(url(i))}" '
        f'role="menuitem">{i}</a></li>'
        for i in shown
    )
    first = (cur - 1) * delta + 1
    last = min(cur * delta, total)
    return (
        f'<div class="taglib-page-iterator" id="{lay.namespace}ocerSearchContainerPageIterator">\n'
        '<div class="clearfix lfr-pagination">\n<div class="lfr-pagination-config">\n'
        '<div class="lfr-pagination-page-selector"><div class="btn-group lfr-icon-menu '
        'current-page-menu"><a class="dropdown-toggle direction-down max-display-items-15 btn '
        'btn-secondary" href="javascript:;" title="">'
        f'<span class="lfr-icon-menu-text">{lab["page_of"].format(c=cur, p=pages)}</span></a>'
        f'<ul class="dropdown-menu lfr-menu-list direction-down" role="menu">{menu}</ul>'
        "</div></div>\n"
        f'<div class="lfr-pagination-delta-selector">&mdash; '
        f"{lab['per_page'].format(d=delta)}</div>\n</div>\n"
        f'<small class="search-results">{lab["showing"].format(a=first, b=last, n=total)}</small>\n'
        f"{ul}\n</div>\n</div>\n{script}"
    )


def listing_portlet(
    ctx: Ctx,
    lay: Layout,
    entries: Sequence[Entry],
    pager: str,
    feed_url: str | None,
    title: str | None = None,
) -> str:
    lab = ctx.labels
    label = lay.date_label_vi if ctx.locale == "vi-VN" else "Published"
    parts: list[str] = []
    if feed_url:
        parts.append(
            f'<div class="subscribe-action"><a class="btn btn-link" href="{esc(feed_url)}" '
            'target="_blank" title="RSS"><svg class="lexicon-icon lexicon-icon-rss" '
            'focusable="false" role="presentation"><use href="/o/kcx-hepza/images/clay/'
            'icons.svg#rss"></use></svg><span class="taglib-text">RSS</span></a></div>'
        )
    if lay.style == "title_list":
        parts.append('<ul class="list-group show-quick-actions-on-hover">')
        parts += [entry_title_list(e) for e in entries]
        parts.append("</ul>")
    elif lay.style == "abstracts70":
        parts += [entry_abstract_70(e, label, lab["read_more"]) for e in entries]
    else:
        parts += [entry_abstract_74(e, label) for e in entries]
    parts.append(pager)
    return portlet(
        lay.portlet_id,
        title or lay.name,
        "\n".join(parts),
        css="portlet-asset-publisher",
        hidden_title=lay.style == "abstracts70",
    )


# ---------------------------------------------------------------------------------------------
# Display page (/w/<slug>) pieces


def fragment(kind: str, frag_uuid: str, inner: str) -> str:
    return (
        f'<div class="lfr-layout-structure-item-basic-component-{kind} '
        f'lfr-layout-structure-item-{frag_uuid} " data-layout-structure-item-id="{frag_uuid}">'
        f'<div id="fragment-{frag_uuid[:8]}">{inner}</div></div>'
    )


def heading_fragment(title: str, frag_uuid: str = FRAG_HEADING, tag: str = "h1") -> str:
    return fragment(
        "heading",
        frag_uuid,
        f'<{tag} class="component-heading mb-0 text-break" data-lfr-editable-id="element-text" '
        f'data-lfr-editable-type="text">{esc(title)}</{tag}>',
    )


def paragraph_fragment(inner_html: str, frag_uuid: str) -> str:
    return fragment(
        "paragraph",
        frag_uuid,
        '<div class="clearfix component-paragraph text-break" data-lfr-editable-id="element-text" '
        f'data-lfr-editable-type="rich-text">{inner_html}</div>',
    )


def article_template(
    title: str, summary_cut: str, body_html: str, attachments: Sequence[tuple[str, str]] = ()
) -> str:
    files = ""
    if attachments:
        items = "".join(
            f'<li><a href="{esc(href)}" target="_blank">{esc(name)}</a></li>'
            for href, name in attachments
        )
        files = (
            f'<div class="news-detail__attachments"><ul class="list-unstyled">{items}</ul></div>\n'
        )
    return (
        '<div class="news-detail">\n'
        f'<h2 class="news-detail__title">{esc(title)}</h2>\n'
        f'<div class="news-detail__summary"><strong>{esc(summary_cut)}</strong></div>\n'
        f'<div class="news-detail__content">\n{body_html}\n</div>\n{files}</div>'
    )


def journal_content(article_id: int, title: str, inner: str, instance_id: str) -> str:
    wrapper = (
        '<div class="text-right user-tool-asset-addon-entries"></div>\n'
        f'<div class="journal-content-article " data-analytics-asset-id="{article_id}" '
        f'data-analytics-asset-title="{esc(title)}" data-analytics-asset-type="web-content">\n'
        f"{inner}\n</div>\n"
        '<div class="content-metadata-asset-addon-entries"></div>'
    )
    portlet_id = f"{JOURNAL_CONTENT_PORTLET}_INSTANCE_{instance_id}"
    base = JOURNAL_CONTENT_PORTLET
    return (
        f'<div class="portlet-boundary portlet-boundary_{base}_  portlet-static '
        f'portlet-static-end portlet-barebone portlet-journal-content " id="p_p_id_{portlet_id}_">'
        f'<span id="p_{portlet_id}"></span><section class="portlet" id="portlet_{portlet_id}">'
        '<div class="portlet-content"><div class=" portlet-content-container">'
        f'<div class="portlet-body">\n{wrapper}\n</div></div></div></section></div>'
    )


def taxonomy(ctx: Ctx, category_name: str, category_href: str, tags: Sequence[str]) -> str:
    lab = ctx.labels
    tag_links = " ".join(
        f'<a class="badge badge-default badge-sm" href="/search?q={quote(t)}">{esc(t)}</a>'
        for t in tags
    )
    return (
        '<div class="asset-categories mb-3"><span class="asset-vocabulary">'
        f'{lab["categories"]}:</span> <a class="asset-category" href="{esc(category_href)}">'
        f"{esc(category_name)}</a></div>\n"
        f'<div class="asset-tags mb-3"><span class="taglib-asset-tags-summary">'
        f"<span>{lab['tags']}:</span> {tag_links}</span></div>"
    )


def related_block(links: Sequence[tuple[str, str]]) -> str:
    items = "\n".join(f'<li><a class="link" href="{esc(h)}">{esc(t)}</a></li>' for h, t in links)
    return fragment(
        "collection",
        FRAG_RELATED,
        f'<ul class="list-unstyled related-articles">\n{items}\n</ul>',
    )


def not_found_body(url: str) -> str:
    return layout_grid(
        '<div class="portlet-boundary portlet-status">'
        '<h3 class="alert alert-danger">Not Found</h3>\n'
        f"{NOT_FOUND_TEXT}\n<br /><br />\n"
        f'<code class="lfr-url-error">{esc(url)}</code></div>'
    )


def error_page(status: int, reason: str) -> bytes:
    return (
        f"<!DOCTYPE html><html><head><title>{status} {reason}</title></head><body>"
        f"<h1>{status} {reason}</h1></body></html>"
    ).encode()
