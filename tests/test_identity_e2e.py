"""Identity end to end: real `scrapy crawl` subprocesses against the replica.

- A re-crawl under another spelling of the host (upper case, ``www.``) recognizes every
  article: no article and no version is added.
- A database written by the code before identity keys (revision 0005: ids from the URL as
  written, image URLs absolute in the content hash) is migrated, and a re-crawl adds nothing.
- A host belongs to one site: a second site name for it is refused in one line (exit 2), and
  ``scrapy export --site`` of each name tells the truth.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from crawler.domain.identity import article_id
from pipelines.storage.migrations.versions.rev_0006_host_spelling import BODY_FIELDS, _old_hash
from tests.crawl_runner import CrawlResult, database_rows, run_crawl, run_scrapy
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig

# Resolves www.localhost to the replica (the system resolver does not).
LOOPBACK = {"TWISTED_DNS_RESOLVER": "tests.loopback_resolver.LoopbackResolver"}


@pytest.fixture(scope="module")
def replica() -> Any:
    with ReplicaServer(ReplicaConfig()) as server:
        yield server


def _port(server: ReplicaServer) -> str:
    return server.url.rsplit(":", 1)[1]


def _counts(database_url: str) -> tuple[int, int]:
    [(articles,)] = database_rows(database_url, "SELECT count(*) FROM articles")
    [(versions,)] = database_rows(database_url, "SELECT count(*) FROM article_versions")
    return articles, versions


def _ok(result: CrawlResult) -> CrawlResult:
    assert result.returncode == 0, result.log[-3000:]
    return result


def test_a_recrawl_under_an_upper_case_www_spelling_of_the_host_adds_no_article_or_version(
    replica: ReplicaServer, tmp_path: Path
) -> None:
    port = _port(replica)
    first = _ok(run_crawl(f"http://localhost:{port}", tmp_path / "a", settings=LOOPBACK))
    before = _counts(first.database_url)
    expected_articles = before[0]
    assert before == (expected_articles, expected_articles)
    assert expected_articles > 50
    [(with_images,)] = database_rows(
        first.database_url, "SELECT count(*) FROM articles WHERE images != '[]'"
    )
    assert with_images > 0  # the articles whose hash held their host until now

    again = _ok(
        run_crawl(
            f"HTTP://WWW.LOCALHOST:{port}",
            tmp_path / "b",
            database_url=first.database_url,
            spider_args={"full": "1"},
            settings=LOOPBACK,
        )
    )
    assert _counts(first.database_url) == before
    assert "'storage/new'" not in again.log
    assert f"'storage/unchanged': {expected_articles}," in again.log
    # Stored URLs are the portal's as it gave them this time.
    urls = [row[0] for row in database_rows(first.database_url, "SELECT url FROM articles")]
    assert all(url.startswith(f"http://www.localhost:{port}/") for url in urls)


def test_an_incremental_run_under_a_www_spelling_skips_the_articles_stored_under_the_other(
    replica: ReplicaServer, tmp_path: Path
) -> None:
    port = _port(replica)
    first = _ok(run_crawl(f"http://localhost:{port}", tmp_path / "a", settings=LOOPBACK))
    stored = _counts(first.database_url)
    again = _ok(
        run_crawl(
            f"http://www.localhost:{port}",
            tmp_path / "b",
            database_url=first.database_url,
            settings={**LOOPBACK, "RECHECK_RECENT": "5"},
        )
    )
    assert _counts(first.database_url) == stored
    report = again.report
    # only the re-check set is fetched again, under the spelling the portal answers now
    assert report["counts"]["articles_parsed"] == report["counts"]["unchanged"] == 5
    assert report["counts"]["skipped_known"] > 0
    assert report["counts"]["stored_new"] == 0
    assert report["counts"]["off_origin_refused"] == 0


def _as_written_before_identity_keys(database_url: str) -> int:
    """Rewrite a database into what the code of revision 0005 wrote for the same crawl: ids
    from the canonical URL as written, content hashes over absolute image URLs. Returns how
    many content hashes that changed."""
    path = database_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT id, url FROM articles").fetchall()
        for new_id, url in rows:
            assert article_id(url) == new_id
            old_id = hashlib.sha256(url.encode()).hexdigest()[:20]
            for table, column in (
                ("articles", "id"),
                ("article_urls", "article_id"),
                ("article_versions", "article_id"),
            ):
                conn.execute(
                    f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (old_id, new_id)
                )
        columns = ["id", "url", "title", "summary", "body_text", "author", "published_at"]
        columns += ["category", "tags", "images", "attachments", "content_hash"]
        changed = 0
        query = f"SELECT {', '.join(columns)} FROM articles"
        for values in conn.execute(query).fetchall():
            row = dict(zip(columns, values, strict=True))
            for name in ("tags", "images", "attachments"):
                row[name] = json.loads(row[name])
            old = _old_hash(row)
            if old != row["content_hash"]:
                changed += 1
                conn.execute("UPDATE articles SET content_hash = ? WHERE id = ?", (old, row["id"]))
                bodies = {name: row.get(name) for name in BODY_FIELDS}
                versions = conn.execute(
                    "SELECT id, record FROM article_versions WHERE article_id = ?", (row["id"],)
                ).fetchall()
                for version_id, record in versions:
                    full = {**bodies, **json.loads(record)}
                    conn.execute(
                        "UPDATE article_versions SET content_hash = ? WHERE id = ?",
                        (_old_hash(full), version_id),
                    )
        # revision 0011's indexes (the change feed's, Datasette's facets')
        for index in (
            "ix_article_versions_captured_at",
            "ix_articles_category",
            "ix_articles_author",
            "ix_articles_published_month",
            # revision 0012's (the report's)
            "ix_articles_last_run_id",
        ):
            conn.execute(f"DROP INDEX {index}")
        # revision 0013's (the exports' order, the feed's window) replaced narrower indexes
        conn.execute("DROP INDEX ix_articles_published_at_utc_id")
        conn.execute("CREATE INDEX ix_articles_published_at_utc ON articles (published_at_utc)")
        conn.execute("DROP INDEX ix_article_versions_article_id_id")
        conn.execute(
            "CREATE INDEX ix_article_versions_article_id_id ON article_versions (article_id, id)"
        )
        conn.execute("DROP INDEX ix_article_versions_site_captured_at")
        conn.execute(
            "CREATE INDEX ix_article_versions_site_captured_at "
            "ON article_versions (site, captured_at)"
        )
        # what revision 0008 added (0012 widened), the code of 0005 did not have
        conn.execute("DROP INDEX ix_articles_site_published_at")
        for column in ("published_at_quality", "event_date_source", "event_date"):
            conn.execute(f"ALTER TABLE articles DROP COLUMN {column}")
        # revision 0005's schema: without 0007's published_at_precision
        conn.execute("DROP INDEX ix_articles_site_known")
        conn.execute("ALTER TABLE articles DROP COLUMN published_at_precision")
        conn.execute(
            "CREATE INDEX ix_articles_site_known ON articles "
            "(site, id, url, modified_at, published_at)"
        )
        # revision 0005 had no archive (0009's column)
        for table in ("articles", "article_versions"):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN archive_record")
        # Revision 0010's columns (parser versions, changed fields, run kinds) came later.
        conn.execute("DROP INDEX ix_article_versions_site_parser_version")
        for table, column in (
            ("articles", "parser_version"),
            ("article_versions", "parser_version"),
            ("article_versions", "changed_fields"),
            ("crawl_runs", "kind"),
        ):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.execute("UPDATE alembic_version SET version_num = '0005'")
        conn.commit()
        return changed
    finally:
        conn.close()


def test_a_database_written_before_identity_keys_is_migrated_and_a_recrawl_adds_nothing(
    replica: ReplicaServer, tmp_path: Path
) -> None:
    first = _ok(run_crawl(replica.url, tmp_path / "a"))
    expected_articles = _counts(first.database_url)[0]
    changed = _as_written_before_identity_keys(first.database_url)
    assert changed > 0
    ids_before = {row[0] for row in database_rows(first.database_url, "SELECT id FROM articles")}

    again = _ok(
        run_crawl(
            replica.url, tmp_path / "b", database_url=first.database_url, spider_args={"full": "1"}
        )
    )
    assert _counts(first.database_url) == (expected_articles, expected_articles)
    assert "'storage/new'" not in again.log
    assert "'storage/changed'" not in again.log
    assert database_rows(first.database_url, "SELECT version_num FROM alembic_version") == [
        ("0013",)
    ]
    ids_after = {row[0] for row in database_rows(first.database_url, "SELECT id FROM articles")}
    assert ids_after.isdisjoint(ids_before)
    # every URL row and version still belongs to an article
    orphans = database_rows(
        first.database_url,
        "SELECT count(*) FROM article_urls WHERE article_id NOT IN (SELECT id FROM articles)",
    ) + database_rows(
        first.database_url,
        "SELECT count(*) FROM article_versions WHERE article_id NOT IN (SELECT id FROM articles)",
    )
    assert orphans == [(0,), (0,)]


def _export(tmp_path: Path, database_url: str, site: str) -> tuple[int, str, list[Any]]:
    out = tmp_path / f"{site}.jsonl"
    result = run_scrapy(
        tmp_path,
        "export",
        "--format",
        "jsonl",
        "--site",
        site,
        "--output",
        str(out),
        "-s",
        f"DATABASE_URL={database_url}",
    )
    records = []
    if out.exists():
        records = [json.loads(line) for line in out.read_text("utf-8").splitlines() if line]
    return result.returncode, result.stderr, records


def _refused(result: CrawlResult) -> str:
    assert result.returncode == 2, result.log[-3000:]
    [line] = [line for line in result.log.splitlines() if line.startswith("scrapy crawl ")]
    assert "Traceback" not in result.log
    return line


def test_a_profile_then_the_generic_spider_on_one_host_refuses_the_second_in_one_line(
    replica: ReplicaServer, tmp_path: Path
) -> None:
    generic_site = f"127-0-0-1-{_port(replica)}"
    first = _ok(run_crawl(replica.url, tmp_path / "a"))
    expected_articles = _counts(first.database_url)[0]
    rows_before = database_rows(first.database_url, "SELECT id, site, last_run_id FROM articles")

    second = run_crawl(
        replica.url, tmp_path / "b", database_url=first.database_url, spider="liferay"
    )
    line = _refused(second)
    assert line == (
        f"scrapy crawl liferay: error: the host of {replica.url} already belongs to site "
        f"'hepza' in this database ({expected_articles} articles); crawl it under that name: "
        f"scrapy crawl hepza -a base_url={replica.url}"
    )
    assert database_rows(first.database_url, "SELECT id, site, last_run_id FROM articles") == (
        rows_before
    )
    assert _counts(first.database_url) == (expected_articles, expected_articles)

    code, _, records = _export(tmp_path, first.database_url, "hepza")
    assert code == 0
    assert len(records) == expected_articles
    assert {record["site"] for record in records} == {"hepza"}
    code, stderr, records = _export(tmp_path, first.database_url, generic_site)
    assert (code, records) == (2, [])
    assert "the database holds no articles of that site (sites: hepza)" in stderr


def test_the_generic_spider_then_a_profile_on_one_host_refuses_the_profile_in_one_line(
    replica: ReplicaServer, tmp_path: Path
) -> None:
    generic_site = f"127-0-0-1-{_port(replica)}"
    first = _ok(run_crawl(replica.url, tmp_path / "a", spider="liferay"))
    expected_articles = _counts(first.database_url)[0]
    second = run_crawl(replica.url, tmp_path / "b", database_url=first.database_url)
    line = _refused(second)
    assert line == (
        f"scrapy crawl hepza: error: the host of {replica.url} already belongs to site "
        f"{generic_site!r} in this database ({expected_articles} articles); crawl it under "
        f"that name: scrapy crawl liferay -a base_url={replica.url}"
    )
    code, _, records = _export(tmp_path, first.database_url, generic_site)
    assert code == 0
    assert len(records) == expected_articles
    code, stderr, _ = _export(tmp_path, first.database_url, "hepza")
    assert code == 2
    assert f"(sites: {generic_site})" in stderr
