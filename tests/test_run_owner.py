"""The run owner: one store, one run id, one site per run; pipelines and spider report to it."""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any

import pytest
from scrapy import Spider, signals
from scrapy.utils.test import get_crawler
from sqlalchemy import select

from crawler.crawl.crawl_state import load_crawl_state
from crawler.domain.urls import article_id
from crawler.extensions.alerts import Alerts
from crawler.extensions.run import RunOwner
from crawler.sites.key import site_of
from crawler.sites.profile import find_profile, profile_from_dict
from pipelines.dedupe import DedupePipeline
from pipelines.storage.models import CrawlRun
from pipelines.storage.pipeline import StoragePipeline

if TYPE_CHECKING:
    from pathlib import Path

    from scrapy.crawler import Crawler

OTHER = profile_from_dict({"name": "district-1", "base_url": "https://quan1.example.gov.vn"})


class ProfiledSpider(Spider):
    name = "profiled"

    def __init__(self, profile: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.profile = profile


def recording_crawler(database_url: str, tmp_path: Path) -> Crawler:
    crawler = get_crawler(
        settings_dict={
            "DATABASE_URL": database_url,
            "RECORD_RUN": True,
            "REPORTS_DIR": str(tmp_path / "reports"),
            "EXTENSIONS": {RunOwner: 500},
        }
    )
    crawler.stats.open_spider()
    return crawler


def owner_of(crawler: Crawler) -> RunOwner:
    owner = crawler.get_extension(RunOwner)
    assert owner is not None
    return owner


def runs(owner: RunOwner) -> list[tuple[str, str, str]]:
    assert owner.store is not None
    with owner.store.engine.connect() as conn:
        query = select(CrawlRun.run_id, CrawlRun.site, CrawlRun.outcome)
        return [tuple(row) for row in conn.execute(query)]


def test_pipelines_share_the_owners_one_store_and_run_id(database_url, tmp_path):
    crawler = recording_crawler(database_url, tmp_path)
    owner = owner_of(crawler)
    storage = StoragePipeline.from_crawler(crawler)
    dedupe = DedupePipeline.from_crawler(crawler)
    assert owner.store is not None
    assert storage.store is owner.store
    assert dedupe.owner is owner
    assert storage.run_id == owner.run_id
    assert len(owner.run_id) == 32
    owner.store.close()


def test_the_run_starts_with_its_site_and_finishes_once_with_its_outcome(database_url, tmp_path):
    crawler = recording_crawler(database_url, tmp_path)
    owner = owner_of(crawler)
    spider = ProfiledSpider(OTHER)
    owner.spider_opened(spider)
    assert crawler.stats.get_value("run/id") == owner.run_id
    assert crawler.stats.get_value("run/site") == "district-1"
    assert runs(owner) == [(owner.run_id, "district-1", "running")]
    asyncio.run(owner.spider_closed(spider, "shutdown"))
    assert owner.outcome == "interrupted"
    assert owner.report is not None
    assert owner.report["site"] == "district-1"
    assert runs(owner) == [(owner.run_id, "district-1", "interrupted")]
    assert (tmp_path / "reports" / f"{owner.run_id}.json").is_file()


def test_the_crawl_state_reads_only_the_spiders_site(database_url, tmp_path, make_article_record):
    crawler = recording_crawler(database_url, tmp_path)
    owner = owner_of(crawler)
    assert owner.store is not None
    owner.store.write_batch([make_article_record("a")], "earlier")
    crawler.spider = ProfiledSpider(OTHER)
    assert load_crawl_state(crawler).article_count == 0
    crawler.spider = ProfiledSpider(find_profile("hepza"))
    assert load_crawl_state(crawler).article_count == 1
    owner.store.close()


def test_the_site_of_a_spider_is_its_profile_name() -> None:
    assert site_of(ProfiledSpider(OTHER)) == "district-1"
    with pytest.raises(ValueError, match="no site profile"):
        site_of(ProfiledSpider(None))
    with pytest.raises(ValueError, match="no site profile"):
        site_of(Spider("plain"))


def test_the_crawl_state_finds_an_article_under_its_key_and_each_url_it_is_stored_under(
    database_url, tmp_path, make_article_record
):
    host = "https://hepza.hochiminhcity.gov.vn"
    # A portal without display pages: stored under the Asset Publisher URL it is read at, its
    # id (and the frontier's key) from the display-page form.
    address = f"{host}/tin-tuc/-/asset_publisher/abc/content/ap-bai"
    crawler = recording_crawler(database_url, tmp_path)
    owner = owner_of(crawler)
    assert owner.store is not None
    owner.store.write_batch(
        [
            make_article_record("bai"),
            make_article_record(
                "ap-bai", url=address, id=article_id(f"{host}/w/ap-bai"), alternate_urls=[]
            ),
        ],
        "earlier",
    )
    crawler.spider = ProfiledSpider(find_profile("hepza"))
    known = load_crawl_state(crawler).known
    # The compact index keeps no URLs (issue 24): each URL finds its article's row.
    bai, ap_bai = known.get(f"{host}/w/bai"), known.get(f"{host}/w/ap-bai")
    assert bai is not None and ap_bai is not None
    assert bai.article != ap_bai.article
    assert getattr(known.get(f"{host}/vi/w/bai"), "article", None) == bai.article
    assert getattr(known.get(address), "article", None) == ap_bai.article
    owner.store.close()


def test_the_store_is_closed_once_last_after_the_run_is_recorded_and_the_alerts(
    database_url, tmp_path
):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{free.getsockname()[1]}/alert"  # nobody listens there
    crawler = get_crawler(
        settings_dict={
            "DATABASE_URL": database_url,
            "RECORD_RUN": True,
            "REPORTS_DIR": str(tmp_path / "reports"),
            "EXTENSIONS": {RunOwner: 500, Alerts: 520},
            "ALERT_WEBHOOK_URL": refused,
        }
    )
    crawler.stats.open_spider()
    owner = owner_of(crawler)
    store = owner.store
    assert store is not None
    uses: list[str] = []
    finish_run, close = store.finish_run, store.close

    def recorded(*args: Any, **kwargs: Any) -> None:
        assert "close" not in uses
        uses.append("finish_run")
        finish_run(*args, **kwargs)

    def closed() -> None:
        uses.append("close")
        close()

    store.finish_run = recorded  # type: ignore[method-assign]
    store.close = closed  # type: ignore[method-assign]
    spider = ProfiledSpider(find_profile("hepza"))
    owner.spider_opened(spider)
    crawler.signals.send_catch_log(signal=signals.engine_started)

    async def the_end() -> None:
        await owner.spider_closed(spider, "finished")  # no article: the run fails, is alerted
        await crawler.signals.send_catch_log_async(signal=signals.engine_stopped)

    asyncio.run(the_end())
    # recorded, then recorded again with the alert's delivery (amend_report), then closed once
    assert uses == ["finish_run", "finish_run", "close"]
    assert owner.outcome == "failed"
    with store.engine.connect() as conn:
        report = conn.execute(select(CrawlRun.report)).scalar_one()
    assert report["alerts"]["deliveries"][0]["delivered"] is False
    store.close()
