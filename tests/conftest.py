from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import pytest

from pipelines.storage.store import article_id
from tests.postgres import PostgresServer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

# --- PostgreSQL (storage tests) ---------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database per test on the suite's server."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'hepza.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


def _article_record(slug: str, **overrides: Any) -> dict[str, Any]:
    url = f"https://hepza.hochiminhcity.gov.vn/w/{slug}"
    body = f"Ban Quản lý các Khu chế xuất và công nghiệp TP.HCM: bài {slug}."
    record: dict[str, Any] = {
        "id": article_id(url),
        "url": url,
        "alternate_urls": [f"https://hepza.hochiminhcity.gov.vn/vi/w/{slug}"],
        "title": f"Tiêu đề {slug}",
        "summary": "Tóm tắt…",
        "summary_truncated": True,
        "body_text": body,
        "body_html": f"<p>{body}</p>",
        "author": "Phòng Quản lý Doanh nghiệp",
        "published_at": "2023-01-18T17:48:00+07:00",
        "published_at_raw": "18/01/2023 17:48",
        "published_at_source": "display_date",
        "modified_at": None,
        "language": "vi-VN",
        "category": "Tin tức",
        "tags": ["đầu tư", "KCX"],
        "images": [{"url": f"https://hepza.hochiminhcity.gov.vn/img/{slug}.jpg", "caption": None}],
        "attachments": [],
        "related_urls": [],
        "content_hash": hashlib.sha256(body.encode()).hexdigest(),
        "crawled_at": "2024-05-02T09:15:30+07:00",
        "source": "listing",
        "problems": [],
    }
    record.update(overrides)
    if "body_text" in overrides and "content_hash" not in overrides:
        record["content_hash"] = hashlib.sha256(record["body_text"].encode()).hexdigest()
    return record


@pytest.fixture
def make_article_record() -> Callable[..., dict[str, Any]]:
    """``make_article_record("slug", title=...)``: an exported record as the pipelines make it."""
    return _article_record
