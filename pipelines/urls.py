"""The URL pipeline: a record's URL, id and aliases through crawler/domain/urls.py's rules."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urljoin

from crawler.domain.problems import add_problem, problem_codes
from crawler.domain.urls import (
    article_address,
    article_id,
    canonical_article_url,
    is_article_url,
    is_display_page,
    normalize_url,
)
from pipelines.base import ArticlePipeline

if TYPE_CHECKING:
    from collections.abc import Callable

    from itemadapter import ItemAdapter

PROBLEM_CODES: dict[str, str] = problem_codes("missing_url", "url_not_article")


class UrlNormalizationPipeline(ArticlePipeline):
    def process_article(self, adapter: ItemAdapter) -> None:
        original = adapter.get("url") or ""
        fetched = adapter.get("fetched_url") or ""
        source = original or fetched
        if not source:
            self._problem(adapter, "url", "missing_url", "no url and no fetched_url")
            return

        # The key (display-page form) identifies the article; the address is where it is read.
        key = canonical_article_url(source)
        met = [*(adapter.get("alternate_urls") or []), fetched, original]
        # A portal that has display pages records every article under its display page.
        display_pages = any(is_display_page(u) for u in met if u)
        address: Callable[[str], str] = canonical_article_url if display_pages else article_address
        canonical = address(source)
        if canonical != original:
            self.stats.inc_value("normalize/url_canonicalized")
        adapter["url"] = canonical
        adapter["id"] = article_id(key)
        if not is_article_url(canonical):
            self.stats.inc_value("normalize/url_not_article")
            self._problem(adapter, "url", "url_not_article", f"{canonical} is not an article URL")

        alternates = {normalize_url(urljoin(canonical, u)) for u in met if u}
        alternates.discard(canonical)
        if key != canonical:
            # no display page on this portal: the key is not an address to list
            alternates.discard(key)
        adapter["alternate_urls"] = sorted(alternates)
        self.stats.inc_value("normalize/alternate_urls", len(alternates))

        related: list[str] = []
        for url in adapter.get("related_urls") or []:
            if not url:
                continue
            related_url = address(urljoin(fetched or canonical, url))
            if related_url not in related:
                related.append(related_url)
        adapter["related_urls"] = related

        for name in ("images", "attachments"):
            for entry in adapter.get(name) or []:
                if entry.get("url"):
                    entry["url"] = normalize_url(urljoin(fetched or canonical, entry["url"]))

    def _problem(self, adapter: ItemAdapter, field: str, code: str, message: str) -> None:
        add_problem(adapter, code, message, field)
