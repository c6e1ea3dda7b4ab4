from __future__ import annotations

import hashlib
import json

from itemadapter import ItemAdapter

from crawler.identity import CONTENT_FIELDS, article_id, canonical_url, content_hash
from crawler.items import ArticleItem
from pipelines.storage.migrations.versions.rev_0002_history import _fingerprint
from pipelines.storage.store import ArticleStore

HOST = "https://hepza.example.gov.vn"
RECORD = {
    "url": f"{HOST}/w/tin-a",
    "title": "Hội nghị",
    "summary": "Tóm tắt",
    "body_text": "Đoạn một.\n\nĐoạn hai.",
    "body_html": "<p>Đoạn một.</p>",
    "author": "Ban biên tập",
    "published_at": "2023-01-18T17:48:00+07:00",
    "published_at_raw": "17:48 18/01/2023",
    "category": "Tin tức",
    "tags": ["khu chế xuất"],
    "images": [{"url": f"{HOST}/documents/a.jpg", "caption": None}],
    "attachments": [],
    "crawled_at": "2026-11-30T04:00:00+07:00",
}


def test_every_url_of_an_article_has_one_canonical_url_and_one_id() -> None:
    met = [
        f"{HOST}/en/w/Tin-A",
        f"{HOST}/web/guest/w/tin-a?p_p_id=x",
        f"{HOST}/tin-tuc/-/asset_publisher/abc/content/tin-a",
        f"{HOST}/w/tin-a;jsessionid=F00",
    ]
    assert {canonical_url(url) for url in met} == {f"{HOST}/w/tin-a"}
    assert {article_id(canonical_url(url)) for url in met} == {article_id(f"{HOST}/w/tin-a")}


def test_article_id_is_the_first_20_hex_digits_of_sha256_of_the_canonical_url() -> None:
    url = f"{HOST}/w/tin-a"
    assert article_id(url) == hashlib.sha256(url.encode()).hexdigest()[:20]


def test_content_hash_covers_exactly_the_documented_content_fields() -> None:
    expected = {name: RECORD.get(name) for name in CONTENT_FIELDS}
    # images and attachments by their path within the site
    expected["images"] = [{"url": "/documents/a.jpg", "caption": None}]
    blob = json.dumps(expected, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert content_hash(RECORD) == hashlib.sha256(blob.encode()).hexdigest()
    assert CONTENT_FIELDS == (
        "title",
        "summary",
        "body_text",
        "author",
        "published_at",
        "category",
        "tags",
        "images",
        "attachments",
    )


def test_content_hash_ignores_urls_crawl_time_raw_dates_and_body_html() -> None:
    elsewhere = {
        **RECORD,
        "url": f"{HOST}/w/tin-b",
        "crawled_at": "2027-01-01T00:00:00+07:00",
        "published_at_raw": "1/18/23 5:48 PM",
        "body_html": "<p>khác</p>",
    }
    assert content_hash(elsewhere) == content_hash(RECORD)


def test_content_hash_changes_with_every_content_field() -> None:
    for name in CONTENT_FIELDS:
        edited = {**RECORD, name: ["edited"] if isinstance(RECORD[name], list) else "edited"}
        assert content_hash(edited) != content_hash(RECORD), name


def test_item_adapter_and_plain_record_hash_the_same() -> None:
    item = ArticleItem(**{k: v for k, v in RECORD.items() if k != "body_html"})
    assert content_hash(ItemAdapter(item)) == content_hash(RECORD)


def test_store_classifies_a_record_without_hash_by_the_one_content_hash() -> None:
    store = ArticleStore("sqlite:///:memory:")
    try:
        stored = {**RECORD, "site": "hepza"}
        record = {**stored, "id": article_id(RECORD["url"]), "content_hash": content_hash(RECORD)}
        store.write_batch([record], "run-1")
        unhashed = {**stored, "id": record["id"], "content_hash": None}
        assert store.classify(unhashed).status == "unchanged"
    finally:
        store.close()


def test_migration_backfills_rows_without_hash_with_the_one_content_hash() -> None:
    assert _fingerprint(RECORD) == content_hash(RECORD)
