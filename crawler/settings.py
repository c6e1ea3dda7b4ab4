"""Scrapy settings: only what differs from Scrapy's defaults, grouped.

Deployment values come from the environment (``HEPZA_*``, ``DATABASE_URL``); every one of them
can also be given with ``-s NAME=value``. docs/settings.md, generated from this module, lists
them all.
"""

from __future__ import annotations

import os

from crawler.crawl.backpressure import DEFAULT_SITEMAP_MAX_QUEUED
from crawler.domain.items import FEED_FIELDS
from crawler.ledger.checks import DEFAULT_RUN_CHECKS
from crawler.setup.paths import default_place, env_output_dir

BOT_NAME = "hepza"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"
COMMANDS_MODULE = "crawler.commands"
# The spider classes plus one spider per site profile (crawler/sites/profiles/*.toml, and the
# deployment's own in SITE_PROFILES_DIR).
SPIDER_LOADER_CLASS = "crawler.sites.loader.SiteSpiderLoader"
# A directory of the deployment's own site profiles, read after `crawler/sites/profiles/` (a
# profile there replaces the project's of the same name)
SITE_PROFILES_DIR = os.environ.get("HEPZA_SITE_PROFILES_DIR")

# --- identity -------------------------------------------------------------------------------
# Where the operators of this crawler are found: named in the user agent.
PROJECT_URL = "https://github.com/hepza-crawler/hepza-crawler"
# Identifies the crawler and how to reach its operators
USER_AGENT = os.environ.get(
    "HEPZA_USER_AGENT",
    f"hepza-news-crawler/0.1 (+{PROJECT_URL}; research crawler of public news pages)",
)

# --- output files ---------------------------------------------------------------------------
# Every default output place (database, reports, rejects, feeds, exports) lies under OUTPUT_DIR;
# `scrapy crawl` and `scrapy export` re-derive them from `-s OUTPUT_DIR=...`
# (crawler/setup/paths.py).
OUTPUT_DIR = env_output_dir()
# Per-run files kept; older ones are removed at the end of a crawl (logs: by hepza-run).
KEEP_FEEDS = os.environ.get("HEPZA_KEEP_FEEDS", "60")
# `<run id>.json` reports kept (`latest.json` always; 0 keeps all)
KEEP_REPORTS = os.environ.get("HEPZA_KEEP_REPORTS", "200")
# `hepza-run` log files kept
KEEP_LOGS = os.environ.get("HEPZA_KEEP_LOGS", "30")
# `scrapy export`'s default output directory
EXPORTS_DIR = default_place("EXPORTS_DIR")

# --- the archive (crawler/archive/, docs/archive.md) ----------------------------------------
# Every response of a recorded run (pages, sitemaps, robots.txt; with its request) into WARC
# files under ARCHIVE_DIR, one set per run; an unchanged page seen again is a revisit record.
ARCHIVE_ENABLED = os.environ.get("HEPZA_ARCHIVE_ENABLED", "True")
# Where the WARC files and each site's digest index go (docs/archive.md); `scrapy reparse`
# reads every WARC under it by default
ARCHIVE_DIR = default_place("ARCHIVE_DIR")
# A run's next WARC file starts once its current one reaches this many bytes
ARCHIVE_MAX_BYTES = os.environ.get("HEPZA_ARCHIVE_MAX_BYTES", "1000000000")
# Runs whose WARC files are kept (older ones are removed unless a kept run's revisit records
# refer to them; 0 keeps all)
KEEP_ARCHIVES = os.environ.get("HEPZA_KEEP_ARCHIVES", "60")

# --- the site -------------------------------------------------------------------------------
# Where `scrapy crawl hepza` finds HEPZA (a mirror; the `base_url` spider argument wins)
HEPZA_BASE_URL = os.environ.get("HEPZA_BASE_URL", "https://hepza.hochiminhcity.gov.vn")
# Display dates on the site are local times without an offset.
SITE_TIMEZONE = os.environ.get("HEPZA_SITE_TIMEZONE", "Asia/Ho_Chi_Minh")
# The locale of pages that do not say theirs (decides day-first vs month-first)
SITE_DEFAULT_LOCALE = os.environ.get("HEPZA_SITE_DEFAULT_LOCALE", "vi-VN")

# --- politeness -----------------------------------------------------------------------------
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16
# Parallel requests to the site
CONCURRENT_REQUESTS_PER_DOMAIN = os.environ.get("HEPZA_CONCURRENCY", "2")
# Seconds between requests (AutoThrottle adapts above it)
DOWNLOAD_DELAY = os.environ.get("HEPZA_DOWNLOAD_DELAY", "1.0")
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 2.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
# Seconds
DOWNLOAD_TIMEOUT = 60
# Pages over this are refused (counted in fetch/too_large); sitemaps get SITEMAP_MAXSIZE.
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
REMOTE_CONTROL_ENABLED = False
TELNETCONSOLE_ENABLED = False
COOKIES_ENABLED = False

# --- faults ---------------------------------------------------------------------------------
RETRY_ENABLED = True
# Retries of 5xx, 408, 429, timeouts, dropped connections, truncated bodies
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
# Scrapy's redirects, in their places: a redirect off the origin is refused through the fence
# (OffsiteMiddleware would drop it unsaid), a redirect loop is named
# (crawler/middlewares/redirect.py).
DOWNLOADER_MIDDLEWARES.update(
    {
        "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
        "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
        "crawler.middlewares.redirect.MetaRefreshMiddleware": 580,
        "crawler.middlewares.redirect.RedirectMiddleware": 600,
    }
)
# Pages of one listing's pager walk (the walk also ends on an empty or a repeated page).
MAX_LISTING_PAGES = os.environ.get("HEPZA_MAX_LISTING_PAGES", "2000")
# Navigation hops from the home page (sitemap-listed pages are 1; pager pages add none).
MAX_LINK_DEPTH = os.environ.get("HEPZA_MAX_LINK_DEPTH", "10")
# New pages followed from one page's navigation links.
MAX_LINKS_PER_PAGE = os.environ.get("HEPZA_MAX_LINKS_PER_PAGE", "500")
# Run-wide caps; reaching one fails the run (0: no cap).
MAX_REQUESTS = os.environ.get("HEPZA_MAX_REQUESTS", "200000")
# Crawl time per run (0: no cap); reaching it fails the run
MAX_RUN_SECONDS = os.environ.get("HEPZA_MAX_RUN_SECONDS", str(12 * 3600))

# --- crawl behaviour ------------------------------------------------------------------------
# Re-fetch the newest N known articles of each listing on incremental runs to catch edits.
RECHECK_RECENT = os.environ.get("HEPZA_RECHECK_RECENT", "5")
# Seconds between progress lines (0: off)
PROGRESS_INTERVAL = os.environ.get("HEPZA_PROGRESS_INTERVAL", "30")
# Reading a sitemap pauses while more than this many requests wait in the scheduler, so a large
# portal's article requests are not all queued (held in memory) at once (0: never pauses).
SITEMAP_MAX_QUEUED = os.environ.get("HEPZA_SITEMAP_MAX_QUEUED", str(DEFAULT_SITEMAP_MAX_QUEUED))
# Where the frontier keeps the URLs it met: a factory `(settings, site) -> FrontierState` (the
# cluster's add-on sets its Redis one); empty: the crawl's own memory.
FRONTIER_STATE = ""

# --- pipelines ------------------------------------------------------------------------------
ITEM_PIPELINES = {
    "pipelines.text.TextNormalizationPipeline": 100,
    "pipelines.fields.ArticleFieldsPipeline": 150,
    "pipelines.urls.UrlNormalizationPipeline": 200,
    "pipelines.dates.DateNormalizationPipeline": 300,
    "pipelines.html.BodyHtmlPipeline": 400,
    "pipelines.validate.ValidationPipeline": 500,
    "pipelines.dedupe.DedupePipeline": 600,
    "pipelines.storage.pipeline.StoragePipeline": 700,
}
# Rejected pages, one line per page (below)
REJECTS_PATH = default_place("REJECTS_PATH")

# --- item concurrency ------------------------------------------------------------------------
# Every item pipeline is synchronous, so items of one callback gain nothing from running side
# by side, while Scrapy starts CONCURRENT_ITEMS asyncio tasks for every callback (default 100:
# a fifth of the crawl's CPU went to them). 8 costs as little CPU as 1 and, unlike 1, does not
# hold responses longer (peak memory as with 100). tests/test_speed.py keeps the premise true.
CONCURRENT_ITEMS = 8

# --- feeds ----------------------------------------------------------------------------------
FEED_EXPORT_ENCODING = "utf-8"
# `scrapy crawl` writes the per-run feed <OUTPUT_DIR>/feeds/hepza-<time>.jsonl unless -o/-O or
# -s FEEDS name others (`-s FEEDS={}`: no feed); other commands (parse, shell, check) write none
# (crawler/commands/crawl.py).
FEEDS: dict[str, dict[str, object]] = {}
# the documented record, in its documented order, then `change` (crawler/domain/items.py)
FEED_EXPORT_FIELDS = list(FEED_FIELDS)
# A local feed is written as <name>.partial and takes its name only once the run has stored
# every article it lists: a killed run never leaves a feed of articles the database lacks.
FEED_STORAGES = {
    "": "crawler.crawl.feeds.CommittedFileFeedStorage",
    "file": "crawler.crawl.feeds.CommittedFileFeedStorage",
}

# --- storage --------------------------------------------------------------------------------
# A password in this URL is never logged (see pipelines/storage/secrets.py).
DATABASE_URL = default_place("DATABASE_URL")
# Articles per database transaction (a killed run loses at most one open batch, which the next run
# fetches again)
STORAGE_BATCH_SIZE = os.environ.get("HEPZA_STORAGE_BATCH_SIZE", "50")
# How long one outage of an unreachable database is waited for (backoff, items wait) before
# its writes count as lost and fail the run; 0: never waited for.
STORAGE_RETRY_SECONDS = os.environ.get("HEPZA_STORAGE_RETRY_SECONDS", "120")
# Articles of one site sharing a display day and hour (a migration re-created them) from which
# their published_at_quality is "bulk": analysts count them by their event day instead.
PUBLISHED_AT_BULK_THRESHOLD = os.environ.get("HEPZA_PUBLISHED_AT_BULK_THRESHOLD", "10")
# `scrapy search`: a search running longer is stopped on the database (exit status 1).
SEARCH_TIMEOUT_SECONDS = os.environ.get("HEPZA_SEARCH_TIMEOUT_SECONDS", "30")

# --- run report and failure thresholds -----------------------------------------------------
# Run reports (`<run id>.json`, `latest.json`)
REPORTS_DIR = default_place("REPORTS_DIR")
# Share of stored articles that must carry each field; below it the run fails (layout change).
COVERAGE_THRESHOLDS = {"title": 0.98, "published_at": 0.95, "body_text": 0.95, "author": 0.6}
# Coverage is judged only when at least this many articles were parsed in the run.
COVERAGE_MIN_ARTICLES = 5
# The run fails when more than this share of responses end in an error.
MAX_ERROR_RATE = 0.05
# The run ledger (crawler/ledger/): a run succeeds only when each of these checks, in order,
# ran and gave no reason. Dotted paths to functions `check(facts: RunFacts) -> list[str]`; a
# deployment appends its own. A check that raises fails the run, naming it.
RUN_CHECKS = list(DEFAULT_RUN_CHECKS)
EXTENSIONS = {
    "crawler.extensions.run.RunOwner": 500,
    "crawler.extensions.progress.Progress": 510,
    # after the feed exporter and the run report: prunes at engine_stopped
    "crawler.extensions.retention.Retention": 900,
    # An incremental run's feed holds only what the run met: one INFO line at its end says so.
    "crawler.extensions.feed_summary.FeedSummary": 530,
}
LOGSTATS_INTERVAL = 0
# A run that never got one response from the site fails naming the host and the reason;
# before the run owner (500), which then sees that failure.
EXTENSIONS["crawler.extensions.reachability.SiteReachability"] = 490
# Seconds from the first request to the site's first answer: past it the run fails as
# unreachable at once; until it, requests wait no longer and are retried at most twice
# (crawler/extensions/reachability.py). 0: no bound (DOWNLOAD_TIMEOUT and RETRY_TIMES only).
REACHABILITY_TIMEOUT = os.environ.get("HEPZA_REACHABILITY_TIMEOUT", "15")
# The reachability probe after DownloadTimeoutMiddleware (350) and before RetryMiddleware's
# exceptions (550); Scrapy's robots.txt middleware in its place, with a failed fetch as one line
# and a forbidden request told apart (crawler/middlewares/robots.py).
DOWNLOADER_MIDDLEWARES.update(
    {
        "crawler.extensions.reachability.ReachabilityProbe": 555,
        "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
        "crawler.middlewares.robots.QuietRobotsTxtMiddleware": 100,
    }
)

# The archive: closed before the run owner (500) judges the run; its recorder next to the
# downloader, after HttpCompressionMiddleware (590) and the redirects (600) on the way in, so it
# sees every response as it arrived (crawler/extensions/archive.py).
EXTENSIONS["crawler.extensions.archive.Archive"] = 480
DOWNLOADER_MIDDLEWARES["crawler.extensions.archive.ArchiveRecorder"] = 950

# --- engine ---------------------------------------------------------------------------------
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
# The spider's callbacks are plain generators; Scrapy's per-call inspection of them for a
# `return value` costs a few percent of the CPU of a crawl.
WARN_ON_GENERATOR_RETURN_VALUE = False
LOG_LEVEL = os.environ.get("HEPZA_LOG_LEVEL", "INFO")

# --- data-quality guards --------------------------------------------------------------------
# Sitemap requests only: a sitemap is streamed to a temporary file and read entry by entry
# (crawler/crawl/streaming.py), so its size costs disk, not memory. Liferay puts every article
# in one sitemap (about 2 KiB each, 64 MiB at 31k articles); 1 GiB holds about 500k. A sitemap
# refused past it fails the run (sitemap_unread). Where sitemaps cannot be streamed (a Scrapy
# crawler/compat was not checked against), at most 64 MiB (SITEMAP_MAXSIZE_UNSTREAMED).
SITEMAP_MAXSIZE = 1024 * 1024 * 1024
# Longer values are cut, with a <field>_too_long problem on the record saying so.
MAX_TITLE_CHARS = 1000
MAX_SUMMARY_CHARS = 5000
MAX_AUTHOR_CHARS = 500
MAX_CATEGORY_CHARS = 500
# An article whose body_text or body_html is longer is rejected (body_too_long), not cut.
MAX_BODY_CHARS = 2_000_000
DOWNLOADER_MIDDLEWARES.update(
    {
        "crawler.middlewares.charset.CharsetMiddleware": 560,
        "crawler.middlewares.size.TooLargeMiddleware": 570,
    }
)
SPIDER_MIDDLEWARES = {
    "crawler.middlewares.charset.CharsetProblemMiddleware": 550,
}

# --- alerts (crawler/extensions/alerts.py) --------------------------------------------------
# A failed run (and, when set, a coverage drop or no new article for N days) is sent by e-mail
# and/or to a webhook ({"text": ...}: Slack incoming webhooks, Teams workflows). The SMTP
# password comes from the environment only (HEPZA_ALERT_SMTP_PASSWORD), never from a setting.
ALERT_EMAIL_TO = os.environ.get("HEPZA_ALERT_EMAIL_TO", "")
# Alert sender
ALERT_EMAIL_FROM = os.environ.get("HEPZA_ALERT_EMAIL_FROM", "")
ALERT_SMTP_HOST = os.environ.get("HEPZA_ALERT_SMTP_HOST", "localhost")
ALERT_SMTP_PORT = os.environ.get("HEPZA_ALERT_SMTP_PORT", "0")
# `none`, `starttls` or `ssl`
ALERT_SMTP_SECURITY = os.environ.get("HEPZA_ALERT_SMTP_SECURITY", "none")
# SMTP login; its password only from the environment, `HEPZA_ALERT_SMTP_PASSWORD`, never logged
ALERT_SMTP_USER = os.environ.get("HEPZA_ALERT_SMTP_USER", "")
# POSTs `{"text": ...}` (Slack incoming webhook, Teams workflow); logs name only its scheme and
# host
ALERT_WEBHOOK_URL = os.environ.get("HEPZA_ALERT_WEBHOOK_URL", "")
# Seconds per delivery
ALERT_TIMEOUT = os.environ.get("HEPZA_ALERT_TIMEOUT", "10")
# Also alert when a field's coverage fell by more than this share (0.1 = 10 points) since the
# site's previous succeeded run
ALERT_COVERAGE_DROP = os.environ.get("HEPZA_ALERT_COVERAGE_DROP", "0")
# Also alert when no run stored a new article for N days (once the history covers N days)
ALERT_NO_NEW_DAYS = os.environ.get("HEPZA_ALERT_NO_NEW_DAYS", "0")
# After the run owner (500): alerts at engine_stopped, once the run is judged and recorded.
EXTENSIONS["crawler.extensions.alerts.Alerts"] = 520

# --- streamed sitemaps (crawler/crawl/streaming.py) -----------------------------------------------
# Scrapy's HTTP/1.1 handler, except that sitemap bodies go to a temporary file as they arrive
# (decompressed on the way) instead of being held whole in memory.
DOWNLOAD_HANDLERS = {
    "http": "crawler.compat.StreamingDownloadHandler",
    "https": "crawler.compat.StreamingDownloadHandler",
}
# Scrapy's internals are used only where crawler/compat/ was checked against the running Scrapy;
# True forces its public-API fallbacks (sitemaps in memory, no back-pressure, no cluster), as on
# an unchecked Scrapy. One WARNING at start-up says which are in force.
SCRAPY_COMPAT_FALLBACK = os.environ.get("HEPZA_SCRAPY_COMPAT_FALLBACK", "False")
EXTENSIONS["crawler.compat.CompatCheck"] = 0

# --- cluster mode (crawler/cluster/) ---------------------------------------------------------
# Cluster mode is a Scrapy add-on (crawler/cluster/addon.py): `scrapy cluster work` enables
# ClusterAddon on its crawlers, which installs the cluster's scheduler, seeds, frontier state,
# per-host limiter, stats publisher and run owner; a plain crawl installs none of them. With
# CLUSTER_REDIS_URL set, a plain crawl takes its per-host slots from the cluster's limiter
# (HostLimitAddon; without it, off and installing nothing).
ADDONS = {"crawler.cluster.addon.HostLimitAddon": 0}
# A crawl shared by worker processes on any number of machines: `scrapy cluster start --site A`,
# then `scrapy cluster work` on each machine. Empty: not a cluster run.
CLUSTER_REDIS_URL = os.environ.get("HEPZA_CLUSTER_REDIS_URL", "")
# Set by `scrapy cluster work` on each crawler it starts: the crawl, and `{hostname}-{pid}`.
CLUSTER_CRAWL_ID = ""
CLUSTER_WORKER_ID = ""
# Every Redis key of the cluster starts with it (several deployments may share one Redis).
CLUSTER_KEY_PREFIX = os.environ.get("HEPZA_CLUSTER_KEY_PREFIX", "hepza")
# A request popped by a worker is its own for this long, renewed every quarter of it while the
# worker lives; a killed worker's requests go back to the queue once it passes.
CLUSTER_LEASE_SECONDS = os.environ.get("HEPZA_CLUSTER_LEASE_SECONDS", "60")
# Requests a worker leases per round trip to Redis (those not started yet stay leased to it).
CLUSTER_LEASE_BATCH = os.environ.get("HEPZA_CLUSTER_LEASE_BATCH", "8")
# How long the Redis keys of a finished crawl are kept (for `scrapy cluster status` and a look
# at its state) before they expire; 0: deleted as soon as the crawl's run is recorded.
CLUSTER_RETENTION_SECONDS = os.environ.get("HEPZA_CLUSTER_RETENTION_SECONDS", "86400")
# How long a Redis call is retried (exponential backoff) before the worker fails its run.
CLUSTER_REDIS_RETRY_SECONDS = os.environ.get("HEPZA_CLUSTER_REDIS_RETRY_SECONDS", "60")

# --- cluster politeness (crawler/cluster/host_limit.py) ------------------------------------
# In cluster mode (CLUSTER_REDIS_URL set) a host's concurrency and delay hold for every worker
# together; unset, they are the site's CONCURRENT_REQUESTS_PER_DOMAIN / DOWNLOAD_DELAY, and
# Scrapy's per-worker delay is switched off (the middleware owns the delay). Close to the
# downloader: each real network attempt takes a slot; without CLUSTER_REDIS_URL it is off.
CLUSTER_HOST_CONCURRENCY = os.environ.get("HEPZA_CLUSTER_HOST_CONCURRENCY") or None
# Least seconds between two request starts to one host across every worker (in cluster mode
# Scrapy's per-worker delay and AutoThrottle are off)
CLUSTER_HOST_DELAY = os.environ.get("HEPZA_CLUSTER_HOST_DELAY") or None
# A request's host slot is leased for this long, renewed every quarter of it while the request
# runs: a killed worker's slots are free again within it.
CLUSTER_HOST_SLOT_SECONDS = os.environ.get("HEPZA_CLUSTER_HOST_SLOT_SECONDS", "10")
