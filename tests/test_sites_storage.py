"""Two sites in one database: separate incremental state, classification, runs and exports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from crawler.commands.export import stored_sites, write_export
from crawler.domain.items import ArticleItem
from pipelines.storage.models import Article, ArticleUrl, ArticleVersion, CrawlRun
from pipelines.storage.pipeline import StoragePipeline
from pipelines.storage.store import ArticleStore, Classification, StorageError, article_id
from tests.test_export import run_scrapy_export
from tests.test_storage import recording_crawler

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

OTHER = "district-1"
OTHER_HOST = "https://quan1.hochiminhcity.gov.vn"


@pytest.fixture
def store(database_url: str) -> Iterator[ArticleStore]:
    store = ArticleStore(database_url)
    yield store
    store.close()


@pytest.fixture
def other_record(
    make_article_record: Callable[..., dict[str, Any]],
) -> Callable[..., dict[str, Any]]:
    """A record of a second portal, on its own host, as its spider would make it."""

    def make(slug: str, **overrides: Any) -> dict[str, Any]:
        url = f"{OTHER_HOST}/web/quan1/w/{slug}"
        return make_article_record(
            slug,
            **{
                "id": article_id(url),
                "site": OTHER,
                "url": url,
                "alternate_urls": [f"{OTHER_HOST}/vi/web/quan1/w/{slug}"],
                **overrides,
            },
        )

    return make


def test_two_sites_keep_separate_incremental_state(store, make_article_record, other_record):
    hepza = [make_article_record("a"), make_article_record("b", body_text="B")]
    other = [other_record("a"), other_record("c", body_text="C"), other_record("d", body_text="D")]
    store.write_batch(hepza, "run-hepza")
    store.write_batch(other, "run-other")
    hepza_index, other_index = store.known_index("hepza"), store.known_index(OTHER)
    assert {known.id for known in hepza_index.values()} == {r["id"] for r in hepza}
    assert {known.id for known in other_index.values()} == {r["id"] for r in other}
    assert set(other_index) == {url for r in other for url in [r["url"], *r["alternate_urls"]]}
    assert store.known_index("a-site-never-crawled") == {}


def test_every_row_of_an_article_carries_its_site(store, make_article_record, other_record):
    alias = f"{OTHER_HOST}/web/quan1/-/asset_publisher/X1/content/a"
    store.write_batch([make_article_record("a"), other_record("a")], "run-1")
    store.record_aliases([(other_record("a")["url"], alias)], "run-1")
    with store.engine.connect() as conn:
        urls = dict(conn.execute(select(ArticleUrl.url, ArticleUrl.site)).all())
        versions = dict(conn.execute(select(ArticleVersion.article_id, ArticleVersion.site)).all())
    assert urls == {
        make_article_record("a")["url"]: "hepza",
        make_article_record("a")["alternate_urls"][0]: "hepza",
        other_record("a")["url"]: OTHER,
        other_record("a")["alternate_urls"][0]: OTHER,
        alias: OTHER,
    }
    assert versions == {make_article_record("a")["id"]: "hepza", other_record("a")["id"]: OTHER}


def test_same_content_on_another_site_is_a_new_article_of_that_site(
    store, make_article_record, other_record
):
    original = make_article_record("a")
    store.write_batch([original], "run-1")
    # A district portal republishing the authority's news keeps its own copy...
    republished = other_record("tin-hepza", content_hash=original["content_hash"])
    assert store.classify(republished) == Classification("new", republished["id"])
    store.write_batch([republished], "run-2")
    # ... while within one site the same content under another URL stays one article.
    twin = other_record("tin-hepza-2", content_hash=original["content_hash"])
    assert store.classify(twin) == Classification("duplicate_content", republished["id"])


def test_classify_and_rewrite_per_site(store, make_article_record, other_record):
    store.write_batch([make_article_record("a"), other_record("a")], "run-1")
    assert store.classify(other_record("a")).status == "unchanged"
    assert store.classify(other_record("a", body_text="Sửa")).status == "changed"
    assert store.classify(make_article_record("a")).status == "unchanged"


def test_a_record_without_site_is_refused_by_the_store(store, make_article_record):
    with pytest.raises(ValueError, match="without a site"):
        store.write_batch([make_article_record("a", site=None)], "run-1")
    with pytest.raises(ValueError, match="without a site"):
        store.classify(make_article_record("a", site=""))
    assert store.known_index("hepza") == {}


def test_runs_carry_their_site_and_abandon_only_their_own_site(store):
    long_ago = datetime.now(UTC) - timedelta(hours=72)
    store.start_run("old-hepza", long_ago, {}, site="hepza")
    store.start_run("old-other", long_ago, {}, site=OTHER)
    with store.engine.begin() as conn:
        conn.execute(
            CrawlRun.__table__.update().values(report={"process": {"host": "elsewhere", "pid": 1}})
        )
    assert store.start_run("new-other", datetime.now(UTC), {}, site=OTHER) == ["old-other"]
    store.finish_run("new-other", datetime.now(UTC), "succeeded", {}, {}, site=OTHER)
    with store.engine.connect() as conn:
        rows = {
            row.run_id: (row.site, row.outcome)
            for row in conn.execute(select(CrawlRun.run_id, CrawlRun.site, CrawlRun.outcome))
        }
    assert rows == {
        "old-hepza": ("hepza", "running"),
        "old-other": (OTHER, "abandoned"),
        "new-other": (OTHER, "succeeded"),
    }


def test_export_of_one_site_holds_only_that_site(
    store, make_article_record, other_record, tmp_path: Path
):
    store.write_batch([make_article_record("a"), make_article_record("b", body_text="B")], "r")
    store.write_batch([other_record("c", body_text="C")], "r")
    assert stored_sites(store.engine) == [OTHER, "hepza"]
    everything, one = tmp_path / "all.jsonl", tmp_path / "one.jsonl"
    assert write_export(store.engine, "jsonl", everything) == 3
    assert write_export(store.engine, "jsonl", one, site=OTHER) == 1
    rows = [json.loads(line) for line in one.read_text(encoding="utf-8").splitlines()]
    assert [(row["site"], row["url"]) for row in rows] == [(OTHER, other_record("c")["url"])]
    sites = [json.loads(line)["site"] for line in everything.read_text("utf-8").splitlines()]
    assert sorted(sites) == [OTHER, "hepza", "hepza"]


def test_scrapy_export_site_names_its_file_and_refuses_an_unknown_site(
    store, database_url, make_article_record, other_record, tmp_path: Path
):
    store.write_batch([make_article_record("a"), other_record("c", body_text="C")], "r")
    result = run_scrapy_export(
        tmp_path, "--format", "csv", "--site", OTHER, "-s", f"DATABASE_URL={database_url}"
    )
    assert result.returncode == 0, result.stderr
    [written] = (tmp_path / "output" / "exports").glob(f"{OTHER}-*Z.csv")
    assert f"exported 1 articles to {written.relative_to(tmp_path)}" in result.stdout

    unknown = run_scrapy_export(
        tmp_path, "--format", "csv", "--site", "hepzaa", "-s", f"DATABASE_URL={database_url}"
    )
    assert unknown.returncode == 2
    assert unknown.stderr == (
        "export: --site 'hepzaa': the database holds no articles of that site "
        f"(sites: {OTHER}, hepza)\n"
    )
    assert len(list((tmp_path / "output" / "exports").iterdir())) == 1


def test_two_sites_crawled_one_after_the_other_through_the_pipeline(
    database_url, make_article_record, other_record, tmp_path: Path
):
    changes: dict[str, list[str | None]] = {}
    for site, records in {
        "hepza": [make_article_record("a"), make_article_record("b", body_text="B")],
        # the same content as hepza's "a", republished on the district portal
        OTHER: [other_record("a", content_hash=make_article_record("a")["content_hash"])],
    }.items():
        crawler = recording_crawler(database_url, STORAGE_BATCH_SIZE=1)
        pipeline = StoragePipeline.from_crawler(crawler)
        changes[site] = [pipeline.process_item(ArticleItem(**r)).change for r in records]
        pipeline.close_spider()
        assert crawler.stats.get_value("storage/new") == len(records)
        pipeline.store.close()
    assert changes == {"hepza": ["new", "new"], OTHER: ["new"]}
    store = ArticleStore(database_url)
    assert write_export(store.engine, "jsonl", tmp_path / "both.jsonl") == 3
    assert len({k.id for k in store.known_index(OTHER).values()}) == 1
    store.close()


def test_a_host_belongs_to_the_site_that_stored_its_articles_whatever_its_spelling(
    store, make_article_record, other_record
):
    store.write_batch([make_article_record("a"), other_record("c")], "r")
    hepza = make_article_record("a")["url"]
    for spelling in (
        "https://hepza.hochiminhcity.gov.vn",
        "http://WWW.hepza.hochiminhcity.gov.vn:80",
        "https://www.hepza.hochiminhcity.gov.vn:443/",
    ):
        assert store.sites_of_host(spelling, OTHER) == {"hepza": (1, hepza)}, spelling
        assert store.sites_of_host(spelling, "hepza") == {}
    assert store.sites_of_host("https://hepza.hochiminhcity.gov.vn:8443", OTHER) == {}
    assert store.sites_of_host("https://hepza_hochiminhcity.gov.vn", OTHER) == {}
    other_url = other_record("c")["url"]
    assert store.sites_of_host(OTHER_HOST, "generic", "quan1") == {OTHER: (1, other_url)}


def test_the_store_refuses_to_move_an_article_of_another_site_under_this_run(
    store, make_article_record
):
    store.write_batch([make_article_record("a")], "run-1")
    with pytest.raises(StorageError, match="stored for site 'hepza', not 'liferay-site'"):
        store.write_batch([make_article_record("a", site="liferay-site")], "run-2")
    with store.engine.connect() as conn:
        assert conn.execute(select(Article.site, Article.last_run_id)).all() == [("hepza", "run-1")]


def test_two_groups_of_one_host_are_two_sites(store, make_article_record):
    host = "https://portal.hochiminhcity.gov.vn"
    records = [
        make_article_record("a", site="quan1", url=f"{host}/web/quan1/w/a"),
        make_article_record("b", site="quan2", url=f"{host}/web/quan2/w/b"),
        make_article_record("c", site="root", url=f"{host}/w/c"),
    ]
    store.write_batch([{**r, "id": article_id(r["url"])} for r in records], "r")
    assert store.sites_of_host(host, "quan1", "quan1") == {}
    assert store.sites_of_host(host, "new", "quan1") == {"quan1": (1, f"{host}/web/quan1/w/a")}
    assert store.sites_of_host(host, "root") == {}
    assert store.sites_of_host(host, "new", "guest") == {"root": (1, f"{host}/w/c")}
    assert store.sites_of_host(host, "new", "quan_") == {}
