"""Text rules: NFC, spaces, invisible, control and bidi characters; no Scrapy, no item."""

from __future__ import annotations

import re
import unicodedata

# field -> the setting that caps its length (in characters, after normalization)
LENGTH_SETTINGS: dict[str, str] = {
    "title": "MAX_TITLE_CHARS",
    "summary": "MAX_SUMMARY_CHARS",
    "author": "MAX_AUTHOR_CHARS",
    "category": "MAX_CATEGORY_CHARS",
}

# Invisible characters that Liferay's rich-text editor and copy-paste from Word leave in text.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_HAS_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_ELLIPSES = ("...", "…")
# C0 and C1 control characters and DEL: bytes of a broken encoding, never text. Those that
# Python counts as whitespace (VT, FF, the information separators, NEL) become a space so that
# the words they separated stay apart; tab, CR and LF stay for the paragraph logic.
_CONTROLS = {
    code: (" " if chr(code).isspace() else None)
    for code in (*range(0x20), *range(0x7F, 0xA0))
    if chr(code) not in "\t\n\r"
}
# Bidirectional controls (embeddings, overrides, isolates, the LRM/RLM/ALM marks) reorder how
# the text around them is shown: "Trojan Source" spoofing of a title, a file name or a URL.
# Vietnamese never needs one, so they go from every text field, the body's HTML included.
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_CONTROLS.update(dict.fromkeys(map(ord, BIDI_CONTROLS)))


# str.translate with a mapping costs a dict lookup per character; most text has nothing to
# translate, which one regex scan tells far faster.
_HAS_CONTROL = re.compile("[" + "".join(map(chr, _CONTROLS)) + "]")


def strip_controls(s: str) -> str:
    """``s`` without control characters and bidirectional controls."""
    return s.translate(_CONTROLS) if _HAS_CONTROL.search(s) else s


def normalize_text(s: str) -> str:
    s = strip_controls(s)
    if _HAS_INVISIBLE.search(s):
        s = s.translate(_INVISIBLE)
    s = unicodedata.normalize("NFC", s)
    # str.split() treats every Zs character (U+00A0, U+202F, U+2007...) and line break as a
    # separator, which is exactly the collapse wanted here.
    return " ".join(s.split())


def normalize_paragraphs(text: str) -> str:
    paragraphs: list[str] = []
    current: list[str] = []
    text = strip_controls(text)
    # Without invisible characters, normalize_text of a line is NFC and the space collapse,
    # and NFC composes nothing across a line break: done once on the whole text.
    plain = not _HAS_INVISIBLE.search(text)
    if plain:
        text = unicodedata.normalize("NFC", text)
    # A line holding only no-break spaces or zero-width characters is blank too: that is how
    # Liferay's editor renders an "empty" paragraph once the markup is stripped.
    for line in text.splitlines():
        cleaned = " ".join(line.split()) if plain else normalize_text(line)
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


def fold_text(s: str) -> str:
    return normalize_text(s).casefold()


def description_continues(summary: str, full_description: str) -> bool:
    stem = fold_text(strip_ellipsis(summary))
    full = fold_text(full_description)
    if not stem or not full:
        return False
    return full.startswith(stem) or fold_text(strip_ellipsis(full)) == stem


def none_if_empty(s: str | None) -> str | None:
    return s or None


def cap_length(value: str, limit: int) -> str:
    """The first ``limit`` characters, cut back to the last space when one is near the end."""
    cut = value[:limit]
    space = cut.rfind(" ")
    if space >= limit * 0.9:
        cut = cut[:space]
    return cut.rstrip()
