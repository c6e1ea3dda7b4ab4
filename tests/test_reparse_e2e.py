"""``scrapy reparse`` end to end: the replica crawled with archiving on (the crawl's own WARC
archive, crawler/archive/), the replica stopped, then the archive re-extracted with no network."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipelines.storage.models import VERSION_FIELDS
from tests.crawl_runner import PROJECT_ROOT, database_rows, run_crawl, run_scrapy
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig

pytestmark = pytest.mark.e2e

FIELDS = ", ".join(VERSION_FIELDS)


@dataclass
class Archived:
    base_url: str
    warc: Path
    database_url: str
    workdir: Path


@pytest.fixture(scope="module")
def archived(tmp_path_factory: pytest.TempPathFactory) -> Archived:
    workdir = tmp_path_factory.mktemp("reparse")
    with ReplicaServer(ReplicaConfig()) as replica:
        # archiving is on by default; the crawl's archive is workdir/crawl/archive
        result = run_crawl(replica.url, workdir / "crawl")
        base_url = replica.url
    # The replica is stopped: from here on nothing can be fetched.
    assert result.returncode == 0, result.log[-3000:]
    [warc] = sorted((workdir / "crawl" / "archive").glob("*.warc.gz"))
    return Archived(base_url, warc, result.database_url, workdir)


def reparse(
    archived: Archived, workdir: Path, *args: str, database_url: str | None = None
) -> tuple[Any, str]:
    database_url = database_url or f"sqlite:///{workdir / 'reparse.sqlite3'}"
    settings = {
        "DATABASE_URL": database_url,
        "REPORTS_DIR": str(workdir / "reports"),
        "REJECTS_PATH": str(workdir / "rejects.jsonl"),
        "LOG_FILE": str(workdir / "reparse.log"),
        "OUTPUT_DIR": str(workdir / "out"),
        "PROGRESS_INTERVAL": "0",
    }
    options = [f"{name}={value}" for name, value in settings.items()]
    command = ["reparse", "--base-url", archived.base_url, *args]
    for option in options:
        command += ["-s", option]
    return run_scrapy(PROJECT_ROOT, *command), database_url


def articles(database_url: str) -> dict[str, tuple[Any, ...]]:
    rows = database_rows(database_url, f"SELECT id, {FIELDS} FROM articles")
    return {row[0]: row[1:] for row in rows}


def test_a_reparse_into_a_fresh_database_stores_the_crawls_articles_and_fields(
    archived: Archived, tmp_path: Path
) -> None:
    result, database_url = reparse(archived, tmp_path, "--warc", str(archived.warc))
    assert result.returncode == 0, result.stderr[-3000:]
    crawled = articles(archived.database_url)
    assert len(crawled) > 50
    assert articles(database_url) == crawled
    # One version per article, each with the parser version that extracted it.
    versions = database_rows(
        database_url, "SELECT parser_version, changed_fields FROM article_versions"
    )
    assert len(versions) == len(crawled)
    assert {changed for _, changed in versions} == {None}
    [(parser_version,)] = database_rows(
        database_url, "SELECT DISTINCT parser_version FROM article_versions"
    )
    assert parser_version.startswith("1+")
    # each version points to the crawl's record it was extracted from (a file outside
    # ARCHIVE_DIR by its whole path)
    pointers = database_rows(database_url, "SELECT archive_record FROM article_versions")
    assert {pointer.rsplit(":", 1)[0] for (pointer,) in pointers} == {str(archived.warc)}
    [(kind, outcome)] = database_rows(database_url, "SELECT kind, outcome FROM crawl_runs")
    assert (kind, outcome) == ("reparse", "succeeded")
    assert f"new {len(crawled)}, changed 0" in result.stdout
    # Every response came from the archive, each named by its record.
    log = (tmp_path / "reparse.log").read_text(encoding="utf-8")
    assert "'reparse/responses':" in log

    runs = run_scrapy(PROJECT_ROOT, "runs", "-s", f"DATABASE_URL={database_url}")
    assert runs.returncode == 0, runs.stderr
    assert "hepza (reparse)" in runs.stdout
    assert " succeeded " in runs.stdout


def test_without_warc_arguments_every_archive_under_archive_dir_is_reparsed(
    archived: Archived, tmp_path: Path
) -> None:
    archive_dir = archived.warc.parent
    result, database_url = reparse(archived, tmp_path, "-s", f"ARCHIVE_DIR={archive_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert articles(database_url) == articles(archived.database_url)
    # each version points to its record by the file's name within ARCHIVE_DIR
    pointers = database_rows(database_url, "SELECT archive_record FROM article_versions")
    assert {pointer.rsplit(":", 1)[0] for (pointer,) in pointers} == {archived.warc.name}
    # the archive is the input, never written by a reparse
    assert sorted(archive_dir.glob("*.warc.gz")) == [archived.warc]


def test_a_changed_category_selector_reparsed_adds_versions_that_changed_the_category_alone(
    archived: Archived, tmp_path: Path
) -> None:
    database = tmp_path / "copy.sqlite3"
    shutil.copy(archived.database_url.removeprefix("sqlite:///"), database)
    database_url = f"sqlite:///{database}"
    before = articles(database_url)
    seen = "SELECT id, first_seen, last_seen FROM articles ORDER BY id"
    seen_before = database_rows(database_url, seen)
    [(versions_before,)] = database_rows(database_url, "SELECT count(*) FROM article_versions")
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    profile = (PROJECT_ROOT / "crawler/sites/profiles/hepza.toml").read_text(encoding="utf-8")
    # The page's <title> read as its category: a parser change of one field.
    profile = profile.replace("[selectors]\n", '[selectors]\ncategory = ["head > title"]\n')
    (profiles / "hepza.toml").write_text(profile, encoding="utf-8")

    result, _ = reparse(
        archived,
        tmp_path,
        "--warc",
        str(archived.warc),
        "-s",
        f"SITE_PROFILES_DIR={profiles}",
        database_url=database_url,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    after = articles(database_url)
    assert after.keys() == before.keys()  # no article added or lost
    # A reparse met no page on the site: when the articles were seen stays as it was.
    assert database_rows(database_url, seen) == seen_before
    field = VERSION_FIELDS.index("category")
    changed = {key for key in after if after[key][field] != before[key][field]}
    assert changed
    for key in after:
        # every other field as the crawl stored it
        assert [v for i, v in enumerate(after[key]) if i != field] == [
            v for i, v in enumerate(before[key]) if i != field
        ]
    new_versions = database_rows(
        database_url,
        "SELECT article_id, changed_fields, parser_version FROM article_versions "
        "WHERE id > :count ORDER BY id",
        {"count": versions_before},
    )
    assert {row[0] for row in new_versions} == changed
    assert {json.dumps(json.loads(row[1])) for row in new_versions} == {'["category"]'}
    assert all(row[2] for row in new_versions)
    report = json.loads((tmp_path / "reports" / "latest.json").read_text(encoding="utf-8"))
    assert report["kind"] == "reparse"
    assert report["changed_fields"] == {"category": len(changed)}
    assert report["reparse"]["responses"] > len(after)
    assert f"changed fields: category {len(changed)}" in result.stdout
    runs = run_scrapy(PROJECT_ROOT, "runs", "-s", f"DATABASE_URL={database_url}")
    [reparse_line, fields_line, crawl_line] = runs.stdout.splitlines()
    assert "hepza (reparse)" in reparse_line
    assert fields_line == f"    changed fields: category {len(changed)}"
    assert "hepza (reparse)" not in crawl_line


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_damaged_warc_is_used_up_to_the_damage_named_in_one_line_and_exits_1(
    archived: Archived, tmp_path: Path, damage: str
) -> None:
    data = archived.warc.read_bytes()
    # within the record of the article the crawl archived last: at least that one is lost
    offsets = database_rows(archived.database_url, "SELECT archive_record FROM articles")
    cut = max(int(pointer.rsplit(":", 1)[1]) for (pointer,) in offsets) + 16
    zeroed = data[:cut] + b"\x00" * 64 + data[cut + 64 :]
    damaged = data[:cut] if damage == "truncated" else zeroed
    warc = tmp_path / f"{damage}.warc.gz"
    warc.write_bytes(damaged)

    result, database_url = reparse(archived, tmp_path, "--warc", str(warc))
    assert result.returncode == 1, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if "unreadable:" in line]
    assert len(lines) == 1
    assert str(warc) in lines[0]
    assert "Traceback" not in result.stderr
    # the readable records were used
    stored = articles(database_url)
    assert 0 < len(stored) < len(articles(archived.database_url))
    [(kind, outcome, report)] = database_rows(
        database_url, "SELECT kind, outcome, report FROM crawl_runs"
    )
    assert (kind, outcome) == ("reparse", "failed")
    assert "not wholly readable" in json.dumps(json.loads(report)["failures"])


def test_a_warc_of_another_site_is_refused_in_one_line(archived: Archived, tmp_path: Path) -> None:
    result = run_scrapy(
        PROJECT_ROOT,
        "reparse",
        "--warc",
        str(archived.warc),
        "-s",
        f"DATABASE_URL=sqlite:///{tmp_path / 'db.sqlite3'}",
        "-s",
        f"OUTPUT_DIR={tmp_path}",
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "holds captures of another site" in line
    assert "https://hepza.hochiminhcity.gov.vn" in line


def test_no_warc_under_the_archive_dir_is_one_line_exit_2(tmp_path: Path) -> None:
    result = run_scrapy(
        PROJECT_ROOT,
        "reparse",
        "-s",
        f"OUTPUT_DIR={tmp_path}",
        "-s",
        f"DATABASE_URL=sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("scrapy reparse: error: no WARC found under")
    assert str(tmp_path / "archive") in line
