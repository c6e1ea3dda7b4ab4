"""The dates pipeline: an article's published_at and modified_at chosen among what its page and
its listings showed, each read by crawler/domain/dates.py's rules, and the day of the event its
lead opens with (event_date), read against the display day it chose."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from crawler.domain.dates import (
    DEFAULT_LOCALE,
    DEFAULT_TIMEZONE,
    DateParseError,
    ParsedDate,
    event_date_of_lead,
    format_iso,
    looks_machine,
    parse_display_date,
    parse_machine_date,
)
from crawler.domain.items import ArticleItem, DateCandidate
from crawler.domain.locales import locale_of
from crawler.domain.problems import problem_codes
from crawler.domain.text import strip_controls
from pipelines.base import adapter_of

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Self

    from itemadapter import ItemAdapter
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

PROBLEM_CODES: dict[str, str] = problem_codes(
    "unparseable_date",
    "ambiguous_date",
    "unknown_locale",
    "unknown_timezone",
    "published_at_date_only",
    "date_disagreement",
    "missing_published_at",
    "modified_before_published",
)
# Sources of published dates, most trusted first; any other source comes after these.
PUBLISHED_TRUST_ORDER: tuple[str, ...] = ("json_ld", "meta", "display_date", "listing")
# The published_at stored for the article, to the minute (the spider adds it from the run's
# index): what a page that shows the same day without a time keeps, never a date of its own.
STORED_SOURCE = "stored"
PRECISION_MINUTE = "minute"
PRECISION_DAY = "day"


@dataclass(frozen=True)
class _Candidate:
    source: str
    raw: str
    parsed: ParsedDate


def _trust(candidate: DateCandidate) -> int:
    source = candidate.source
    if source in PUBLISHED_TRUST_ORDER:
        return PUBLISHED_TRUST_ORDER.index(source)
    return len(PUBLISHED_TRUST_ORDER)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _local_day(published_at: str | None) -> date | None:
    """The display day on the site's calendar (published_at carries the site's offset)."""
    if not published_at:
        return None
    try:
        return datetime.fromisoformat(published_at).date()
    except ValueError:
        return None


def _leads(adapter: ItemAdapter) -> list[str]:
    """The lead: the summary, then the body's first paragraph (a page whose description is
    not its lead still opens its body with it)."""
    leads = [adapter.get("summary") or ""]
    body = adapter.get("body_text") or ""
    leads.append(body.split("\n\n", 1)[0])
    return [lead for lead in leads if lead]


class DateNormalizationPipeline:
    def __init__(
        self,
        stats: StatsCollector,
        tz: tzinfo,
        default_locale: str = DEFAULT_LOCALE,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.stats = stats
        self.tz = tz
        self.default_locale = default_locale
        self.clock = clock

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        assert crawler.stats is not None
        settings = crawler.settings
        return cls(
            crawler.stats,
            ZoneInfo(settings.get("SITE_TIMEZONE") or DEFAULT_TIMEZONE),
            settings.get("SITE_DEFAULT_LOCALE") or DEFAULT_LOCALE,
        )

    def parse_candidate(
        self, candidate: DateCandidate, item: ArticleItem, now: datetime
    ) -> ParsedDate:
        raw = candidate.raw
        if looks_machine(raw):
            return parse_machine_date(raw, self.tz)
        locale = locale_of(
            candidate.locale, item.page_locale, item.fetched_url, self.default_locale
        )
        return parse_display_date(raw, locale, self.tz, now=now)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, ArticleItem):
            return item
        adapter = adapter_of(item)
        now = self.clock()
        published: list[_Candidate] = []
        stored: list[_Candidate] = []
        modified: list[_Candidate] = []
        published_seen = modified_seen = False
        for candidate in sorted(adapter.get("date_candidates") or [], key=_trust):
            raw = candidate.raw
            kind = candidate.kind or "published"
            if not isinstance(raw, str) or not raw.strip() or kind not in ("published", "modified"):
                continue
            source = candidate.source or "unknown"
            field = f"{kind}_at"
            if kind == "published":
                published_seen = True
            else:
                modified_seen = True
            try:
                parsed = self.parse_candidate(candidate, item, now)
            except DateParseError as exc:
                self.stats.inc_value(f"normalize/{exc.code}")
                self._problem(adapter, field, exc.code, f"{source}: {raw!r}: {exc}")
                continue
            if source == STORED_SOURCE:
                stored.append(_Candidate(source, raw, parsed))
                continue
            (published if kind == "published" else modified).append(_Candidate(source, raw, parsed))

        chosen = self._choose_published(adapter, published, published_seen, stored)
        if modified:
            self._set_modified(adapter, chosen, modified)
        elif modified_seen:
            adapter["modified_at"] = None
        if not adapter.get("crawled_at"):
            adapter["crawled_at"] = format_iso(now.astimezone(self.tz))
        self._set_event_date(adapter)
        return item

    def _set_event_date(self, adapter: ItemAdapter) -> None:
        display_day = _local_day(adapter.get("published_at"))
        for lead in _leads(adapter):
            event = event_date_of_lead(lead, display_day)
            if event is not None:
                adapter["event_date"] = event.isoformat()
                adapter["event_date_source"] = "lead"
                self.stats.inc_value("normalize/event_date")
                return
        adapter["event_date"] = adapter["event_date_source"] = None

    def _choose_published(
        self,
        adapter: ItemAdapter,
        published: list[_Candidate],
        seen: bool,
        stored: Sequence[_Candidate] = (),
    ) -> _Candidate | None:
        if not published:
            if seen:
                # Every candidate failed; each already left a problem with its parse code.
                adapter["published_at"] = adapter["published_at_raw"] = None
                adapter["published_at_source"] = adapter["published_at_precision"] = None
            elif not adapter.get("published_at"):
                self.stats.inc_value("normalize/missing_published_at")
                self._problem(
                    adapter, "published_at", "missing_published_at", "no published date found"
                )
            return None
        chosen = next((c for c in published if c.parsed.has_time), None)
        value = chosen
        if chosen is None:
            chosen = published[0]
            # The time of that day an earlier page of the article gave (a display page, a
            # locale copy) is kept: a page that shows the day only does not make it coarser.
            value = next(
                (s for s in stored if s.parsed.has_time and self._agree(s.parsed, chosen.parsed)),
                None,
            )
            if value is None:
                self.stats.inc_value("normalize/published_at_date_only")
                self._problem(
                    adapter,
                    "published_at",
                    "published_at_date_only",
                    f"only date-only candidates; {chosen.source} {chosen.raw!r} used as midnight",
                )
            else:
                self.stats.inc_value("normalize/published_at_kept_stored_time")
        shown = chosen if value is None else value
        adapter["published_at"] = format_iso(shown.parsed.value.astimezone(self.tz))
        adapter["published_at_precision"] = PRECISION_DAY if value is None else PRECISION_MINUTE
        # as the page showed it, less what only changes how it is shown (bidi controls)
        adapter["published_at_raw"] = strip_controls(chosen.raw)
        adapter["published_at_source"] = shown.source
        self.stats.inc_value("normalize/published_at")
        self.stats.inc_value(f"normalize/published_at_source/{chosen.source}")
        for other in published:
            if other is chosen or self._agree(chosen.parsed, other.parsed):
                continue
            self.stats.inc_value("normalize/date_disagreement")
            self._problem(
                adapter,
                "published_at",
                "date_disagreement",
                f"{chosen.source} {self._show(chosen)} vs {other.source} {self._show(other)}",
            )
        return chosen

    def _set_modified(
        self, adapter: ItemAdapter, chosen: _Candidate | None, modified: list[_Candidate]
    ) -> None:
        newest = max(modified, key=lambda c: c.parsed.value)
        adapter["modified_at"] = format_iso(newest.parsed.value.astimezone(self.tz))
        self.stats.inc_value("normalize/modified_at")
        if chosen is not None and self._before(newest.parsed, chosen.parsed):
            self.stats.inc_value("normalize/modified_before_published")
            self._problem(
                adapter,
                "modified_at",
                "modified_before_published",
                f"{newest.source} {self._show(newest)} is before "
                f"{chosen.source} {self._show(chosen)}",
            )

    def _coarse(self, a: ParsedDate, b: ParsedDate) -> tuple[Any, Any]:
        # Compare at the coarser precision of the two: local calendar day, or minute (display
        # dates carry no seconds).
        if a.has_time and b.has_time:
            return (
                a.value.replace(second=0, microsecond=0),
                b.value.replace(second=0, microsecond=0),
            )
        return a.value.astimezone(self.tz).date(), b.value.astimezone(self.tz).date()

    def _agree(self, a: ParsedDate, b: ParsedDate) -> bool:
        left, right = self._coarse(a, b)
        return bool(left == right)

    def _before(self, a: ParsedDate, b: ParsedDate) -> bool:
        left, right = self._coarse(a, b)
        return bool(left < right)

    def _show(self, candidate: _Candidate) -> str:
        value = candidate.parsed.value.astimezone(self.tz)
        shown = format_iso(value) if candidate.parsed.has_time else value.date().isoformat()
        return f"{shown} ({candidate.raw!r})"

    def _problem(self, adapter: ItemAdapter, field: str, code: str, message: str) -> None:
        adapter["problems"] = [
            *(adapter.get("problems") or []),
            {"field": field, "code": code, "message": message},
        ]
