"""ArticleStore: one code path for SQLite and PostgreSQL (native upserts, Alembic migrations)."""

from __future__ import annotations

import logging
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, and_, bindparam, func, or_, select, text, update

from crawler.domain.identity import article_id, normalize_url
from crawler.domain.items import EXPORT_FIELDS
from pipelines.schema import iso_day

# Opening the database lives in pipelines/storage/engine.py (no ORM, for the reading commands);
# its names stay importable from here, where the writers and the tests look for them.
from pipelines.storage.engine import (  # noqa: F401
    MIGRATIONS_DIR,
    SCHEMA_REVISION,
    Database,
    StorageError,
    create_db_engine,
    database_unreachable,
    upgrade_database,
)
from pipelines.storage.models import (
    BODY_FIELDS,
    VERSION_FIELDS,
    Article,
    ArticleUrl,
    ArticleVersion,
    CrawlRun,
)
from pipelines.storage.quality import DEFAULT_BULK_THRESHOLD, hour_of, mark_hours, mark_site

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from scrapy.settings import BaseSettings
    from sqlalchemy.sql.selectable import TextualSelect

    from pipelines.storage.content_index import ContentIndex

logger = logging.getLogger(__name__)

# Bound parameters per statement stay far below SQLite's and PostgreSQL's limits.
IN_CHUNK = 500
# Rows fetched per round trip when a read streams a whole site (a server-side cursor on
# PostgreSQL): memory holds one batch, not the result.
STREAM_ROWS = 5000

LIST_FIELDS = frozenset(
    {"alternate_urls", "tags", "images", "attachments", "related_urls", "problems"}
)
OUTCOMES = frozenset({"running", "succeeded", "failed", "interrupted", "abandoned"})
# A running run of another host older than this is taken as dead (runs are capped far below).
STALE_RUN_AGE = timedelta(hours=48)


class KnownRow(NamedTuple):
    id: str
    url: str
    modified_at: str | None
    published_at: str | None
    alias: str | None
    # "minute" or "day" (a date-only published_at); None when unknown
    published_at_precision: str | None = None


@dataclass(frozen=True, slots=True)
class KnownArticle:
    id: str
    url: str
    modified_at: datetime | None
    published_at: datetime | None
    # "minute" or "day" (a date-only published_at); None when unknown
    published_at_precision: str | None = None


def record_site(record: dict[str, Any]) -> str:
    """The record's site; a record without one is refused, never given a guessed site."""
    site = record.get("site")
    if not site or not isinstance(site, str):
        raise ValueError(f"record without a site, not stored: {record.get('url')}")
    return site


def record_identity(record: dict[str, Any]) -> str:
    """The record's id; a record without its id and content hash is refused: the store writes
    what it is given, the writer (``crawler.domain.identity.identify``) completes records."""
    record_id = record.get("id")
    if not record_id or not record.get("content_hash"):
        raise ValueError(f"record without its id and content hash, not stored: {record.get('url')}")
    return str(record_id)


def parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _stored_value(value: Any, name: str) -> Any:
    """A stored column's value as a new row would hold it (a list column read as None is [])."""
    if value is None and name in LIST_FIELDS:
        return []
    if name == "summary_truncated":
        return bool(value)
    return value


def _chunks(values: Sequence[str], size: int = IN_CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _run_is_dead(
    report: dict[str, Any] | None, started: datetime, now: datetime, host: str
) -> bool:
    process = (report or {}).get("process") or {}
    if process.get("host") == host and isinstance(process.get("pid"), int):
        try:
            os.kill(process["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return now - started > STALE_RUN_AGE


class ArticleStore(Database):
    def __init__(self, database_url: str, *, bulk_threshold: int = DEFAULT_BULK_THRESHOLD) -> None:
        # PUBLISHED_AT_BULK_THRESHOLD: how many articles of a site sharing a display hour make
        # it a migration's (pipelines/storage/quality.py)
        self.bulk_threshold = max(1, bulk_threshold)
        super().__init__(database_url)
        # The one dialect's insert: a command on SQLite does not import PostgreSQL's dialect.
        self._insert: Callable[..., Any]
        if self._dialect == "postgresql":
            from sqlalchemy.dialects import postgresql  # noqa: PLC0415

            self._insert = postgresql.insert
        else:
            from sqlalchemy.dialects import sqlite  # noqa: PLC0415

            self._insert = sqlite.insert
        # Whether a write means the pages were met on the site now (``last_seen`` moves). A
        # reparse met nothing on the site: it reads archives (crawler/commands/reparse.py).
        self.marks_seen = True
        logger.info("storage: %s database at %s is up to date", self._dialect, self.redacted_url)

    def _upgrade(self, engine: Engine) -> None:
        # This module's name, looked up at each open: the migration tests open a store at an
        # older revision by replacing it.
        upgrade_database(engine)

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> ArticleStore:
        return cls(
            settings.get("DATABASE_URL"),
            bulk_threshold=settings.getint("PUBLISHED_AT_BULK_THRESHOLD", DEFAULT_BULK_THRESHOLD),
        )

    @contextmanager
    def _write(self, action: str) -> Iterator[Connection]:
        with self.guard(action), self._engine.connect() as raw:
            conn = raw.execution_options(sqlite_immediate=True)
            with conn.begin():
                yield conn

    # --- articles -------------------------------------------------------------------------

    def content_index(self, site: str) -> ContentIndex:
        """Every stored article of ``site`` with its content hash, in one query."""
        # numpy comes with the index: imported by a crawl, not by every command that reads
        from pipelines.storage.content_index import ContentIndex  # noqa: PLC0415

        query = (
            select(Article.id, Article.content_hash)
            .where(Article.site == site)
            .order_by(Article.first_seen, Article.id)
        )
        with self.guard("classify"), self._engine.connect() as conn:
            rows = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(query)
            return ContentIndex((row.id, row.content_hash) for row in rows)

    @property
    def _holders_query(self) -> TextualSelect:
        """The articles of a site holding some content hashes, by the (site, content_hash)
        index: SQLite is told to use it, or it scans the site's covering index
        (ix_articles_site_first_seen) for each look-up."""
        indexed = " INDEXED BY ix_articles_site_content_hash" if self._dialect == "sqlite" else ""
        return (
            text(
                f"SELECT content_hash, first_seen, id FROM articles{indexed} "
                "WHERE site = :site AND content_hash IN :hashes"
            )
            .bindparams(bindparam("hashes", expanding=True))
            .columns(Article.content_hash, Article.first_seen, Article.id)
        )

    def holds_more_than(self, site: str, count: int) -> bool:
        """Whether ``site`` has more than ``count`` stored articles (at most ``count + 1``
        entries of an index read, whatever the size of the site)."""
        held = select(Article.id).where(Article.site == site).limit(count + 1).subquery()
        with self.guard("count"), self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(held)).scalar_one()) > count

    def stored_contents(
        self, site: str, ids: Sequence[str], hashes: Sequence[str]
    ) -> tuple[dict[str, tuple[str | None, Any]], dict[str, list[tuple[Any, str]]]]:
        """The stored articles of ``site`` among ``ids`` (id -> content hash, first_seen), and
        the stored articles of ``site`` holding each of ``hashes`` (hash -> [(first_seen, id)]):
        what :class:`~pipelines.storage.content_index.LookedUpContents` classifies with, by the
        primary key and the (site, content_hash) index."""
        stored: dict[str, tuple[str | None, Any]] = {}
        holders: dict[str, list[tuple[Any, str]]] = {}
        with self.guard("classify"), self._engine.connect() as conn:
            # By id alone, its site compared here: with the site in the query, SQLite scans
            # the site's covering index (ix_articles_site_first_seen) instead.
            for chunk in _chunks(list(ids)):
                query = select(
                    Article.id, Article.site, Article.content_hash, Article.first_seen
                ).where(Article.id.in_(chunk))
                for row in conn.execute(query):
                    if row.site == site:
                        stored[row.id] = (row.content_hash, row.first_seen)
            for chunk in _chunks(list(hashes)):
                for held in conn.execute(self._holders_query, {"site": site, "hashes": chunk}):
                    holders.setdefault(held.content_hash, []).append((held.first_seen, held.id))
        return stored, holders

    def write_batch(self, records: list[dict[str, Any]], run_id: str) -> dict[str, list[str]]:
        """Store ``records`` (articles, their versions, their URLs) in one transaction, then
        recount the display hours it touched (``pipelines.storage.quality``: an arrival can
        reveal a cluster). Returns the fields each changed article changed (article id -> field
        names, in VERSION_FIELDS order): a new version is added where the content hash changed,
        with those fields as its ``changed_fields``."""
        merged, urls = self._merge(records)
        if not merged:
            return {}
        now = datetime.now(UTC)
        with self._write("write_batch") as conn:
            previous: dict[str, str | None] = {}
            # (site, display hour) of every row the batch writes, before and after it
            hours: set[tuple[str, str]] = set()
            for ids in _chunks(list(merged)):
                stored = conn.execute(
                    select(
                        Article.id, Article.site, Article.content_hash, Article.published_at
                    ).where(Article.id.in_(ids))
                )
                for held in stored:
                    old_hour = hour_of(held.published_at)
                    if old_hour:
                        hours.add((held.site, old_hour))
                    if held.site != merged[held.id].get("site"):
                        # One host belongs to one site (sites_of_host): never move another
                        # site's row under this run.
                        raise StorageError(
                            f"article {merged[held.id]['url']} is stored for site {held.site!r}, "
                            f"not {merged[held.id].get('site')!r}: crawl its host as {held.site!r}"
                        )
                    previous[held.id] = held.content_hash

            article_rows = [self._article_row(rec, now, run_id) for rec in merged.values()]
            changed = [
                row["id"]
                for row in article_rows
                if row["id"] in previous and previous[row["id"]] != row["content_hash"]
            ]
            # Read before the row takes the new values: what each changed article held.
            changed_fields = self._changed_fields(
                conn, {row["id"]: row for row in article_rows if row["id"] in set(changed)}
            )
            # Before the article row takes the new bodies, the version they belong to gets them.
            self._move_bodies_to_versions(conn, changed)
            stmt = self._insert(Article)
            # An article belongs to the site that stored it (checked above).
            # published_at_quality: the stored mark until the recount below.
            kept = {"id", "site", "first_seen", "published_at_quality"} | (
                set() if self.marks_seen else {"last_seen"}
            )
            # A run that met the article without its sitemap lastmod must not erase the one
            # stored: incremental runs compare against it.
            keep_if_missing = {"modified_at", "modified_at_utc"}
            stmt = stmt.on_conflict_do_update(
                index_elements=[Article.id],
                set_={
                    col.name: (
                        func.coalesce(stmt.excluded[col.name], col)
                        if col.name in keep_if_missing
                        else stmt.excluded[col.name]
                    )
                    for col in Article.__table__.columns
                    # the columns the rows give (all of them, unless a test writes as the
                    # code of an earlier revision did)
                    if col.name not in kept and col.name in article_rows[0]
                },
            )
            conn.execute(stmt, article_rows)
            hours.update(
                (row["site"], hour)
                for row in article_rows
                if (hour := hour_of(row["published_at"]))
            )
            for site in {site for site, _ in hours}:
                mark_hours(conn, site, [h for s, h in hours if s == site], self.bulk_threshold)

            versions = [
                self._version_row(row, now, run_id, changed_fields.get(row["id"]))
                for row in article_rows
                if row["id"] not in previous or previous[row["id"]] != row["content_hash"]
            ]
            if versions:
                conn.execute(self._insert(ArticleVersion), versions)

            # A URL met on an article's own page belongs to that article from now on, unless it
            # is another article's canonical URL.
            for chunk in _chunks(list(urls)):
                for row in conn.execute(
                    select(Article.url, Article.id).where(Article.url.in_(chunk))
                ):
                    urls[row.url] = row.id
            sites = self._sites_of(conn, set(urls.values()))
            url_stmt = self._insert(ArticleUrl)
            url_stmt = url_stmt.on_conflict_do_update(
                index_elements=[ArticleUrl.url],
                set_={
                    **({"last_seen": url_stmt.excluded.last_seen} if self.marks_seen else {}),
                    "article_id": url_stmt.excluded.article_id,
                    "site": url_stmt.excluded.site,
                },
            )
            conn.execute(
                url_stmt,
                [
                    {
                        "url": url,
                        "site": sites[owner],
                        "article_id": owner,
                        "first_seen": now,
                        "last_seen": now,
                    }
                    for url, owner in urls.items()
                ],
            )
        return changed_fields

    @staticmethod
    def _version_row(
        row: dict[str, Any], now: datetime, run_id: str, changed_fields: list[str] | None
    ) -> dict[str, Any]:
        """The ``article_versions`` row of an article row about to be written."""
        return {
            "article_id": row["id"],
            "site": row["site"],
            "content_hash": row["content_hash"],
            "captured_at": now,
            "run_id": run_id,
            # The newest version's bodies are the article row's: not stored twice.
            "record": {name: row[name] for name in VERSION_FIELDS if name not in BODY_FIELDS},
            "parser_version": row.get("parser_version"),
            "changed_fields": changed_fields,
            # where the archive keeps the page this version was extracted from (crawler/archive/)
            "archive_record": row.get("archive_record"),
        }

    @staticmethod
    def _changed_fields(conn: Connection, rows: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
        """For each article about to be replaced by ``rows[id]``: the VERSION_FIELDS whose
        stored value differs (the article row holds the state of its newest version)."""
        columns = [getattr(Article, name) for name in VERSION_FIELDS]
        found: dict[str, list[str]] = {}
        for ids in _chunks(list(rows)):
            query = select(Article.id, *columns).where(Article.id.in_(ids))
            for stored in conn.execute(query).mappings():
                new = rows[stored["id"]]
                found[stored["id"]] = [
                    name
                    for name in VERSION_FIELDS
                    if _stored_value(stored[name], name) != new[name]
                ]
        return found

    @staticmethod
    def _sites_of(conn: Connection, article_ids: set[str]) -> dict[str, str]:
        sites: dict[str, str] = {}
        for ids in _chunks(list(article_ids)):
            query = select(Article.id, Article.site).where(Article.id.in_(ids))
            sites.update((row.id, row.site) for row in conn.execute(query))
        return sites

    @staticmethod
    def _move_bodies_to_versions(conn: Connection, article_ids: list[str]) -> None:
        for ids in _chunks(article_ids):
            latest = (
                select(ArticleVersion.article_id, func.max(ArticleVersion.id).label("id"))
                .where(ArticleVersion.article_id.in_(ids))
                .group_by(ArticleVersion.article_id)
                .subquery()
            )
            rows = conn.execute(
                select(
                    ArticleVersion.id, ArticleVersion.record, Article.body_text, Article.body_html
                )
                .join(latest, latest.c.id == ArticleVersion.id)
                .join(Article, Article.id == ArticleVersion.article_id)
            )
            for version_id, record, body_text, body_html in rows:
                if all(name in record for name in BODY_FIELDS):
                    # written before bodies were kept once (or already complete)
                    continue
                full = {**record, "body_text": body_text, "body_html": body_html}
                conn.execute(
                    update(ArticleVersion)
                    .where(ArticleVersion.id == version_id)
                    .values(record=full)
                )

    def versions(self, article_id: str) -> list[dict[str, Any]]:
        """Every version of an article, oldest first, each record complete (bodies included)."""
        with self.guard("versions"), self._engine.connect() as conn:
            bodies = conn.execute(
                select(Article.body_text, Article.body_html).where(Article.id == article_id)
            ).first()
            rows = conn.execute(
                select(ArticleVersion.__table__)
                .where(ArticleVersion.article_id == article_id)
                .order_by(ArticleVersion.id)
            ).mappings()
            out = [dict(row) for row in rows]
        for version in out:
            record = version["record"]
            if bodies is not None and not all(name in record for name in BODY_FIELDS):
                version["record"] = {
                    **record,
                    "body_text": bodies.body_text,
                    "body_html": bodies.body_html,
                }
        return out

    def _merge(
        self, records: list[dict[str, Any]]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        merged: dict[str, dict[str, Any]] = {}
        urls: dict[str, str] = {}
        for record in records:
            record_id = record_identity(record)
            merged[record_id] = record
            for url in [record["url"], *(record.get("alternate_urls") or [])]:
                if url:
                    urls[url] = record_id
        # Canonical URLs win over an alternate URL that another record of the batch listed.
        for record_id, record in merged.items():
            urls[record["url"]] = record_id
        return merged, urls

    @staticmethod
    def _article_row(record: dict[str, Any], now: datetime, run_id: str) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for name in EXPORT_FIELDS:
            value = record.get(name)
            if value is None and name in LIST_FIELDS:
                value = []
            row[name] = value
        row["site"] = record_site(record)
        row["summary_truncated"] = bool(row["summary_truncated"])
        if "event_date" in row:
            row["event_date"] = iso_day(row["event_date"])
        published, modified = parse_iso(row["published_at"]), parse_iso(row["modified_at"])
        row["published_at_utc"] = published.astimezone(UTC) if published else None
        row["modified_at_utc"] = modified.astimezone(UTC) if modified else None
        row["first_seen"] = now
        row["last_seen"] = now
        row["last_run_id"] = run_id
        return row

    def mark_publication_quality(self, site: str) -> int:
        """Recount every display hour of ``site`` (``published_at_quality``); returns how
        many articles changed mark."""
        with self._write("mark_publication_quality") as conn:
            return mark_site(conn, site, self.bulk_threshold)

    # --- URLs -----------------------------------------------------------------------------

    def resolve_article_ids(self, urls: list[str]) -> dict[str, str]:
        """Article id for each URL that is an article's canonical URL or a known alias."""
        with self.guard("resolve"), self._engine.connect() as conn:
            return self._resolve(conn, urls)

    @staticmethod
    def _resolve(conn: Connection, urls: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in _chunks(list(dict.fromkeys(urls))):
            for row in conn.execute(
                select(ArticleUrl.url, ArticleUrl.article_id).where(ArticleUrl.url.in_(chunk))
            ):
                found[row.url] = row.article_id
            for row in conn.execute(select(Article.url, Article.id).where(Article.url.in_(chunk))):
                found[row.url] = row.id
        # An article's canonical URL (its key, /w/<urlTitle>) need not be one of its
        # addresses: an article read at a legacy display page or an Asset Publisher view is
        # stored under that address, with the key's id.
        ids = {article_id(url): url for url in dict.fromkeys(urls) if url not in found}
        for chunk in _chunks(list(ids)):
            for owner in conn.scalars(select(Article.id).where(Article.id.in_(chunk))):
                found[ids[owner]] = owner
        return found

    def record_alias_ids(self, pairs: list[tuple[str, str]], run_id: str) -> int:
        """Store ``(article_id, url)`` pairs; returns how many URLs were written or refreshed."""
        if not pairs:
            return 0
        with self._write("record_aliases") as conn:
            written = self._write_aliases(conn, pairs, datetime.now(UTC))
        logger.debug("storage: %d aliases recorded (run %s)", written, run_id)
        return written

    def _write_aliases(self, conn: Connection, pairs: list[tuple[str, str]], now: datetime) -> int:
        rows = {url: owner for owner, url in pairs if url}
        canonical: set[str] = set()
        for chunk in _chunks(list(rows)):
            canonical.update(conn.scalars(select(Article.url).where(Article.url.in_(chunk))))
        sites = self._sites_of(conn, set(rows.values()))
        # An alias never takes over a URL that is some article's own canonical URL.
        values = [
            {
                "url": url,
                "site": sites[owner],
                "article_id": owner,
                "first_seen": now,
                "last_seen": now,
            }
            for url, owner in rows.items()
            if url not in canonical and owner in sites
        ]
        if values:
            stmt = self._insert(ArticleUrl)
            if self.marks_seen:
                stmt = stmt.on_conflict_do_update(
                    index_elements=[ArticleUrl.url], set_={"last_seen": stmt.excluded.last_seen}
                )
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=[ArticleUrl.url])
            conn.execute(stmt, values)
        return len(values)

    def known_rows(self, site: str) -> Iterator[KnownRow]:
        """What one site's incremental crawl knows, streamed: each stored article's id, URL,
        modified and published dates (ISO strings) and one of its alias URLs (None without
        any), one row per alias, an article's rows one after another (by id). Read with a
        server-side cursor (PostgreSQL) in batches: a million articles are never one result in
        memory."""
        query = (
            select(
                Article.id,
                Article.url,
                Article.modified_at,
                Article.published_at,
                ArticleUrl.url,
                Article.published_at_precision,
            )
            .outerjoin(ArticleUrl, ArticleUrl.article_id == Article.id)
            .where(Article.site == site)
            .order_by(Article.id)
        )
        with self.guard("known_index"), self._engine.connect() as conn:
            rows = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(query)
            for row in rows:
                yield KnownRow(*row)

    def known_index(self, site: str) -> dict[str, KnownArticle]:
        """What one site's incremental crawl knows: every URL of its stored articles (a dict,
        for a small site or a test; the crawl builds its compact index from
        :meth:`known_rows`)."""
        index: dict[str, KnownArticle] = {}
        canonical: dict[str, KnownArticle] = {}
        for art_id, url, modified, published, alias, precision in self.known_rows(site):
            known = canonical.get(url)
            if known is None:
                known = KnownArticle(
                    art_id, url, parse_iso(modified), parse_iso(published), precision
                )
                canonical[url] = known
            if alias:
                index[alias] = known
        index.update(canonical)
        return index

    def sites_of_host(
        self, base_url: str, site: str, group: str | None = None
    ) -> dict[str, tuple[int, str]]:
        """The other sites that hold articles of ``base_url``'s host, whatever its spelling
        (scheme, ``www.``: stored URLs are normalized, so host case and default port are
        already one spelling), each with how many articles of the host it holds and one of
        their URLs. ``group``: the Liferay site group the crawl keeps to; the articles of a
        group live under ``/web/<group>/``, the root group's (``guest``) everywhere else, so
        two groups of one host are two sites.

        An article is keyed by its id alone, and its id by its URL: a host (or a group of it)
        belongs to one site. A crawl under another site name would take over the rows of the
        site that owns them (their ``site`` stays, their counts go to the other run) instead of
        storing its own, so it is refused (``crawler.crawl.crawl_state.host_refusal``)."""
        parts = urlsplit(normalize_url(base_url))
        host = parts.netloc.lower()
        if host.startswith("www."):
            host = host[len("www.") :]
        escaped = host.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        origins = [
            f"{scheme}://{www}{escaped}" for scheme in ("http", "https") for www in ("", "www.")
        ]
        if group and group != "guest":
            prefix = "/web/" + group.replace("%", "\\%").replace("_", "\\_") + "/%"
            territory = or_(*(Article.url.like(o + prefix, escape="\\") for o in origins))
        else:
            territory = or_(
                *(
                    and_(
                        Article.url.like(o + "/%", escape="\\"),
                        Article.url.not_like(o + "/web/%", escape="\\"),
                    )
                    for o in origins
                )
            )
        query = (
            select(Article.site, func.count(), func.min(Article.url))
            .where(Article.site != site, territory)
            .group_by(Article.site)
        )
        with self.guard("sites_of_host"), self._engine.connect() as conn:
            return {row[0]: (row[1], row[2]) for row in conn.execute(query)}

    # --- runs -----------------------------------------------------------------------------

    def start_run(
        self,
        run_id: str,
        started_at: datetime,
        spider_args: dict[str, Any],
        *,
        site: str,
        report: dict[str, Any] | None = None,
        kind: str = "crawl",
    ) -> list[str]:
        """Record a new run of ``site`` as ``running``; mark earlier runs of the same site that
        died while running as ``abandoned`` and return their ids.

        A running run is dead when its process (host and pid, kept in its report until it
        finishes) no longer exists on this host, or, for a run of another host, when it
        started more than STALE_RUN_AGE ago. ``report``: the running row's report instead of
        this process (a cluster run outlives the command that starts it).
        """
        host = socket.gethostname()
        process: dict[str, Any] = {"host": host, "pid": os.getpid()}
        abandoned: list[str] = []
        stmt = self._insert(CrawlRun).on_conflict_do_nothing(index_elements=[CrawlRun.run_id])
        with self._write("start_run") as conn:
            running = conn.execute(
                select(CrawlRun.run_id, CrawlRun.started_at, CrawlRun.report).where(
                    CrawlRun.site == site, CrawlRun.outcome == "running", CrawlRun.run_id != run_id
                )
            ).all()
            for other_id, other_start, other_report in running:
                if _run_is_dead(other_report, other_start, started_at, host):
                    abandoned.append(other_id)
            if abandoned:
                conn.execute(
                    update(CrawlRun)
                    .where(CrawlRun.run_id.in_(abandoned), CrawlRun.outcome == "running")
                    .values(outcome="abandoned")
                )
            conn.execute(
                stmt,
                {
                    "run_id": run_id,
                    "site": site,
                    "kind": kind,
                    "started_at": started_at,
                    "outcome": "running",
                    "spider_args": spider_args,
                    "report": {"process": process} if report is None else report,
                },
            )
        return abandoned

    def finish_run(
        self,
        run_id: str,
        finished_at: datetime,
        outcome: str,
        stats: dict[str, Any],
        report: dict[str, Any],
        *,
        site: str,
    ) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown run outcome {outcome!r}, expected one of {sorted(OUTCOMES)}")
        values = {"finished_at": finished_at, "outcome": outcome, "stats": stats, "report": report}
        with self._write("finish_run") as conn:
            stmt = update(CrawlRun).where(CrawlRun.run_id == run_id)
            if conn.execute(stmt.values(**values)).rowcount:
                return
            if conn.scalar(select(CrawlRun.run_id).where(CrawlRun.run_id == run_id)) is None:
                # start_run never ran (the store opened late): keep the run anyway.
                conn.execute(
                    self._insert(CrawlRun),
                    {
                        "run_id": run_id,
                        "site": site,
                        "kind": report.get("kind") or "crawl",
                        "started_at": finished_at,
                        "spider_args": {},
                        **values,
                    },
                )

    def fail_running_run(
        self,
        run_id: str,
        finished_at: datetime,
        stats: dict[str, Any],
        report: dict[str, Any],
    ) -> str | None:
        """Mark a run that is still ``running`` as failed (a cluster run whose Redis was lost);
        a run already finished keeps its row. The run's outcome afterwards (None: no such
        run)."""
        values = {"finished_at": finished_at, "outcome": "failed", "stats": stats, "report": report}
        with self._write("fail_running_run") as conn:
            stmt = update(CrawlRun).where(CrawlRun.run_id == run_id, CrawlRun.outcome == "running")
            conn.execute(stmt.values(**values))
            outcome: str | None = conn.scalar(
                select(CrawlRun.outcome).where(CrawlRun.run_id == run_id)
            )
            return outcome
