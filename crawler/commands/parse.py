"""``scrapy parse URL``: one page through its site's spider, its items and requests printed.

The spider is the one whose site profile's host is the URL's (``--spider NAME`` names one);
``-a base_url=`` parses a copy of a site (a mirror, the local replica), with the generic
``liferay`` spider when no profile's host is the URL's.

Exit status: 0 the page gave items or requests, 1 nothing was parsed (no response downloaded,
or the callback gave neither an item nor a request), 2 bad usage (no single URL, no spider for
it, a URL outside the spider's site, a bad argument or setting), as one line on stderr before
the crawl starts.
"""

from __future__ import annotations

import sys
import warnings
from typing import TYPE_CHECKING, Any

from scrapy.commands.parse import Command as ScrapyParseCommand
from scrapy.exceptions import ScrapyDeprecationWarning
from scrapy.http import Request
from scrapy.spiderloader import get_spider_loader
from scrapy.utils.spider import spidercls_for_request
from w3lib.url import is_url

from crawler.domain.errors import EXIT_BAD_USAGE, EXIT_FAILED_RUN, ConfigError

if TYPE_CHECKING:
    import argparse

    from scrapy import Spider

PROG = "scrapy parse"
GENERIC_SPIDER = "liferay"
# The spider arguments that name a site without a profile's host (the generic spider's).
SITE_ARGUMENTS = ("base_url", "site")


class Command(ScrapyParseCommand):
    def short_desc(self) -> str:
        return "Parse a URL with its site's spider and print the results (exit 1: nothing parsed)"

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        # Imported here: Scrapy imports every command module for every command, and the
        # preflight brings SQLAlchemy (`scrapy search` starts without it).
        from crawler.setup.config import check_settings  # noqa: PLC0415
        from crawler.setup.preflight import check_set_options  # noqa: PLC0415
        from crawler.sites.profile import load_profiles, profile_dirs  # noqa: PLC0415

        assert self.settings is not None
        check_set_options(self.settings, opts.set, PROG)
        super().process_options(args, opts)
        # Here, not in run(): the crawler process (built before run) starts logging.
        if len(args) != 1 or not is_url(args[0]):
            self.refuse("give one URL to parse, e.g. scrapy parse https://host/w/article-slug")
        if opts.depth < 1:
            self.refuse(f"--depth {opts.depth} parses nothing: expected 1 or more")
        try:
            check_settings(self.settings)
            load_profiles(profile_dirs(self.settings))
            spidercls = self.spider_for(args[0], opts)
            self.check_site(args[0], spidercls, opts.spargs)
        except ConfigError as exc:
            self.refuse(str(exc))
        # Scrapy's own lookup (set_spidercls) then loads exactly this one.
        opts.spider = spidercls.name

    def spider_for(self, url: str, opts: argparse.Namespace) -> type[Spider]:
        """The spider named by --spider, else the one of the URL's site, else (with a site
        given by its arguments) the generic spider."""
        from crawler.setup.preflight import unknown_spider  # noqa: PLC0415

        assert self.settings is not None
        loader = get_spider_loader(self.settings)
        if opts.spider:
            try:
                return loader.load(opts.spider)
            except KeyError:
                raise ConfigError(unknown_spider(opts.spider, loader.list())) from None
        candidates = loader.find_by_request(Request(url))
        if len(candidates) > 1:
            raise ConfigError(
                f"the spiders {', '.join(candidates)} all crawl the host of {url}: "
                "choose one with --spider NAME"
            )
        found = spidercls_for_request(loader, Request(url))
        if found is not None:
            return found
        if any(name in opts.spargs for name in SITE_ARGUMENTS):
            return loader.load(GENERIC_SPIDER)
        raise ConfigError(
            f"no site profile crawls the host of {url}: name its spider (--spider NAME, "
            "`scrapy list`) and, for a copy of a site, its address "
            f"(-a base_url={_origin(url)})"
        )

    def check_site(self, url: str, spidercls: type[Spider], spargs: dict[str, Any]) -> None:
        """The spider's arguments parse, and the URL is on the site it crawls: the spider's
        origin fence would refuse any other, and the page would never be downloaded."""
        from crawler.middlewares.fence import origin_of  # noqa: PLC0415
        from crawler.setup.config import parse_spider_args  # noqa: PLC0415
        from crawler.sites.resolve import resolve_site  # noqa: PLC0415

        assert self.settings is not None
        known = getattr(spidercls, "arguments", None)
        if known is None:
            return  # not one of the project's site spiders: Scrapy's rules only
        arguments = parse_spider_args(spargs, known)
        site = resolve_site(arguments, self.settings, getattr(spidercls, "profile_name", None))
        if origin_of(url) != origin_of(site.base_url):
            raise ConfigError(
                f"{url} is not on the site the spider {spidercls.name!r} crawls "
                f"({site.base_url}): to parse a copy of the site, add "
                f"-a base_url={_origin(url)}"
            )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        # Scrapy's own parse callback returns a Deferred, which Scrapy itself deprecates: not
        # the user's concern, and one WARNING per page otherwise.
        warnings.filterwarnings(
            "ignore", message=r".*returned a Deferred", category=ScrapyDeprecationWarning
        )
        super().run(args, opts)
        if self.exitcode:
            return  # the crawl failed to start; Scrapy logged why
        url = args[0]
        if not self.first_response:
            why = _why_not_downloaded(self.pcrawler.stats.get_stats())
            self.fail(f"no response downloaded for {url}{f' ({why})' if why else ''}")
        elif not any(self.items.values()) and not any(self.requests.values()):
            self.fail(f"nothing parsed from {url}: the page gave no item and no request")

    def refuse(self, message: str) -> None:
        from crawler.setup.preflight import stop  # noqa: PLC0415

        assert self.settings is not None
        stop(self.settings, "", message, EXIT_BAD_USAGE, PROG)

    def fail(self, message: str) -> None:
        sys.stderr.write(f"{PROG}: error: {message}\n")
        self.exitcode = EXIT_FAILED_RUN


def _origin(url: str) -> str:
    from crawler.middlewares.fence import origin_of  # noqa: PLC0415

    origin = origin_of(url)
    return str(origin) if origin is not None else url


def _why_not_downloaded(stats: dict[str, Any]) -> str:
    """What the crawl's stats say of a page that never reached the callback."""
    reasons = []
    for key, count in sorted(stats.items()):
        if key.startswith("downloader/response_status_count/") and not key.endswith("/200"):
            reasons.append(f"HTTP {key.rsplit('/', 1)[1]}")
        elif key.startswith("downloader/exception_type_count/"):
            reasons.append(key.rsplit("/", 1)[1].rsplit(".", 1)[-1])
        elif key in {"robotstxt/forbidden", "fence/refused"} and count:
            reasons.append("robots.txt forbids it" if key == "robotstxt/forbidden" else key)
    return ", ".join(dict.fromkeys(reasons))
