"""``scrapy runs`` and ``scrapy report`` on the data of two real crawls of the replica.

The HTML report is opened in headless Chromium (Debian's ``chromium``): the rendered DOM must
hold the SVG charts, the titles and the tables, and the screenshot must show them. Without
Chromium the test skips saying so, except under CI=true or HEPZA_REQUIRE_CHROMIUM=1.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import unicodedata
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lxml.html
import pytest
from PIL import Image
from scrapy.settings import Settings

from crawler.commands.report import build_sections
from crawler.commands.runs import text_lines
from crawler.ledger.history import (
    NO_CATEGORY,
    MonthlyCounts,
    known_sites,
    load_runs,
    month_range,
    monthly_counts,
    run_article_problems,
    run_rejects,
    summarize_run,
)
from crawler.ledger.html_report import TABLE_RUNS, SiteSection, render_report
from pipelines.storage.store import ArticleStore
from tests.crawl_runner import PROJECT_ROOT, run_crawl, run_scrapy
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig

if TYPE_CHECKING:
    from collections.abc import Callable

REQUIRE_CHROMIUM_ENV = "HEPZA_REQUIRE_CHROMIUM"
HOSTILE_TITLE = "Đầu tư <script>window.hacked = 1</script> & “ngoặc” $x^2$"
HOSTILE_CATEGORY = "Tin <b>đầu tư</b> $nóng$"
TRAPS = ("long_title", "oversized")


def scrapy(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_scrapy(cwd, *args, timeout=300)


@dataclass(frozen=True)
class Crawled:
    """Where two recorded runs left their data, and their run reports."""

    workdir: Path
    database_url: str
    first_report: dict[str, Any]
    second_report: dict[str, Any]

    @property
    def settings(self) -> list[str]:
        return [
            "-s",
            f"DATABASE_URL={self.database_url}",
            "-s",
            f"REJECTS_PATH={self.workdir / 'rejects.jsonl'}",
            "-s",
            f"OUTPUT_DIR={self.workdir / 'out'}",
        ]

    @property
    def database(self) -> Path:
        return Path(self.database_url.removeprefix("sqlite:///"))


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Crawled:
    """Two runs into one database: the site, then the site with 3 new articles and 1 edit."""
    workdir = tmp_path_factory.mktemp("history")
    with ReplicaServer(ReplicaConfig(articles=30, quality_traps=TRAPS)) as server:
        first = run_crawl(server.url, workdir)
        port = int(server.url.rsplit(":", 1)[1])
    assert first.returncode == 0, first.log[-3000:]
    first_report = first.report
    edited = ReplicaConfig(articles=30, extra_articles=3, edited=(5,), quality_traps=TRAPS)
    with ReplicaServer(edited, port=port) as server:
        second = run_crawl(server.url, workdir, feed_name="second.jsonl")
    assert second.returncode == 0, second.log[-3000:]
    return Crawled(workdir, second.database_url, first_report, second.report)


@pytest.fixture(scope="module")
def hostile(crawled: Crawled, tmp_path_factory: pytest.TempPathFactory) -> Crawled:
    """A copy of the crawled database where an article the latest run stored carries a title
    and a category with HTML, ``$`` (matplotlib math) and Vietnamese in NFD, and problems."""
    copy_dir = tmp_path_factory.mktemp("hostile")
    database = copy_dir / "hepza.sqlite3"
    shutil.copy(crawled.database, database)
    shutil.copy(crawled.workdir / "rejects.jsonl", copy_dir / "rejects.jsonl")
    problems = [{"field": "title", "code": "title_too_long", "message": "<img src=x onerror=1>"}]
    with sqlite3.connect(database) as conn:
        (article_id,) = conn.execute(
            "SELECT id FROM articles WHERE last_run_id = ? ORDER BY id LIMIT 1",
            (crawled.second_report["run_id"],),
        ).fetchone()
        conn.execute(
            "UPDATE articles SET title = ?, category = ?, problems = ? WHERE id = ?",
            (
                unicodedata.normalize("NFD", HOSTILE_TITLE),
                unicodedata.normalize("NFD", HOSTILE_CATEGORY),
                json.dumps(problems),
                article_id,
            ),
        )
    conn.close()
    return replace(crawled, workdir=copy_dir, database_url=f"sqlite:///{database}")


# --- scrapy runs --------------------------------------------------------------------------------


@pytest.mark.e2e
def test_runs_lists_both_runs_newest_first_with_their_counts(crawled: Crawled) -> None:
    result = scrapy(crawled.workdir, "runs", *crawled.settings)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [
        crawled.second_report["run_id"],
        crawled.first_report["run_id"],
    ]
    counts = crawled.second_report["counts"]
    assert (
        f"succeeded  new {counts['stored_new']}, changed {counts['stored_changed']}, "
        f"rejected {counts['rejected']}, requests {counts['requests']}, errors 0" in lines[0]
    )
    assert "+0700 (" in lines[0]
    assert " UTC)" in lines[0]
    assert "coverage: title 100%" in lines[0]


@pytest.mark.e2e
def test_runs_jsonl_holds_what_each_run_report_says(crawled: Crawled) -> None:
    result = scrapy(crawled.workdir, "runs", "--format", "jsonl", *crawled.settings)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    for row, report in zip(rows, [crawled.second_report, crawled.first_report], strict=True):
        counts = report["counts"]
        assert row["run_id"] == report["run_id"]
        assert row["outcome"] == report["outcome"] == "succeeded"
        assert (row["new"], row["changed"], row["rejected"], row["requests"]) == (
            counts["stored_new"],
            counts["stored_changed"],
            counts["rejected"],
            counts["requests"],
        )
        assert row["coverage"] == report["coverage"]
        assert row["duration_seconds"] == report["duration_seconds"]
        started = datetime.fromisoformat(row["started_at"])
        assert datetime.fromisoformat(row["started_at_local"]) == started
        assert row["started_at_local"].endswith("+07:00")
    assert rows[1]["new"] == 34
    assert (rows[0]["new"], rows[0]["changed"]) == (3, 1)


@pytest.mark.e2e
def test_runs_last_one_keeps_only_the_newest_run(crawled: Crawled) -> None:
    result = scrapy(crawled.workdir, "runs", "--last", "1", "--site", "hepza", *crawled.settings)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith(crawled.second_report["run_id"])


def test_runs_on_a_database_without_runs_says_no_runs_yet_and_exits_0(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    ArticleStore(url).close()
    result = scrapy(tmp_path, "runs", "-s", f"DATABASE_URL={url}", "-s", f"OUTPUT_DIR={tmp_path}")
    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr == f"runs: no runs yet in {url}\n"


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--last", "0"], "--last wants a whole number of at least 1, got '0'"),
        (["--last", "two"], "--last wants a whole number of at least 1, got 'two'"),
        (["--site", "quan-1"], "runs: --site 'quan-1': the database holds no runs or articles"),
    ],
)
def test_runs_refuses_bad_options_in_one_line_with_exit_2(
    crawled: Crawled, args: list[str], message: str
) -> None:
    result = scrapy(crawled.workdir, "runs", *args, *crawled.settings)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_runs_refuses_a_sqlite_file_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "mistyped.sqlite3"
    result = scrapy(tmp_path, "runs", "-s", f"DATABASE_URL=sqlite:///{missing}")
    assert result.returncode == 2
    assert result.stderr == f"runs: no database at {missing}\n"
    assert not missing.exists()


# --- scrapy report ------------------------------------------------------------------------------


def test_report_of_a_database_without_runs_or_articles_is_one_line_and_exit_1(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    ArticleStore(url).close()
    result = scrapy(tmp_path, "report", "-s", f"DATABASE_URL={url}", "-s", f"OUTPUT_DIR={tmp_path}")
    assert result.returncode == 1
    assert result.stderr == (
        f"report: nothing to report: the database at {url} holds no runs and no articles\n"
    )
    assert not (tmp_path / "reports").exists()


@pytest.mark.e2e
def test_report_refuses_an_unknown_site_naming_the_known_ones(crawled: Crawled) -> None:
    result = scrapy(crawled.workdir, "report", "--site", "quan-1", *crawled.settings)
    assert result.returncode == 2
    assert result.stderr == (
        "report: --site 'quan-1': the database holds no runs or articles of that site "
        "(sites: hepza)\n"
    )


@pytest.mark.e2e
def test_report_is_written_under_output_dir_by_default(crawled: Crawled) -> None:
    result = scrapy(crawled.workdir, "report", "--site", "hepza", *crawled.settings)
    assert result.returncode == 0, result.stderr
    [written] = (crawled.workdir / "out" / "reports").glob("report-hepza-*Z.html")
    assert result.stdout == f"report of 1 site(s) written to {written}\n"
    assert result.stderr == ""


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    reason = "headless Chromium is not installed (Debian package `chromium`)"
    if os.environ.get("CI") == "true" or os.environ.get(REQUIRE_CHROMIUM_ENV):
        pytest.fail(f"{reason}, and CI / {REQUIRE_CHROMIUM_ENV} requires it")
    print(f"SKIP: {reason}")
    pytest.skip(reason)


def chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
def rendered(hostile: Crawled, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    binary = find_chromium()
    out = tmp_path_factory.mktemp("rendered")
    page = out / "report.html"
    result = scrapy(out, "report", "--output", str(page), *hostile.settings)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    url = page.as_uri()
    dom = chromium(binary, out / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    screenshot = out / "report.png"
    shot = chromium(
        binary,
        out / "profile-shot",
        f"--screenshot={screenshot}",
        "--window-size=1200,2400",
        "--hide-scrollbars",
        url,
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    return {"html": page.read_text(encoding="utf-8"), "dom": dom.stdout, "png": screenshot}


@pytest.mark.e2e
def test_report_renders_its_svg_charts_in_headless_chromium(rendered: dict[str, Any]) -> None:
    dom = rendered["dom"]
    assert dom.count("<svg ") >= 2
    assert 'id="chart-months-1"' in dom
    assert 'id="chart-runs-1"' in dom
    assert "Articles published per month and category: hepza" in dom
    assert "Articles stored per run" in dom
    assert "Run duration" in dom
    assert "Field coverage" in dom
    # the chart legends are the site's own categories, as text in the SVG
    assert "Tin hoạt động" in dom


@pytest.mark.e2e
def test_report_shows_the_runs_and_the_latest_runs_problems_and_rejects(
    hostile: Crawled, rendered: dict[str, Any]
) -> None:
    dom = rendered["dom"]
    latest = hostile.second_report
    assert f"Latest run: {latest['run_id']}" in dom
    assert hostile.first_report["run_id"] not in dom.split("Latest run:")[1]
    for code in latest["problems"]:
        assert f"<td>{code}</td>" in dom
    for code in latest["reject_reasons"]:
        assert f"<td>{code}</td>" in dom
    this_run = run_rejects(hostile.workdir / "rejects.jsonl", latest["run_id"])[0]
    assert this_run > 0
    assert f"{this_run} pages this run rejected" in dom
    assert "body_too_long (body_text)" in dom  # the oversized page's reason, from REJECTS_PATH


@pytest.mark.e2e
def test_report_escapes_article_data_and_keeps_vietnamese_nfc(rendered: dict[str, Any]) -> None:
    dom, page = rendered["dom"], rendered["html"]
    assert "<script" not in page
    assert "<script" not in dom
    assert "<img" not in dom
    assert "<b>" not in dom
    assert "window.hacked" in dom  # shown as text
    title = unicodedata.normalize("NFC", HOSTILE_TITLE)
    escaped_title = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert escaped_title in dom
    assert unicodedata.normalize("NFD", title) not in dom
    # the category reaches the chart legend as escaped SVG text, "$" not read as math
    assert "Tin &lt;b&gt;đầu tư&lt;/b&gt; $nóng$" in dom
    assert 'charset="utf-8"' in page
    assert "Content-Security-Policy" in page


@pytest.mark.e2e
def test_report_needs_nothing_from_the_network(rendered: dict[str, Any]) -> None:
    root = lxml.html.document_fromstring(rendered["html"])
    assert not root.xpath("//script | //link | //iframe | //object | //embed | //img")
    references = [
        value
        for element in root.iter()
        if isinstance(element.tag, str)
        for name, value in element.attrib.items()
        if name.endswith(("href", "src"))
    ]
    assert all(value.startswith("#") for value in references), references
    assert "@import" not in rendered["html"]
    assert "url(http" not in rendered["html"]


@pytest.mark.e2e
def test_report_screenshot_shows_the_page(rendered: dict[str, Any]) -> None:
    with Image.open(rendered["png"]) as image:
        assert image.size == (1200, 2400)
        rgb = image.convert("RGB")
        colors = rgb.getcolors(maxcolors=1_000_000)
        assert colors is not None
        white = sum(count for count, color in colors if color == (255, 255, 255))
        pixels = rgb.width * rgb.height
        assert len(colors) > 50  # text, bars of several colours, lines
        assert white < 0.97 * pixels


# --- the pieces ---------------------------------------------------------------------------------


def test_month_range_keeps_empty_months_and_crosses_years() -> None:
    assert month_range("2023-11", "2024-02") == ["2023-11", "2023-12", "2024-01", "2024-02"]
    assert month_range("2024-05", "2024-05") == ["2024-05"]


def test_a_run_that_never_finished_has_no_counts() -> None:
    started = datetime(2026, 11, 30, 4, tzinfo=UTC)
    run = summarize_run(
        "abc", "hepza", "abandoned", started_at=started, finished_at=None, report={"process": {}}
    )
    assert not run.finished
    assert (run.new, run.changed, run.rejected, run.requests, run.errors) == (None,) * 5
    assert run.duration_seconds is None


def test_run_rejects_keeps_this_runs_pages_and_skips_unreadable_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "rejects.jsonl"
    lines = [
        json.dumps({"url": "http://x/w/a", "run_id": "r2", "count": 2, "reasons": []}),
        "{not json",
        json.dumps({"url": "http://x/w/b", "run_id": "r1", "count": 1, "reasons": []}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    total, pages = run_rejects(path, "r2")
    assert total == 1
    assert [(page.url, page.count) for page in pages] == [("http://x/w/a", 2)]
    assert "line 2 is not JSON" in caplog.text


def test_history_reads_runs_months_and_problems_alike_on_sqlite_and_postgres(
    database_url: str, make_article_record: Callable[..., dict[str, Any]]
) -> None:
    store = ArticleStore(database_url)
    try:
        t0 = datetime(2026, 11, 1, 4, tzinfo=UTC)
        report = {
            "counts": {"stored_new": 3, "stored_changed": 0, "rejected": 1, "requests": 9},
            "coverage": {"title": 1.0},
            "failures": ["coverage of author is 0.0% (threshold 50%)"],
            "duration_seconds": 12.5,
        }
        store.start_run("run-1", t0, {}, site="hepza")
        store.finish_run("run-1", t0 + timedelta(seconds=13), "failed", {}, report, site="hepza")
        store.start_run("run-2", t0 + timedelta(hours=4), {}, site="hepza")
        problem = {"field": "author", "code": "missing_author", "message": "không có"}
        store.write_batch(
            [
                make_article_record("a", published_at="2023-01-31T23:30:00+07:00"),
                make_article_record("b", published_at="2023-03-01T00:10:00+07:00", category=None),
                make_article_record("c", published_at=None, problems=[problem]),
            ],
            "run-1",
        )
        runs = load_runs(store.engine)
        assert [(run.run_id, run.outcome, run.finished) for run in runs] == [
            ("run-2", "running", False),
            ("run-1", "failed", True),
        ]
        assert runs[1].new == 3
        assert runs[1].failures == ("coverage of author is 0.0% (threshold 50%)",)
        assert [run.run_id for run in load_runs(store.engine, "hepza", last=1)] == ["run-2"]
        monthly = monthly_counts(store.engine, "hepza")
        # the site's own months: 23:30 on 31 January is January in Ho Chi Minh City
        assert monthly.months == ["2023-01", "2023-02", "2023-03"]
        assert monthly.by_category == {"Tin tức": [1, 0, 0], NO_CATEGORY: [0, 0, 1]}
        assert monthly.undated == 1
        total, articles = run_article_problems(store.engine, "run-1")
        assert total == 1
        assert [(a.title, a.problems) for a in articles] == [("Tiêu đề c", [problem])]
        assert known_sites(store.engine) == ["hepza"]
    finally:
        store.close()


def test_a_failed_run_shows_its_reasons_in_runs_and_in_the_report(tmp_path: Path) -> None:
    store = ArticleStore(f"sqlite:///{tmp_path / 'hepza.sqlite3'}")
    try:
        started = datetime(2026, 11, 30, 4, tzinfo=UTC)
        reason = "coverage of title is 10.0% (threshold 90%): the site's layout may have changed"
        report = {"counts": {"stored_new": 0, "fetch_failed": 2}, "failures": [reason]}
        store.start_run("run-f", started, {}, site="hepza")
        store.finish_run(
            "run-f", started + timedelta(minutes=2), "failed", {}, report, site="hepza"
        )
        settings = Settings({"SITE_TIMEZONE": "Asia/Ho_Chi_Minh"})
        [section] = build_sections(store.engine, settings, ["hepza"], tmp_path / "none.jsonl")
    finally:
        store.close()
    [run] = section.runs
    assert text_lines(run, section.timezone) == [
        "run-f  hepza  2026-11-30 11:00:00+0700 (2026-11-30 04:00:00 UTC)  2 min 00 s  failed  "
        "new 0, changed -, rejected -, requests -, errors 0  coverage: -",
        f"    failure: {reason}",
    ]
    page = render_report([section], "sqlite:///x", started)
    assert (
        '<ul class="failures"><li>coverage of title is 10.0% (threshold 90%): the site&#x27;s'
        in page
    )
    assert '<span class="failed">failed</span>' in page
    assert 'id="chart-runs-1"' in page
    assert "No dated articles stored (0 undated)." in page


@pytest.mark.parametrize("command", ["runs", "report"])
def test_an_unreachable_database_is_one_line_without_its_password_and_exit_1(
    tmp_path: Path, command: str
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed
    url = f"postgresql+psycopg://hepza:s3cr3t-pw@127.0.0.1:{port}/hepza"
    result = scrapy(tmp_path, command, "-s", f"DATABASE_URL={url}", "-s", f"OUTPUT_DIR={tmp_path}")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{command} failed: storage open failed on ")
    assert "s3cr3t-pw" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_report_of_many_runs_charts_them_as_areas_and_lists_the_newest() -> None:
    started = datetime(2025, 1, 1, tzinfo=UTC)
    runs = [
        summarize_run(
            f"run-{i:03d}",
            "hepza",
            "failed" if i % 10 == 0 else "succeeded",
            started_at=started + timedelta(hours=4 * i),
            finished_at=started + timedelta(hours=4 * i, minutes=1),
            report={"counts": {"stored_new": i % 5, "requests": 40}, "coverage": {"title": 1.0}},
        )
        for i in range(120)
    ][::-1]
    months = month_range("2015-01", "2024-12")
    monthly = MonthlyCounts("hepza", months, {"Tin tức": [1] * len(months)}, 0)
    section = SiteSection("hepza", "Asia/Ho_Chi_Minh", monthly, runs, (0, []), (0, []))
    page = render_report([section], "sqlite:///x", started)
    assert f"The newest {TABLE_RUNS} of 120 runs" in page
    root = lxml.html.document_fromstring(page)
    assert len(root.xpath("//table[1]/tbody/tr")) == TABLE_RUNS
    assert (
        root.xpath("//table[1]/tbody/tr[1]/td[1]")[0].text_content() == "2025-01-21 03:00:00 +0700"
    )
    for chart in ("chart-months-1", "chart-runs-1"):
        [svg] = root.xpath(f"//*[@id='{chart}']")
        # one filled area per series, not one rectangle per month or run
        # (bars would be a patch per run: 120 runs x 3 series, 120 months)
        assert len(svg.xpath(".//*[starts-with(@id, 'patch_')]")) < 60
        assert len(lxml.html.tostring(svg)) < 400_000


def test_report_to_a_place_that_cannot_be_written_is_one_line_and_exit_1(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hepza.sqlite3'}"
    store = ArticleStore(url)
    started = datetime(2026, 11, 30, 4, tzinfo=UTC)
    store.start_run("run-1", started, {}, site="hepza")
    store.finish_run("run-1", started, "succeeded", {}, {"counts": {"stored_new": 1}}, site="hepza")
    store.close()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory", encoding="utf-8")
    target = blocker / "report.html"
    result = scrapy(tmp_path, "report", "--output", str(target), "-s", f"DATABASE_URL={url}")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"report: cannot write {target}: ")
    assert blocker.read_text(encoding="utf-8") == "not a directory"


def test_loading_the_scrapy_commands_does_not_import_matplotlib() -> None:
    # Scrapy imports every module of COMMANDS_MODULE for every command, `scrapy crawl` included:
    # charting must cost a crawl nothing (about 0.3 s and 40 MB).
    probe = (
        "import sys\n"
        "from scrapy.utils.misc import walk_modules\n"
        "walk_modules('crawler.commands')\n"
        "assert 'crawler.commands.report' in sys.modules\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.strip() == "[]", out.stdout
