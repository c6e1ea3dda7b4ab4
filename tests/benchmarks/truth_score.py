"""Our crawl's feed scored against the replica's truth: every article present exactly once, and
title, published_at and body exact for each (a missing article counts as wrong in every field)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from crawler.domain.urls import canonical_article_url

SCORED_FIELDS = ("title", "published_at", "body")
EXAMPLES = 10


def _value(record: dict[str, Any], field: str) -> Any:
    if field == "body":
        return (record.get("body_text") or "").split("\n\n")
    return record.get(field)


def _expected(article: dict[str, Any], field: str) -> Any:
    return article["body_paragraphs"] if field == "body" else article[field]


def score_records(
    records: Iterable[dict[str, Any]], truth_articles: list[dict[str, Any]], base_url: str
) -> dict[str, Any]:
    truth = {canonical_article_url(base_url + a["canonical_path"]): a for a in truth_articles}
    seen: set[str] = set()
    exact = dict.fromkeys(SCORED_FIELDS, 0)
    duplicates = unexpected = 0
    wrong: list[dict[str, Any]] = []
    for record in records:
        url = record.get("url") or ""
        article = truth.get(url)
        if article is None:
            unexpected += 1
            if len(wrong) < EXAMPLES:
                wrong.append({"url": url, "problem": "not an article of the truth"})
            continue
        if url in seen:
            duplicates += 1
            continue
        seen.add(url)
        for field in SCORED_FIELDS:
            if _value(record, field) == _expected(article, field):
                exact[field] += 1
            elif len(wrong) < EXAMPLES:
                wrong.append({"url": url, "problem": f"{field} differs from the truth"})
    n = len(truth)
    missing = [url for url in truth if url not in seen]
    wrong += [
        {"url": url, "problem": "missing"} for url in missing[: max(0, EXAMPLES - len(wrong))]
    ]
    return {
        "truth_articles": n,
        "present": round(len(seen) / n, 4) if n else None,
        "missing": len(missing),
        "duplicates": duplicates,
        "unexpected": unexpected,
        **{f"{field}_exact": round(exact[field] / n, 4) if n else None for field in SCORED_FIELDS},
        "examples": wrong,
    }


def score_feed(
    feed_path: Path, truth_articles: list[dict[str, Any]], base_url: str
) -> dict[str, Any]:
    """Reads the JSON-lines feed one record at a time (it is 150 MB at 20,000 articles)."""
    if not feed_path.exists():
        return {"truth_articles": len(truth_articles), "error": f"no feed at {feed_path}"}

    def records() -> Iterable[dict[str, Any]]:
        with feed_path.open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    yield json.loads(line)

    return score_records(records(), truth_articles, base_url)


def is_exact(score: dict[str, Any] | None) -> bool:
    """Every article present once, nothing unexpected, and every scored field 100% exact."""
    if not score or not score.get("truth_articles"):
        return False
    return (
        score.get("present") == 1
        and score.get("duplicates") == 0
        and score.get("unexpected") == 0
        and all(score.get(f"{field}_exact") == 1 for field in SCORED_FIELDS)
    )
