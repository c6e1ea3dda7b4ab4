"""Validation with a paper trail: items missing a required field, and pages that are not
articles (soft 404, empty shells), go to the rejects file (pipelines/rejects.py, one line per
URL) with every reason; the run's stats count reasons, and field coverage is counted here for
the run report."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import DropItem

from crawler.domain.items import EXPORT_FIELDS, ArticleItem
from crawler.domain.problems import problem as reject_reason
from crawler.domain.problems import problem_codes
from pipelines.base import adapter_of
from pipelines.rejects import RejectsFile

if TYPE_CHECKING:
    from itemadapter import ItemAdapter
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

REQUIRED_FIELDS = ("url", "title", "body_text", "published_at")
# Fields whose coverage the run report judges; published_at counts only when the article page
# itself gave it (a date rescued from a listing or sitemap means the page's markup changed).
COVERAGE_FIELDS = ("title", "published_at", "body_text", "author")
PAGE_DATE_SOURCES = frozenset({"json_ld", "meta", "display_date"})

PROBLEM_CODES: dict[str, str] = problem_codes(
    "not_article",
    "missing_url",
    "missing_title",
    "missing_body_text",
    "missing_published_at",
    "body_too_long",
)
BODY_FIELDS = ("body_text", "body_html")


def body_too_long(adapter: ItemAdapter, max_chars: int) -> dict[str, str] | None:
    # A body this long is not a news article a reader can use (a runaway template, a document
    # pasted as text); stored cut, it would pass for the whole article, so it is refused.
    lengths = {name: len(adapter.get(name) or "") for name in BODY_FIELDS}
    if not max_chars or max(lengths.values()) <= max_chars:
        return None
    sizes = ", ".join(f"{name} {length:,}" for name, length in lengths.items())
    return reject_reason("body_too_long", f"{sizes} characters, over MAX_BODY_CHARS={max_chars:,}")


def covered_fields(adapter: ItemAdapter) -> list[str]:
    """The fields of :data:`COVERAGE_FIELDS` a normalized article carries, as the run's
    coverage counts them (``scrapy probe`` counts the same)."""
    covered = []
    for name in COVERAGE_FIELDS:
        value = adapter.get(name)
        if name == "published_at":
            value = value if adapter.get("published_at_source") in PAGE_DATE_SOURCES else None
        if value:
            covered.append(name)
    return covered


def rejection_reasons(adapter: ItemAdapter) -> list[dict[str, str]]:
    reasons = []
    not_article = adapter.get("not_article_reason")
    if not_article:
        reasons.append(reject_reason("not_article", not_article))
    for name in REQUIRED_FIELDS:
        if not adapter.get(name):
            code = f"missing_{name}"
            reasons.append(reject_reason(code, PROBLEM_CODES[code], name))
    # Say why a date is missing when the date normalizer recorded it.
    if not adapter.get("published_at"):
        reasons.extend(p for p in adapter.get("problems") or [] if p.get("field") == "published_at")
    return reasons


class ValidationPipeline:
    def __init__(self, crawler: Crawler, rejects_path: Path) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.rejects_path = rejects_path
        self.max_body_chars = crawler.settings.getint("MAX_BODY_CHARS")
        self.rejects = RejectsFile(rejects_path, crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidationPipeline:
        return cls(crawler, Path(crawler.settings.get("REJECTS_PATH")))

    def open_spider(self) -> None:
        self.rejects.load()

    def close_spider(self) -> None:
        self.rejects.close()

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, ArticleItem):
            return item
        adapter = adapter_of(item)
        is_article = not adapter.get("not_article_reason")
        if is_article:
            self._count_coverage(adapter)
        for problem in adapter.get("problems") or []:
            self.stats.inc_value(f"validate/problem/{problem.get('code', 'unknown')}")
        reasons = rejection_reasons(adapter)
        too_long = body_too_long(adapter, self.max_body_chars)
        if too_long:
            reasons.append(too_long)
            # The rejects file keeps the reason and the lengths, not another copy of the body.
            for name in BODY_FIELDS:
                adapter[name] = None
        if not reasons:
            return item
        self.stats.inc_value("validate/rejected")
        for reason in reasons:
            self.stats.inc_value(f"validate/reason/{reason['code']}")
        self._write_reject(adapter, reasons)
        codes = ", ".join(dict.fromkeys(r["code"] for r in reasons))
        raise DropItem(
            f"rejected ({codes}): {adapter.get('fetched_url') or adapter.get('url')}",
            log_level="INFO" if not is_article else "WARNING",
        )

    def _count_coverage(self, adapter: ItemAdapter) -> None:
        self.stats.inc_value("coverage/articles")
        for name in covered_fields(adapter):
            self.stats.inc_value(f"coverage/{name}")

    def _write_reject(self, adapter: ItemAdapter, reasons: list[dict[str, str]]) -> None:
        self.rejects.add(
            url=adapter.get("url"),
            fetched_url=adapter.get("fetched_url"),
            run_id=self.stats.get_value("run/id"),
            reasons=reasons,
            record={name: adapter.get(name) for name in EXPORT_FIELDS},
        )
