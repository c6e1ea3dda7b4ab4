"""Bounded output files: one output directory, retention of feeds and reports, one rejects line
per URL."""

from __future__ import annotations

import argparse
import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from scrapy import Spider
from scrapy.settings import Settings
from scrapy.utils.project import get_project_settings
from scrapy.utils.test import get_crawler

from crawler.commands.crawl import Command as CrawlCommand
from crawler.domain.outcome import FAILURE_PREFIX, MESSAGE_PREFIX
from crawler.extensions.retention import REPORT_NAME, Retention, prune_series
from crawler.setup.paths import default_feeds, resolve_output_paths, series_pattern
from pipelines.rejects import RejectsFile
from tests.crawl_runner import FAST_SETTINGS, PROJECT_ROOT
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig

# --- one output directory -------------------------------------------------------------------


def project_settings(**environ: str) -> Settings:
    """The project's settings as `scrapy crawl` starts from them, under the given environment."""
    settings = Settings()
    values = {
        "OUTPUT_DIR": environ.get("HEPZA_OUTPUT_DIR", "output"),
        "DATABASE_URL": environ.get("DATABASE_URL", "sqlite:///output/hepza.sqlite3"),
        "REPORTS_DIR": environ.get("HEPZA_REPORTS_DIR", "output/reports"),
        "REJECTS_PATH": environ.get("HEPZA_REJECTS_PATH", "output/rejects.jsonl"),
        "EXPORTS_DIR": environ.get("HEPZA_EXPORTS_DIR", "output/exports"),
        "ARCHIVE_DIR": environ.get("HEPZA_ARCHIVE_DIR", "output/archive"),
        "FEEDS": {},
    }
    settings.setdict(values, priority="project")
    return settings


def test_output_dir_moves_every_default_place() -> None:
    settings = project_settings()
    settings.set("OUTPUT_DIR", "/srv/out", priority="cmdline")
    resolve_output_paths(settings, environ={})
    assert settings["DATABASE_URL"] == "sqlite:////srv/out/hepza.sqlite3"
    assert settings["REPORTS_DIR"] == "/srv/out/reports"
    assert settings["REJECTS_PATH"] == "/srv/out/rejects.jsonl"
    assert settings["EXPORTS_DIR"] == "/srv/out/exports"


def test_settings_given_with_s_win_over_output_dir() -> None:
    settings = project_settings()
    settings.set("OUTPUT_DIR", "/srv/out", priority="cmdline")
    settings.set("DATABASE_URL", "sqlite:////data/hepza.sqlite3", priority="cmdline")
    settings.set("FEEDS", {"all.jsonl": {"format": "jsonlines"}}, priority="cmdline")
    resolve_output_paths(settings, environ={})
    assert settings["DATABASE_URL"] == "sqlite:////data/hepza.sqlite3"
    assert list(settings.getdict("FEEDS")) == ["all.jsonl"]
    assert settings["REPORTS_DIR"] == "/srv/out/reports"


def test_settings_given_in_the_environment_win_over_output_dir() -> None:
    environ = {"DATABASE_URL": "postgresql+psycopg://u@db/hepza", "HEPZA_REPORTS_DIR": "/r"}
    settings = project_settings(**environ)
    settings.set("OUTPUT_DIR", "/srv/out", priority="cmdline")
    resolve_output_paths(settings, environ=environ)
    assert settings["DATABASE_URL"] == "postgresql+psycopg://u@db/hepza"
    assert settings["REPORTS_DIR"] == "/r"
    assert settings["REJECTS_PATH"] == "/srv/out/rejects.jsonl"


def test_output_dir_from_the_environment_is_the_start() -> None:
    settings = project_settings(HEPZA_OUTPUT_DIR="/env/out")
    moved = resolve_output_paths(settings, environ={"HEPZA_OUTPUT_DIR": "/env/out"})
    assert moved == {
        "DATABASE_URL": "sqlite:////env/out/hepza.sqlite3",
        "REPORTS_DIR": "/env/out/reports",
        "REJECTS_PATH": "/env/out/rejects.jsonl",
        "EXPORTS_DIR": "/env/out/exports",
        "ARCHIVE_DIR": "/env/out/archive",
    }
    # the crawl command's per-run feed follows the same OUTPUT_DIR
    assert list(default_feeds(settings["OUTPUT_DIR"])) == ["/env/out/feeds/%(name)s-%(time)s.jsonl"]


def test_the_settings_module_derives_its_defaults_from_output_dir() -> None:
    from crawler import settings  # noqa: PLC0415

    if any(
        os.environ.get(name)
        for name in ("HEPZA_OUTPUT_DIR", "DATABASE_URL", "HEPZA_REPORTS_DIR", "HEPZA_REJECTS_PATH")
    ):
        pytest.skip("the environment sets an output place")
    assert settings.OUTPUT_DIR == "output"
    assert settings.DATABASE_URL == "sqlite:///output/hepza.sqlite3"
    assert settings.REPORTS_DIR == "output/reports"
    assert settings.REJECTS_PATH == "output/rejects.jsonl"
    assert settings.FEEDS == {}  # the crawl command adds the per-run feed


@pytest.fixture(autouse=True)
def _no_run_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Option processing alone starts no crawl: it must not hold the site's run lock (a file
    next to the project's database) for the rest of the test session."""
    monkeypatch.setattr("crawler.setup.preflight.acquire_run_lock", lambda *_args: None)


def crawl_settings(*argv: str) -> Settings:
    """The settings ``scrapy crawl hepza ARGV`` runs with (its option processing only)."""
    command = CrawlCommand()
    command.settings = get_project_settings()
    parser = argparse.ArgumentParser()
    command.add_options(parser)
    opts, args = parser.parse_known_args(["hepza", *argv])
    command.process_options(args, opts)
    return command.settings


def test_crawl_writes_the_default_feed_under_output_dir() -> None:
    settings = crawl_settings("-s", "OUTPUT_DIR=/srv/out")
    assert list(settings.getdict("FEEDS")) == ["/srv/out/feeds/%(name)s-%(time)s.jsonl"]


def test_overwrite_output_replaces_the_default_feed() -> None:
    settings = crawl_settings("-O", "all.jsonl")
    assert list(settings.getdict("FEEDS")) == ["all.jsonl"]


def test_an_empty_feeds_setting_turns_the_default_feed_off() -> None:
    assert crawl_settings("-s", "FEEDS={}").getdict("FEEDS") == {}


# --- retention ------------------------------------------------------------------------------


def make_files(directory: Path, names: list[str]) -> list[Path]:
    """Files with increasing modification times, oldest first."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, name in enumerate(names):
        path = directory / name
        path.write_text(name)
        os.utime(path, (1_700_000_000 + n * 60, 1_700_000_000 + n * 60))
        paths.append(path)
    return paths


def feed_names(count: int) -> list[str]:
    return [f"hepza-2024-01-{day:02d}T00-00-00+00-00.jsonl" for day in range(1, count + 1)]


def test_feed_pattern_matches_scrapy_time_names_only() -> None:
    pattern = series_pattern("hepza-%(time)s.jsonl")
    assert pattern.fullmatch("hepza-2024-05-02T09-15-30+00-00.jsonl")
    assert pattern.fullmatch("hepza-2024-05-02T09-15-30.jsonl")
    assert not pattern.fullmatch("hepza-all.jsonl")
    assert not pattern.fullmatch("hepza-2024-05-02T09-15-30+00-00.jsonl.bak")
    assert not pattern.fullmatch("other-2024-05-02T09-15-30+00-00.jsonl")


def test_prune_keeps_the_n_newest_of_n_plus_k(tmp_path: Path) -> None:
    files = make_files(tmp_path, feed_names(8))
    removed = prune_series(tmp_path, series_pattern("hepza-%(time)s.jsonl"), keep=5)
    assert sorted(removed) == files[:3]
    assert sorted(tmp_path.iterdir()) == files[3:]


def test_prune_leaves_files_of_other_names_alone(tmp_path: Path) -> None:
    files = make_files(tmp_path, feed_names(4))
    others = make_files(tmp_path, ["notes.txt", "hepza-all.jsonl", "hepza-x.jsonl.partial"])
    for other in others:  # older than every feed
        os.utime(other, (1_000_000_000, 1_000_000_000))
    prune_series(tmp_path, series_pattern("hepza-%(time)s.jsonl"), keep=1)
    assert sorted(tmp_path.iterdir()) == sorted([files[-1], *others])


def test_prune_never_removes_the_current_run_files(tmp_path: Path) -> None:
    files = make_files(tmp_path, feed_names(6))
    current = files[0]  # say its clock was off: the oldest by time, still this run's
    later = files[1]
    os.utime(later, (2_000_000_000, 2_000_000_000))
    removed = prune_series(
        tmp_path, series_pattern("hepza-%(time)s.jsonl"), 3, [current], since=1_999_999_999
    )
    # this run's two files count toward the three kept
    assert sorted(tmp_path.iterdir()) == [current, later, files[-1]]
    assert sorted(removed) == files[2:5]


def test_prune_reports_keeps_latest_json(tmp_path: Path) -> None:
    reports = make_files(tmp_path, [f"{n:032x}.json" for n in range(5)])
    latest = make_files(tmp_path, ["latest.json"])[0]
    os.utime(latest, (1_000_000_000, 1_000_000_000))
    prune_series(tmp_path, REPORT_NAME, keep=2)
    assert sorted(tmp_path.iterdir()) == sorted([*reports[3:], latest])


def test_empty_feeds_are_kept_and_count(tmp_path: Path) -> None:
    files = make_files(tmp_path, feed_names(4))
    files[-1].write_text("")
    os.utime(files[-1], (1_800_000_000, 1_800_000_000))
    prune_series(tmp_path, series_pattern("hepza-%(time)s.jsonl"), keep=2)
    assert sorted(tmp_path.iterdir()) == files[2:]


def test_retention_extension_prunes_feeds_and_reports_and_spares_this_run(
    tmp_path: Path,
) -> None:
    feeds_dir, reports_dir = tmp_path / "feeds", tmp_path / "reports"
    old_feeds = make_files(feeds_dir, feed_names(5))
    old_reports = make_files(reports_dir, [f"{n:032x}.json" for n in range(1, 6)])
    crawler = get_crawler(
        settings_dict={
            "KEEP_FEEDS": 3,
            "KEEP_REPORTS": 2,
            "REPORTS_DIR": str(reports_dir),
            "FEEDS": {str(feeds_dir / "hepza-%(time)s.jsonl"): {"format": "jsonlines"}},
        }
    )
    crawler.stats.set_value("run/id", "f" * 32)
    extension = Retention.from_crawler(crawler)
    this_feed = feeds_dir / "hepza-2024-02-01T00-00-00+00-00.jsonl"
    this_report = reports_dir / f"{'f' * 32}.json"
    for path in (this_feed, this_report):
        path.write_text("")
        os.utime(path, (1_000_000_000, 1_000_000_000))  # older than all: still this run's
    extension.current_feeds = [this_feed]
    extension.run_id = "f" * 32
    extension.started = 1_900_000_000
    extension.engine_stopped()
    assert sorted(feeds_dir.iterdir()) == sorted([this_feed, *old_feeds[3:]])
    assert sorted(reports_dir.iterdir()) == sorted([this_report, old_reports[-1]])


def test_retention_prunes_the_partial_feeds_of_killed_runs_as_a_series_of_their_own(
    tmp_path: Path,
) -> None:
    feeds_dir = tmp_path / "feeds"
    feeds = make_files(feeds_dir, feed_names(3))
    partials = make_files(feeds_dir, [f"{name}.partial" for name in feed_names(4)])
    crawler = get_crawler(
        settings_dict={
            "KEEP_FEEDS": 2,
            "REPORTS_DIR": str(tmp_path / "reports"),
            "FEEDS": {str(feeds_dir / "hepza-%(time)s.jsonl"): {"format": "jsonlines"}},
        }
    )
    extension = Retention.from_crawler(crawler)
    make_files(tmp_path / "reports", [f"{'f' * 32}.json"])
    extension.run_id = "f" * 32
    extension.started = 1_900_000_000
    extension.engine_stopped()
    assert sorted(feeds_dir.iterdir()) == sorted([*feeds[1:], *partials[2:]])


def test_retention_prunes_nothing_without_a_report_of_this_run(tmp_path: Path) -> None:
    feeds_dir, reports_dir = tmp_path / "feeds", tmp_path / "reports"
    feeds = make_files(feeds_dir, feed_names(3))
    reports = make_files(reports_dir, [f"{n:032x}.json" for n in range(1, 4)])
    crawler = get_crawler(
        settings_dict={
            "KEEP_FEEDS": 1,
            "KEEP_REPORTS": 1,
            "REPORTS_DIR": str(reports_dir),
            "FEEDS": {str(feeds_dir / "hepza-%(time)s.jsonl"): {"format": "jsonlines"}},
        }
    )
    extension = Retention.from_crawler(crawler)
    extension.run_id = "f" * 32  # as `scrapy parse` would: no report written
    extension.engine_stopped()
    assert sorted([*feeds_dir.iterdir(), *reports_dir.iterdir()]) == sorted([*feeds, *reports])


# --- rejects: one line per URL --------------------------------------------------------------


def reject(rejects: RejectsFile, url: str, run_id: str, code: str = "not_article") -> None:
    rejects.add(
        url=url,
        fetched_url=url + "?p_p_id=x",
        run_id=run_id,
        reasons=[{"field": "url", "code": code, "message": "m"}],
        record={"url": url, "title": None},
    )


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def clock(*stamps: str) -> Any:
    it = iter(stamps)
    return lambda: next(it)


def test_two_runs_keep_one_line_per_url_with_a_count(tmp_path: Path) -> None:
    path = tmp_path / "rejects.jsonl"
    first = RejectsFile(path, clock=clock("2024-01-01T00:00:00+00:00", "2024-01-01T00:00:01+00:00"))
    first.load()
    reject(first, "https://x/w/a", "run-1")
    reject(first, "https://x/w/b", "run-1")
    first.close()
    second = RejectsFile(path, clock=clock("2024-01-02T00:00:00+00:00"))
    second.load()
    reject(second, "https://x/w/a", "run-2", code="missing_title")
    second.close()
    lines = read_lines(path)
    assert [line["url"] for line in lines] == ["https://x/w/a", "https://x/w/b"]
    a, b = lines
    assert a["count"] == 2 and b["count"] == 1
    assert a["first_rejected_at"] == "2024-01-01T00:00:00+00:00"
    assert a["last_rejected_at"] == "2024-01-02T00:00:00+00:00"
    assert a["run_id"] == "run-2"
    assert a["reasons"][0]["code"] == "missing_title"
    assert a["fetched_url"] == "https://x/w/a?p_p_id=x"
    assert a["record"] == {"url": "https://x/w/a", "title": None}


def test_the_older_one_line_per_rejection_form_is_merged(tmp_path: Path) -> None:
    path = tmp_path / "rejects.jsonl"
    old = [
        {"run_id": f"r{n}", "rejected_at": f"2024-01-0{n}T00:00:00+00:00", "url": "https://x/w/a"}
        | {"fetched_url": "https://x/w/a?p_p_id=x", "reasons": [], "record": {}}
        for n in (1, 2, 3)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in old))
    rejects = RejectsFile(path, clock=clock("2024-02-01T00:00:00+00:00"))
    rejects.load()
    reject(rejects, "https://x/w/a", "run-4")
    rejects.close()
    (line,) = read_lines(path)
    assert line["count"] == 4
    assert line["first_rejected_at"] == "2024-01-01T00:00:00+00:00"
    assert line["last_rejected_at"] == "2024-02-01T00:00:00+00:00"
    assert "rejected_at" not in line


def test_a_corrupt_line_is_counted_and_the_others_kept(tmp_path: Path) -> None:
    path = tmp_path / "rejects.jsonl"
    good = {"url": "https://x/w/a", "count": 3, "first_rejected_at": "t1", "last_rejected_at": "t2"}
    path.write_text(json.dumps(good) + "\n{not json\n[1, 2]\n")
    crawler = get_crawler()
    rejects = RejectsFile(path, crawler)
    rejects.load()
    assert crawler.stats.get_value("rejects/unreadable_lines") == 2
    reject(rejects, "https://x/w/b", "run-2")
    rejects.close()
    assert [(line["url"], line["count"]) for line in read_lines(path)] == [
        ("https://x/w/a", 3),
        ("https://x/w/b", 1),
    ]


def test_pending_rejects_are_written_every_n(tmp_path: Path) -> None:
    path = tmp_path / "rejects.jsonl"
    rejects = RejectsFile(path, flush_every=2)
    rejects.load()
    reject(rejects, "https://x/w/a", "run-1")
    assert not path.exists()
    reject(rejects, "https://x/w/b", "run-1")
    assert len(read_lines(path)) == 2  # a killed run keeps what was flushed
    assert not [p for p in tmp_path.iterdir() if p.name != "rejects.jsonl"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_an_unwritable_rejects_file_fails_the_run(tmp_path: Path) -> None:
    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        crawler = get_crawler()
        rejects = RejectsFile(directory / "rejects.jsonl", crawler)
        rejects.load()
        reject(rejects, "https://x/w/a", "run-1")
        rejects.close()
    finally:
        directory.chmod(stat.S_IRWXU)
    assert crawler.stats.get_value(f"{FAILURE_PREFIX}rejects_unwritable") == 1
    message = crawler.stats.get_value(f"{MESSAGE_PREFIX}rejects_unwritable")
    assert message == f"cannot write rejects file {directory / 'rejects.jsonl'}: Permission denied"


def test_a_rejects_file_under_a_file_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "output").write_text("a file where the output directory should be")
    path = tmp_path / "output" / "rejects.jsonl"
    crawler = get_crawler()
    rejects = RejectsFile(path, crawler)
    rejects.load()
    reject(rejects, "https://x/w/a", "run-1")
    rejects.close()
    assert crawler.stats.get_value(f"{FAILURE_PREFIX}rejects_unwritable") == 1
    message = crawler.stats.get_value(f"{MESSAGE_PREFIX}rejects_unwritable")
    assert message.startswith(f"cannot write rejects file {path}: ")


# --- the real wrapper on the replica --------------------------------------------------------


def files_under(root: Path) -> dict[str, float]:
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*") if p.is_file()}


@pytest.mark.e2e
def test_two_wrapper_runs_keep_every_file_in_the_output_dir_and_bounded(tmp_path: Path) -> None:
    config = ReplicaConfig(articles=30)
    out = tmp_path / "out"
    project_output = files_under(PROJECT_ROOT / "output")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("HEPZA_") and key != "DATABASE_URL"
    }
    env.update(
        {"PYTHONPATH": str(PROJECT_ROOT), "HEPZA_KEEP_FEEDS": "1", "HEPZA_KEEP_REPORTS": "1"}
    )
    runs = []
    with ReplicaServer(config) as server:
        command = [sys.executable, "-m", "crawler.ops.cron", "--output-dir", str(out), "--"]
        command += ["-a", f"base_url={server.url}"]
        for name, value in FAST_SETTINGS.items():
            command += ["-s", f"{name}={value}"]
        for _ in range(2):
            runs.append(
                subprocess.run(
                    command,
                    cwd=tmp_path,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                    check=False,
                )
            )
            time.sleep(1.1)  # feed names carry the start time to the second
    for run in runs:
        assert run.returncode == 0, run.stderr[-3000:]
        assert re.match(r"hepza-run: ok; new \d+, changed 0, rejected [1-9]\d*, ", run.stdout)
    # nothing of these runs went to the project's own output directory
    assert files_under(PROJECT_ROOT / "output") == project_output
    written = files_under(out)
    assert "hepza.lock" in written and "hepza.sqlite3" in written and "rejects.jsonl" in written
    assert len([name for name in written if re.fullmatch(r"logs/hepza-\S+\.log", name)]) == 2
    # KEEP_FEEDS=1, KEEP_REPORTS=1: the second run's feed and report only, plus latest.json
    (feed,) = [name for name in written if name.startswith("feeds/")]
    assert series_pattern("hepza-%(time)s.jsonl").fullmatch(feed.removeprefix("feeds/"))
    latest = json.loads((out / "reports" / "latest.json").read_text("utf-8"))
    assert sorted(n for n in written if n.startswith("reports/")) == [
        f"reports/{latest['run_id']}.json",
        "reports/latest.json",
    ]
    assert f"; report {out / 'reports' / 'latest.json'}" in runs[1].stdout
    # the runs reached their end: no job state for the next run to resume from
    assert not (out / "jobs" / "hepza").exists()
    # one line per rejected page, however many runs rejected it
    rejects = read_lines(out / "rejects.jsonl")
    pages = [line["fetched_url"] for line in rejects]
    assert rejects and len(pages) == len(set(pages))
    rejected = [int(re.findall(r"rejected (\d+)", run.stdout)[0]) for run in runs]
    assert sum(line["count"] for line in rejects) == sum(rejected)
    again = [line for line in rejects if line["run_id"] == latest["run_id"]]
    assert len(again) == rejected[1] and {line["count"] for line in again} == {2}


def test_retention_prunes_only_this_spiders_feeds(tmp_path: Path) -> None:
    feeds_dir, reports_dir = tmp_path / "feeds", tmp_path / "reports"
    ours = make_files(feeds_dir, feed_names(4))
    theirs = make_files(feeds_dir, [n.replace("hepza-", "quan-1-") for n in feed_names(4)])
    this_report = reports_dir / f"{'f' * 32}.json"
    reports_dir.mkdir()
    this_report.write_text("{}")
    crawler = get_crawler(
        settings_dict={
            "KEEP_FEEDS": 2,
            "KEEP_REPORTS": 5,
            "REPORTS_DIR": str(reports_dir),
            "FEEDS": {str(feeds_dir / "%(name)s-%(time)s.jsonl"): {"format": "jsonlines"}},
        }
    )
    crawler.stats.set_value("run/id", "f" * 32)
    extension = Retention.from_crawler(crawler)
    extension.spider_closed(Spider("hepza"), "finished")
    extension.started = 1_900_000_000
    extension.engine_stopped()
    assert sorted(feeds_dir.iterdir()) == sorted([*ours[2:], *theirs])
