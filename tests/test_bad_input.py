"""Bad input through the parser and every pipeline before storage: each case ends with a clear
recorded reason (a problem on the record, or a line in the rejects file), never a crash. Bad
input at the command line (settings, environment, dates, database URLs): one line, exit 2."""

from __future__ import annotations

import ast
import json
import runpy
from pathlib import Path
from typing import Any

import pytest
from scrapy.exceptions import DropItem
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from crawler.domain.items import ArticleItem
from crawler.ops.browse import BrowseError, sqlite_file
from crawler.parsers.article import article_item, parse_article
from crawler.setup.config import (
    ENVIRONMENT_OVERRIDES,
    NUMERIC_SETTINGS,
    ConfigError,
    check_settings,
    setting_checks,
)
from crawler.setup.paths import OUTPUT_PLACES
from pipelines.dates import DateNormalizationPipeline
from pipelines.dedupe import DedupePipeline
from pipelines.fields import ArticleFieldsPipeline
from pipelines.html import BodyHtmlPipeline
from pipelines.storage.store import ArticleStore
from pipelines.text import TextNormalizationPipeline
from pipelines.urls import UrlNormalizationPipeline
from pipelines.validate import ValidationPipeline
from tests.crawl_runner import run_scrapy

URL = "https://hepza.hochiminhcity.gov.vn/w/bai-viet"
BODY = "".join(
    f"<p>Đoạn văn thứ {n} của bài viết, đủ dài để là thân bài thật sự của một tin.</p>"
    for n in range(4)
)


def page(head: str = "", content: str = "", lang: str = "vi-VN") -> str:
    return (
        f'<html lang="{lang}"><head>{head}</head><body><section id="content">'
        f"{content}</section></body></html>"
    )


def run_pipelines(html: str, rejects: Path) -> tuple[ArticleItem | None, list[dict[str, Any]]]:
    crawler = get_crawler(settings_dict={"REJECTS_PATH": str(rejects)})
    item: Any = article_item(parse_article(html, URL), URL)
    stages = [
        TextNormalizationPipeline,
        ArticleFieldsPipeline,
        UrlNormalizationPipeline,
        DateNormalizationPipeline,
        BodyHtmlPipeline,
        ValidationPipeline,
        DedupePipeline,
    ]
    pipelines = [cls.from_crawler(crawler) for cls in stages]  # type: ignore[attr-defined]
    try:
        for pipeline in pipelines:
            item = pipeline.process_item(item)
    except DropItem:
        item = None
    finally:
        for pipeline in pipelines:
            if hasattr(pipeline, "close_spider"):
                pipeline.close_spider()
    lines = rejects.read_text("utf-8").splitlines() if rejects.exists() else []
    return item, [json.loads(line) for line in lines]


def codes(reject: dict[str, Any]) -> set[str]:
    return {r["code"] for r in reject["reasons"]}


def test_a_good_page_passes(tmp_path: Path) -> None:
    item, rejects = run_pipelines(
        page(content=f"<h1 class='component-heading'>Tiêu đề</h1><p>17:48 18/01/2023</p>{BODY}"),
        tmp_path / "rejects.jsonl",
    )
    assert rejects == []
    assert item is not None and item.published_at == "2023-01-18T17:48:00+07:00"


@pytest.mark.parametrize(
    "html",
    [
        "<html><body><div><p>unclosed <b>tags <p>everywhere",
        "\x00\x01\x02 not html at all \xff",
        "",
        "<html><head><title>x</title></head></html>",
    ],
)
def test_malformed_html_is_rejected_with_reasons(tmp_path: Path, html: str) -> None:
    item, rejects = run_pipelines(html, tmp_path / "rejects.jsonl")
    assert item is None
    assert len(rejects) == 1
    assert {"not_article", "missing_body_text"} <= codes(rejects[0])


def test_missing_date_is_rejected_with_its_reason(tmp_path: Path) -> None:
    item, rejects = run_pipelines(
        page(content=f"<h1 class='component-heading'>Tiêu đề</h1>{BODY}"),
        tmp_path / "rejects.jsonl",
    )
    assert item is None
    assert "missing_published_at" in codes(rejects[0])


def test_unknown_date_format_is_rejected_never_guessed(tmp_path: Path) -> None:
    item, rejects = run_pipelines(
        page(
            head='<meta property="article:published_time" content="sometime in 2023">',
            content=f"<h1 class='component-heading'>Tiêu đề</h1><p>32/13/2023</p>{BODY}",
        ),
        tmp_path / "rejects.jsonl",
    )
    assert item is None
    reasons = codes(rejects[0])
    assert "missing_published_at" in reasons
    assert "unparseable_date" in reasons
    assert rejects[0]["record"]["published_at"] is None


def test_ambiguous_date_without_locale_is_null_with_a_problem(tmp_path: Path) -> None:
    item, rejects = run_pipelines(
        page(
            content=f"<h1 class='component-heading'>Tiêu đề</h1><p>03/04/2023</p>{BODY}", lang=""
        ).replace(' lang=""', ""),
        tmp_path / "rejects.jsonl",
    )
    # SITE_DEFAULT_LOCALE (vi-VN) decides a page that states no locale: day first
    assert item is not None and item.published_at == "2023-04-03T00:00:00+07:00"
    assert "published_at_date_only" in {p["code"] for p in item.problems}
    assert rejects == []


def test_page_without_body_is_not_an_article(tmp_path: Path) -> None:
    item, rejects = run_pipelines(
        page(content="<h1 class='component-heading'>Tiêu đề</h1><p>17:48 18/01/2023</p>"),
        tmp_path / "rejects.jsonl",
    )
    assert item is None
    assert "not_article" in codes(rejects[0])


def test_soft_404_is_not_an_article(tmp_path: Path) -> None:
    item, rejects = run_pipelines(
        page(content="<h1>Không tìm thấy</h1><p>The requested resource could not be found.</p>"),
        tmp_path / "rejects.jsonl",
    )
    assert item is None
    assert any("soft_404" in r["message"] for r in rejects[0]["reasons"])


def test_hostile_body_is_sanitized_and_recorded(tmp_path: Path) -> None:
    hostile = (
        "<script>alert(1)</script><style>p{}</style>"
        '<p onclick="steal()">Nhấn <a href="javascript:alert(2)">vào đây</a> để xem.</p>'
        '<iframe src="https://evil.example/"></iframe>'
    )
    item, rejects = run_pipelines(
        page(
            content=(
                "<h1 class='component-heading'>Tiêu đề</h1><p>17:48 18/01/2023</p>"
                f"<div data-lfr-editable-type='rich-text'>{BODY}{hostile}</div>"
            )
        ),
        tmp_path / "rejects.jsonl",
    )
    assert rejects == []
    assert item is not None and item.body_html is not None
    for bad in ("<script", "<style", "onclick", "javascript:", "<iframe"):
        assert bad not in item.body_html
    assert "alert(1)" not in (item.body_text or "")
    assert "body_html_sanitized" in {p["code"] for p in item.problems}


# --- bad input at the command line: settings, environment, dates, database URLs ------------
# Each value is one line naming what the person gave, and exit status 2 (tests/test_errors.py
# runs one value of each kind through a real `scrapy crawl`).

SETTINGS_MODULE = Path(__file__).resolve().parent.parent / "crawler" / "settings.py"


def project_settings(**given: str) -> Settings:
    """The project's settings as `scrapy crawl` starts with them: the settings module read under
    the current environment (project priority), then ``given`` as ``-s`` options."""
    module = runpy.run_path(str(SETTINGS_MODULE))
    settings = Settings()
    settings.setdict({k: v for k, v in module.items() if k.isupper()}, priority="project")
    settings.setdict(given, priority="cmdline")
    return settings


def test_the_projects_own_settings_pass_every_check() -> None:
    check_settings(project_settings())


SETTING_VALUES = [
    pytest.param("COVERAGE_THRESHOLDS", "notjson", "is not a JSON object", id="json"),
    pytest.param("COVERAGE_THRESHOLDS", "[0.5]", "is not a JSON object", id="json-list"),
    pytest.param("COVERAGE_THRESHOLDS", '{"title": 2}', "a share from 0 to 1", id="share-high"),
    pytest.param("COVERAGE_THRESHOLDS", '{"title": -0.1}', "a share from 0 to 1", id="share-low"),
    pytest.param("COVERAGE_THRESHOLDS", '{"title": "0.9"}', "a share from 0 to 1", id="share-str"),
    pytest.param("COVERAGE_THRESHOLDS", '{"title": true}', "a share from 0 to 1", id="share-bool"),
    pytest.param("COVERAGE_THRESHOLDS", '{"summary": 0.5}', "'summary' is not a field", id="field"),
    pytest.param("FEEDS", "notjson", "is not a JSON object", id="feeds"),
    pytest.param("FEEDS", '{"out.jsonl": "jsonlines"}', "expected an object", id="feed-options"),
    pytest.param("ITEM_PIPELINES", '{"a.B": "x"}', "expected a number, or null", id="order"),
    pytest.param("EXTENSIONS", "[]", "is not a JSON object", id="components"),
    pytest.param("LOG_LEVEL", "LOUD", "is not a log level", id="log-level"),
    pytest.param("LOG_LEVEL", "debug", "is not a log level", id="log-level-case"),
    pytest.param("RETRY_GIVE_UP_LOG_LEVEL", "SHOUT", "is not a log level", id="project-level"),
    pytest.param("AUTOTHROTTLE_ENABLED", "maybe", "is not a yes/no value", id="bool"),
    pytest.param("ROBOTSTXT_OBEY", "yes", "is not a yes/no value", id="bool-yes"),
    pytest.param("TELNETCONSOLE_ENABLED", "on", "is not a yes/no value", id="bool-int-default"),
    pytest.param("HTTPCACHE_ENABLED", "sure", "is not a yes/no value", id="bool-scrapy-default"),
    pytest.param("CONCURRENT_REQUESTS", "many", "is not a whole number", id="int"),
    pytest.param("CONCURRENT_REQUESTS", "1.5", "is not a whole number", id="int-fraction"),
    pytest.param("CONCURRENT_ITEMS", "0", "at least 1", id="int-range"),
    pytest.param("DOWNLOAD_DELAY", "nan", "out of range", id="nan"),
    pytest.param("DOWNLOAD_TIMEOUT", "inf", "out of range", id="inf"),
    pytest.param("CLOSESPIDER_ITEMCOUNT", "-5", "at least 0", id="closespider"),
    pytest.param("CLOSESPIDER_TIMEOUT", "1h", "is not a number", id="closespider-float"),
    pytest.param("DEPTH_LIMIT", "deep", "is not a whole number", id="depth"),
    pytest.param("DEPTH_PRIORITY", "first", "is not a whole number", id="negative-allowed"),
    pytest.param("AUTOTHROTTLE_START_DELAY", "-1", "at least 0", id="autothrottle"),
    pytest.param("AUTOTHROTTLE_TARGET_CONCURRENCY", "0", "out of range", id="target"),
    pytest.param("METAREFRESH_MAXDELAY", "long", "is not a number", id="number-scrapy-default"),
    pytest.param("RETRY_HTTP_CODES", "500,abc", "HTTP statuses", id="statuses"),
    pytest.param("RETRY_HTTP_CODES", "500,999", "HTTP statuses", id="status-range"),
    pytest.param("STORAGE_RETRY_SECONDS", "a while", "is not a number", id="storage-retry"),
    pytest.param("SITE_TIMEZONE", "Mars/Olympus", "time zone", id="timezone"),
    pytest.param("SITE_DEFAULT_LOCALE", "vietnamese", "SITE_DEFAULT_LOCALE", id="locale"),
]


@pytest.mark.parametrize(("name", "value", "expected"), SETTING_VALUES)
def test_a_bad_setting_value_is_one_line_naming_the_setting(
    name: str, value: str, expected: str
) -> None:
    # As `-s NAME=VALUE` is checked before Scrapy applies it (crawler.setup.preflight).
    with pytest.raises(ConfigError) as raised:
        setting_checks()[name](name, value)
    message = str(raised.value)
    assert message.startswith(name)
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTOTHROTTLE_ENABLED", "False"),
        ("ROBOTSTXT_OBEY", "0"),
        ("LOG_LEVEL", "WARNING"),
        ("COVERAGE_THRESHOLDS", '{"title": 1, "author": 0}'),
        ("DEPTH_PRIORITY", "-1"),
        ("RETRY_HTTP_CODES", "500, 503"),
        ("FEEDS", "{}"),
        ("ITEM_PIPELINES", '{"pipelines.text.TextNormalizationPipeline": null}'),
    ],
)
def test_a_good_setting_value_passes(name: str, value: str) -> None:
    check_settings(project_settings(**{name: value}))


def _environment_reads(tree: ast.Module) -> dict[str, str]:
    """setting -> the HEPZA_* variable crawler/settings.py reads it from."""
    reads = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
            continue
        for call in ast.walk(node.value):
            if (
                isinstance(call, ast.Call)
                and ast.unparse(call.func) == "os.environ.get"
                and isinstance(call.args[0], ast.Constant)
            ):
                reads[node.targets[0].id] = str(call.args[0].value)
    return reads


def test_every_environment_override_of_the_settings_module_is_known_by_its_name() -> None:
    reads = _environment_reads(ast.parse(SETTINGS_MODULE.read_text(encoding="utf-8")))
    places = {place.setting: place.env for place in OUTPUT_PLACES}
    assert len(reads) > 30
    assert {**reads, **places, "OUTPUT_DIR": "HEPZA_OUTPUT_DIR"} == ENVIRONMENT_OVERRIDES


BAD_ENVIRONMENT = [
    (env, "§bad§")
    for setting, env in ENVIRONMENT_OVERRIDES.items()
    if setting in NUMERIC_SETTINGS or setting in {"LOG_LEVEL", "SITE_TIMEZONE"}
]


@pytest.mark.parametrize(("env", "value"), BAD_ENVIRONMENT)
def test_a_bad_environment_value_is_named_by_its_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as raised:
        check_settings(project_settings())
    assert str(raised.value).startswith(f"{env}={value!r}")


def test_a_setting_given_with_s_is_named_by_the_setting_even_with_its_variable_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HEPZA_CONCURRENCY", "4")
    settings = project_settings(CONCURRENT_REQUESTS_PER_DOMAIN="x")
    with pytest.raises(ConfigError, match=r"^CONCURRENT_REQUESTS_PER_DOMAIN='x' is not"):
        check_settings(settings)


@pytest.fixture(scope="module")
def crawled_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database with the crawler's tables (and no articles): the date options are read."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'hepza.sqlite3'}"
    ArticleStore(database_url).close()
    return database_url


OUT_OF_RANGE_DATES = [
    pytest.param(("search", "dau", "--since", "0001-01-01"), "--since '0001-01-01'", id="search"),
    pytest.param(("search", "dau", "--since", "9999-12-31"), "--since '9999-12-31'", id="late"),
    pytest.param(
        ("export", "-f", "jsonl", "--since", "0001-01-01"), "--since '0001-01-01'", id="export"
    ),
    pytest.param(
        ("export", "-f", "jsonl", "--changed-since", "0001-01-01"),
        "--changed-since '0001-01-01'",
        id="changed-since-day",
    ),
    pytest.param(
        ("export", "-f", "jsonl", "--changed-since", "0001-01-01T00:00:00+07:00"),
        "--changed-since '0001-01-01T00:00:00+07:00'",
        id="changed-since-time",
    ),
]


@pytest.mark.parametrize(("args", "named"), OUT_OF_RANGE_DATES)
def test_a_date_out_of_range_is_one_line_exit_2(
    tmp_path: Path, crawled_database: str, args: tuple[str, ...], named: str
) -> None:
    result = run_scrapy(tmp_path, *args, "-s", f"DATABASE_URL={crawled_database}")
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr == (
        f"{args[0]}: {named} is out of range: expected a day from 0001-01-02 to 9999-12-30\n"
    )
    assert not (tmp_path / "output").exists()


BAD_PORT = "postgresql+psycopg://crawler:pw-4711@db.example:abc/hepza"


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("search", "dau"), id="search"),
        pytest.param(("export", "-f", "jsonl"), id="export"),
        pytest.param(("runs",), id="runs"),
        pytest.param(("report",), id="report"),
        pytest.param(("cluster", "start", "--site", "hepza"), id="cluster"),
    ],
)
def test_a_database_url_whose_port_is_not_a_number_is_one_line_exit_2(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    settings = ["-s", f"DATABASE_URL={BAD_PORT}", "-s", "CLUSTER_REDIS_URL=redis://127.0.0.1:1"]
    result = run_scrapy(tmp_path, *args, *settings)
    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = result.stderr.splitlines()
    assert "DATABASE_URL='postgresql+psycopg://crawler:***@db.example:abc/hepza'" in line
    assert "its port is not a number" in line
    assert "pw-4711" not in result.stderr + result.stdout


def test_browse_refuses_a_database_url_whose_port_is_not_a_number() -> None:
    with pytest.raises(BrowseError, match="its port is not a number") as raised:
        sqlite_file(BAD_PORT)
    assert "pw-4711" not in str(raised.value)
