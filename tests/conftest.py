from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from crawler.domain.identity import article_id
from tests.postgres import PostgresNotInstalled, PostgresServer
from tests.redis_server import RedisNotInstalled, RedisServer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# Set by .ci/run: there a missing PostgreSQL is a broken build machine, not a reason to skip.
REQUIRE_POSTGRES_ENV = "HEPZA_REQUIRE_POSTGRES"
REQUIRE_REDIS_ENV = "HEPZA_REQUIRE_REDIS"
PROJECT_OUTPUT = Path(__file__).resolve().parent.parent / "output"

# --- tests write only to temporary directories -----------------------------------------------


def _output_files() -> dict[str, tuple[int, int]]:
    """Every file under the project's output/ with its size and modification time."""
    files = {}
    for root, _, names in os.walk(PROJECT_OUTPUT):
        for name in names:
            path = Path(root, name)
            try:
                info = path.stat()
            except FileNotFoundError:  # removed while walking
                continue
            files[str(path.relative_to(PROJECT_OUTPUT))] = (info.st_size, info.st_mtime_ns)
    return files


def _fail_if_written(before: dict[str, tuple[int, int]], who: str) -> None:
    after = _output_files()
    written = sorted(path for path, info in after.items() if before.get(path) != info)
    if written:
        shown = ", ".join(written[:10]) + (" ..." if len(written) > 10 else "")
        pytest.fail(
            f"{who} wrote into the project's output/ ({PROJECT_OUTPUT}): {shown}; "
            "tests must write only to temporary directories",
            pytrace=False,
        )


@pytest.fixture(scope="session", autouse=True)
def _project_output_untouched_by_the_session() -> Iterator[None]:
    """Fails the session when anything (module fixtures included) wrote into output/."""
    before = _output_files()
    yield
    _fail_if_written(before, "the test session")


@pytest.fixture(autouse=True)
def _project_output_untouched_by_the_test() -> Iterator[None]:
    """Names the test that created or changed a file in the project's output/."""
    before = _output_files()
    yield
    _fail_if_written(before, "the test")


# --- PostgreSQL (storage tests) ---------------------------------------------------------------


def new_postgres_server() -> PostgresServer:
    """A PostgreSQL server (not started); skips, or fails with HEPZA_REQUIRE_POSTGRES=1, when
    the server binaries are not installed."""
    try:
        return PostgresServer()
    except PostgresNotInstalled as exc:
        if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
            pytest.fail(f"{exc} ({REQUIRE_POSTGRES_ENV}=1: PostgreSQL is required)", pytrace=False)
        pytest.skip(f"PostgreSQL tests skipped: {exc}")


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server started for the ``with`` block, stopped at its end."""
    server = new_postgres_server()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def own_postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for one test alone (paused, stopped or started again by it)."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database per test on the suite's server."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


# --- Redis (cluster tests) ------------------------------------------------------------------


def new_redis_server(**options: Any) -> RedisServer:
    """A Redis server of the test's own (fault tests restart or kill it; ``options``: those of
    :class:`RedisServer`); skips, or fails with HEPZA_REQUIRE_REDIS=1, when ``redis-server`` is
    not installed."""
    try:
        return RedisServer(**options)
    except RedisNotInstalled as exc:
        if os.environ.get(REQUIRE_REDIS_ENV) == "1":
            pytest.fail(f"{exc} ({REQUIRE_REDIS_ENV}=1: Redis is required)", pytrace=False)
        pytest.skip(f"Redis tests skipped: {exc}")


@contextmanager
def running_redis(**options: Any) -> Iterator[RedisServer]:
    """A Redis server started for the ``with`` block, removed with its data at its end."""
    server = new_redis_server(**options)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The suite's Redis server, emptied for each test."""
    import redis  # noqa: PLC0415 (a dev dependency the cluster tests alone need)

    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A Redis server for one test alone (restarted or killed by it)."""
    with running_redis() as server:
        yield server


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
        "site": "hepza",
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
        "published_at_precision": "minute",
        "modified_at": None,
        "event_date": None,
        "event_date_source": None,
        "language": "vi-VN",
        "category": "Tin tức",
        "tags": ["đầu tư", "KCX"],
        "images": [{"url": f"https://hepza.hochiminhcity.gov.vn/img/{slug}.jpg", "caption": None}],
        "attachments": [],
        "related_urls": [],
        "content_hash": hashlib.sha256(body.encode()).hexdigest(),
        "crawled_at": "2024-05-02T09:15:30+07:00",
        "source": "listing",
        "parser_version": "1+0123456789ab",
        "problems": [],
        "archive_record": "hepza-20240502T021530123456Z-4242-00000.warc.gz:1234",
    }
    record.update(overrides)
    if record["published_at"] is None and "published_at_precision" not in overrides:
        record["published_at_precision"] = None
    if "body_text" in overrides and "content_hash" not in overrides:
        record["content_hash"] = hashlib.sha256(record["body_text"].encode()).hexdigest()
    return record


@pytest.fixture
def make_article_record() -> Callable[..., dict[str, Any]]:
    """``make_article_record("slug", title=...)``: an exported record as the pipelines make it."""
    return _article_record
