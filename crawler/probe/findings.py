"""What a probe saw of a portal, and the report an operator reads before writing its profile.

The probe spider (crawler/probe/spider.py) fills a :class:`Findings` as pages arrive; nothing
here fetches or parses. Which layer produced a field is the article parser's own account
(``ArticlePage.layers``), the date forms are the date normalizer's names for them, and the
coverage verdict is the run ledger's ``coverage`` check under the thresholds the crawl would
use (``COVERAGE_THRESHOLDS``, a profile's ``[coverage]``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from crawler.ledger.checks import RunFacts, coverage, coverage_thresholds

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

# The record's fields the report shows, in the record's order; ``language`` is the parser's
# ``locale`` and ``url`` its canonical URL.
TABLE_FIELDS = (
    "url",
    "title",
    "published_at",
    "modified_at",
    "summary",
    "body_text",
    "author",
    "category",
    "tags",
    "images",
    "attachments",
    "related_urls",
    "language",
)
_PARSER_LAYER_KEY = {"language": "locale", "url": "url"}
NO_LAYER = "(none)"


@dataclass
class SitemapSeen:
    url: str
    kind: str = ""  # sitemapindex, urlset; "" when the body is not a sitemap
    urls: int = 0
    articles: int = 0
    pages: int = 0
    children: int = 0
    error: str | None = None


@dataclass
class ListingSeen:
    url: str
    name: str | None
    locale: str | None
    entries: int
    page: int
    has_next: bool
    pager_links: int
    feeds: int


@dataclass
class ArticleSeen:
    url: str
    # record field -> the layer that produced it on this page
    layers: dict[str, str] = field(default_factory=dict)
    locale: str | None = None
    hreflangs: list[str] = field(default_factory=list)
    not_article: str | None = None
    # from the normalized record (None until it came through the pipelines)
    present: set[str] | None = None
    covered: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


@dataclass
class DateForm:
    source: str
    form: str  # the normalizer's pattern name, or its error code when it did not parse
    parsed: bool
    example: str


@dataclass
class Findings:
    base_url: str
    site: str
    profile: str | None
    delay: float
    budget: int
    home_url: str = ""
    markers: list[str] = field(default_factory=list)
    robots: str = "not fetched"
    robots_sitemaps: list[str] = field(default_factory=list)
    sitemaps: list[SitemapSeen] = field(default_factory=list)
    sitemaps_not_read: int = 0
    sections: list[str] = field(default_factory=list)
    listings: list[ListingSeen] = field(default_factory=list)
    other_pages: list[str] = field(default_factory=list)
    articles: dict[str, ArticleSeen] = field(default_factory=dict)
    article_urls_found: set[str] = field(default_factory=set)
    # article URLs met whose page names another as the article's (its default-locale page)
    followed_to_default_page: int = 0
    page_urls_found: set[str] = field(default_factory=set)
    dates: dict[tuple[str, str, bool], DateForm] = field(default_factory=dict)
    date_counts: Counter[tuple[str, str, bool]] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def add_date(self, source: str, form: str, parsed: bool, raw: str) -> None:
        key = (source, form, parsed)
        self.dates.setdefault(key, DateForm(source, form, parsed, raw))
        self.date_counts[key] += 1

    @property
    def article_pages(self) -> list[ArticleSeen]:
        """The fetched article pages that are articles (not a soft 404 or an empty shell)."""
        return [a for a in self.articles.values() if not a.not_article]


@dataclass(frozen=True)
class CoverageVerdict:
    articles: int
    min_articles: int
    shares: dict[str, float | None]
    thresholds: dict[str, float]
    reasons: list[str]

    @property
    def judged(self) -> bool:
        return self.articles >= self.min_articles

    @property
    def line(self) -> str:
        if not self.judged:
            return (
                f"not judged: {self.articles} article(s) parsed, fewer than "
                f"COVERAGE_MIN_ARTICLES={self.min_articles}"
            )
        if self.reasons:
            return f"a crawl would FAIL its coverage check: {'; '.join(self.reasons)}"
        return f"a crawl would pass its coverage check ({self.articles} articles)"


def coverage_verdict(findings: Findings, settings: BaseSettings) -> CoverageVerdict:
    """The run ledger's coverage check over the probed articles, as a crawl's stats count
    them (``coverage/articles``, ``coverage/<field>``: pipelines/validate.py's rule)."""
    pages = [a for a in findings.article_pages if a.present is not None]
    stats: Counter[str] = Counter({"coverage/articles": len(pages)})
    for page in pages:
        stats.update(f"coverage/{name}" for name in page.covered)
    facts = RunFacts(
        stats=stats,
        finish_reason="finished",
        thresholds=coverage_thresholds(settings),
        min_articles=settings.getint("COVERAGE_MIN_ARTICLES"),
    )
    return CoverageVerdict(
        articles=facts.articles,
        min_articles=facts.min_articles,
        shares=facts.coverage,
        thresholds=facts.thresholds,
        reasons=list(coverage(facts)),
    )


def field_layers(findings: Findings) -> dict[str, tuple[int, Counter[str]]]:
    """Per record field: on how many article pages it had a value, and which layer produced
    it on how many pages."""
    pages = findings.article_pages
    table: dict[str, tuple[int, Counter[str]]] = {}
    for name in TABLE_FIELDS:
        layers: Counter[str] = Counter()
        filled = 0
        key = _PARSER_LAYER_KEY.get(name, name)
        for page in pages:
            has_value = page.present is not None and name in page.present
            filled += has_value
            layer = page.layers.get(key)
            if layer or has_value:
                layers[layer or "(no layer named)"] += 1
            else:
                layers[NO_LAYER] += 1
        table[name] = (filled, layers)
    return table


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def render(findings: Findings, verdict: CoverageVerdict, warc: str, records: int) -> str:
    """The report: discovery, the field table, dates, locales, coverage, the WARC written."""
    profile = f"profile {findings.profile}" if findings.profile else "no profile"
    lines = [
        f"probe of {findings.base_url} (site {findings.site}, {profile}; "
        f"DOWNLOAD_DELAY {findings.delay:g} s; up to {findings.budget} pages and "
        f"{findings.budget} articles)",
        f"Liferay: {len(findings.markers)} markers on the home page {findings.home_url} "
        f"({', '.join(findings.markers)})",
        "",
        *_discovery_lines(findings),
        "",
        *_field_lines(findings),
        "",
        *_date_lines(findings),
        "",
        *_locale_lines(findings),
        "",
        *_coverage_lines(verdict),
    ]
    if findings.errors:
        lines += ["", f"errors ({len(findings.errors)})"]
        lines += [f"  {error}" for error in findings.errors[:10]]
    lines += ["", f"WARC: {warc} ({records} records)"]
    return "\n".join(lines)


_INDENT = " " * 17


def _discovery_lines(findings: Findings) -> list[str]:
    lines = ["discovery", f"  robots.txt     {findings.robots}"]
    lines += [f"{_INDENT}Sitemap: {name}" for name in findings.robots_sitemaps]
    for sitemap in findings.sitemaps:
        if sitemap.error:
            lines.append(f"  sitemap        {sitemap.url}: {sitemap.error}")
        elif sitemap.kind == "sitemapindex":
            lines.append(f"  sitemap index  {sitemap.url}: {sitemap.children} sitemaps")
        elif sitemap.kind:
            lines.append(
                f"  sitemap        {sitemap.url}: {sitemap.urls} URLs "
                f"({sitemap.articles} articles, {sitemap.pages} other pages)"
            )
        else:
            lines.append(f"  sitemap        {sitemap.url}: not a sitemap (or empty)")
    if findings.sitemaps_not_read:
        lines.append(f"{_INDENT}{findings.sitemaps_not_read} more sitemaps not read (--pages)")
    lines.append(f"  navigation     {len(findings.sections)} section links on the home page")
    lines += [f"{_INDENT}{url}" for url in findings.sections[:12]]
    if len(findings.sections) > 12:
        lines.append(f"{_INDENT}... {len(findings.sections) - 12} more")
    lines.append(f"  listings       {len(findings.listings)} listing pages read")
    for listing in findings.listings:
        pager = "next page" if listing.has_next else "no next page"
        feeds = f", {listing.feeds} feeds" if listing.feeds else ""
        lines.append(
            f"{_INDENT}{listing.name or '(unnamed)'} p.{listing.page}: {listing.entries} "
            f"entries, {pager}, {listing.pager_links} pager links{feeds}  "
            f"{urlsplit(listing.url).path}"
        )
    if findings.other_pages:
        lines.append(f"  other pages    {len(findings.other_pages)} read that are not listings")
    lines.append(
        f"  found          {len(findings.article_urls_found)} article URLs, "
        f"{len(findings.page_urls_found)} other page URLs; {len(findings.articles)} articles read"
    )
    if findings.followed_to_default_page:
        lines.append(
            f"{_INDENT}{findings.followed_to_default_page} article URLs led to the article's "
            "default-locale page, read instead (as a crawl does)"
        )
    return lines


def _field_lines(findings: Findings) -> list[str]:
    pages = findings.article_pages
    lines = [f"fields ({len(pages)} article pages; layer x pages)"]
    for name, (filled, layers) in field_layers(findings).items():
        shown = ", ".join(f"{layer} x{count}" for layer, count in layers.most_common())
        lines.append(f"  {name:<13} {filled:>3}/{len(pages):<3} {shown}")
    not_articles = [a for a in findings.articles.values() if a.not_article]
    if not_articles:
        shown = "; ".join(f"{a.url} ({a.not_article})" for a in not_articles[:5])
        lines.append(f"  not articles  {len(not_articles)}: {shown}")
    rejected = Counter(code for a in pages for code in a.rejected)
    if rejected:
        lines.append("  a crawl would reject: " + _counts(rejected))
    return lines


def _date_lines(findings: Findings) -> list[str]:
    lines = ["dates (source, form, pages)"]
    for key, count in sorted(findings.date_counts.items(), key=lambda kv: (-kv[1], kv[0])):
        form = findings.dates[key]
        status = "parsed" if form.parsed else "NOT PARSED"
        lines.append(
            f"  {form.source:<15} {form.form:<30} x{count:<3} {status}  e.g. {form.example!r}"
        )
    if not findings.date_counts:
        lines.append("  none seen")
    return lines


def _locale_lines(findings: Findings) -> list[str]:
    pages = findings.article_pages
    hreflangs = Counter(lang for a in pages for lang in a.hreflangs)
    return [
        "locales",
        "  article pages  " + _counts(Counter(a.locale or "(unsaid)" for a in pages)),
        "  listing pages  " + _counts(Counter(x.locale or "(unsaid)" for x in findings.listings)),
        "  hreflang       " + (_counts(hreflangs) or "none"),
    ]


def _coverage_lines(verdict: CoverageVerdict) -> list[str]:
    lines = ["coverage (the crawl's thresholds)"]
    for name, minimum in verdict.thresholds.items():
        share = verdict.shares.get(name)
        status = "-" if share is None else "ok" if share >= minimum else "BELOW"
        lines.append(f"  {name:<13} {_share(share):>5} (threshold {minimum:.0%}) {status}")
    lines.append(f"verdict: {verdict.line}")
    return lines


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{name} x{count}" for name, count in counter.most_common())


def plain(value: Any) -> bool:
    """Whether a record value counts as present (an empty list or string does not)."""
    return value not in (None, "", [], {}, ())
