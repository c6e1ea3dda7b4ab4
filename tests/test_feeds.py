"""CommittedFileFeedStorage (crawler/crawl/feeds.py): a local feed takes its name only when its run
closes having stored every article it lists."""

from __future__ import annotations

from pathlib import Path

from scrapy import Spider
from scrapy.utils.test import get_crawler

from crawler.crawl.feeds import CommittedFileFeedStorage, partial_path
from crawler.extensions.feed_summary import partial_feed_message


def storage(target: Path | str, *, overwrite: bool, lost: int = 0) -> CommittedFileFeedStorage:
    crawler = get_crawler(Spider)
    assert crawler.stats is not None
    crawler.stats.open_spider()
    if lost:
        crawler.stats.set_value("storage/lost", lost)
    return CommittedFileFeedStorage.from_crawler(
        crawler, str(target), feed_options={"overwrite": overwrite}
    )


def test_an_overwritten_feed_keeps_the_old_file_until_the_run_closes_then_replaces_it(
    tmp_path: Path,
) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text('{"old": 1}\n')
    feed = storage(target, overwrite=True)
    handle = feed.open(Spider("s"))
    handle.write(b'{"new": 1}\n')
    handle.flush()
    assert target.read_text() == '{"old": 1}\n'  # a kill now leaves the last whole feed
    assert partial_path(target).read_text() == '{"new": 1}\n'
    feed.store(handle)
    assert target.read_text() == '{"new": 1}\n'
    assert not partial_path(target).exists()


def test_an_appended_feed_gets_this_runs_articles_at_the_close(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text('{"a": 1}\n')
    feed = storage(target, overwrite=False)
    handle = feed.open(Spider("s"))
    handle.write(b'{"b": 2}\n')
    feed.store(handle)
    assert target.read_text() == '{"a": 1}\n{"b": 2}\n'
    assert not partial_path(target).exists()


def test_a_run_that_lost_articles_leaves_its_feed_partial_and_the_old_file_alone(
    tmp_path: Path,
) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text('{"old": 1}\n')
    feed = storage(target, overwrite=True, lost=3)
    handle = feed.open(Spider("s"))
    handle.write(b'{"new": 1}\n')
    feed.store(handle)
    assert target.read_text() == '{"old": 1}\n'
    assert partial_path(target).read_text() == '{"new": 1}\n'
    assert feed.path == str(partial_path(target))  # where the run owner finds what was written


def test_a_feed_on_a_device_is_written_in_place() -> None:
    feed = storage("/dev/null", overwrite=True)
    handle = feed.open(Spider("s"))
    handle.write(b"x\n")
    feed.store(handle)
    assert feed.partial is None
    assert not Path("/dev/null.partial").exists()


def test_a_feed_summary_speaks_only_of_a_feed_short_of_the_site() -> None:
    stats = {"crawl/known_articles": 60, "storage/new": 5, "run/site": "hepza"}
    since = partial_feed_message("out.jsonl", 7, {**stats, "crawl/mode": "since 2025-01-01"}, "x")
    assert since is not None
    assert since.startswith("the feed out.jsonl holds 7 of the 65 articles of hepza: this since")
    assert partial_feed_message("out.jsonl", 65, stats, "x") is None  # the whole site
    assert partial_feed_message("out.jsonl", 7, {**stats, "crawl/mode": "full"}, "x") is None
    assert partial_feed_message("out.jsonl", 0, {"storage/new": 5}, "x") is None  # no index read
