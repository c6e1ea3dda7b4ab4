"""The change feed's storage side: which articles changed in a window of versions, and how.

A change feed (``scrapy export --changed-since``, crawler/commands/export.py) holds the articles
with a version captured in its window (:class:`ChangeCutoff` up to the feed's own instant), each
with its change (new or changed), version and the fields changed against the newest version
before the window. What an article's versions say is its history (how many, the newest, the one
before the window): worked out by the database as columns of the feed's id query
(:func:`history_columns`, one process), or from one index-only read of a batch's versions
(:func:`versions_histories`, an export's worker processes); both give the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipelines.schema import EXPORT_COLUMNS

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy import Connection

# SQLAlchemy, the models and the export's reading (export_rows) are imported in the functions
# that use them: the export command imports this module at every `scrapy` start-up.

# A SQLite change feed whose window holds more versions than this walks the export order's
# index (changed_since): gathering and sorting the window's ids costs more past it, checking
# every article more below it (a feed of the last 20 changes would check a million).
WIDE_WINDOW_VERSIONS = 50_000


@dataclass(frozen=True, slots=True)
class ChangeCutoff:
    """Where a change feed starts: versions captured at or after ``instant``, except those of
    ``run_id`` itself (a feed since a run holds what came after that run)."""

    instant: datetime
    run_id: str | None = None

    def describe(self) -> str:
        if self.run_id:
            return f"run {self.run_id} (started {self.instant.isoformat()})"
        return self.instant.isoformat()


@dataclass(frozen=True, slots=True)
class ArticleChange:
    change: str  # "new" | "changed"
    version: int  # the newest version's number (1: the first sighting)
    changed_fields: list[str]  # against the newest version before the cut-off


def _window(cutoff: ChangeCutoff, site: str | None, as_of: datetime) -> list[Any]:
    from pipelines.storage.models import ArticleVersion  # noqa: PLC0415

    # as_of: versions a crawl writes while the feed is read wait for the next feed
    conditions: list[Any] = [
        ArticleVersion.captured_at >= cutoff.instant,
        ArticleVersion.captured_at <= as_of,
    ]
    if cutoff.run_id is not None:
        conditions.append(
            ArticleVersion.run_id.is_(None) | (ArticleVersion.run_id != cutoff.run_id)
        )
    if site is not None:
        conditions.append(ArticleVersion.site == site)
    return conditions


def changed_since(
    cutoff: ChangeCutoff, site: str | None, as_of: datetime, *, wide: bool = False
) -> Any:
    """The articles with a version in the window: the change feed's rows. ``wide`` (SQLite, a
    window of many versions: :func:`wide_window`): each article of the export order's index
    is checked for a version in the window (index ``article_versions (article_id, id,
    captured_at)``), instead of the window's articles gathered, looked up by id and sorted (a
    million ids through two temporary b-trees for a feed of everything: 9 s)."""
    from sqlalchemy import literal_column, select  # noqa: PLC0415

    from pipelines.storage.models import Article, ArticleVersion  # noqa: PLC0415

    window = _window(cutoff, site, as_of)
    if wide:
        # SELECT 1, not SELECT *: SQLite then answers from the index alone
        version: Any = select(literal_column("1")).where(ArticleVersion.article_id == Article.id)
        return version.where(*window).exists()
    return Article.id.in_(select(ArticleVersion.article_id).where(*window).distinct())


def wide_window(conn: Connection, cutoff: ChangeCutoff, site: str | None, as_of: datetime) -> bool:
    """Whether SQLite's change feed reads its articles by the export order (more than
    ``WIDE_WINDOW_VERSIONS`` versions in the window: counted up to that many, from the
    window's index); never on PostgreSQL, whose planner weighs the window itself."""
    if conn.dialect.name != "sqlite":
        return False
    from sqlalchemy import func, literal, select  # noqa: PLC0415

    versions = (
        select(literal(1)).where(*_window(cutoff, site, as_of)).limit(WIDE_WINDOW_VERSIONS + 1)
    )
    counted = conn.execute(select(func.count()).select_from(versions.subquery())).scalar()
    return int(counted or 0) > WIDE_WINDOW_VERSIONS


def _changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    from pipelines.storage.models import VERSION_FIELDS  # noqa: PLC0415

    return [name for name in VERSION_FIELDS if before.get(name) != after.get(name)]


def history_columns(cutoff: ChangeCutoff, as_of: datetime) -> list[Any]:
    """What the change feed needs of an article's versions (up to ``as_of``), as columns of
    its row, worked out by the database per article (index ``(article_id, id)``) instead of
    every version read back: how many there are, the newest one's id, and the id of the newest
    version before the cut-off (the last one outside the window before the first one in it;
    None: none, the article is new since the cut-off)."""
    from sqlalchemy import func, not_, select  # noqa: PLC0415
    from sqlalchemy.orm import aliased  # noqa: PLC0415

    from pipelines.storage.models import Article, ArticleVersion  # noqa: PLC0415

    def versions(alias: Any) -> list[Any]:
        return [alias.article_id == Article.id, alias.captured_at <= as_of]

    def in_window(alias: Any) -> Any:
        return _in_window(alias, cutoff)

    every, first, outside = (aliased(ArticleVersion) for _ in range(3))
    count = select(func.count(every.id)).where(*versions(every))
    newest = select(func.max(every.id)).where(*versions(every))
    first_inside = select(func.min(first.id)).where(*versions(first), in_window(first))
    before = select(func.max(outside.id)).where(
        *versions(outside),
        not_(in_window(outside)),
        outside.id < first_inside.correlate(Article).scalar_subquery(),
    )
    return [
        query.correlate(Article).scalar_subquery().label(name)
        for query, name in ((count, "_versions"), (newest, "_newest"), (before, "_before"))
    ]


def _in_window(versions: Any, cutoff: ChangeCutoff) -> Any:
    """The window of :func:`_window`, for an article's own versions (``versions``: the
    version table or an alias of it)."""
    from sqlalchemy import and_, or_  # noqa: PLC0415

    inside = versions.captured_at >= cutoff.instant
    if cutoff.run_id is None:
        return inside
    return and_(inside, or_(versions.run_id.is_(None), versions.run_id != cutoff.run_id))


def versions_history(versions: Sequence[tuple[int, Any]]) -> tuple[int, int, int | None]:
    """:func:`history_columns` of one article from its versions up to the feed's instant,
    each ``(id, in the window)``: how many, the newest's id, the newest one outside the
    window before the first one in it (None: none, or no version in the window)."""
    if len(versions) == 1:
        # most articles have one version: new in the window, or (outside it) no history to diff
        return 1, versions[0][0], None
    first_inside = min((vid for vid, inside in versions if inside), default=None)
    before = None
    if first_inside is not None:
        outside = [vid for vid, inside in versions if not inside and vid < first_inside]
        before = max(outside, default=None)
    return len(versions), max(vid for vid, _ in versions), before


def article_changes(
    conn: Connection, histories: Sequence[tuple[Any, Any, Any]], bodies: Sequence[tuple[Any, Any]]
) -> list[ArticleChange]:
    """Each article's change from its :func:`history_columns` (versions, newest, before) and
    its row's bodies (text, HTML): a version's record (the whole article) is read only for the
    articles with a version before the cut-off, the ones diffed."""
    from sqlalchemy import select  # noqa: PLC0415

    from pipelines.storage.export_rows import one_of  # noqa: PLC0415
    from pipelines.storage.models import BODY_FIELDS, ArticleVersion  # noqa: PLC0415

    wanted = {
        version
        for _, newest, before in histories
        if before is not None
        for version in (newest, before)
    }
    records: dict[int, Any] = {}
    if wanted:
        found = conn.execute(
            select(ArticleVersion.id, ArticleVersion.record).where(
                one_of(conn, ArticleVersion.id, sorted(wanted))
            )
        )
        records = {version_id: record for version_id, record in found.all()}
    changes = []
    for (count, newest_id, before_id), (body_text, body_html) in zip(
        histories, bodies, strict=True
    ):
        before = records.get(before_id) if before_id is not None else None
        if before is None:
            changes.append(ArticleChange("new", count, []))
            continue
        newest = records.get(newest_id) or {}
        if not all(name in newest for name in BODY_FIELDS):
            # the newest version's bodies are the article row's
            newest = {**newest, "body_text": _text(body_text), "body_html": _text(body_html)}
        changes.append(ArticleChange("changed", count, _changed_fields(before, newest)))
    return changes


def _text(value: Any) -> Any:
    # a body the export read as its UTF-8 bytes (export_rows.RAW_TEXT_COLUMNS)
    return value.decode("utf-8") if isinstance(value, bytes) else value


def versions_histories(
    conn: Connection, ids: Sequence[str], cutoff: ChangeCutoff, as_of: datetime
) -> list[tuple[str, tuple[Any, ...]]]:
    """Each article's :func:`history_columns`, in the ids' order, from its versions read in
    one query of the index ``article_versions (article_id, id, captured_at)`` (with each
    version's place in the window) and worked out here (:func:`versions_history`): three
    subqueries per article cost the database a third of a worker's time. An id without a
    version is left out (the article was deleted)."""
    from sqlalchemy import select  # noqa: PLC0415

    from pipelines.storage.export_rows import one_of  # noqa: PLC0415
    from pipelines.storage.models import ArticleVersion  # noqa: PLC0415

    query = select(
        ArticleVersion.article_id, ArticleVersion.id, _in_window(ArticleVersion, cutoff)
    ).where(one_of(conn, ArticleVersion.article_id, ids), ArticleVersion.captured_at <= as_of)
    versions: dict[str, list[tuple[int, Any]]] = {}
    for article_id, version_id, inside in conn.execute(query).all():
        versions.setdefault(article_id, []).append((version_id, inside))
    return [
        (article_id, versions_history(versions[article_id]))
        for article_id in ids
        if article_id in versions
    ]


def changed_rows(
    conn: Connection, entries: Sequence[tuple[str, tuple[Any, ...]]], raw_text: bool
) -> list[tuple[Any, ...]]:
    """The change feed's rows of these articles, in their order: each article's export row
    followed by its change, version and changed fields, from its ``(id, history)`` (the
    :func:`history_columns` of its row). An article deleted since its id was read is left
    out, as if read a moment later."""
    from pipelines.storage.export_rows import rows_by_id  # noqa: PLC0415

    found = rows_by_id(conn, [article_id for article_id, _ in entries], raw_text=raw_text)
    kept = [(found[article_id], history) for article_id, history in entries if article_id in found]
    rows = [row for row, _ in kept]
    text = EXPORT_COLUMNS.index("body_text")
    html = EXPORT_COLUMNS.index("body_html")
    changes = article_changes(
        conn, [history for _, history in kept], [(row[text], row[html]) for row in rows]
    )
    return [
        (*row, change.change, change.version, change.changed_fields)
        for row, change in zip(rows, changes, strict=True)
    ]
