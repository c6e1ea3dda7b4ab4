"""End-to-end: ``scrapy probe`` on the replica (HEPZA's, by its site profile's name) and on a
second replica portal (the Classic theme in English, by its address), and on portals that cannot
be probed. The WARC each probe writes is loaded back through tests/warc_fixtures.py and its
article pages parsed again, as a test would use them for fixtures."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import unicodedata
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import pytest

from crawler.domain.urls import url_identity
from crawler.parsers.article import parse_article
from crawler.probe.findings import TABLE_FIELDS
from crawler.sites.profile import find_profile
from tests.crawl_runner import FAST_SETTINGS, run_scrapy
from tests.politeness import allowed_in_window, max_in_window
from tests.replica.portal import make_site
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig
from tests.warc_fixtures import warc_pages, warc_responses

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scrapy.http import Response

pytestmark = pytest.mark.e2e

PAGES = 20
# A site that does not answer is known within this many seconds (the probe's own default: 15).
QUICK = {**FAST_SETTINGS, "REACHABILITY_TIMEOUT": "5"}


@dataclass
class Probe:
    result: subprocess.CompletedProcess[str]
    warc: Path
    workdir: Path

    @property
    def out(self) -> str:
        return self.result.stdout

    def section(self, title: str) -> list[str]:
        """The lines of the report's section that starts with ``title``."""
        lines = self.out.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith(title))
        end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()), len(lines))
        return lines[start + 1 : end]

    def fields(self) -> dict[str, tuple[int, int, dict[str, int]]]:
        """field -> (pages with a value, article pages, {layer: pages})."""
        table = {}
        for line in self.section("fields ("):
            match = re.match(r"  (\S+)\s+(\d+)/(\d+)\s+(.*)$", line)
            if match is None or match[1] == "not" or match[1] == "a":
                continue
            layers = {name: int(n) for name, n in re.findall(r"(.+?) x(\d+)(?:, |$)", match[4])}
            table[match[1]] = (int(match[2]), int(match[3]), layers)
        return table

    def articles(self) -> dict[str, Response]:
        """The article pages the WARC holds, by URL."""
        return {url: r for url, r in warc_pages(self.warc).items() if url_identity(url)[1]}


def probe(
    target: str,
    workdir: Path,
    *args: str,
    settings: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> Probe:
    workdir.mkdir(parents=True, exist_ok=True)
    warc = workdir / "probe.warc.gz"
    cmd = ["probe", target, "--warc", str(warc), *args]
    given = {**(QUICK if settings is None else settings), "OUTPUT_DIR": str(workdir / "out")}
    for name, value in given.items():
        cmd += ["-s", f"{name}={value}"]
    return Probe(run_scrapy(workdir, *cmd, timeout=300, env=env), warc, workdir)


def fold(text: str | None) -> str:
    return " ".join(unicodedata.normalize("NFC", text or "").split())


def slug_of(url: str) -> str:
    """An article's key on the replica: the last segment of its path (/w/<slug>,
    .../content/<slug>), decoded."""
    segment = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return fold(unquote(segment.split(";", 1)[0]))  # without ;jsessionid=...


def truth_by_slug(config: ReplicaConfig) -> dict[str, dict[str, Any]]:
    return {fold(unquote(a["slug"])): a for a in make_site(config).truth()["articles"]}


def assert_fixtures_parse_as_the_portal_shows(
    run: Probe, config: ReplicaConfig, profile_name: str | None = None
) -> None:
    """Every article page of the probe's WARC, parsed again from the file, gives the title,
    author and paragraphs the replica's truth holds."""
    truth = truth_by_slug(config)
    parser_config = find_profile(profile_name).parser_config() if profile_name else None
    pages = run.articles()
    # the articles read, and the URLs that led to their default-locale pages
    assert len(pages) >= PAGES
    for url, response in pages.items():
        page = (
            parse_article(response.text, url, parser_config)
            if parser_config
            else parse_article(response.text, url)
        )
        expected = truth[slug_of(url)]
        assert fold(page.title) == expected["title"]
        assert page.author == expected["author"]
        assert [fold(p) for p in (page.body_text or "").split("\n\n")] == [
            fold(p) for p in expected["body_paragraphs"]
        ]


# --- the HEPZA replica, by its profile's name -------------------------------------------------


@pytest.fixture(scope="module")
def hepza_probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    with ReplicaServer(ReplicaConfig()) as server:
        yield probe("hepza", tmp_path_factory.mktemp("probe-hepza"), "-a", f"base_url={server.url}")


def test_the_probe_of_the_replica_succeeds_with_the_hepza_profile(hepza_probe: Probe) -> None:
    assert hepza_probe.result.returncode == 0, hepza_probe.result.stderr[-3000:]
    assert hepza_probe.result.stderr == ""
    first = hepza_probe.out.splitlines()[0]
    assert "profile hepza" in first and f"up to {PAGES} pages and {PAGES} articles" in first


def test_the_field_table_names_a_layer_for_every_field_on_every_page(hepza_probe: Probe) -> None:
    table = hepza_probe.fields()
    assert list(table) == list(TABLE_FIELDS)
    for name, (filled, pages, layers) in table.items():
        assert pages == PAGES
        assert sum(layers.values()) == pages, name
        # a page without the field is counted under (none), never under a layer
        assert layers.get("(none)", 0) == pages - filled, name
    assert table["title"] == (PAGES, PAGES, {"css:h1.component-heading": PAGES})
    assert table["published_at"] == (PAGES, PAGES, {"display_date": PAGES})
    assert table["body_text"][0] == PAGES
    assert set(table["body_text"][2]) <= {"fragment:rich-text", "css:.journal-content-article"}
    assert table["language"] == (PAGES, PAGES, {"html:lang": PAGES})


def test_the_probe_reports_discovery_paging_dates_and_locales(hepza_probe: Probe) -> None:
    discovery = "\n".join(hepza_probe.section("discovery"))
    assert "robots.txt     HTTP 200, names 1 sitemap(s)" in discovery
    assert re.search(r"sitemap index  \S+/sitemap\.xml: \d+ sitemaps", discovery)
    assert re.search(r"sitemap        \S+: (\d+) URLs \(\1 articles, 0 other pages\)", discovery)
    sections = re.search(r"navigation     (\d+) section links", discovery)
    assert sections and int(sections[1]) >= 5
    listings = re.search(r"listings       (\d+) listing pages read", discovery)
    assert listings and 1 <= int(listings[1]) <= PAGES
    assert re.search(r"p\.2: 5 entries, next page", discovery)  # a pager was followed
    dates = hepza_probe.section("dates")
    assert any(
        line.split()[:2] == ["display_date", "vi.compat.short_short"] and "parsed" in line
        for line in dates
    )
    assert not any("NOT PARSED" in line for line in dates)
    locales = hepza_probe.section("locales")
    assert locales[0] == f"  article pages  vi-VN x{PAGES}"


def test_the_coverage_verdict_is_the_crawl_s(hepza_probe: Probe) -> None:
    coverage = hepza_probe.section("coverage")
    # the thresholds of the hepza profile's [coverage]
    assert "  title          100% (threshold 98%) ok" in coverage
    assert "  author         100% (threshold 60%) ok" in coverage
    assert f"verdict: a crawl would pass its coverage check ({PAGES} articles)" in coverage


def test_the_probe_stores_nothing(hepza_probe: Probe) -> None:
    written = sorted(p.relative_to(hepza_probe.workdir) for p in hepza_probe.workdir.rglob("*"))
    assert written == [Path("probe.log"), Path("probe.warc.gz")]
    log = (hepza_probe.workdir / "probe.log").read_text(encoding="utf-8")
    assert "StoragePipeline" not in log and "ValidationPipeline" not in log


def test_the_warc_loads_as_fixtures_that_parse_as_the_replica_shows(hepza_probe: Probe) -> None:
    assert_fixtures_parse_as_the_portal_shows(hepza_probe, ReplicaConfig(), "hepza")
    responses = warc_responses(hepza_probe.warc)
    urls = [urlsplit(r.url).path for r in responses]
    assert "/robots.txt" in urls and "/sitemap.xml" in urls and "/" in urls
    records = re.search(r"WARC: \S+ \((\d+) records\)", hepza_probe.out)
    # a warcinfo record, then a request and a response record per exchange
    assert records and int(records[1]) == 1 + 2 * len(responses)


def test_the_warc_tools_accept_the_probe_s_warc(hepza_probe: Probe) -> None:
    warcio = Path(sys.executable).with_name("warcio")
    check = subprocess.run(
        [str(warcio), "check", str(hepza_probe.warc)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr


# --- a second portal, by its address ----------------------------------------------------------


CLASSIC_EN = ReplicaConfig(portal="classic-en")


@pytest.fixture(scope="module")
def classic_probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    with ReplicaServer(CLASSIC_EN) as server:
        yield probe(
            server.url,
            tmp_path_factory.mktemp("probe-classic-en"),
            "-a",
            "timezone=UTC",
            "-a",
            "default_locale=en-US",
        )


def test_the_probe_of_a_classic_theme_portal_prints_its_field_table(classic_probe: Probe) -> None:
    assert classic_probe.result.returncode == 0, classic_probe.result.stderr[-3000:]
    assert "no profile" in classic_probe.out.splitlines()[0]
    table = classic_probe.fields()
    for name in ("url", "title", "published_at", "body_text", "author", "category"):
        assert table[name][:2] == (PAGES, PAGES), name
    assert table["language"][2] == {"html:lang": PAGES}
    assert classic_probe.section("locales")[0] == f"  article pages  en-US x{PAGES}"
    dates = classic_probe.section("dates")
    assert dates and all("NOT PARSED" not in line for line in dates)
    assert any(line.split()[1].startswith("en.") for line in dates)
    discovery = "\n".join(classic_probe.section("discovery"))
    assert re.search(r"listings       [1-9]\d* listing pages read", discovery)
    assert "next page" in discovery
    assert "verdict: a crawl would pass its coverage check" in classic_probe.out


def test_the_second_portal_s_warc_loads_as_fixtures(classic_probe: Probe) -> None:
    assert_fixtures_parse_as_the_portal_shows(classic_probe, CLASSIC_EN)


# --- a deployment's profile: found by the portal's address, its delay kept --------------------


def test_a_portal_with_a_profile_is_probed_with_it_at_its_delay(tmp_path: Path) -> None:
    config = ReplicaConfig(portal="classic-vi", record_timing=True)
    delay = 0.4
    with ReplicaServer(config) as server:
        profiles = tmp_path / "profiles"
        profiles.mkdir()
        (profiles / "quan-test.toml").write_text(
            f'name = "quan-test"\nbase_url = "{server.url}"\ntimezone = "UTC"\n'
            f'default_locale = "vi-VN"\ndownload_delay = {delay}\n',
            encoding="utf-8",
        )
        run = probe(
            server.url,
            tmp_path / "probe",
            "--pages",
            "4",
            settings={name: value for name, value in QUICK.items() if name != "DOWNLOAD_DELAY"},
            env={"HEPZA_SITE_PROFILES_DIR": str(profiles)},
        )
        timings = list(server.timings)
    assert run.result.returncode == 0, run.result.stderr[-3000:]
    first = run.out.splitlines()[0]
    assert "(site quan-test, profile quan-test; DOWNLOAD_DELAY 0.4 s" in first
    assert len(run.articles()) == 4
    # Scrapy spaces requests by 0.5 to 1.5 times the delay; without it, all would arrive in
    # well under a second
    assert len(timings) > 10
    assert max_in_window(timings, 1.0) <= allowed_in_window(1.0, delay / 2, 0.35)


# --- portals that cannot be probed: one line, exit 2 ------------------------------------------


class PlainSite(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><head><title>WordPress</title></head><body><a href='/a'>a</a></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def plain_site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), PlainSite)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_a_site_that_is_not_liferay_is_one_line_and_exit_2(plain_site: str, tmp_path: Path) -> None:
    run = probe(plain_site, tmp_path)
    assert run.result.returncode == 2, run.result.stderr[-2000:]
    (line,) = run.result.stderr.splitlines()
    assert line.startswith("scrapy probe: error: ")
    assert "is not a Liferay portal" in line and plain_site in line
    assert run.out == ""


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_site_is_one_line_and_exit_2(tmp_path: Path) -> None:
    address = f"127.0.0.1:{closed_port()}"
    run = probe(f"http://{address}", tmp_path)
    assert run.result.returncode == 2, run.result.stderr[-2000:]
    (line,) = run.result.stderr.splitlines()
    assert line.startswith(f"scrapy probe: error: the site {address} could not be reached: ")
    assert "Connection refused" in line
    assert run.out == ""
