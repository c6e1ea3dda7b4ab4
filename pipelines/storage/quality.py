"""Display dates a migration stamped: ``published_at_quality`` over one site's stored articles.

When a portal moves to a new Liferay, its old articles are often re-created in one afternoon and
their display dates become the import's. Articles of one site that share a display day and hour
(the first 13 characters of ``published_at``, ``2023-01-18T17``, on the site's own clock) are
``bulk`` when at least ``threshold`` of them do, ``ok`` otherwise; an article without
``published_at`` has no quality (null). ``published_at`` itself is never rewritten.

The store's one writer keeps the marks current: every batch recounts the hours it touched (an
arrival can make a cluster of articles stored long before), and the first batch of a site in a
run recounts the whole site (a changed threshold, a database migrated from before the marks).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select, update

from pipelines.storage.models import Article

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy import Connection

# Sensible for a news portal: a newsroom rarely dates ten articles within one hour, a migration
# stamps hundreds.
DEFAULT_BULK_THRESHOLD = 10
HOUR_LENGTH = len("2023-01-18T17")
# Hours recounted per statement (bound parameters stay far below every database's limit).
HOURS_CHUNK = 200
BULK = "bulk"
OK = "ok"


def hour_of(published_at: str | None) -> str | None:
    """The display day and hour of ``published_at`` (site clock), or None."""
    if not published_at or len(published_at) < HOUR_LENGTH:
        return None
    return published_at[:HOUR_LENGTH]


def _in_hour(hour: str) -> Any:
    # A range on the string (the (site, published_at) index answers it): the hour's minutes
    # follow a ":", which sorts before ";".
    return and_(Article.published_at >= hour, Article.published_at < hour + ";")


def mark_hours(conn: Connection, site: str, hours: Iterable[str], threshold: int) -> int:
    """Recount the given display hours of ``site`` and mark their articles; returns how many
    articles changed mark. Three statements per chunk of hours, whatever their number."""
    changed = 0
    ordered = sorted(set(hours))
    for start in range(0, len(ordered), HOURS_CHUNK):
        chunk = ordered[start : start + HOURS_CHUNK]
        hour = func.substr(Article.published_at, 1, HOUR_LENGTH)
        counts: dict[str, int] = dict(
            conn.execute(
                select(hour, func.count())
                .where(Article.site == site, or_(*(_in_hour(h) for h in chunk)))
                .group_by(hour)
            ).all()
        )
        by_mark = {
            BULK: [h for h in chunk if int(counts.get(h, 0)) >= threshold],
            OK: [h for h in chunk if int(counts.get(h, 0)) < threshold],
        }
        for mark, marked in by_mark.items():
            if not marked:
                continue
            result = conn.execute(
                update(Article)
                .where(
                    Article.site == site,
                    or_(*(_in_hour(h) for h in marked)),
                    Article.published_at_quality.is_distinct_from(mark),
                )
                .values(published_at_quality=mark)
            )
            changed += result.rowcount or 0
    return changed


def mark_site(conn: Connection, site: str, threshold: int) -> int:
    """Recount every display hour of ``site``; returns how many articles changed mark."""
    hour = func.substr(Article.published_at, 1, HOUR_LENGTH)
    bulk_hours = list(
        conn.scalars(
            select(hour)
            .where(Article.site == site, Article.published_at.is_not(None))
            .group_by(hour)
            .having(func.count() >= threshold)
        )
    )
    changed = mark_hours(conn, site, bulk_hours, threshold)
    # Every other dated article is ok; undated ones have no mark.
    others = [Article.site == site, Article.published_at.is_not(None)]
    if bulk_hours:
        others.append(hour.not_in(bulk_hours))
    result = conn.execute(
        update(Article)
        .where(*others, Article.published_at_quality.is_distinct_from(OK))
        .values(published_at_quality=OK)
    )
    changed += result.rowcount or 0
    result = conn.execute(
        update(Article)
        .where(
            Article.site == site,
            Article.published_at.is_(None),
            Article.published_at_quality.is_not(None),
        )
        .values(published_at_quality=None)
    )
    return changed + (result.rowcount or 0)


def best_date_of(row: dict[str, Any]) -> date | None:
    """``best_date`` of an export row: event_date where the display date is bulk, else the
    display day; None without either."""
    return best_date(
        row.get("event_date"), row.get("published_at_quality"), row.get("published_at")
    )


def best_date(event: Any, quality: str | None, published: Any) -> date | None:
    """:func:`best_date_of` from the row's ``event_date``, ``published_at_quality`` and
    ``published_at`` (an export maps it over a batch's columns)."""
    if quality == BULK and event is not None:
        return event if isinstance(event, date) else date.fromisoformat(str(event))
    if isinstance(published, str):
        try:
            # the first 10 characters: the day on the site's own clock
            return date.fromisoformat(published[:10])
        except ValueError:
            return None
    return None
