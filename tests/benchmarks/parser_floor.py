"""The floor under an article parser on the benchmark's pages: how fast a bare skeleton that
does only what any extractor must (parse the HTML, index classes, take the ``h1``, the body's
paragraphs in NFC and the body's HTML) runs, beside trafilatura and ours, in one interpreter.

``python -m tests.benchmarks.parser_floor output/bench/work/5000/parser/parser-pages.json``
(the pages file ``make bench`` writes for each size). Prints ms per page, best of 5 passes.
"""

from __future__ import annotations

import copy
import gc
import json
import sys
import time
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree
from lxml import html as lxml_html

from crawler.parsers.common import parse_html
from tests.benchmarks.extractors import OurExtractor, Page, _trafilatura

if TYPE_CHECKING:
    from collections.abc import Callable

_BODIES = etree.XPath(
    '//*[contains(concat(" ", normalize-space(@class), " "), " journal-content-article ")'
    ' or @data-lfr-editable-type="rich-text"]'
)


def skeleton(page: Page) -> tuple[str | None, str, str]:
    root = parse_html(page.html)
    classes: dict[str, list[etree._Element]] = {}
    for el in root.iter(etree.Element):
        value = el.get("class")
        if value:
            for token in value.split():
                classes.setdefault(token, []).append(el)
    heading = root.find(".//h1")
    title = " ".join("".join(heading.itertext()).split()) if heading is not None else None
    bodies = _BODIES(root)
    best = max(bodies, key=lambda el: len("".join(el.itertext()))) if bodies else root
    body = copy.deepcopy(best)
    texts = []
    for block in body.iter("p", "li", "h2", "h3"):
        text = " ".join("".join(block.itertext()).split())
        if text:
            texts.append(unicodedata.normalize("NFC", text))
    return title, "\n\n".join(texts), lxml_html.tostring(body, encoding="unicode")


def ms_per_page(pages: list[Page], extract: Callable[[Page], object], passes: int = 5) -> float:
    for page in pages[:10]:
        extract(page)
    gc.collect()
    gc.freeze()
    try:
        best = float("inf")
        for _ in range(passes):
            start = time.perf_counter()
            for page in pages:
                extract(page)
            best = min(best, time.perf_counter() - start)
    finally:
        gc.unfreeze()
    return best * 1000 / len(pages)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.benchmarks.parser_floor PAGES.json", file=sys.stderr)
        return 2
    pages = [Page(**p) for p in json.loads(Path(argv[0]).read_text(encoding="utf-8"))]
    ours = OurExtractor()
    traf = ms_per_page(pages, lambda p: _trafilatura(p.html, p.url), passes=2)
    results = {
        "trafilatura": traf,
        "ours (parse_article + pipelines)": ms_per_page(pages, lambda p: ours(p.html, p.url)),
        "HTML parse alone": ms_per_page(pages, lambda p: parse_html(p.html)),
        "skeleton (parse, class index, h1, body paragraphs NFC, body HTML)": ms_per_page(
            pages, skeleton
        ),
    }
    print(f"{len(pages)} pages, ms per page (best of passes); 10x trafilatura: {traf / 10:.3f}")
    for name, ms in results.items():
        print(f"  {ms:7.3f}  {traf / ms:5.1f}x trafilatura  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
