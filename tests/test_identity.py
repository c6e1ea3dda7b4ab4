from __future__ import annotations

import hashlib
import json
from pathlib import Path

from itemadapter import ItemAdapter
from sqlalchemy import select

from crawler.domain.identity import (
    CONTENT_FIELDS,
    article_id,
    canonical_url,
    content_hash,
    identity_key,
    site_relative,
)
from crawler.domain.items import ArticleItem
from crawler.domain.urls import respelled
from pipelines.storage.migrations.versions.rev_0002_history import _fingerprint
from pipelines.storage.migrations.versions.rev_0006_host_spelling import _old_hash
from pipelines.storage.models import Article, ArticleVersion
from pipelines.storage.store import ArticleStore, create_db_engine, upgrade_database
from tests.test_migrations import release_one_table

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


def test_a_row_stored_without_hash_has_the_one_content_hash_after_the_migrations(
    tmp_path: Path,
) -> None:
    # Revision 0002 backfills with the hash of its time (frozen), 0006 with the one hash.
    assert _fingerprint(RECORD) == _old_hash(RECORD) != content_hash(RECORD)
    database_url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_db_engine(database_url)
    upgrade_database(engine, "0001")
    row = {column.name: RECORD.get(column.name) for column in release_one_table().columns}
    row.update(id=article_id(RECORD["url"]), content_hash=None, summary_truncated=False)
    row.update(alternate_urls=[], related_urls=[], problems=[])
    with engine.begin() as conn:
        conn.execute(release_one_table().insert(), [row])
    engine.dispose()
    store = ArticleStore(database_url)
    try:
        with store.engine.connect() as conn:
            stored = conn.execute(select(Article.content_hash)).scalar_one()
            versions = conn.execute(select(ArticleVersion.content_hash)).scalars().all()
        assert stored == content_hash(RECORD)
        assert versions == [content_hash(RECORD)]
    finally:
        store.close()


SPELLINGS = [
    "https://hepza.example.gov.vn/w/tin-a",
    "http://hepza.example.gov.vn/w/tin-a",
    "HTTPS://HEPZA.Example.GOV.VN/w/tin-a",
    "https://www.hepza.example.gov.vn/w/tin-a",
    "http://WWW.hepza.example.gov.vn:80/w/tin-a",
    "https://hepza.example.gov.vn:443/en/w/Tin-A#main",
]


def test_an_article_has_one_id_whatever_the_scheme_host_case_www_or_default_port() -> None:
    assert {identity_key(canonical_url(url)) for url in SPELLINGS} == {f"{HOST}/w/tin-a"}
    assert {article_id(canonical_url(url)) for url in SPELLINGS} == {article_id(RECORD["url"])}


def test_another_host_or_a_real_port_is_another_identity() -> None:
    one = article_id("http://localhost:8080/w/tin-a")
    assert article_id("http://127.0.0.1:8080/w/tin-a") != one
    assert article_id("http://localhost/w/tin-a") != one
    # :443 is the default of https, not of http: a server of its own there
    assert identity_key("http://h.example:443/w/x") == "https://h.example:443/w/x"
    assert identity_key("https://h.example:443/w/x") == "https://h.example/w/x"
    assert article_id("https://wwwx.example/w/x") != article_id("https://x.example/w/x")


def test_images_and_attachments_are_hashed_by_their_path_within_the_site() -> None:
    def spelled(host: str) -> dict[str, object]:
        return {
            **RECORD,
            "url": f"{host}/w/tin-a",
            "images": [{"url": f"{host}/documents/a.jpg?t=1", "caption": "Ảnh"}],
            "attachments": [{"url": f"{host}/documents/b.pdf", "title": "B"}],
        }

    hosts = ["https://hepza.example.gov.vn", "http://WWW.hepza.example.gov.vn:80"]
    assert len({content_hash(spelled(host)) for host in hosts}) == 1
    moved_image = {
        **spelled(HOST),
        "images": [{"url": f"{HOST}/documents/c.jpg", "caption": "Ảnh"}],
    }
    assert content_hash(moved_image) != content_hash(spelled(HOST))
    # an image on another host keeps its host (scheme and www. folded)
    cdn = {**spelled(HOST), "images": [{"url": "http://www.cdn.example/a.jpg", "caption": "Ảnh"}]}
    cdn_https = {**cdn, "images": [{"url": "https://cdn.example/a.jpg", "caption": "Ảnh"}]}
    other_cdn = {**cdn, "images": [{"url": "https://cdn2.example/a.jpg", "caption": "Ảnh"}]}
    assert content_hash(cdn) == content_hash(cdn_https) != content_hash(other_cdn)
    assert site_relative(f"{HOST}/documents/a.jpg?t=1", "http://www.hepza.example.gov.vn/w/x") == (
        "/documents/a.jpg?t=1"
    )


def test_a_record_without_images_or_attachments_hashes_as_before() -> None:
    plain = {**RECORD, "images": [], "attachments": []}
    assert content_hash(plain) == _old_hash(plain)


def test_a_stored_url_is_respelled_under_the_crawls_origin_only_for_the_same_host() -> None:
    assert respelled("http://hepza.example.gov.vn/w/a?x=1", HOST) == f"{HOST}/w/a?x=1"
    assert respelled("https://www.hepza.example.gov.vn/w/a", HOST) == f"{HOST}/w/a"
    assert respelled(f"{HOST}/w/a", HOST) == f"{HOST}/w/a"
    assert respelled("https://other.example.gov.vn/w/a", HOST) == "https://other.example.gov.vn/w/a"
    assert respelled("http://localhost:8080/w/a", "http://localhost:8081") == (
        "http://localhost:8080/w/a"
    )
