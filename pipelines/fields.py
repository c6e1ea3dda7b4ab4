"""Which text a record keeps, once the text is normalized (pipelines/text.py): the summary (a
summary the page cut with "..." is replaced by the untruncated description when that continues
it, else kept with the problem ``summary_truncated``), the body without a byline repeated as its
last paragraph, and the length caps (``MAX_<FIELD>_CHARS``: a longer value is cut with a
``<field>_too_long`` problem naming its length, never silently)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from crawler.domain.problems import add_problem, problem_codes
from crawler.domain.text import (
    LENGTH_SETTINGS,
    cap_length,
    description_continues,
    fold_text,
    is_truncated,
    none_if_empty,
)
from pipelines.base import ArticlePipeline

if TYPE_CHECKING:
    from itemadapter import ItemAdapter
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

PROBLEM_CODES: dict[str, str] = problem_codes(
    "summary_truncated",
    "title_too_long",
    "summary_too_long",
    "author_too_long",
    "category_too_long",
)


class ArticleFieldsPipeline(ArticlePipeline):
    def __init__(self, stats: StatsCollector, limits: dict[str, int] | None = None) -> None:
        super().__init__(stats)
        # field -> maximum length; 0 or absent: no cap
        self.limits = limits or {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        assert crawler.stats is not None
        limits = {name: crawler.settings.getint(key) for name, key in LENGTH_SETTINGS.items()}
        return cls(crawler.stats, limits)

    def process_article(self, adapter: ItemAdapter) -> None:
        self._normalize_summary(adapter)
        self._drop_byline(adapter)
        self._cap_lengths(adapter)

    def _set(self, adapter: ItemAdapter, name: str, value: Any) -> None:
        if adapter.get(name) != value:
            adapter[name] = value

    def _normalize_summary(self, adapter: ItemAdapter) -> None:
        summary = none_if_empty(adapter.get("summary"))
        full = adapter.get("full_description")
        if summary is None:
            if full:
                # The listing or template gave no summary; og:description is the same text.
                adapter["summary"] = full
                adapter["summary_truncated"] = False
                self.stats.inc_value("normalize/summary_from_description")
            return
        if not is_truncated(summary):
            return
        if full and description_continues(summary, full):
            adapter["summary"] = full
            adapter["summary_truncated"] = False
            self.stats.inc_value("normalize/summary_expanded")
            return
        adapter["summary_truncated"] = True
        self.stats.inc_value("normalize/summary_truncated")
        reason = (
            "the full description does not continue it"
            if full
            else "the page has no full description"
        )
        add_problem(adapter, "summary_truncated", f"summary ends with an ellipsis and {reason}")

    def _drop_byline(self, adapter: ItemAdapter) -> None:
        body = adapter.get("body_text")
        author = adapter.get("author")
        if not body or not author:
            return
        paragraphs = body.split("\n\n")
        if fold_text(paragraphs[-1]) != fold_text(author):
            return
        adapter["body_text"] = "\n\n".join(paragraphs[:-1]) or None
        self.stats.inc_value("normalize/byline_dropped")

    def _cap_lengths(self, adapter: ItemAdapter) -> None:
        for name, limit in self.limits.items():
            value = adapter.get(name)
            if not limit or value is None or len(value) <= limit:
                continue
            adapter[name] = cap_length(value, limit)
            self.stats.inc_value(f"normalize/{name}_too_long")
            add_problem(
                adapter,
                f"{name}_too_long",
                f"{name} had {len(value)} characters; the first "
                f"{len(adapter[name])} were kept ({LENGTH_SETTINGS[name]}={limit})",
            )
