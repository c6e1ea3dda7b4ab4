from __future__ import annotations

import asyncio
import io
import logging
import sys
from types import SimpleNamespace
from typing import Any

import pytest
from scrapy import Spider, signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from crawler.extensions import progress as progress_module
from crawler.extensions.progress import Progress, format_progress


class DummySpider(Spider):
    name = "test"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def make_progress(
    settings: dict[str, Any] | None = None, clock: FakeClock | None = None
) -> Progress:
    crawler = get_crawler(DummySpider, {"PROGRESS_INTERVAL": 30, **(settings or {})})
    crawler.spider = DummySpider.from_crawler(crawler)
    extension = Progress.from_crawler(crawler)
    if clock is not None:
        extension.clock = clock
    return extension


def set_stats(extension: Progress, **values: int) -> None:
    assert extension.crawler.stats is not None
    for key, value in values.items():
        extension.crawler.stats.set_value(key.replace("__", "/"), value)


# --- the line -------------------------------------------------------------------------------


def test_line_format() -> None:
    stats = {
        "response_received_count": 120,
        "storage/new": 40,
        "storage/changed": 5,
        "storage/unchanged": 70,
        "validate/rejected": 2,
        "log_count/ERROR": 1,
    }
    assert format_progress(stats, pages_per_second=3.14, queued=18, elapsed=65.7) == (
        "progress: 120 pages (3.1/s), 45 articles stored (new 40, changed 5), 2 rejected, "
        "1 errors, 18 in queue, elapsed 0:01:05"
    )


def test_line_with_empty_stats_and_unknown_queue() -> None:
    assert format_progress({}, pages_per_second=0, queued=None, elapsed=3725) == (
        "progress: 0 pages (0.0/s), 0 articles stored (new 0, changed 0), 0 rejected, "
        "0 errors, ? in queue, elapsed 1:02:05"
    )


def test_retried_download_exceptions_are_not_errors() -> None:
    line = format_progress(
        {"downloader/exception_count": 7}, pages_per_second=0, queued=0, elapsed=0
    )
    assert "0 errors" in line


# --- configuration --------------------------------------------------------------------------


def test_zero_interval_disables() -> None:
    crawler = get_crawler(DummySpider, {"PROGRESS_INTERVAL": 0})
    with pytest.raises(NotConfigured):
        Progress.from_crawler(crawler)


def test_echo_to_stderr_when_logging_to_a_file_at_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stderr", TtyStream())
    assert make_progress({"LOG_FILE": "output/logs/x.log"}).echo_to is sys.stderr


def test_no_echo_without_log_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", TtyStream())
    assert make_progress().echo_to is None


def test_no_echo_without_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert make_progress({"LOG_FILE": "output/logs/x.log"}).echo_to is None


def test_echo_prints_the_logged_line(caplog: pytest.LogCaptureFixture) -> None:
    extension = make_progress()
    extension.echo_to = io.StringIO()
    with caplog.at_level(logging.INFO, logger=progress_module.__name__):
        extension.log_progress()
    assert extension.echo_to.getvalue().startswith("progress: 0 pages")
    assert extension.echo_to.getvalue().strip() == caplog.records[-1].getMessage()


# --- rates, elapsed and queue ---------------------------------------------------------------


def test_periodic_rate_is_since_the_previous_line() -> None:
    clock = FakeClock()
    extension = make_progress(clock=clock)
    extension.started_at = extension._last_at = clock.now
    clock.now += 5
    set_stats(extension, response_received_count=10)
    assert "10 pages (2.0/s)" in extension.progress_line()
    clock.now += 10
    set_stats(extension, response_received_count=40)
    assert "40 pages (3.0/s)" in extension.progress_line()


def test_final_rate_is_the_run_average() -> None:
    clock = FakeClock()
    extension = make_progress(clock=clock)
    extension.started_at = extension._last_at = clock.now
    clock.now += 15
    set_stats(extension, response_received_count=40)
    extension.progress_line()
    line = extension.progress_line(final=True)
    assert "40 pages (2.7/s)" in line
    assert line.endswith("elapsed 0:00:15")


def test_queue_length_from_the_scheduler() -> None:
    extension = make_progress()
    extension.crawler.engine = SimpleNamespace(scheduler=[object()] * 18)  # type: ignore[assignment]
    assert "18 in queue" in extension.progress_line()


def test_queue_length_from_an_older_engine_slot() -> None:
    extension = make_progress()
    slot = SimpleNamespace(scheduler=[object()] * 4)
    extension.crawler.engine = SimpleNamespace(slot=slot)  # type: ignore[assignment]
    assert extension.queue_length() == 4


def test_queue_length_unknown_when_scheduler_has_no_length() -> None:
    extension = make_progress()
    extension.crawler.engine = SimpleNamespace(scheduler=object())  # type: ignore[assignment]
    assert extension.queue_length() is None


def test_queue_length_unknown_before_the_engine_exists() -> None:
    assert make_progress().queue_length() is None


# --- lifecycle through signals --------------------------------------------------------------


def test_lines_every_interval_and_a_final_one(caplog: pytest.LogCaptureFixture) -> None:
    extension = make_progress({"PROGRESS_INTERVAL": 0.02})
    crawler = extension.crawler
    set_stats(extension, response_received_count=3, storage__new=2)

    def progress_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == progress_module.__name__]

    async def run() -> None:
        crawler.signals.send_catch_log(signals.spider_opened, spider=crawler.spider)
        for _ in range(500):
            if len(progress_lines()) >= 2:
                break
            await asyncio.sleep(0.01)
        crawler.signals.send_catch_log(
            signals.spider_closed, spider=crawler.spider, reason="finished"
        )

    with caplog.at_level(logging.INFO, logger=progress_module.__name__):
        asyncio.run(run())
    assert extension.task is None
    lines = progress_lines()
    # at least two periodic lines, then the final one
    assert len(lines) >= 3
    assert all(line.startswith("progress: 3 pages (") for line in lines)
    assert all("2 articles stored (new 2, changed 0)" in line for line in lines)
