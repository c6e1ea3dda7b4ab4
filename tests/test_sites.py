"""Site profiles, the site a run resolves to, the spider per profile, the Liferay check."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from scrapy.settings import Settings
from scrapy.utils.project import get_project_settings

from crawler.parsers.liferay import is_liferay, liferay_markers
from crawler.setup.config import ConfigError, parse_locale, parse_spider_args
from crawler.sites.loader import SiteSpiderLoader
from crawler.sites.profile import (
    ProfileError,
    find_profile,
    load_profile,
    load_profiles,
    profile_from_dict,
)
from crawler.sites.resolve import apply_site_settings, resolve_site, site_name_of
from tests.crawl_runner import PROJECT_ROOT

if TYPE_CHECKING:
    from collections.abc import Iterator

BASE = {"name": "quan-1", "base_url": "https://quan1.hochiminhcity.gov.vn"}


def scrapy(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scrapy", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


# --- profiles ----------------------------------------------------------------------------------


def test_the_hepza_profile_carries_what_the_generic_layers_cannot_know() -> None:
    hepza = find_profile("hepza")
    assert hepza.base_url == "https://hepza.hochiminhcity.gov.vn"
    assert (hepza.default_locale, hepza.timezone) == ("vi-VN", "Asia/Ho_Chi_Minh")
    assert hepza.parser.selectors_for("navigation") == ("section.hmenu a[href]",)
    assert "Bài viết liên quan" in hepza.parser.labels_for("related")
    assert hepza.coverage["author"] == 0.6


def test_a_profile_in_a_few_lines_gets_the_generic_defaults() -> None:
    profile = profile_from_dict(BASE)
    assert profile.locales == ("vi-VN",)
    assert profile.timezone == "Asia/Ho_Chi_Minh"
    assert profile.group is None
    assert profile.parser.selectors_for("title") == ()


BAD_FIELDS = [
    ({"timezone": "Mars/Olympus"}, "timezone = 'Mars/Olympus': expected an IANA time zone"),
    ({"default_locale": "vietnamese"}, "default_locale = 'vietnamese': expected a locale"),
    ({"locales": ["vi-VN", "EN"]}, "locales = 'EN': expected a locale of the form xx-YY"),
    ({"name": "Quận 1"}, "name = 'Quận 1': expected a slug"),
    ({"base_url": "quan1.gov.vn"}, "base_url = 'quan1.gov.vn': expected http(s)://host[:port]"),
    ({"base_url": "https://x.vn/web/q1"}, "expected a URL without a path (use group)"),
    ({"group": "a/b"}, "group = 'a/b': expected a Liferay site group name"),
    ({"concurrency": 0}, "concurrency = 0: expected a whole number of at least 1"),
    ({"download_delay": "1s"}, "download_delay = '1s': expected a number of at least 0"),
    ({"coverage": {"title": 2}}, "coverage.title = 2: expected a share from 0 to 1"),
    ({"coverage": {"summary": 0.5}}, "coverage.summary = 0.5: expected a key among"),
    ({"selectors": {"headline": ["h1"]}}, "selectors.headline = ['h1']: expected a key among"),
    ({"selectors": {"title": []}}, "selectors.title = []: expected a non-empty string"),
    ({"labels": {"related": 3}}, "labels.related = 3: expected a non-empty string"),
    ({"colour": "blue"}, "colour = 'blue': expected a field among"),
    (
        {"versions": [{"since": date(2024, 1, 1), "until": date(2023, 1, 1)}]},
        "versions[0].until = datetime.date(2023, 1, 1): expected a day after since",
    ),
    ({"versions": [{"since": "2023"}]}, "versions[0].since = '2023': expected a TOML date"),
]


@pytest.mark.parametrize(("fields", "message"), BAD_FIELDS)
def test_a_wrong_profile_field_names_the_field_the_value_and_what_is_expected(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ProfileError, match=r"^profile x\.toml: ") as raised:
        profile_from_dict({**BASE, **fields}, "x.toml")
    assert message in str(raised.value)


def test_a_profile_file_must_be_named_after_its_site(tmp_path: Path) -> None:
    path = tmp_path / "quan-3.toml"
    path.write_text('name = "quan-1"\nbase_url = "https://q1.example.vn"\n', encoding="utf-8")
    with pytest.raises(ProfileError, match="expected the file's own name, 'quan-3'"):
        load_profile(path)


def test_a_profile_file_that_is_not_toml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "q.toml"
    path.write_text("name = \n", encoding="utf-8")
    with pytest.raises(ProfileError, match=r"^profile q\.toml: not valid TOML"):
        load_profile(path)


def test_an_unknown_site_lists_the_profiles() -> None:
    with pytest.raises(ConfigError, match=r"site='nope' is not a known site profile: .*hepza"):
        find_profile("nope")


def test_parser_versions_apply_by_publication_day() -> None:
    profile = profile_from_dict(
        {
            **BASE,
            "selectors": {"title": ["h1.title"]},
            "versions": [
                {"name": "2019 theme", "until": date(2022, 6, 1), "selectors": {"title": ["h2.t"]}},
                {"name": "2022 theme", "since": date(2022, 6, 1), "labels": {"related": "Xem"}},
            ],
        }
    )
    assert profile.parser_config(date(2021, 1, 1)).selectors_for("title") == ("h2.t", "h1.title")
    assert profile.parser_config(date(2023, 1, 1)).selectors_for("title") == ("h1.title",)
    assert profile.parser_config(date(2023, 1, 1)).labels_for("related") == ("Xem",)
    # unknown day: today's layout, the open-ended version
    assert profile.parser_config(None).labels_for("related") == ("Xem",)


# --- the site a run resolves to -----------------------------------------------------------------


def settings(**values: Any) -> Settings:
    base = get_project_settings()
    for name, value in values.items():
        base.set(name, value, priority="cmdline")
    return base


def test_a_portal_without_profile_is_crawled_from_its_arguments(monkeypatch) -> None:
    monkeypatch.delenv("HEPZA_SITE_TIMEZONE", raising=False)
    args = parse_spider_args(
        {"base_url": "http://127.0.0.1:8000", "timezone": "UTC", "default_locale": "en_US"},
        {"base_url": "", "timezone": "", "default_locale": ""},
    )
    site = resolve_site(args, settings())
    assert (site.name, site.base_url) == ("127-0-0-1-8000", "http://127.0.0.1:8000")
    assert (site.timezone, site.default_locale) == ("UTC", "en-US")


def test_arguments_win_over_settings_which_win_over_the_profile(monkeypatch) -> None:
    monkeypatch.delenv("HEPZA_SITE_TIMEZONE", raising=False)
    plain = parse_spider_args({}, {})
    assert resolve_site(plain, settings(), "hepza").timezone == "Asia/Ho_Chi_Minh"
    assert resolve_site(plain, settings(SITE_TIMEZONE="UTC"), "hepza").timezone == "UTC"
    given = parse_spider_args({"timezone": "Asia/Bangkok"}, {"timezone": ""})
    assert resolve_site(given, settings(SITE_TIMEZONE="UTC"), "hepza").timezone == "Asia/Bangkok"


def test_the_site_settings_reach_the_pipelines_but_explicit_values_stay(monkeypatch) -> None:
    for env in ("HEPZA_CONCURRENCY", "HEPZA_DOWNLOAD_DELAY"):
        monkeypatch.delenv(env, raising=False)
    profile = profile_from_dict({**BASE, "concurrency": 4, "download_delay": 3, "timezone": "UTC"})
    crawl = settings(DOWNLOAD_DELAY=0)
    apply_site_settings(crawl, profile)
    assert crawl.get("SITE_NAME") == "quan-1"
    assert crawl.get("SITE_TIMEZONE") == "UTC"
    assert crawl.getint("CONCURRENT_REQUESTS_PER_DOMAIN") == 4
    assert crawl.getfloat("DOWNLOAD_DELAY") == 0


def test_liferay_without_base_url_or_site_is_bad_usage() -> None:
    with pytest.raises(ConfigError, match="base_url is required without a site profile"):
        resolve_site(parse_spider_args({}, {}), settings())


@pytest.mark.parametrize("value", ["vi", "english", "vi-VNM", "1-2"])
def test_a_locale_that_is_not_xx_yy_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match=f"default_locale={value!r} is not a locale"):
        parse_locale(value)


def test_site_names_of_hosts() -> None:
    assert site_name_of("https://Sở-TTTT.hochiminhcity.gov.vn") == "s-tttt-hochiminhcity-gov-vn"
    assert site_name_of("http://127.0.0.1:8000") == "127-0-0-1-8000"
    assert site_name_of("https://x.gov.vn:443") == "x-gov-vn"


# --- the spiders --------------------------------------------------------------------------------


def test_scrapy_list_lists_the_generic_spider_and_every_profile(tmp_path: Path) -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "scrapy", "list"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert listed == sorted(["liferay", *load_profiles()])


def test_a_profile_without_a_spider_class_gets_one(monkeypatch) -> None:
    extra = profile_from_dict(BASE)
    monkeypatch.setattr(
        "crawler.sites.loader.load_profiles", lambda *_: {**load_profiles(), "quan-1": extra}
    )
    loader = SiteSpiderLoader(get_project_settings())
    spider = loader.load("quan-1")
    assert spider.profile_name == "quan-1"  # type: ignore[attr-defined]
    assert issubclass(spider, loader.load("liferay"))
    assert loader.load("hepza").profile_name == "hepza"  # type: ignore[attr-defined]


# --- is it Liferay? -----------------------------------------------------------------------------


def test_a_liferay_page_shows_its_markers() -> None:
    page = (Path(__file__).parent / "fixtures" / "pages" / "home-vi.html").read_text("utf-8")
    assert is_liferay(page)
    assert len(liferay_markers(page)) >= 3


def test_a_plain_site_is_not_liferay() -> None:
    page = "<html><body><nav><a href='/news'>News</a></nav><p>Hello</p></body></html>"
    assert liferay_markers(page) == []
    assert not is_liferay(page)


class PlainSite(BaseHTTPRequestHandler):
    requested: list[str] = []  # noqa: RUF012

    def do_GET(self) -> None:
        PlainSite.requested.append(self.path)
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
    PlainSite.requested = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.mark.e2e
def test_a_site_that_is_not_liferay_is_one_line_and_exit_2(plain_site: str, tmp_path: Path) -> None:
    result = scrapy(
        "crawl",
        "liferay",
        "-a",
        f"base_url={plain_site}",
        "-s",
        f"OUTPUT_DIR={tmp_path}",
        "-s",
        f"LOG_FILE={tmp_path / 'crawl.log'}",
    )
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "is not a Liferay portal" in lines[0] and plain_site in lines[0]
    assert "Traceback" not in result.stderr
    # nothing but robots.txt and the home page was asked for
    assert set(PlainSite.requested) <= {"/robots.txt", "/"}


# --- a deployment's own profiles (SITE_PROFILES_DIR) ---------------------------------------------


def test_a_deployment_profile_gets_its_own_spider(tmp_path: Path) -> None:
    (tmp_path / "quan-1.toml").write_text(
        'name = "quan-1"\nbase_url = "https://quan1.hochiminhcity.gov.vn"\n', encoding="utf-8"
    )
    listed = scrapy("list", env={"HEPZA_SITE_PROFILES_DIR": str(tmp_path)}).stdout.split()
    assert listed == ["hepza", "liferay", "quan-1"]


@pytest.mark.e2e
def test_a_wrong_profile_field_stops_the_crawl_in_one_line(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "quan-1.toml").write_text(
        'name = "quan-1"\nbase_url = "https://quan1.example.vn"\ntimezone = "Mars/Olympus"\n',
        encoding="utf-8",
    )
    result = scrapy(
        "crawl",
        "hepza",
        "-s",
        f"SITE_PROFILES_DIR={profiles}",
        "-s",
        f"OUTPUT_DIR={tmp_path / 'out'}",
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "scrapy crawl hepza: error: profile quan-1.toml: timezone = 'Mars/Olympus': "
        "expected an IANA time zone, e.g. Asia/Ho_Chi_Minh"
    ]
