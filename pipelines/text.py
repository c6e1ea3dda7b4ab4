"""The text pipeline: every text field of an article through crawler/domain/text.py's rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crawler.domain.text import none_if_empty, normalize_paragraphs, normalize_text
from pipelines.base import ArticlePipeline

if TYPE_CHECKING:
    from itemadapter import ItemAdapter

_SCALAR_FIELDS = ("title", "author", "category", "full_description")


class TextNormalizationPipeline(ArticlePipeline):
    """Text only: NFC, spaces, invisible, control and bidi characters, in every text field. Which
    summary to keep, a repeated byline and length caps are pipelines/fields.py's."""

    def process_article(self, adapter: ItemAdapter) -> None:
        for name in _SCALAR_FIELDS:
            value = adapter.get(name)
            if value is not None:
                self._set(adapter, name, none_if_empty(normalize_text(value)))
        body = adapter.get("body_text")
        if body is not None:
            self._set(adapter, "body_text", none_if_empty(normalize_paragraphs(body)))
        summary = adapter.get("summary")
        if summary is not None:
            self._set(adapter, "summary", none_if_empty(normalize_text(summary)))
        self._normalize_tags(adapter)
        self._normalize_captions(adapter, "images", "caption")
        self._normalize_captions(adapter, "attachments", "title")

    def _set(self, adapter: ItemAdapter, name: str, value: Any) -> None:
        if adapter.get(name) != value:
            adapter[name] = value
            self.stats.inc_value("normalize/text_fields_changed")

    def _normalize_tags(self, adapter: ItemAdapter) -> None:
        tags: list[str] = []
        seen: set[str] = set()
        for raw in adapter.get("tags") or []:
            tag = normalize_text(raw)
            if not tag:
                continue
            if tag.casefold() in seen:
                self.stats.inc_value("normalize/tags_deduplicated")
                continue
            seen.add(tag.casefold())
            tags.append(tag)
        self._set(adapter, "tags", tags)

    def _normalize_captions(self, adapter: ItemAdapter, name: str, key: str) -> None:
        entries = adapter.get(name) or []
        changed = False
        for entry in entries:
            value = entry.get(key)
            if value is None:
                continue
            cleaned = none_if_empty(normalize_text(value))
            if cleaned != value:
                entry[key] = cleaned
                changed = True
        if changed:
            self.stats.inc_value("normalize/text_fields_changed")
