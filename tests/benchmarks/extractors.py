"""Our article parser against generic extractors (trafilatura for the body, htmldate for the
date) on the same article pages fetched from the replica, in-process.

``compare_in_own_process`` runs the comparison in a fresh interpreter holding only the pages, as
a crawl process holds no replica truth: timed inside the benchmark process, whose heap holds
every article of the largest size, the same parser measured 10-25% slower.

Ours is timed as the crawl runs it per page: ``parse_article`` then the text and date
normalization pipelines. Each extractor gets one untimed warm-up call first (lazy imports and
caches), then every page is timed with ``time.perf_counter``, with the benchmark's own objects
frozen out of the cyclic GC (``gc.freeze``) for all of them alike.
"""

from __future__ import annotations

import difflib
import gc
import http.client
import json
import subprocess
import sys
import time
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import htmldate
import trafilatura
from scrapy.utils.test import get_crawler

from crawler.domain.items import ArticleItem
from crawler.parsers.article import article_item, parse_article
from crawler.sites.profile import find_profile
from pipelines.base import ArticlePipeline
from pipelines.dates import DateNormalizationPipeline
from pipelines.fields import ArticleFieldsPipeline
from pipelines.text import TextNormalizationPipeline

HTMLDATE_FORMAT = "%Y-%m-%d %H:%M"


@dataclass
class Page:
    url: str
    html: str
    truth: dict[str, Any]


def sample_articles(articles: list[dict[str, Any]], size: int) -> list[dict[str, Any]]:
    """The first article of every variant plus evenly spaced others: deterministic."""
    if len(articles) <= size:
        return list(articles)
    firsts: dict[str, dict[str, Any]] = {}
    for article in articles:
        if article.get("variant"):
            firsts.setdefault(str(article["variant"]), article)
    chosen = list(firsts.values())[:size]
    taken = {id(a) for a in chosen}
    rest = [a for a in articles if id(a) not in taken]
    want = size - len(chosen)
    step = len(rest) / want if want > 0 else 0
    return chosen + [rest[int(i * step)] for i in range(max(want, 0))]


def fetch_pages(host: str, port: int, base_url: str, articles: list[dict[str, Any]]) -> list[Page]:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    pages: list[Page] = []
    try:
        for article in articles:
            path = article["canonical_path"]
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            if resp.will_close:
                conn.close()
            if resp.status != 200:
                raise RuntimeError(f"{path}: HTTP {resp.status}")
            pages.append(Page(base_url + path, body.decode("utf-8"), article))
    finally:
        conn.close()
    return pages


def fold(text: str | None) -> str:
    return " ".join(unicodedata.normalize("NFC", text or "").split())


def similarity(a: str, b: str) -> float:
    # Over words: a character-level ratio costs seconds per page and gives the same figure to
    # the third decimal. autojunk would drop the frequent words of a long text.
    return difflib.SequenceMatcher(None, a.split(), b.split(), autojunk=False).ratio()


class OurExtractor:
    def __init__(self) -> None:
        crawler = get_crawler()
        self.config = find_profile("hepza").parser_config()
        self.stages: list[ArticlePipeline | DateNormalizationPipeline] = [
            TextNormalizationPipeline.from_crawler(crawler),
            ArticleFieldsPipeline.from_crawler(crawler),
            DateNormalizationPipeline.from_crawler(crawler),
        ]

    def __call__(self, html: str, url: str) -> ArticleItem:
        item = article_item(parse_article(html, url, self.config), url)
        for stage in self.stages:
            stage.process_item(item)
        return item


def _trafilatura(html: str, url: str) -> str | None:
    return trafilatura.extract(html, url=url, include_comments=False)


def _htmldate(html: str) -> str | None:
    return htmldate.find_date(html, extensive_search=False, outputformat=HTMLDATE_FORMAT)


def compare(pages: list[Page]) -> dict[str, Any]:
    if not pages:
        raise ValueError("no pages to compare")
    ours = OurExtractor()
    first = pages[0]
    ours(first.html, first.url)
    _trafilatura(first.html, first.url)
    _htmldate(first.html)

    # The benchmark process holds the replica's truth (every article of the largest size): the
    # cyclic GC would scan it on every full collection the extractors trigger and time the
    # benchmark's heap, not the extractors. Frozen, it is left alone, as for every extractor.
    gc.collect()
    gc.freeze()
    try:
        start = time.perf_counter()
        our_items = [ours(p.html, p.url) for p in pages]
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        traf_texts = [_trafilatura(p.html, p.url) for p in pages]
        traf_s = time.perf_counter() - start
        start = time.perf_counter()
        hd_dates = [_htmldate(p.html) for p in pages]
        hd_s = time.perf_counter() - start
    finally:
        gc.unfreeze()

    ours_sim: list[float] = []
    traf_sim: list[float] = []
    ours_exact = traf_exact = ours_day = ours_minute = hd_day = hd_minute = ours_title = 0
    misses: list[dict[str, Any]] = []
    for page, item, traf_text, hd_date in zip(pages, our_items, traf_texts, hd_dates, strict=True):
        truth_body = fold(" ".join(page.truth["body_paragraphs"]))
        ours_body, traf_body = fold(item.body_text), fold(traf_text)
        ours_sim.append(similarity(ours_body, truth_body))
        traf_sim.append(similarity(traf_body, truth_body))
        ours_exact += ours_body == truth_body
        ours_title += item.title == page.truth["title"]
        traf_exact += traf_body == truth_body
        truth_minute = page.truth["published_at"][:16].replace("T", " ")
        our_minute = (item.published_at or "")[:16].replace("T", " ")
        ours_day += our_minute[:10] == truth_minute[:10]
        ours_minute += our_minute == truth_minute
        hd_day += (hd_date or "")[:10] == truth_minute[:10]
        hd_minute += (hd_date or "") == truth_minute
        if ours_body != truth_body or our_minute != truth_minute:
            misses.append(
                {
                    "path": page.truth["canonical_path"],
                    "variant": page.truth.get("variant"),
                    "body_similarity": round(ours_sim[-1], 4),
                    "published_at": item.published_at,
                    "truth_published_at": page.truth["published_at"],
                }
            )
    n = len(pages)
    return {
        "pages": n,
        "ours_ms_per_page": round(ours_s * 1000 / n, 3),
        "trafilatura_ms_per_page": round(traf_s * 1000 / n, 3),
        "htmldate_ms_per_page": round(hd_s * 1000 / n, 3),
        "speedup_vs_trafilatura": round(traf_s / ours_s, 2) if ours_s else None,
        "speedup_vs_trafilatura_plus_htmldate": round((traf_s + hd_s) / ours_s, 2)
        if ours_s
        else None,
        "body_similarity_ours": round(sum(ours_sim) / n, 4),
        "body_similarity_trafilatura": round(sum(traf_sim) / n, 4),
        "body_similarity_min_ours": round(min(ours_sim), 4),
        "body_similarity_min_trafilatura": round(min(traf_sim), 4),
        "body_exact_ours": round(ours_exact / n, 4),
        "body_exact_trafilatura": round(traf_exact / n, 4),
        "title_exact_ours": round(ours_title / n, 4),
        "date_day_ours": round(ours_day / n, 4),
        "date_minute_ours": round(ours_minute / n, 4),
        "date_day_htmldate": round(hd_day / n, 4),
        "date_minute_htmldate": round(hd_minute / n, 4),
        # With extensive_search=False htmldate reads only markup dates (meta, time, JSON-LD).
        "date_none_htmldate": round(sum(d is None for d in hd_dates) / n, 4),
        "our_misses": misses[:20],
        "our_miss_count": len(misses),
    }


def compare_in_own_process(pages: list[Page], workdir: Path) -> dict[str, Any]:
    """:func:`compare` in a fresh interpreter (``python -m tests.benchmarks.extractors``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    pages_path, result_path = workdir / "parser-pages.json", workdir / "parser-result.json"
    pages_path.write_text(json.dumps([asdict(page) for page in pages]), encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.extractors", str(pages_path), str(result_path)],
        cwd=Path(__file__).resolve().parents[2],
        check=True,
        timeout=1800,
    )
    return cast("dict[str, Any]", json.loads(result_path.read_text(encoding="utf-8")))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(
            "usage: python -m tests.benchmarks.extractors PAGES.json RESULT.json", file=sys.stderr
        )
        return 2
    pages = [Page(**page) for page in json.loads(Path(argv[0]).read_text(encoding="utf-8"))]
    Path(argv[1]).write_text(json.dumps(compare(pages)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
