"""Scrapy settings: only what differs from Scrapy's defaults, grouped.

Deployment values come from the environment (``HEPZA_*``, ``DATABASE_URL``); every one of them
can also be given with ``-s NAME=value``. README.md lists them all.
"""

from __future__ import annotations

import os

from crawler.items import EXPORT_FIELDS

BOT_NAME = "hepza"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"
COMMANDS_MODULE = "crawler.commands"

# --- identity -------------------------------------------------------------------------------
PROJECT_URL = "https://github.com/hepza-crawler/hepza-crawler"
USER_AGENT = os.environ.get(
    "HEPZA_USER_AGENT",
    f"hepza-news-crawler/0.1 (+{PROJECT_URL}; research crawler of public news pages)",
)

# --- the site -------------------------------------------------------------------------------
HEPZA_BASE_URL = os.environ.get("HEPZA_BASE_URL", "https://hepza.hochiminhcity.gov.vn")
# Display dates on the site are local times without an offset.
SITE_TIMEZONE = os.environ.get("HEPZA_SITE_TIMEZONE", "Asia/Ho_Chi_Minh")
SITE_DEFAULT_LOCALE = os.environ.get("HEPZA_SITE_DEFAULT_LOCALE", "vi-VN")

# --- politeness -----------------------------------------------------------------------------
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = int(os.environ.get("HEPZA_CONCURRENCY", "2"))
DOWNLOAD_DELAY = float(os.environ.get("HEPZA_DOWNLOAD_DELAY", "1.0"))
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 2.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 60
# Liferay caps a sitemap at 50 MB; nothing else on the site comes near.
DOWNLOAD_MAXSIZE = 64 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
REMOTE_CONTROL_ENABLED = False
TELNETCONSOLE_ENABLED = False
COOKIES_ENABLED = False

# --- faults ---------------------------------------------------------------------------------
RETRY_ENABLED = True
RETRY_TIMES = 5
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
RETRY_BACKOFF_BASE = 1.0
RETRY_BACKOFF_MAX = 120.0
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.retry.BackoffRetryMiddleware": 550,
}

# --- crawl bounds: every crawl ends ---------------------------------------------------------
# Before every built-in middleware (OffsiteMiddleware 50, robots.txt 100): redirected requests
# come back through process_request, so the fence sees them too.
DOWNLOADER_MIDDLEWARES["crawler.middlewares.fence.OriginFence"] = 30
DOWNLOADER_MIDDLEWARES["crawler.middlewares.run_limits.RunLimits"] = 40
# Pages of one listing's pager walk (the walk also ends on an empty or a repeated page).
MAX_LISTING_PAGES = int(os.environ.get("HEPZA_MAX_LISTING_PAGES", "2000"))
# Navigation hops from the home page (sitemap-listed pages are 1; pager pages add none).
MAX_LINK_DEPTH = int(os.environ.get("HEPZA_MAX_LINK_DEPTH", "10"))
# New pages followed from one page's navigation links.
MAX_LINKS_PER_PAGE = int(os.environ.get("HEPZA_MAX_LINKS_PER_PAGE", "500"))
# Run-wide caps; reaching one fails the run (0: no cap).
MAX_REQUESTS = int(os.environ.get("HEPZA_MAX_REQUESTS", "200000"))
MAX_RUN_SECONDS = float(os.environ.get("HEPZA_MAX_RUN_SECONDS", str(12 * 3600)))

# --- crawl behaviour ------------------------------------------------------------------------
# Re-fetch the newest N known articles of each listing on incremental runs to catch edits.
RECHECK_RECENT = int(os.environ.get("HEPZA_RECHECK_RECENT", "5"))
PROGRESS_INTERVAL = float(os.environ.get("HEPZA_PROGRESS_INTERVAL", "30"))

# --- pipelines ------------------------------------------------------------------------------
ITEM_PIPELINES = {
    "pipelines.text.TextNormalizationPipeline": 100,
    "pipelines.urls.UrlNormalizationPipeline": 200,
    "pipelines.dates.DateNormalizationPipeline": 300,
    "pipelines.html.BodyHtmlPipeline": 400,
    "pipelines.validate.ValidationPipeline": 500,
    "pipelines.dedupe.DedupePipeline": 600,
    "pipelines.storage.pipeline.StoragePipeline": 700,
}
REJECTS_PATH = os.environ.get("HEPZA_REJECTS_PATH", "output/rejects.jsonl")

# --- feeds ----------------------------------------------------------------------------------
FEED_EXPORT_ENCODING = "utf-8"
FEEDS = {
    "output/feeds/hepza-%(time)s.jsonl": {
        "format": "jsonlines",
        "encoding": "utf-8",
        "item_classes": ["crawler.items.ArticleItem"],
    },
}
# the documented record, in its documented order (crawler/items.py)
FEED_EXPORT_FIELDS = list(EXPORT_FIELDS)

# --- storage --------------------------------------------------------------------------------
# A password in this URL is never logged (see pipelines/storage/secrets.py).
DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite:///output/hepza.sqlite3")
STORAGE_BATCH_SIZE = int(os.environ.get("HEPZA_STORAGE_BATCH_SIZE", "50"))

# --- run report and failure thresholds -----------------------------------------------------
REPORTS_DIR = os.environ.get("HEPZA_REPORTS_DIR", "output/reports")
# Share of stored articles that must carry each field; below it the run fails (layout change).
COVERAGE_THRESHOLDS = {"title": 0.98, "published_at": 0.95, "body_text": 0.95, "author": 0.6}
# Coverage is judged only when at least this many articles were parsed in the run.
COVERAGE_MIN_ARTICLES = 5
# The run fails when more than this share of responses end in an error.
MAX_ERROR_RATE = 0.05
EXTENSIONS = {
    "crawler.extensions.report.RunReport": 500,
    "crawler.extensions.progress.Progress": 510,
}
LOGSTATS_INTERVAL = 0

# --- engine ---------------------------------------------------------------------------------
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
# The spider's callbacks are plain generators; Scrapy's per-call inspection of them for a
# `return value` costs a few percent of the CPU of a crawl.
WARN_ON_GENERATOR_RETURN_VALUE = False
LOG_LEVEL = os.environ.get("HEPZA_LOG_LEVEL", "INFO")
