"""Generated databases for the analysts' benchmark: N articles of one site, 5% of them edited.

Rows are written the way ``ArticleStore.write_batch`` leaves them (an article row, its
canonical URL, one version per content; an edited article's older version carries its full
bodies, the newest one does not), in bulk: SQLite through one connection with
``synchronous=OFF``; PostgreSQL with the search index built once after the load. A database is
generated once per size and kept under ``output/bench/analysts/`` (a marker file says it is
complete); a later run migrates it to the head revision and reuses it.

The text is Vietnamese from a fixed vocabulary, deterministic per article number:

- ``COMMON_WORD`` ("đầu tư") is in every other article, searched as "dau tu";
- ``RARE_WORD`` is in one article of ``RARE_EVERY``;
- articles are published from 2015 to 2025, one after the other; an edited article (every
  ``EDIT_EVERY``-th) got its second version in 2026, one minute after the previous edit, so a
  change feed of the last ``FEED_ROWS`` edits has an exact cut-off (:func:`recent_cutoff`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from pipelines.storage.models import BODY_FIELDS, VERSION_FIELDS
from pipelines.storage.store import create_db_engine, upgrade_database

SITE = "hepza"
EDIT_EVERY = 20  # 5% of the articles have two versions
RARE_EVERY = 1000
COMMON_WORD = "dau tu"
RARE_WORD = "thanhlong"
FEED_ROWS = 20
# Changing what is generated must change this: cached databases of another version are not reused.
GENERATOR_VERSION = 1
CHUNK = 5000
FIRST_PUBLISHED = datetime(2015, 1, 1, 1, 0, tzinfo=UTC)
PUBLISHED_SPAN = timedelta(days=11 * 365)
FIRST_EDIT = datetime(2026, 1, 1, tzinfo=UTC)
SITE_OFFSET = timedelta(hours=7)

WORDS = [
    "khu",
    "chế",
    "xuất",
    "công",
    "nghiệp",
    "thành",
    "phố",
    "Hồ",
    "Chí",
    "Minh",
    "ban",
    "quản",
    "lý",
    "doanh",
    "nghiệp",
    "lao",
    "động",
    "người",
    "hội",
    "nghị",
    "tổ",
    "chức",
    "triển",
    "khai",
    "kế",
    "hoạch",
    "năm",
    "nay",
    "kinh",
    "tế",
    "phát",
    "triển",
    "bền",
    "vững",
    "môi",
    "trường",
    "xuất",
    "khẩu",
    "sản",
    "xuất",
    "hàng",
    "hóa",
    "dịch",
    "vụ",
    "chính",
    "sách",
    "hỗ",
    "trợ",
    "công",
    "đoàn",
    "an",
    "toàn",
    "vệ",
    "sinh",
    "thủ",
    "tục",
    "hành",
    "chính",
    "cải",
    "cách",
    "hạ",
    "tầng",
    "giao",
    "thông",
    "nhà",
    "máy",
    "công",
    "ty",
    "vốn",
    "dự",
    "án",
    "cấp",
    "phép",
    "điều",
    "chỉnh",
    "giấy",
    "chứng",
    "nhận",
    "thu",
    "hút",
    "tăng",
    "trưởng",
    "quý",
    "tháng",
    "báo",
    "cáo",
    "kết",
    "quả",
    "thực",
    "hiện",
    "nhiệm",
    "vụ",
    "chỉ",
    "đạo",
    "đoàn",
    "thanh",
    "niên",
    "phụ",
    "nữ",
    "chuyển",
    "đổi",
    "số",
    "năng",
    "lượng",
    "xanh",
    "tiết",
    "kiệm",
    "nước",
    "thải",
    "xử",
    "lý",
    "kiểm",
    "tra",
]
CATEGORIES = tuple(f"Chuyên mục {n}" for n in range(1, 31))
AUTHORS = tuple(f"Phòng {n}" for n in range(1, 201))
PARAGRAPHS = 257  # prime: the paragraphs of consecutive articles do not repeat in step


def _paragraph(number: int) -> str:
    words = [WORDS[(number * 7 + k * k * 3 + k) % len(WORDS)] for k in range(40)]
    return " ".join(words).capitalize() + "."


_TEXTS = tuple(_paragraph(n) for n in range(PARAGRAPHS))


def article_number_url(number: int) -> str:
    return f"https://bench.example.vn/tin-tuc/-/asset_publisher/bai-viet/{number}"


def _article_id(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:20]


def _published(number: int, size: int) -> datetime:
    return FIRST_PUBLISHED + PUBLISHED_SPAN * (number / size)


def _local_iso(instant: datetime) -> str:
    return (instant + SITE_OFFSET).replace(tzinfo=None).isoformat(timespec="seconds") + "+07:00"


def edit_instant(edit_number: int) -> datetime:
    return FIRST_EDIT + timedelta(minutes=edit_number)


def recent_cutoff(size: int, rows: int = FEED_ROWS) -> datetime:
    """The instant after which exactly ``rows`` articles of a database of ``size`` changed."""
    edits = (size + EDIT_EVERY - 1) // EDIT_EVERY
    return edit_instant(edits - rows)


def _texts(number: int, edited: bool) -> tuple[str, str, str]:
    """Title, summary, body text of article ``number`` (its edit: one more paragraph)."""
    parts = [_TEXTS[(number * 3 + k) % PARAGRAPHS] for k in range(4 + edited)]
    if number % 2 == 0:
        parts[1] += " Thu hút đầu tư."
    if number % RARE_EVERY == 7:
        parts[2] += f" Trái {RARE_WORD}."
    title = f"Tin số {number}: " + " ".join(parts[0].split()[:10])
    return title, " ".join(parts[1].split()[:30]), "\n".join(parts)


def _record(number: int, size: int, edited: bool) -> dict[str, Any]:
    url = article_number_url(number)
    title, summary, body = _texts(number, edited)
    published = _published(number, size)
    html = "".join(f"<p>{p}</p>" for p in body.split("\n"))
    content_hash = hashlib.sha256(f"{number}:{edited}".encode()).hexdigest()
    return {
        "id": _article_id(url),
        "site": SITE,
        "url": url,
        "alternate_urls": [],
        "title": title,
        "summary": summary,
        "summary_truncated": False,
        "body_text": body,
        "body_html": html,
        "author": AUTHORS[number % len(AUTHORS)],
        "published_at": _local_iso(published),
        "published_at_raw": (published + SITE_OFFSET).strftime("%d/%m/%Y %H:%M"),
        "published_at_source": "meta",
        "published_at_precision": "minute",
        "event_date": None,
        "event_date_source": None,
        "published_at_quality": "ok",
        "parser_version": PARSER_VERSION,
        "archive_record": None,
        "modified_at": None,
        "language": "vi-VN",
        "category": CATEGORIES[number % len(CATEGORIES)],
        "tags": ["hepza", f"nhãn {number % 50}"],
        "images": [],
        "attachments": [],
        "related_urls": [],
        "content_hash": content_hash,
        "crawled_at": _local_iso(published + timedelta(hours=1)),
        "source": "sitemap",
        "problems": [],
        "published_at_utc": published,
        "modified_at_utc": None,
    }


ARTICLE_COLUMNS = [
    "id",
    "site",
    "url",
    "alternate_urls",
    "title",
    "summary",
    "summary_truncated",
    "body_text",
    "body_html",
    "author",
    "published_at",
    "published_at_raw",
    "published_at_source",
    "published_at_precision",
    "event_date",
    "event_date_source",
    "published_at_quality",
    "parser_version",
    "archive_record",
    "modified_at",
    "language",
    "category",
    "tags",
    "images",
    "attachments",
    "related_urls",
    "content_hash",
    "crawled_at",
    "source",
    "problems",
    "published_at_utc",
    "modified_at_utc",
    "first_seen",
    "last_seen",
    "last_run_id",
]
JSON_COLUMNS = frozenset(
    {"alternate_urls", "tags", "images", "attachments", "related_urls", "problems"}
)
VERSION_COLUMNS = ("site", "article_id", "content_hash", "captured_at", "run_id", "record")
URL_COLUMNS = ("url", "site", "article_id", "first_seen", "last_seen")
FIRST_RUN, EDIT_RUN = "bench-first-run", "bench-edit-run"
# what the generated rows say extracted them: no parser did
PARSER_VERSION = "generated"


def _rows(
    start: int, stop: int, size: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    articles, versions, urls = [], [], []
    for number in range(start, stop):
        edited = number % EDIT_EVERY == 0
        first = _record(number, size, False)
        seen = first["published_at_utc"] + timedelta(hours=1)
        newest = _record(number, size, True) if edited else first
        last = edit_instant(number // EDIT_EVERY) if edited else seen
        versioned = [name for name in VERSION_FIELDS if name not in BODY_FIELDS]
        if edited:
            versions.append(
                {
                    "site": SITE,
                    "article_id": first["id"],
                    "content_hash": first["content_hash"],
                    "captured_at": seen,
                    "run_id": FIRST_RUN,
                    # an older version keeps its bodies (write_batch moves them there)
                    "record": {name: first[name] for name in VERSION_FIELDS},
                }
            )
        versions.append(
            {
                "site": SITE,
                "article_id": first["id"],
                "content_hash": newest["content_hash"],
                "captured_at": last,
                "run_id": EDIT_RUN if edited else FIRST_RUN,
                "record": {name: newest[name] for name in versioned},
            }
        )
        articles.append(
            {**newest, "first_seen": seen, "last_seen": last, "last_run_id": versions[-1]["run_id"]}
        )
        urls.append(
            {
                "url": first["url"],
                "site": SITE,
                "article_id": first["id"],
                "first_seen": seen,
                "last_seen": last,
            }
        )
    return articles, versions, urls


def _sqlite_time(value: datetime | None) -> str | None:
    # SQLAlchemy's DateTime on SQLite: naive UTC text with microseconds.
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _sqlite_value(name: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return _sqlite_time(value)
    if name in JSON_COLUMNS or isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return int(value)
    return value


def _insert_sql(table: str, columns: tuple[str, ...] | list[str], mark: str) -> str:
    marks = ", ".join(mark.format(name=name) for name in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def _runs(size: int) -> list[dict[str, Any]]:
    start = FIRST_PUBLISHED
    return [
        {
            "run_id": run_id,
            "site": SITE,
            "started_at": started,
            "finished_at": started + timedelta(hours=1),
            "outcome": "succeeded",
            "spider_args": {},
            "stats": {"item_scraped_count": count},
            "report": {"outcome": "succeeded", "counts": {"stored_new": count}, "failures": []},
        }
        for run_id, started, count in (
            (FIRST_RUN, start, size),
            (EDIT_RUN, FIRST_EDIT, size // EDIT_EVERY),
        )
    ]


def generate_sqlite(path: Path, size: int) -> None:
    """Write a database of ``size`` articles at ``path`` (replaced if there)."""
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        upgrade_database(engine)
    finally:
        engine.dispose()
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-200000")
        article_sql = _insert_sql("articles", ARTICLE_COLUMNS, "?")
        version_sql = _insert_sql("article_versions", VERSION_COLUMNS, "?")
        url_sql = _insert_sql("article_urls", URL_COLUMNS, "?")
        run_columns = tuple(_runs(size)[0])
        conn.executemany(
            _insert_sql("crawl_runs", run_columns, "?"),
            [tuple(_sqlite_value(n, run[n]) for n in run_columns) for run in _runs(size)],
        )
        for start in range(0, size, CHUNK):
            articles, versions, urls = _rows(start, min(size, start + CHUNK), size)
            conn.executemany(
                article_sql,
                [tuple(_sqlite_value(n, row[n]) for n in ARTICLE_COLUMNS) for row in articles],
            )
            conn.executemany(
                version_sql,
                [tuple(_sqlite_value(n, row[n]) for n in VERSION_COLUMNS) for row in versions],
            )
            conn.executemany(
                url_sql, [tuple(_sqlite_value(n, row[n]) for n in URL_COLUMNS) for row in urls]
            )
            conn.commit()
        conn.execute("ANALYZE")
        conn.commit()
    finally:
        conn.close()


def _pg_value(name: str, value: Any) -> Any:
    if name in JSON_COLUMNS or isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def generate_postgresql(database_url: str, size: int) -> None:
    """Load ``size`` articles into the empty database ``database_url`` (migrated here), with
    COPY; the search index is dropped for the load and built once after it."""
    engine = create_db_engine(database_url)
    try:
        upgrade_database(engine)
        with engine.begin() as conn:
            index_sql = conn.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"),
                {"name": "ix_articles_search_document"},
            ).scalar_one()
            conn.execute(text("DROP INDEX ix_articles_search_document"))
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            runs = _runs(size)
            run_columns = tuple(runs[0])
            with cursor.copy(f"COPY crawl_runs ({', '.join(run_columns)}) FROM STDIN") as copy:
                for run in runs:
                    copy.write_row([_pg_value(n, run[n]) for n in run_columns])
            for start in range(0, size, CHUNK):
                articles, versions, urls = _rows(start, min(size, start + CHUNK), size)
                for table, columns, rows in (
                    ("articles", tuple(ARTICLE_COLUMNS), articles),
                    ("article_versions", VERSION_COLUMNS, versions),
                    ("article_urls", URL_COLUMNS, urls),
                ):
                    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row([_pg_value(n, row[n]) for n in columns])
            raw.commit()
        finally:
            raw.close()
        with engine.begin() as conn:
            conn.execute(text("SET maintenance_work_mem = '512MB'"))
            conn.execute(text(index_sql))
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()
