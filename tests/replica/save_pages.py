"""Write representative replica pages as parser fixtures (tests/fixtures/pages/)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tests.replica.site import (
    DEFAULT_BASE_URL,
    NON_ARTICLE_BY_KIND,
    ReplicaConfig,
    ReplicaSite,
)
from tests.replica.structure import CATEGORIES, CATEGORY_BY_KEY, DISPLAY

if TYPE_CHECKING:
    from pathlib import Path

    from tests.replica.content import Article


def _first(site: ReplicaSite, predicate: str) -> Article:
    return next(a for a in site.articles if (a.variant or "") == predicate)


def pages_to_save(site: ReplicaSite) -> list[tuple[str, str, str]]:
    """(file name, path and query, description)."""
    seed = site.articles[0]
    by_kind = {a.kind: a for a in site.articles}
    normal = _first(site, "")
    dang = CATEGORY_BY_KEY["hoat-dong-dang-doan-the"]
    hoat_dong = CATEGORY_BY_KEY["tin-hoat-dong"]
    doanh_nghiep = CATEGORY_BY_KEY["tin-doanh-nghiep"]
    thong_bao = CATEGORY_BY_KEY["thong-bao"]

    def pages_of(key: str) -> int:
        return -(-len(site.listings[key]) // site.config.delta)

    def listing(key: str, cur: int) -> str:
        return site.page_path(CATEGORY_BY_KEY[key], cur, "")

    seed_pos = site.positions[dang.key][seed.number]
    middle = pages_of(hoat_dong.key) // 2 + 1
    return [
        ("article-seed-vi.html", seed.canonical_path, "seed article, vi page (no prefix)"),
        ("article-seed-en.html", "/en" + seed.canonical_path, "seed article, /en/ page"),
        ("article-normal-vi.html", normal.canonical_path, "generated article, COMPAT date"),
        (
            "article-cldr17-vi.html",
            _first(site, "cldr17").canonical_path,
            "article whose date uses CLDR JDK 11-19 patterns (vi)",
        ),
        (
            "article-cldr17-en.html",
            "/en" + _first(site, "cldr17").canonical_path,
            "article whose date uses CLDR JDK 11-19 patterns (en)",
        ),
        (
            "article-cldr20-en.html",
            "/en" + _first(site, "cldr20").canonical_path,
            "article whose date uses CLDR JDK 20+ patterns (U+202F before PM)",
        ),
        (
            "article-cldr20-vi.html",
            _first(site, "cldr20").canonical_path,
            "article whose date uses CLDR JDK 20+ patterns (d/M/yy)",
        ),
        ("article-nfd-vi.html", by_kind["nfd"].canonical_path, "title and body in Unicode NFD"),
        (
            "article-hostile-vi.html",
            by_kind["hostile"].canonical_path,
            "body with script, style, iframe, on* handlers, javascript: link",
        ),
        (
            "article-images-attachments-vi.html",
            by_kind["images"].canonical_path,
            "two images with captions (figure and p+em), two PDF attachments, og:image",
        ),
        ("article-no-author-vi.html", by_kind["no_author"].canonical_path, "no byline"),
        (
            "article-journal-wrapper-vi.html",
            _first(site, "journal_wrapper").canonical_path,
            "article template inside a journal-content-article wrapper",
        ),
        (
            "article-lead-image-vi.html",
            _first(site, "lead_image").canonical_path,
            "article with a lead figure image",
        ),
        (
            "asset-publisher-content-seed-vi.html",
            site.content_path(dang, seed, "", seed_pos),
            "Asset Publisher full-content view of the seed (canonical -> /w/)",
        ),
        (
            "not-found-404.html",
            NON_ARTICLE_BY_KIND["deleted"].path,
            "deleted article: 404 'The requested resource could not be found.'",
        ),
        (
            "soft-404-200.html",
            NON_ARTICLE_BY_KIND["soft404"].path,
            "/w/ URL answering 200 with the not-found text",
        ),
        (
            "empty-shell-200.html",
            NON_ARTICLE_BY_KIND["empty_shell"].path,
            "display page without title fragment or body",
        ),
        ("home-vi.html", "/", "home page (HEPZA theme, Tin mới)"),
        (
            "category-abstracts-regular-page1-vi.html",
            listing(hoat_dong.key, 1),
            "7.4 abstracts, regular paginator, page 1, RSS link",
        ),
        (
            f"category-abstracts-regular-page{middle}-vi.html",
            listing(hoat_dong.key, middle),
            "7.4 abstracts, regular paginator, middle page",
        ),
        (
            "category-abstracts-regular-page1-en.html",
            "/en" + listing(hoat_dong.key, 1),
            "7.4 abstracts, regular paginator, page 1, English labels",
        ),
        (
            "category-title-list-simple-last-vi.html",
            listing(doanh_nghiep.key, pages_of(doanh_nghiep.key)),
            "title list, simple paginator, last page (disabled next)",
        ),
        (
            "category-title-list-regular-page1-vi.html",
            listing(thong_bao.key, 1),
            "title list, regular paginator, page 1",
        ),
        (
            "category-abstracts70-simple-page1-vi.html",
            listing(dang.key, 1),
            "7.0/7.1 abstracts: untitled link 'Xem thêm' in asset-details, content URLs",
        ),
        (
            "page-gioi-thieu-vi.html",
            "/gioi-thieu",
            "non-news page inside journal-content-article (not an article)",
        ),
        ("page-lien-he-vi.html", "/lien-he", "non-news contact page (mailto:, tel:)"),
        ("robots.txt", "/robots.txt", "robots.txt"),
        ("sitemap-index.xml", "/sitemap.xml", "sitemap index"),
        (
            "sitemap-articles.xml",
            f"/sitemap.xml?p_l_id={DISPLAY.plid}&layoutUuid={DISPLAY.uuid}&groupId=20122"
            "&privateLayout=false",
            "sub-sitemap of the display page template layout (articles)",
        ),
        (
            "sitemap-category.xml",
            f"/sitemap.xml?p_l_id={CATEGORIES[1].plid}&layoutUuid={CATEGORIES[1].uuid}"
            "&groupId=20122&privateLayout=false",
            "sub-sitemap of a category layout",
        ),
        (
            "feed-atom.xml",
            hoat_dong.linked + site.feed_query(hoat_dong),
            "Asset Publisher Atom 1.0 feed",
        ),
    ]


def save_pages(directory: Path) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    site = ReplicaSite(ReplicaConfig())
    index: dict[str, dict[str, object]] = {}
    for name, path, description in pages_to_save(site):
        resp = site.handle("GET", path, 2, base_url=DEFAULT_BASE_URL)
        (directory / name).write_bytes(resp.body)
        index[name] = {
            "url": DEFAULT_BASE_URL + path,
            "status": resp.status,
            "description": description,
        }
    broken = ReplicaSite(ReplicaConfig(broken=("date",)))
    seed = broken.articles[0]
    resp = broken.handle("GET", seed.canonical_path, 2, base_url=DEFAULT_BASE_URL)
    (directory / "article-seed-broken-date-vi.html").write_bytes(resp.body)
    index["article-seed-broken-date-vi.html"] = {
        "url": DEFAULT_BASE_URL + seed.canonical_path,
        "status": resp.status,
        "description": "layout break 'date': the date exists only as epoch ms in a script",
    }
    (directory / "INDEX.json").write_text(
        json.dumps(index, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    return [*index, "INDEX.json"]
