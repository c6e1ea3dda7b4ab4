"""``scrapy probe <base_url | site>``: first contact with a portal, before writing its profile.

    scrapy probe https://portal.example.gov.vn [--pages N] [--warc PATH]
                 [-a timezone=Area/City] [-a default_locale=xx-YY]
    scrapy probe SITE [-a base_url=URL]      (a profile's portal, or a copy of it)

Politely (the profile's or the default ``DOWNLOAD_DELAY``, robots.txt obeyed) it fetches
robots.txt, the sitemaps, the home page, up to N listing pages and up to N articles (``--pages``,
default 20) and prints, per record field, which extraction layer matched on how many pages, the
date forms seen and whether they parsed, the locales, the paging and discovery found, and the
verdict of the run ledger's coverage check. Nothing goes into the database; every response goes
into a WARC file (``--warc``, default ``<OUTPUT_DIR>/probe/<host>-<time>.warc.gz``), the log
beside it (``.log``) unless ``LOG_FILE`` is given.

Exit status: 0 the probe ran (whatever its coverage verdict, which it prints), 1 it failed on
the way (the WARC could not be written, the probe was cut short), 2 bad usage or a portal that
cannot be probed: a bad argument, not a Liferay portal, a site or home page that does not
answer; one line on stderr.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from scrapy.commands import ScrapyCommand
from scrapy.utils.conf import arglist_to_dict

from crawler.domain.errors import EXIT_BAD_USAGE, EXIT_FAILED_RUN, ConfigError
from crawler.domain.outcome import FAILURE_PREFIX, recorded_failures
from crawler.probe import DEFAULT_PAGES
from crawler.setup.paths import DEFAULT_OUTPUT_DIR, resolve_output_paths

# The profiles, the settings' checks and the crawl's extensions are imported where they are
# used: Scrapy imports every command module at any `scrapy` start-up (`scrapy search` too).

if TYPE_CHECKING:
    import argparse

    from scrapy.crawler import Crawler

PROG = "scrapy probe"
# The -a arguments the probe takes (the crawl's full/since decide what to re-fetch: not here).
PROBE_ARGUMENTS = ("base_url", "timezone", "default_locale")
# Failures that mean there is no portal to probe at that address: bad usage (exit 2).
# "site_unreachable" is crawler.extensions.reachability.UNREACHABLE, spelled out: that module
# brings the settings' checks to every command's start-up (tests/test_probe.py holds the two
# equal).
NO_PORTAL = frozenset({"not_liferay", "site_unreachable", "home_unavailable", "robots_disallowed"})
# The crawl's pipelines that reject, deduplicate against the database, or store: not run.
NOT_IN_PROBE = frozenset(
    {
        "pipelines.validate.ValidationPipeline",
        "pipelines.dedupe.DedupePipeline",
        "pipelines.storage.pipeline.StoragePipeline",
    }
)
# Next to the downloader: responses as they came off the wire, before Scrapy decodes them.
WARC_RECORDER = "crawler.probe.warc.WarcRecorder"
WARC_RECORDER_ORDER = 950
MAX_PAGES = 1000


class Command(ScrapyCommand):
    requires_project = True
    default_settings: ClassVar[dict[str, Any]] = {"LOG_FILE_APPEND": False}

    def syntax(self) -> str:
        return "<base_url | site> [--pages N] [--warc PATH] [-a NAME=VALUE]"

    def short_desc(self) -> str:
        return (
            "First contact with a portal: what the parsers find on a few pages; nothing stored "
            "(exit 2: not Liferay or unreachable)"
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "--pages",
            default=str(DEFAULT_PAGES),
            metavar="N",
            help=f"listing pages, and articles, to read at most (default {DEFAULT_PAGES})",
        )
        parser.add_argument(
            "--warc",
            metavar="PATH",
            help="the WARC file to write (default <OUTPUT_DIR>/probe/<host>-<time>.warc.gz)",
        )
        parser.add_argument(
            "-a",
            dest="spargs",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help=f"{', '.join(PROBE_ARGUMENTS)} (as `scrapy crawl liferay` takes them)",
        )

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        # Imported here: Scrapy imports every command module for every command, and the
        # preflight brings SQLAlchemy (`scrapy search` starts without it).
        from crawler.setup.config import (  # noqa: PLC0415
            LIFERAY_ARGUMENTS,
            check_settings,
            parse_spider_args,
        )
        from crawler.setup.preflight import check_set_options, ensure_writable  # noqa: PLC0415
        from crawler.sites.profile import load_profiles, profile_dirs  # noqa: PLC0415
        from crawler.sites.resolve import resolve_site  # noqa: PLC0415

        assert self.settings is not None
        check_set_options(self.settings, opts.set, PROG)
        super().process_options(args, opts)
        # Here, not in run(): the crawler process (built before run) opens LOG_FILE.
        try:
            self.spider_args = self.target_arguments(args, opts)
            self.pages = _pages(opts.pages)
            check_settings(self.settings)
            load_profiles(profile_dirs(self.settings))
            site = resolve_site(
                parse_spider_args(self.spider_args, LIFERAY_ARGUMENTS), self.settings
            )
            resolve_output_paths(self.settings)
            self.warc_path = self.warc_place(opts.warc, site.base_url)
            ensure_writable("the directory of the WARC file", self.warc_path.parent)
        except ConfigError as exc:
            self.refuse(str(exc))
        self.configure(opts)

    def target_arguments(self, args: list[str], opts: argparse.Namespace) -> dict[str, str]:
        """The spider arguments of ``<base_url | site>`` and the ``-a`` options."""
        from crawler.middlewares.fence import origin_of  # noqa: PLC0415
        from crawler.setup.config import parse_base_url, parse_site_name  # noqa: PLC0415
        from crawler.sites.profile import load_profiles, profile_dirs  # noqa: PLC0415

        if len(args) != 1:
            raise ConfigError(
                "give one portal: its address (scrapy probe https://portal.example.gov.vn) "
                "or its site profile's name (scrapy probe hepza)"
            )
        try:
            given: dict[str, str] = arglist_to_dict(opts.spargs)
        except ValueError:
            raise ConfigError("-a takes NAME=VALUE") from None
        unknown = sorted(set(given) - set(PROBE_ARGUMENTS))
        if unknown:
            raise ConfigError(
                f"unknown argument -a {unknown[0]} (known: {', '.join(PROBE_ARGUMENTS)})"
            )
        target = args[0]
        if "://" not in target:
            return {**given, "site": parse_site_name(target, "site")}
        if "base_url" in given:
            raise ConfigError("give the address once: as the portal or as -a base_url")
        base_url = parse_base_url(target, "base_url")
        # A portal that has a profile is probed with it (its selectors, zone, delay).
        assert self.settings is not None
        for name, profile in load_profiles(profile_dirs(self.settings)).items():
            if origin_of(profile.base_url) == origin_of(base_url):
                return {**given, "site": name, "base_url": base_url}
        return {**given, "base_url": base_url}

    def warc_place(self, given: str | None, base_url: str) -> Path:
        from crawler.sites.resolve import site_name_of  # noqa: PLC0415

        if given:
            return Path(given).expanduser()
        assert self.settings is not None
        output = Path(self.settings.get("OUTPUT_DIR") or DEFAULT_OUTPUT_DIR)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        return output / "probe" / f"{site_name_of(base_url)}-{stamp}.warc.gz"

    def configure(self, opts: argparse.Namespace) -> None:
        """The crawl settings of a probe: no storage, the WARC recorder, the log beside it."""
        settings = self.settings
        assert settings is not None
        pipelines = {
            name: order
            for name, order in settings.getdict("ITEM_PIPELINES").items()
            if name not in NOT_IN_PROBE
        }
        settings.set("ITEM_PIPELINES", pipelines, priority="cmdline")
        middlewares = settings.getdict("DOWNLOADER_MIDDLEWARES")
        middlewares[WARC_RECORDER] = WARC_RECORDER_ORDER
        settings.set("DOWNLOADER_MIDDLEWARES", middlewares, priority="cmdline")
        extensions = settings.getdict("EXTENSIONS")
        # no feeds or reports are written: nothing of a crawl's to prune
        extensions["crawler.extensions.retention.Retention"] = None
        settings.set("EXTENSIONS", extensions, priority="cmdline")
        settings.set("FEEDS", {}, priority="cmdline")
        settings.set("RECORD_RUN", False, priority="cmdline")
        settings.set("PROBE_WARC_PATH", str(self.warc_path), priority="cmdline")
        settings.set("PROBE_PAGES", self.pages, priority="cmdline")
        if not settings.get("LOG_FILE") and not opts.nolog:
            log = self.warc_path.with_name(_stem(self.warc_path.name) + ".log")
            settings.set("LOG_FILE", str(log), priority="cmdline")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        # Imported here: Scrapy imports every command module for every command (`scrapy runs`
        # too), and the probe's spider brings the crawl's spider, pipelines and warcio.
        from crawler.probe.spider import ProbeSpider  # noqa: PLC0415

        assert self.crawler_process is not None
        crawler = self.crawler_process.create_crawler(ProbeSpider)
        self.crawler_process.crawl(crawler, **self.spider_args)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            self.fail(["the probe did not start (see the log)"])
            return
        self.report(crawler)

    def report(self, crawler: Crawler) -> None:
        from crawler.probe.findings import coverage_verdict, render  # noqa: PLC0415
        from crawler.probe.spider import ProbeSpider  # noqa: PLC0415
        from crawler.probe.warc import WarcRecorder  # noqa: PLC0415

        assert crawler.stats is not None
        stats = crawler.stats.get_stats()
        codes = {
            key.removeprefix(FAILURE_PREFIX) for key in stats if key.startswith(FAILURE_PREFIX)
        }
        reasons = recorded_failures(stats)
        if codes & NO_PORTAL:
            # Causes come first in recorded_failures: the one line says why.
            sys.stderr.write(f"{PROG}: error: {reasons[0]}\n")
            self.exitcode = EXIT_BAD_USAGE
            return
        spider = crawler.spider
        assert isinstance(spider, ProbeSpider)
        recorder = crawler.get_downloader_middleware(WarcRecorder)
        records = recorder.records if recorder is not None else 0
        verdict = coverage_verdict(spider.findings, crawler.settings)
        sys.stdout.write(render(spider.findings, verdict, str(self.warc_path), records) + "\n")
        log = crawler.settings.get("LOG_FILE")
        if log:
            sys.stdout.write(f"log: {log}\n")
        finish = stats.get("finish_reason")
        if finish != "finished" and not reasons:
            reasons = [f"the probe did not finish (reason: {finish})"]
        if reasons:
            self.fail(reasons)

    def refuse(self, message: str) -> None:
        from crawler.setup.preflight import stop  # noqa: PLC0415

        assert self.settings is not None
        stop(self.settings, "", message, EXIT_BAD_USAGE, PROG)

    def fail(self, reasons: list[str]) -> None:
        for reason in reasons:
            sys.stderr.write(f"{PROG}: error: {reason}\n")
        self.exitcode = EXIT_FAILED_RUN


def _pages(value: str) -> int:
    try:
        pages = int(value)
    except ValueError:
        pages = 0
    if not 1 <= pages <= MAX_PAGES:
        raise ConfigError(f"--pages {value}: expected a whole number from 1 to {MAX_PAGES}")
    return pages


def _stem(name: str) -> str:
    for suffix in (".warc.gz", ".warc"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem
