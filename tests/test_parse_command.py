"""``scrapy parse URL`` against the replica: the spider is found from the URL's site (a
profile's host, or ``-a base_url=`` with the generic spider), the item is printed; a URL no
spider crawls is one line and exit status 2; a page that gives nothing is exit status 1."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from crawler.sites.loader import on_site_host
from tests.crawl_runner import FAST_SETTINGS, run_scrapy
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig, ReplicaSite

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterator
    from pathlib import Path
    from typing import Any

QUIET = ["--nocolour", "-s", "LOG_LEVEL=WARNING"]
for _name in ("DOWNLOAD_DELAY", "AUTOTHROTTLE_ENABLED"):
    QUIET += ["-s", f"{_name}={FAST_SETTINGS[_name]}"]


@pytest.fixture(scope="module")
def replica() -> Iterator[tuple[str, dict[str, Any]]]:
    """The replica's URL and its first article (as the replica's truth states it)."""
    config = ReplicaConfig()
    article = ReplicaSite(config).truth()["articles"][0]
    with ReplicaServer(config) as server:
        yield server.url, article


def scrapy_parse(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_scrapy(tmp_path, "parse", *args, *QUIET, env=env)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("scrapy parse: error: ")
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


def assert_printed_the_article(result: subprocess.CompletedProcess[str], article: Any) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    assert "# Scraped Items" in result.stdout
    # Fields the spider extracts (dates are normalized by the pipelines, not run here).
    assert f"'author': '{article['author']}'" in result.stdout
    assert f"'category': '{article['category']}'" in result.stdout


def test_the_named_spider_parses_an_article_of_a_copy_of_its_site(
    tmp_path: Path, replica: tuple[str, dict[str, Any]]
) -> None:
    base, article = replica
    url = base + article["canonical_path"]
    result = scrapy_parse(tmp_path, "--spider", "hepza", "-a", f"base_url={base}", url)
    assert_printed_the_article(result, article)
    assert "'site': 'hepza'" in result.stdout


def test_a_base_url_alone_parses_with_the_generic_spider(
    tmp_path: Path, replica: tuple[str, dict[str, Any]]
) -> None:
    base, article = replica
    result = scrapy_parse(tmp_path, base + article["canonical_path"], "-a", f"base_url={base}")
    assert_printed_the_article(result, article)
    port = base.rsplit(":", 1)[1]
    assert f"'site': '127-0-0-1-{port}'" in result.stdout


def test_the_spider_is_found_from_the_host_of_a_site_profile(
    tmp_path: Path, replica: tuple[str, dict[str, Any]]
) -> None:
    base, article = replica
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "mirror.toml").write_text(f'name = "mirror"\nbase_url = "{base}"\n')
    result = scrapy_parse(
        tmp_path, base + article["canonical_path"], "-s", f"SITE_PROFILES_DIR={profiles}"
    )
    assert_printed_the_article(result, article)
    assert "'site': 'mirror'" in result.stdout


def test_the_hepza_spider_is_found_from_its_deployment_base_url(
    tmp_path: Path, replica: tuple[str, dict[str, Any]]
) -> None:
    base, article = replica
    result = scrapy_parse(tmp_path, base + article["canonical_path"], env={"HEPZA_BASE_URL": base})
    assert_printed_the_article(result, article)
    assert "'site': 'hepza'" in result.stdout


def test_a_url_no_spider_crawls_is_one_line_exit_2(
    tmp_path: Path, replica: tuple[str, dict[str, Any]]
) -> None:
    base, article = replica
    result = scrapy_parse(tmp_path, base + article["canonical_path"])
    line = one_error_line(result)
    assert result.returncode == 2
    assert "no site profile crawls the host" in line
    assert f"-a base_url={base}" in line


def test_a_url_outside_the_named_spiders_site_is_one_line_exit_2_saying_what_to_add(
    tmp_path: Path, replica: tuple[str, dict[str, Any]]
) -> None:
    base, article = replica
    result = scrapy_parse(tmp_path, "--spider", "hepza", base + article["canonical_path"])
    line = one_error_line(result)
    assert result.returncode == 2
    assert (
        "is not on the site the spider 'hepza' crawls (https://hepza.hochiminhcity.gov.vn)" in line
    )
    assert line.endswith(f"add -a base_url={base}")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(("--spider", "nosuch", "{url}"), "no spider named 'nosuch'", id="spider"),
        pytest.param(("not-a-url",), "give one URL to parse", id="url"),
        pytest.param(
            ("{url}", "-a", "base_url={base}", "-a", "bogus=1"),
            "unknown spider argument 'bogus'",
            id="argument",
        ),
        pytest.param(("{url}", "-s", "LOG_LEVEL=LOUD"), "LOG_LEVEL='LOUD'", id="setting"),
        pytest.param(
            ("{url}", "-a", "base_url={base}", "-s", "FEEDS=notjson"),
            "FEEDS='notjson' is not a JSON object",
            id="json-setting",
        ),
    ],
)
def test_bad_usage_is_one_line_exit_2(
    tmp_path: Path, replica: tuple[str, dict[str, Any]], args: tuple[str, ...], expected: str
) -> None:
    base, article = replica
    url = base + article["canonical_path"]
    result = scrapy_parse(tmp_path, *(arg.format(url=url, base=base) for arg in args))
    line = one_error_line(result)
    assert result.returncode == 2
    assert expected in line


def test_a_page_not_downloaded_exits_1_saying_why(
    tmp_path: Path, replica: tuple[str, dict[str, Any]]
) -> None:
    base, _ = replica
    result = scrapy_parse(tmp_path, f"{base}/w/no-such-article", "-a", f"base_url={base}")
    assert result.returncode == 1
    assert (
        f"scrapy parse: error: no response downloaded for {base}/w/no-such-article (HTTP 404)"
        in result.stderr.splitlines()
    )


def test_a_page_that_gives_nothing_exits_1(
    tmp_path: Path, replica: tuple[str, dict[str, Any]]
) -> None:
    base, _ = replica
    # Not HTML: the spider's callback yields neither an item nor a request.
    result = scrapy_parse(tmp_path, f"{base}/robots.txt", "-a", f"base_url={base}")
    assert result.returncode == 1, result.stderr[-3000:]
    assert (
        f"scrapy parse: error: nothing parsed from {base}/robots.txt: the page gave no item "
        "and no request" in result.stderr.splitlines()
    )


@pytest.mark.parametrize(
    ("url", "base_url", "on_host"),
    [
        ("https://hepza.example.vn/w/a", "https://hepza.example.vn", True),
        ("http://HEPZA.example.vn:8080/w/a", "https://hepza.example.vn", True),
        ("https://www.hepza.example.vn/w/a", "https://hepza.example.vn", True),
        ("https://xhepza.example.vn/w/a", "https://hepza.example.vn", False),
        ("http://127.0.0.1:8000/w/a", "http://127.0.0.1:8000", True),
        ("http://127.0.0.1:8001/w/a", "http://127.0.0.1:8000", False),
        ("http://127.0.0.1:port/w/a", "http://127.0.0.1:8000", False),
    ],
)
def test_a_spider_handles_the_urls_of_its_sites_host(
    url: str, base_url: str, on_host: bool
) -> None:
    assert on_site_host(url, base_url) is on_host
