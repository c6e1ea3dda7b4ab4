from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from scrapy import Spider
from scrapy.exceptions import (
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    NotConfigured,
    ResponseDataLossError,
)
from scrapy.http import Request, Response
from scrapy.utils.test import get_crawler
from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure
from twisted.web.client import ResponseFailed, ResponseNeverReceived
from twisted.web.http import _DataLoss

from crawler.middlewares import retry as retry_module
from crawler.middlewares.retry import BackoffRetryMiddleware, parse_retry_after

if TYPE_CHECKING:
    from collections.abc import Iterator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC)


class UpperBoundRandom:
    """Makes full jitter deterministic: always the largest allowed delay."""

    def uniform(self, low: float, high: float) -> float:
        return high


class DummySpider(Spider):
    name = "test"


def make_middleware(
    settings: dict[str, Any] | None = None,
) -> BackoffRetryMiddleware:
    crawler = get_crawler(
        DummySpider,
        {
            "RETRY_TIMES": 3,
            "RETRY_BACKOFF_BASE": 1.0,
            "RETRY_BACKOFF_MAX": 10.0,
            **(settings or {}),
        },
    )
    crawler.spider = DummySpider.from_crawler(crawler)
    # The wait is cut short when the crawl is not running; these tests play a running crawl.
    crawler.crawling = True
    middleware = BackoffRetryMiddleware.from_crawler(crawler)
    middleware.rng = UpperBoundRandom()  # type: ignore[assignment]
    return middleware


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    calls: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        calls.append(seconds)

    monkeypatch.setattr(retry_module, "sleep", fake_sleep)
    return calls


def response(status: int, headers: dict[str, str] | None = None) -> Response:
    return Response("https://example.org/a", status=status, headers=headers or {})


def stat(middleware: BackoffRetryMiddleware, key: str) -> Any:
    assert middleware.crawler.stats is not None
    return middleware.crawler.stats.get_value(key)


# --- Retry-After parsing -------------------------------------------------------------------


def test_retry_after_seconds() -> None:
    assert parse_retry_after(b"120", NOW) == 120.0


def test_retry_after_seconds_with_whitespace_and_decimal() -> None:
    assert parse_retry_after(" 2.5 ", NOW) == 2.5


def test_retry_after_http_date() -> None:
    header = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(header, NOW) == 90.0


def test_retry_after_http_date_minus_zero_zone() -> None:
    assert parse_retry_after("Sat, 01 Mar 2025 08:00:30 -0000", NOW) == 30.0


def test_retry_after_date_in_the_past_means_now() -> None:
    assert parse_retry_after("Sat, 01 Mar 2025 07:00:00 GMT", NOW) == 0.0


@pytest.mark.parametrize("value", [None, b"", "soon", "-5", "nan", "inf"])
def test_retry_after_unreadable(value: str | bytes | None) -> None:
    assert parse_retry_after(value, NOW) is None


# --- backoff --------------------------------------------------------------------------------


def test_backoff_doubles_then_caps() -> None:
    middleware = make_middleware()
    assert [middleware.backoff_delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_backoff_is_jittered_within_bounds() -> None:
    middleware = make_middleware()
    middleware.rng = retry_module.random.Random(1)
    delays = [middleware.backoff_delay(3) for _ in range(200)]
    assert all(0 <= delay <= 4 for delay in delays)
    assert len(set(delays)) > 100


def test_backoff_disabled_with_zero_base() -> None:
    middleware = make_middleware({"RETRY_BACKOFF_BASE": 0})
    assert middleware.backoff_delay(4) == 0


def test_not_configured_when_retry_disabled() -> None:
    crawler = get_crawler(DummySpider, {"RETRY_ENABLED": False})
    with pytest.raises(NotConfigured):
        BackoffRetryMiddleware.from_crawler(crawler)


# --- responses ------------------------------------------------------------------------------


def test_server_error_is_retried_after_backoff(slept: list[float]) -> None:
    middleware = make_middleware()
    request = Request("https://example.org/a", meta={"retry_times": 1})
    result = asyncio.run(middleware.process_response(request, response(503)))
    assert isinstance(result, Request)
    assert result.meta["retry_times"] == 2
    assert sum(slept) == 2.0


def test_retry_stats_stay_standard(slept: list[float]) -> None:
    middleware = make_middleware()
    asyncio.run(middleware.process_response(Request("https://example.org/a"), response(500)))
    assert stat(middleware, "retry/count") == 1
    assert stat(middleware, "retry/reason_count/500 Internal Server Error") == 1


def test_backoff_seconds_stat_sums_waits(slept: list[float]) -> None:
    middleware = make_middleware()
    first = Request("https://example.org/a")
    second = asyncio.run(middleware.process_response(first, response(502)))
    assert isinstance(second, Request)
    asyncio.run(middleware.process_response(second, response(502)))
    assert stat(middleware, "retry/backoff_seconds") == 3.0


def test_retry_after_seconds_replaces_backoff(slept: list[float]) -> None:
    middleware = make_middleware()
    result = asyncio.run(
        middleware.process_response(
            Request("https://example.org/a"), response(429, {"Retry-After": "7"})
        )
    )
    assert isinstance(result, Request)
    assert sum(slept) == 7.0


def test_retry_after_http_date_on_503(slept: list[float]) -> None:
    middleware = make_middleware()
    header = format_datetime(datetime.now(UTC) + timedelta(seconds=9), usegmt=True)
    result = asyncio.run(
        middleware.process_response(
            Request("https://example.org/a"), response(503, {"Retry-After": header})
        )
    )
    assert isinstance(result, Request)
    assert 7.0 <= sum(slept) <= 9.0


def test_retry_after_zero_retries_at_once(slept: list[float]) -> None:
    middleware = make_middleware()
    result = asyncio.run(
        middleware.process_response(
            Request("https://example.org/a"), response(503, {"Retry-After": "0"})
        )
    )
    assert isinstance(result, Request)
    assert slept == []


def test_retry_after_ignored_for_other_statuses(slept: list[float]) -> None:
    middleware = make_middleware()
    asyncio.run(
        middleware.process_response(
            Request("https://example.org/a"), response(500, {"Retry-After": "3600"})
        )
    )
    assert sum(slept) == 1.0


def test_retry_after_too_long_gives_up(
    slept: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    middleware = make_middleware()
    original = response(429, {"Retry-After": "3600"})
    with caplog.at_level(logging.INFO, logger=retry_module.__name__):
        result = asyncio.run(
            middleware.process_response(Request("https://example.org/a"), original)
        )
    assert result is original
    assert slept == []
    assert stat(middleware, "retry/retry_after_too_long") == 1
    assert stat(middleware, "retry/count") is None
    assert "asks to retry after 3600s, more than RETRY_BACKOFF_MAX (10s)" in caplog.text


def test_unlisted_status_passes_through(slept: list[float]) -> None:
    middleware = make_middleware()
    original = response(404)
    assert asyncio.run(middleware.process_response(Request("https://e.org/"), original)) is original


def test_dont_retry_passes_through(slept: list[float]) -> None:
    middleware = make_middleware()
    original = response(503)
    request = Request("https://example.org/a", meta={"dont_retry": True})
    assert asyncio.run(middleware.process_response(request, original)) is original


def test_gives_up_after_retry_times(slept: list[float]) -> None:
    middleware = make_middleware()
    original = response(503)
    request = Request("https://example.org/a", meta={"retry_times": 3})
    assert asyncio.run(middleware.process_response(request, original)) is original
    assert stat(middleware, "retry/max_reached") == 1
    assert slept == []


# --- exceptions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exception",
    [
        DownloadTimeoutError("took too long"),
        ResponseDataLossError(),
        DownloadFailedError("connection dropped"),
        ConnectionLost(),
        ResponseNeverReceived([Failure(ConnectionLost())]),
        ResponseFailed([Failure(_DataLoss())]),
    ],
    ids=type,
)
def test_transient_exceptions_are_retried(slept: list[float], exception: Exception) -> None:
    middleware = make_middleware()
    result = asyncio.run(middleware.process_exception(Request("https://example.org/a"), exception))
    assert isinstance(result, Request)
    assert result.meta["retry_times"] == 1
    assert sum(slept) == 1.0


@pytest.mark.parametrize("exception", [ValueError("bug"), IgnoreRequest()], ids=type)
def test_other_exceptions_are_left_alone(slept: list[float], exception: Exception) -> None:
    middleware = make_middleware()
    assert (
        asyncio.run(middleware.process_exception(Request("https://example.org/a"), exception))
        is None
    )


# --- the wait itself ------------------------------------------------------------------------


def test_backoff_does_not_block_other_work() -> None:
    middleware = make_middleware({"RETRY_BACKOFF_BASE": 0.2})
    events: list[str] = []

    async def retry() -> None:
        await middleware.process_response(Request("https://example.org/a"), response(503))
        events.append("retried")

    async def other() -> None:
        await asyncio.sleep(0)
        events.append("other request")

    async def both() -> None:
        await asyncio.gather(retry(), other())

    asyncio.run(both())
    assert events == ["other request", "retried"]


def test_wait_is_cut_short_when_the_crawl_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry_module, "_SLEEP_STEP", 0.01)
    middleware = make_middleware({"RETRY_BACKOFF_BASE": 100, "RETRY_BACKOFF_MAX": 100})

    async def stop_soon() -> None:
        await asyncio.sleep(0.05)
        middleware.crawler.crawling = False

    async def run() -> Request | Response:
        stopper = asyncio.create_task(stop_soon())
        result = await middleware.process_response(Request("https://example.org/a"), response(503))
        await stopper
        return result

    result = asyncio.run(run())
    assert isinstance(result, Request)
    assert stat(middleware, "retry/backoff_seconds") < 100


# --- a real crawl -----------------------------------------------------------------------------

CRAWL_SCRIPT = """
import json, sys
from scrapy import Spider, Request
from scrapy.crawler import CrawlerProcess

base, out = sys.argv[1], sys.argv[2]
paths = ["/500", "/503", "/drop", "/truncated", "/slow", "/too-long"]
seen = {}

class Faults(Spider):
    name = "faults"
    handle_httpstatus_list = [429]

    async def start(self):
        for path in paths:
            yield Request(base + path, callback=self.parse, cb_kwargs={"path": path})

    def parse(self, response, path):
        seen[path] = response.status

    def closed(self, reason):
        stats = self.crawler.stats.get_stats()
        retry = {k: v for k, v in stats.items() if k.startswith("retry/")}
        with open(out, "w") as f:
            json.dump({"seen": seen, "stats": retry}, f)

process = CrawlerProcess({
    "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    "DOWNLOADER_MIDDLEWARES": {
        "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
        "crawler.middlewares.retry.BackoffRetryMiddleware": 550,
    },
    "RETRY_TIMES": 2,
    "RETRY_BACKOFF_BASE": 0.05,
    "RETRY_BACKOFF_MAX": 5,
    "DOWNLOAD_TIMEOUT": 0.5,
    "LOG_LEVEL": "INFO",
    "TELNETCONSOLE_ENABLED": False,
})
process.crawl(Faults)
process.start()
"""


class FaultyHandler(BaseHTTPRequestHandler):
    hits: dict[str, int]
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            count = self.hits[self.path] = self.hits.get(self.path, 0) + 1
        first = count == 1
        if self.path == "/too-long":
            self._reply(429, {"Retry-After": "3600"})
        elif self.path in ("/500", "/503") and first:
            self._reply(int(self.path[1:]), {"Retry-After": "0"})
        elif self.path == "/drop" and first:
            self.close_connection = True
        elif self.path == "/truncated" and first:
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"<html>only a part")
            self.wfile.flush()
            self.close_connection = True
        elif self.path == "/slow" and first:
            time.sleep(1.5)
            # The client has timed out and gone; its retry gets the answer.
            with contextlib.suppress(OSError):
                self._reply(200)
        else:
            self._reply(200)

    def _reply(self, status: int, headers: dict[str, str] | None = None) -> None:
        body = b"<html>ok</html>"
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def faulty_server() -> Iterator[tuple[str, dict[str, int]]]:
    hits: dict[str, int] = {}
    handler = type("Handler", (FaultyHandler,), {"hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def test_real_crawl_retries_faults(
    tmp_path: Path, faulty_server: tuple[str, dict[str, int]]
) -> None:
    base_url, hits = faulty_server
    script = tmp_path / "crawl_faults.py"
    script.write_text(CRAWL_SCRIPT)
    out = tmp_path / "result.json"
    completed = subprocess.run(
        [sys.executable, str(script), base_url, str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["seen"] == {
        "/500": 200,
        "/503": 200,
        "/drop": 200,
        "/truncated": 200,
        "/slow": 200,
        "/too-long": 429,
    }
    stats = result["stats"]
    assert stats["retry/count"] == 5
    assert stats["retry/retry_after_too_long"] == 1
    assert set(stats) >= {
        "retry/reason_count/500 Internal Server Error",
        "retry/reason_count/503 Service Unavailable",
        "retry/reason_count/scrapy.exceptions.DownloadFailedError",
        "retry/reason_count/scrapy.exceptions.ResponseDataLossError",
        "retry/reason_count/scrapy.exceptions.DownloadTimeoutError",
    }
    assert hits["/too-long"] == 1
