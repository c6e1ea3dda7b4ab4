"""Errors for people: a bad argument or setting is one line naming the value and what is
expected (exit status 2), a refused database or an unreachable site is a failed run with one
clear reason (exit status 1). Each through a real ``scrapy crawl hepza`` subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import date
from typing import TYPE_CHECKING

import pytest

from crawler.setup.config import ConfigError, SpiderArguments, parse_spider_args
from crawler.spiders.hepza import HepzaSpider
from tests.crawl_runner import FAST_SETTINGS, PROJECT_ROOT

if TYPE_CHECKING:
    from pathlib import Path

REFUSED_PASSWORD = "secret-pw-4711"


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrapy_crawl(
    tmp_path: Path,
    *,
    spider_args: dict[str, str | None] | None = None,
    settings: dict[str, str] | None = None,
    extra: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    timeout: float = 120,
    spider: str = "hepza",
) -> subprocess.CompletedProcess[str]:
    """``scrapy crawl SPIDER`` with every output place in tmp_path unless a test says
    otherwise."""
    merged = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'hepza.sqlite3'}",
        "REPORTS_DIR": str(tmp_path / "reports"),
        "REJECTS_PATH": str(tmp_path / "rejects.jsonl"),
        "ARCHIVE_DIR": str(tmp_path / "archive"),
        "FEEDS": "{}",
        **(settings or {}),
    }
    args = {"base_url": f"http://127.0.0.1:{closed_port()}", **(spider_args or {})}
    cmd = [sys.executable, "-m", "scrapy", "crawl", spider]
    for name, value in args.items():
        if value is not None:  # None: the argument left out
            cmd += ["-a", f"{name}={value}"]
    for name, value in merged.items():
        cmd += ["-s", f"{name}={value}"]
    return subprocess.run(
        [*cmd, *extra],
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str], spider: str = "hepza") -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout
    assert lines[0].startswith(f"scrapy crawl {spider}: error: ")
    return lines[0]


# --- bad usage: exit status 2, one line naming the value ------------------------------------

BAD_SPIDER_ARGUMENTS = [
    pytest.param({"since": "garbage"}, "since='garbage'", "YYYY-MM-DD", id="since-garbage"),
    pytest.param({"since": "2025-02-30"}, "since='2025-02-30'", "YYYY-MM-DD", id="since-no-day"),
    pytest.param({"since": "20250131"}, "since='20250131'", "YYYY-MM-DD", id="since-compact"),
    pytest.param({"full": "maybe"}, "full='maybe'", "1/0, true/false or yes/no", id="full"),
    pytest.param(
        {"bogus": "1"},
        "unknown spider argument 'bogus'",
        "(known: base_url, full, since)",
        id="unknown",
    ),
    pytest.param({"base_url": "ftp://example.org"}, "ftp://example.org", "http(s)://", id="ftp"),
    pytest.param({"base_url": "http://"}, "base_url='http://'", "http(s)://host", id="no-host"),
    pytest.param(
        {"base_url": "http://127.0.0.1:port"}, "127.0.0.1:port", "http(s)://", id="bad-port"
    ),
    pytest.param(
        {"base_url": "http://127.0.0.1:8080/some/path"},
        "base_url='http://127.0.0.1:8080/some/path' has a path",
        "the site profile field group",
        id="path",
    ),
    pytest.param({"base_url": "http://127.0.0.1:8080/?p=1"}, "has a query", "group", id="query"),
]


@pytest.mark.parametrize(("args", "named", "expected"), BAD_SPIDER_ARGUMENTS)
def test_bad_spider_argument_is_one_line_and_exit_2(
    tmp_path: Path, args: dict[str, str], named: str, expected: str
) -> None:
    result = scrapy_crawl(tmp_path, spider_args=args)
    line = one_line(result)
    assert result.returncode == 2
    assert named in line and expected in line


BAD_SETTINGS = [
    pytest.param({"DATABASE_URL": "garbage://"}, "'garbage'", "sqlite:///", id="db-backend"),
    pytest.param({"DATABASE_URL": "not a url"}, "'not a url'", "postgresql+psycopg://", id="db"),
    pytest.param(
        {"DATABASE_URL": "postgresql+nosuchdriver://u:pw-1234@127.0.0.1/db"},
        "postgresql+nosuchdriver",
        "",
        id="db-driver",
    ),
    pytest.param({"SITE_TIMEZONE": "Mars/Olympus"}, "'Mars/Olympus'", "IANA", id="timezone"),
    pytest.param({"RECHECK_RECENT": "many"}, "RECHECK_RECENT='many'", "whole number", id="int"),
    pytest.param({"MAX_ERROR_RATE": "2"}, "MAX_ERROR_RATE='2'", "from 0 to 1", id="range"),
    pytest.param({"DOWNLOAD_DELAY": "1s"}, "DOWNLOAD_DELAY='1s'", "a number", id="float"),
    pytest.param({"MAX_LINK_DEPTH": "x"}, "MAX_LINK_DEPTH='x'", "whole number", id="limit"),
    pytest.param({"KEEP_FEEDS": "-1"}, "KEEP_FEEDS='-1'", "at least 0", id="retention"),
    pytest.param(
        {"DATABASE_URL": "postgresql://u:pw-1234@host:abc/db"},
        "DATABASE_URL='postgresql://u:***@host:abc/db'",
        "port is not a number",
        id="db-port",
    ),
]


@pytest.mark.parametrize(("settings", "named", "expected"), BAD_SETTINGS)
def test_bad_setting_is_one_line_and_exit_2(
    tmp_path: Path, settings: dict[str, str], named: str, expected: str
) -> None:
    result = scrapy_crawl(tmp_path, settings=settings)
    line = one_line(result)
    assert result.returncode == 2
    assert named in line and expected in line
    assert "pw-1234" not in result.stderr


# One value of each kind of setting (the checks are table-driven by type, crawler/setup/config.py):
# project and Scrapy numbers, Scrapy's yes/no words, log levels, JSON objects, components, HTTP
# statuses, and a setting checked by the type of its Scrapy default alone.
BAD_SETTING_VALUES = [
    pytest.param("COVERAGE_THRESHOLDS", "notjson", "JSON object", id="json"),
    pytest.param("COVERAGE_THRESHOLDS", '{"title": 2}', "a share from 0 to 1", id="share"),
    pytest.param("COVERAGE_THRESHOLDS", '{"titel": 0.5}', "'titel'", id="share-field"),
    pytest.param("LOG_LEVEL", "LOUD", "not a log level", id="log-level"),
    pytest.param("AUTOTHROTTLE_ENABLED", "maybe", "yes/no", id="bool"),
    pytest.param("ROBOTSTXT_OBEY", "yes", "1/0, True/False or true/false", id="bool-word"),
    pytest.param("CONCURRENT_REQUESTS", "0", "at least 1", id="concurrency"),
    pytest.param("CLOSESPIDER_TIMEOUT", "soon", "a number", id="closespider"),
    pytest.param("DEPTH_LIMIT", "-1", "at least 0", id="depth"),
    pytest.param("AUTOTHROTTLE_TARGET_CONCURRENCY", "0", "out of range", id="autothrottle"),
    pytest.param("RETRY_HTTP_CODES", "500,abc", "HTTP statuses", id="status-list"),
    pytest.param(
        "ITEM_PIPELINES",
        '{"pipelines.text.TextNormalizationPipeline": "first"}',
        "expected a number, or null",
        id="components",
    ),
    pytest.param("METAREFRESH_MAXDELAY", "long", "a number", id="scrapy-default-type"),
]


@pytest.mark.parametrize(("name", "value", "expected"), BAD_SETTING_VALUES)
def test_a_bad_value_of_each_kind_of_setting_is_one_line_exit_2_before_the_crawl(
    tmp_path: Path, name: str, value: str, expected: str
) -> None:
    log = tmp_path / "crawl.log"
    result = scrapy_crawl(tmp_path, settings={"LOG_FILE": str(log), name: value})
    line = one_line(result)
    assert result.returncode == 2
    assert line.startswith(f"scrapy crawl hepza: error: {name}")
    assert expected in line
    # Stopped before Scrapy started: the log holds the error line alone (no crawler, engine
    # or request line).
    assert len(log.read_text(encoding="utf-8").splitlines()) == 1


def test_an_unknown_spider_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = scrapy_crawl(tmp_path, spider="nosuchspider", spider_args={"base_url": None})
    line = one_line(result, spider="nosuchspider")
    assert result.returncode == 2
    assert "no spider named 'nosuchspider' (known: hepza, liferay" in line


def test_bad_base_url_from_the_environment_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = scrapy_crawl(
        tmp_path,
        spider_args={"base_url": None},
        env={"HEPZA_BASE_URL": "hepza.example"},
    )
    line = one_line(result)
    assert result.returncode == 2
    assert "HEPZA_BASE_URL='hepza.example'" in line


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        pytest.param("HEPZA_CONCURRENCY", "lots", "whole number", id="number"),
        pytest.param("HEPZA_LOG_LEVEL", "chatty", "log level", id="log-level"),
        pytest.param("HEPZA_SITE_TIMEZONE", "Mars/Olympus", "IANA", id="timezone"),
    ],
)
def test_bad_value_in_the_environment_is_named_by_its_variable(
    tmp_path: Path, env: str, value: str, expected: str
) -> None:
    result = scrapy_crawl(tmp_path, env={env: value})
    line = one_line(result)
    assert result.returncode == 2
    # The name the operator set, not the setting it feeds (CONCURRENT_REQUESTS_PER_DOMAIN...).
    assert line.startswith(f"scrapy crawl hepza: error: {env}={value!r}")
    assert expected in line


UNWRITABLE_PLACES = [
    pytest.param("DATABASE_URL", "sqlite:///{blocked}/db/hepza.sqlite3", id="sqlite"),
    pytest.param("REPORTS_DIR", "{blocked}/reports", id="reports"),
    pytest.param("REJECTS_PATH", "{blocked}/rejects/rejects.jsonl", id="rejects"),
    pytest.param("LOG_FILE", "{blocked}/logs/crawl.log", id="log"),
    pytest.param("JOBDIR", "{blocked}/jobs/hepza", id="jobdir"),
    pytest.param(
        "FEEDS", '{{"{blocked}/feeds/%(time)s.jsonl": {{"format": "jsonlines"}}}}', id="feeds"
    ),
]


@pytest.mark.parametrize(("setting", "template"), UNWRITABLE_PLACES)
def test_an_output_place_that_cannot_be_created_is_one_line_and_exit_2(
    tmp_path: Path, setting: str, template: str
) -> None:
    # A file where a directory must go: no directory can be made there, even by root.
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    result = scrapy_crawl(tmp_path, settings={setting: template.format(blocked=blocked)})
    line = one_line(result)
    assert result.returncode == 2
    assert str(blocked) in line and "cannot be created" in line


def test_overwrite_feed_in_an_unwritable_place_is_one_line_and_exit_2(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    result = scrapy_crawl(tmp_path, extra=("-O", f"{blocked}/all.jsonl"))
    line = one_line(result)
    assert result.returncode == 2
    assert f"the directory of the feed {blocked}/all.jsonl" in line


def test_the_error_line_also_goes_to_the_log_file(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "crawl.log"
    result = scrapy_crawl(
        tmp_path, spider_args={"since": "garbage"}, settings={"LOG_FILE": str(log)}
    )
    line = one_line(result)
    assert result.returncode == 2
    (logged,) = log.read_text(encoding="utf-8").splitlines()
    assert logged.endswith(f"ERROR: {line.removeprefix('scrapy crawl hepza: error: ')}")


def test_the_traceback_is_shown_at_debug_level_only(tmp_path: Path) -> None:
    result = scrapy_crawl(
        tmp_path, spider_args={"since": "garbage"}, settings={"LOG_LEVEL": "DEBUG"}
    )
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("scrapy crawl hepza: error: since='garbage'")


# --- failed runs: exit status 1, one reason -------------------------------------------------


def test_refused_database_is_one_line_exit_1_without_the_password(tmp_path: Path) -> None:
    port = closed_port()
    url = f"postgresql+psycopg://u:{REFUSED_PASSWORD}@127.0.0.1:{port}/db"
    result = scrapy_crawl(tmp_path, settings={"DATABASE_URL": url})
    line = one_line(result)
    assert result.returncode == 1
    assert f"postgresql+psycopg://u:***@127.0.0.1:{port}/db cannot be reached" in line
    assert "refused" in line.lower()
    assert REFUSED_PASSWORD not in result.stderr + result.stdout


def test_unreachable_site_fails_the_run_naming_host_and_reason(tmp_path: Path) -> None:
    port = closed_port()
    # Every output place in a directory that does not exist yet: the run creates it.
    out = tmp_path / "missing" / "output"
    settings = {
        **FAST_SETTINGS,
        "RETRY_TIMES": "0",
        "DATABASE_URL": f"sqlite:///{out / 'hepza.sqlite3'}",
        "REPORTS_DIR": str(out / "reports"),
        "REJECTS_PATH": str(out / "rejects.jsonl"),
        "ARCHIVE_DIR": str(out / "archive"),
        "LOG_FILE": str(out / "logs" / "crawl.log"),
        "FEEDS": json.dumps({f"{out}/feeds/hepza-%(time)s.jsonl": {"format": "jsonlines"}}),
    }
    result = scrapy_crawl(
        tmp_path, spider_args={"base_url": f"http://127.0.0.1:{port}"}, settings=settings
    )
    assert result.returncode == 1, result.stderr[-3000:]
    log = (out / "logs" / "crawl.log").read_text(encoding="utf-8")
    reason = f"the site 127.0.0.1:{port} could not be reached: Connection was refused"
    assert f"run failed (site_unreachable): {reason}" in log
    assert (out / "reports" / "latest.json").is_file()
    assert list((out / "feeds").glob("hepza-*.jsonl"))


# --- one owner of the arguments: the spider parses them as the preflight does --------------


@pytest.mark.parametrize(("args", "named", "expected"), BAD_SPIDER_ARGUMENTS)
def test_the_spider_refuses_what_the_preflight_refuses(
    args: dict[str, str], named: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as preflight:
        parse_spider_args(args, HepzaSpider.arguments)
    with pytest.raises(ConfigError) as spider:
        HepzaSpider(**args)
    assert str(spider.value) == str(preflight.value)
    assert named in str(spider.value) and expected in str(spider.value)


def test_good_spider_arguments_parse_to_their_values() -> None:
    parsed = parse_spider_args(
        {"base_url": "http://127.0.0.1:8080/", "full": "Yes", "since": "2025-01-31"}
    )
    assert parsed == SpiderArguments(
        base_url="http://127.0.0.1:8080", full=True, since=date(2025, 1, 31)
    )
    spider = HepzaSpider(full="0", since="2025-01-31")
    assert (spider.full, str(spider.since)) == (False, "2025-01-31")
