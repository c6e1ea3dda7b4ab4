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

import functools
import hashlib
import json
import multiprocessing
import os
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import make_url, text

from pipelines.storage.models import BODY_FIELDS, VERSION_FIELDS, Article
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
# processes making rows at once (at most one per core)
GENERATION_WORKERS = 2
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
    first, summary, body = _shared_texts(
        number * 3 % PARAGRAPHS, number % 2 == 0, number % RARE_EVERY == 7, edited
    )
    return f"Tin số {number}: " + first, summary, body


@functools.lru_cache(maxsize=4 * PARAGRAPHS * 2)
def _shared_texts(first: int, common: bool, rare: bool, edited: bool) -> tuple[str, str, str]:
    # what articles of the same paragraphs share: made once (a million articles, 2k texts)
    parts = [_TEXTS[(first + k) % PARAGRAPHS] for k in range(4 + edited)]
    if common:
        parts[1] += " Thu hút đầu tư."
    if rare:
        parts[2] += f" Trái {RARE_WORD}."
    return " ".join(parts[0].split()[:10]), " ".join(parts[1].split()[:30]), "\n".join(parts)


@functools.lru_cache(maxsize=4 * PARAGRAPHS * 2)
def _html(body: str) -> str:
    return "".join(f"<p>{p}</p>" for p in body.split("\n"))


def _record(number: int, size: int, edited: bool) -> dict[str, Any]:
    url = article_number_url(number)
    title, summary, body = _texts(number, edited)
    published = _published(number, size)
    html = _html(body)
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


# Every column of the articles table (a column the model gains and the generator does not fill
# fails the generation loudly).
ARTICLE_COLUMNS = [column.name for column in Article.__table__.columns]
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
    if value.utcoffset():
        value = value.astimezone(UTC)
    # "+00:00" cut off: naive UTC
    return value.isoformat(sep=" ", timespec="microseconds")[:26]


_ENCODE = json.JSONEncoder(ensure_ascii=False).encode


def _dumps(value: Any) -> str:
    return "[]" if value == [] else _ENCODE(value)


def _sqlite_value(name: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return _sqlite_time(value)
    if name in JSON_COLUMNS or isinstance(value, dict):
        return _dumps(value)
    if isinstance(value, bool):
        return int(value)
    return value


TIME_COLUMNS = frozenset(
    {"published_at_utc", "modified_at_utc", "first_seen", "last_seen", "captured_at"}
)


def _converter(columns: tuple[str, ...] | list[str], sqlite: bool) -> list[tuple[int, Any]]:
    """Which positions of a row of ``columns`` need converting, and how: the values of
    :func:`_sqlite_value` / :func:`_pg_value`, without asking every value what it is."""
    found: list[tuple[int, Any]] = []
    for index, name in enumerate(columns):
        if name in JSON_COLUMNS or name == "record":
            found.append((index, _dumps))
        elif sqlite and name in TIME_COLUMNS:
            found.append((index, _sqlite_time))
        elif sqlite and name == "summary_truncated":
            found.append((index, int))
    return found


def _tuples(
    columns: tuple[str, ...] | list[str], rows: list[dict[str, Any]], sqlite: bool
) -> list[tuple[Any, ...]]:
    if not rows:
        return []
    converters = _converter(columns, sqlite)
    out = []
    for row in rows:
        values = [row[name] for name in columns]
        for index, convert in converters:
            if values[index] is not None:
                values[index] = convert(values[index])
        out.append(tuple(values))
    return out


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


LOADED_TABLES = ("articles", "article_versions", "article_urls")
Rows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]


def _chunks(size: int) -> list[tuple[int, int, int]]:
    return [(start, min(size, start + CHUNK), size) for start in range(0, size, CHUNK)]


def _chunk_rows(chunk: tuple[int, int, int], sqlite: bool) -> Rows:
    articles, versions, urls = _rows(*chunk)
    return (
        _tuples(ARTICLE_COLUMNS, articles, sqlite),
        _tuples(VERSION_COLUMNS, versions, sqlite),
        _tuples(URL_COLUMNS, urls, sqlite),
    )


def _sqlite_chunk(chunk: tuple[int, int, int]) -> Rows:
    return _chunk_rows(chunk, sqlite=True)


def _workers() -> int:
    # The rows are made in Python (most of the time at a million articles): one process per
    # core makes them while the database takes the previous chunk.
    return max(1, min(GENERATION_WORKERS, os.cpu_count() or 1))


def _pool(workers: int, initializer: Any = None, initargs: tuple[Any, ...] = ()) -> Any:
    # spawn: the benchmark's process may hold threads and open connections a fork would copy.
    return multiprocessing.get_context("spawn").Pool(workers, initializer, initargs)


def _fill_sqlite_fts(conn: sqlite3.Connection) -> None:
    """Revision 0004's own backfill of the search index (the folded columns of every row):
    what its insert trigger would have written, row by row."""
    from pipelines.storage.migrations.versions.rev_0004_search import (  # noqa: PLC0415
        SQLITE_COLUMNS,
        _values,
    )

    columns = ", ".join(SQLITE_COLUMNS)
    conn.execute(
        f"INSERT INTO articles_fts(rowid, {columns}) "
        f"SELECT rowid, {_values('articles')} FROM articles"
    )


def generate_sqlite(path: Path, size: int, log: Any = None) -> None:
    """Write a database of ``size`` articles at ``path`` (replaced if there).

    The schema is the migrations'; its indexes, the search index and its triggers are taken
    off for the load and built once after it (a million articles: minutes, where keeping a
    dozen indexes and the search index row by row took most of an hour)."""
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        leftover.unlink(missing_ok=True)
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        upgrade_database(engine)
    finally:
        engine.dispose()
    say = log or (lambda message: None)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # Nothing to recover on a crash: a generation that fails is thrown away (no marker).
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("PRAGMA cache_size=-400000")
        conn.execute("PRAGMA temp_store=MEMORY")
        marks = ", ".join("?" for _ in LOADED_TABLES)
        deferred = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
            f"AND type IN ('index', 'trigger') AND tbl_name IN ({marks}) ORDER BY type, name",
            LOADED_TABLES,
        ).fetchall()
        conn.execute("BEGIN")
        for kind, name, _ in deferred:
            conn.execute(f'DROP {kind.upper()} "{name}"')
        article_sql = _insert_sql("articles", ARTICLE_COLUMNS, "?")
        version_sql = _insert_sql("article_versions", VERSION_COLUMNS, "?")
        url_sql = _insert_sql("article_urls", URL_COLUMNS, "?")
        runs = _runs(size)
        run_columns = tuple(runs[0])
        conn.executemany(
            _insert_sql("crawl_runs", run_columns, "?"),
            [tuple(_sqlite_value(n, run[n]) for n in run_columns) for run in runs],
        )
        started = time.perf_counter()
        with _pool(_workers()) as pool:
            # imap keeps the chunks in order: rowids follow the article numbers
            for done, (articles, versions, urls) in enumerate(
                pool.imap(_sqlite_chunk, _chunks(size)), 1
            ):
                conn.executemany(article_sql, articles)
                conn.executemany(version_sql, versions)
                conn.executemany(url_sql, urls)
                if done % 20 == 0:
                    elapsed = time.perf_counter() - started
                    say(f"sqlite {size}: {done * CHUNK:,} rows in {elapsed:.0f} s")
        say(f"sqlite {size}: rows loaded in {time.perf_counter() - started:.0f} s")
        _fill_sqlite_fts(conn)
        say(f"sqlite {size}: search index in {time.perf_counter() - started:.0f} s")
        for _kind, _name, sql in sorted(deferred, key=lambda d: d[0] != "index"):
            conn.execute(sql)
        say(f"sqlite {size}: indexes in {time.perf_counter() - started:.0f} s")
        conn.execute("COMMIT")
        conn.execute("PRAGMA analysis_limit=1000")
        conn.execute("ANALYZE")
    finally:
        conn.close()
    # what the crawler and every command open it with
    with sqlite3.connect(path) as wal:
        wal.execute("PRAGMA journal_mode=WAL")


def _pg_value(name: str, value: Any) -> Any:
    if name in JSON_COLUMNS or isinstance(value, dict):
        return _dumps(value)
    return value


_PG_CONNECTION: Any = None


def _pg_worker_connect(database_url: str) -> None:
    import psycopg  # noqa: PLC0415

    global _PG_CONNECTION  # noqa: PLW0603
    url = make_url(database_url)
    _PG_CONNECTION = psycopg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database,
    )


def _pg_chunk(chunk: tuple[int, int, int]) -> int:
    """COPY one chunk's rows in their own transaction (a worker process's connection)."""
    articles, versions, urls = _chunk_rows(chunk, sqlite=False)
    conn = _PG_CONNECTION
    with conn.cursor() as cursor:
        for table, columns, rows in (
            ("articles", tuple(ARTICLE_COLUMNS), articles),
            ("article_versions", VERSION_COLUMNS, versions),
            ("article_urls", URL_COLUMNS, urls),
        ):
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    conn.commit()
    return len(articles)


def generate_postgresql(database_url: str, size: int, log: Any = None) -> None:
    """Load ``size`` articles into the empty database ``database_url`` (migrated here), with
    COPY from ``GENERATION_WORKERS`` processes at once (each chunk its own transaction; the
    stored search document is computed as rows arrive); every index that no constraint owns
    (the search index among them) is dropped for the load and built once after it."""
    say = log or (lambda message: None)
    engine = create_db_engine(database_url)
    try:
        upgrade_database(engine)
        with engine.begin() as conn:
            deferred = conn.execute(
                text(
                    "SELECT i.indexname, i.indexdef FROM pg_indexes AS i "
                    "WHERE i.schemaname = current_schema() AND i.tablename = ANY(:tables) "
                    "AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c "
                    "WHERE c.conname = i.indexname) ORDER BY i.indexname"
                ),
                {"tables": list(LOADED_TABLES)},
            ).all()
            for name, _ in deferred:
                conn.execute(text(f'DROP INDEX "{name}"'))
            runs = _runs(size)
            for run in runs:
                columns = tuple(run)
                conn.execute(
                    text(_insert_sql("crawl_runs", columns, ":{name}")),
                    {n: _pg_value(n, run[n]) for n in columns},
                )
        started = time.perf_counter()
        loaded = 0
        with _pool(_workers(), _pg_worker_connect, (database_url,)) as pool:
            for count in pool.imap_unordered(_pg_chunk, _chunks(size)):
                loaded += count
                if loaded % (20 * CHUNK) == 0:
                    elapsed = time.perf_counter() - started
                    say(f"postgresql {size}: {loaded:,} rows in {elapsed:.0f} s")
        say(f"postgresql {size}: rows loaded in {time.perf_counter() - started:.0f} s")
        with engine.begin() as conn:
            conn.execute(text("SET maintenance_work_mem = '512MB'"))
            for _, sql in deferred:
                conn.execute(text(sql))
        say(f"postgresql {size}: indexes in {time.perf_counter() - started:.0f} s")
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()
