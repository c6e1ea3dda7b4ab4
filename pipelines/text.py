from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

from pipelines.base import ArticlePipeline

if TYPE_CHECKING:
    from itemadapter import ItemAdapter

PROBLEM_CODES: dict[str, str] = {
    "summary_truncated": (
        "the summary ends with '...' and no untruncated description continues it; "
        "the shortened text was kept"
    ),
}

# Invisible characters that Liferay's rich-text editor and copy-paste from Word leave in text.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_ELLIPSES = ("...", "…")

_SCALAR_FIELDS = ("title", "author", "category", "full_description")


def normalize_text(s: str) -> str:
    s = unicodedata.normalize("NFC", s.translate(_INVISIBLE))
    # str.split() treats every Zs character (U+00A0, U+202F, U+2007...) and line break as a
    # separator, which is exactly the collapse wanted here.
    return " ".join(s.split())


def normalize_paragraphs(text: str) -> str:
    paragraphs: list[str] = []
    current: list[str] = []
    # A line holding only no-break spaces or zero-width characters is blank too: that is how
    # Liferay's editor renders an "empty" paragraph once the markup is stripped.
    for line in text.splitlines():
        cleaned = normalize_text(line)
        if cleaned:
            current.append(cleaned)
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs)


def is_truncated(s: str) -> bool:
    return normalize_text(s).endswith(_ELLIPSES)


def strip_ellipsis(s: str) -> str:
    s = normalize_text(s)
    while s.endswith(_ELLIPSES):
        s = s.removesuffix("...").removesuffix("…").rstrip()
    return s


def _fold(s: str) -> str:
    return normalize_text(s).casefold()


def description_continues(summary: str, full_description: str) -> bool:
    stem = _fold(strip_ellipsis(summary))
    full = _fold(full_description)
    if not stem or not full:
        return False
    return full.startswith(stem) or _fold(strip_ellipsis(full)) == stem


def _none_if_empty(s: str | None) -> str | None:
    return s or None


class TextNormalizationPipeline(ArticlePipeline):
    def process_article(self, adapter: ItemAdapter) -> None:
        for name in _SCALAR_FIELDS:
            value = adapter.get(name)
            if value is not None:
                self._set(adapter, name, _none_if_empty(normalize_text(value)))
        body = adapter.get("body_text")
        if body is not None:
            self._set(adapter, "body_text", _none_if_empty(normalize_paragraphs(body)))
        self._normalize_tags(adapter)
        self._normalize_captions(adapter, "images", "caption")
        self._normalize_captions(adapter, "attachments", "title")
        self._normalize_summary(adapter)
        self._drop_byline(adapter)

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
            cleaned = _none_if_empty(normalize_text(value))
            if cleaned != value:
                entry[key] = cleaned
                changed = True
        if changed:
            self.stats.inc_value("normalize/text_fields_changed")

    def _normalize_summary(self, adapter: ItemAdapter) -> None:
        summary = adapter.get("summary")
        full = adapter.get("full_description")
        if summary is not None:
            summary = _none_if_empty(normalize_text(summary))
            self._set(adapter, "summary", summary)
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
        adapter["problems"] = [
            *(adapter.get("problems") or []),
            {
                "field": "summary",
                "code": "summary_truncated",
                "message": f"summary ends with an ellipsis and {reason}",
            },
        ]

    def _drop_byline(self, adapter: ItemAdapter) -> None:
        body = adapter.get("body_text")
        author = adapter.get("author")
        if not body or not author:
            return
        paragraphs = body.split("\n\n")
        if _fold(paragraphs[-1]) != _fold(author):
            return
        adapter["body_text"] = "\n\n".join(paragraphs[:-1]) or None
        self.stats.inc_value("normalize/byline_dropped")
