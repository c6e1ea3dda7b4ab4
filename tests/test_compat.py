"""Scrapy's internals behind one door (crawler/compat/): each use falls back to Scrapy's public
API on a Scrapy it was not checked against, and a crawl of the replica with every fallback in
force stores every article exactly as with the internals."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
import scrapy
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from crawler import compat
from tests.crawl_runner import PROJECT_ROOT, run_crawl
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig
from tests.test_e2e import truth_of

if TYPE_CHECKING:
    from scrapy.extensions.feedexport import FeedExporter

FORCED = Settings({compat.FALLBACK_SETTING: True})
ROOT = Path(__file__).resolve().parent.parent
PRIVATE = re.compile(
    r"\._slot\b|_ScrapyAgent|_ResponseReader|_download_handlers|enqueue_scrape|_create_crawler"
    r"|\.slots\b|\._parsers\b|\._parse_robots\b|\._robots_error\b|self\._stats\b|super\(\)\._[a-z]"
    r"|def _redirect\b|def _engine_started\b"
    r"|_signal_kill\b|_log_shutdown\b|_disconnect_timeout\b|\"_pool\""
)


def engine(*, running: bool = True, closing: bool = False, backout: bool = False) -> Any:
    return SimpleNamespace(
        running=running,
        crawler=SimpleNamespace(settings=Settings()),
        _slot=SimpleNamespace(closing=object() if closing else None),
        scraper=SimpleNamespace(slot=SimpleNamespace(needs_backout=lambda: backout)),
    )


def forced(engine: Any) -> Any:
    engine.crawler.settings = FORCED
    return engine


def test_the_running_scrapy_is_a_checked_one() -> None:
    assert compat.scrapy_minor() in compat.CHECKED_SCRAPY
    assert compat.internals_usable(Settings())
    assert not compat.internals_usable(FORCED)


def test_another_scrapy_version_turns_the_internals_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scrapy, "__version__", "2.99.0")
    assert compat.scrapy_minor() == "2.99"
    assert not compat.internals_usable(Settings())
    assert compat.cluster_refusal(Settings()) == (
        "cluster mode needs a Scrapy whose internals crawler/compat was checked against "
        "(2.19); this is 2.99.0"
    )


def test_the_environment_forces_the_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(compat.FALLBACK_ENV, "1")
    assert not compat.internals_usable(Settings())


def test_a_closing_engine_is_seen_through_its_slot_and_without_it_only_when_stopped() -> None:
    assert compat.engine_closing(engine(closing=True))
    assert not compat.engine_closing(engine())
    assert not compat.engine_closing(None)
    # fallback: the public `running` alone
    assert not compat.engine_closing(forced(engine(closing=True)))
    assert compat.engine_closing(forced(engine(running=False)))


def test_back_pressure_waits_only_with_the_internals() -> None:
    assert compat.can_wait_for_scheduler(engine())
    assert not compat.can_wait_for_scheduler(engine(closing=True))
    assert not compat.can_wait_for_scheduler(engine(backout=True))
    assert not compat.can_wait_for_scheduler(forced(engine()))


def test_the_engine_is_woken_through_its_slot_unless_closing_or_without_the_internals() -> None:
    def woken(target: Any) -> list[bool]:
        calls: list[bool] = []
        if getattr(target, "_slot", None) is not None:
            target._slot.nextcall = SimpleNamespace(schedule=lambda: calls.append(True))
        return [compat.wake_engine(target), *calls]

    assert woken(engine()) == [True, True]
    assert woken(engine(closing=True)) == [False]
    assert woken(forced(engine())) == [False]
    assert woken(None) == [False]


def test_the_scheduler_of_an_older_engine_only_through_the_internals() -> None:
    older = SimpleNamespace(
        crawler=SimpleNamespace(settings=Settings()),
        _slot=SimpleNamespace(scheduler="queue"),
    )
    assert compat.scheduler_of(older) == "queue"
    assert compat.scheduler_of(forced(older)) is None


def test_feed_slots_only_through_the_internals() -> None:
    exporter: FeedExporter = SimpleNamespace(slots=["slot"])  # type: ignore[assignment]
    assert compat.feed_slots(exporter, Settings()) == ["slot"]
    assert compat.feed_slots(exporter, FORCED) is None


def test_the_cluster_ack_is_refused_without_the_internals() -> None:
    crawler = get_crawler(settings_dict={compat.FALLBACK_SETTING: True})
    with pytest.raises(RuntimeError, match="cannot be acknowledged safely"):
        compat.install_scrape_ack(crawler, lambda *args: None)  # type: ignore[arg-type,return-value]


def test_scrapy_private_names_appear_only_in_the_compat_package() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in ("crawler", "pipelines")
        for path in sorted((ROOT / package).rglob("*.py"))
        if "compat" not in path.relative_to(ROOT).parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if PRIVATE.search(line)
    ]
    assert found == []


@pytest.mark.e2e
def test_a_crawl_with_every_fallback_forced_stores_every_article_and_says_so(
    tmp_path: Path,
) -> None:
    config = ReplicaConfig(articles=40, sitemaps_gzip_chunked=True)
    with ReplicaServer(config) as server:
        result = run_crawl(
            server.url,
            tmp_path,
            settings={compat.FALLBACK_SETTING: "True", "SITEMAP_MAX_QUEUED": "5"},
        )
        truth = truth_of(config, server.url)
    assert result.returncode == 0, result.log[-3000:]
    assert sorted(r["url"] for r in result.feed()) == sorted(truth)
    warnings = [line for line in result.log.splitlines() if "the fallbacks are forced" in line]
    assert len(warnings) == 1
    assert "sitemaps are read into memory" in warnings[0]
    assert "no back-pressure on sitemaps" in warnings[0]
    # read in memory, never paused: the internals were not used
    assert "'crawl/sitemaps_streamed'" not in result.log
    assert "'crawl/sitemap_paused_ms'" not in result.log
    assert "'crawl/sitemaps': " in result.log


@pytest.mark.e2e
def test_a_crawl_with_the_internals_streams_and_pauses_its_sitemaps(tmp_path: Path) -> None:
    config = ReplicaConfig(articles=40, sitemaps_gzip_chunked=True)
    with ReplicaServer(config) as server:
        result = run_crawl(server.url, tmp_path, settings={"SITEMAP_MAX_QUEUED": "5"})
        truth = truth_of(config, server.url)
    assert result.returncode == 0, result.log[-3000:]
    assert sorted(r["url"] for r in result.feed()) == sorted(truth)
    assert "fallbacks are forced" not in result.log
    assert "'crawl/sitemaps_streamed'" in result.log


def test_a_cluster_worker_refuses_to_run_with_the_fallbacks_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable, "-m", "scrapy", "cluster", "work",
            "-s", f"{compat.FALLBACK_SETTING}=True",
            "-s", "CLUSTER_REDIS_URL=redis://127.0.0.1:9/0",
            "-s", f"DATABASE_URL=sqlite:///{tmp_path / 'db.sqlite3'}",
        ],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "scrapy cluster work: error: cluster mode needs a Scrapy whose internals crawler/compat "
        f"was checked against (2.19); this is {scrapy.__version__} with the fallbacks forced"
    ]


@pytest.fixture
def twisted_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deferreds awaited as they are under a non-asyncio reactor (none is installed here)."""
    monkeypatch.setattr("scrapy.utils.defer.is_asyncio_available", lambda: False)


@pytest.mark.usefixtures("twisted_waits")
def test_the_close_timer_firing_after_the_pool_closed_raises_nothing() -> None:
    # The reactor was blocked past the timeout: the connections' close and the expired timer
    # run in one turn, before the waiting coroutine resumes (Scrapy's own timer raised
    # AlreadyCalledError onto a cluster worker's stderr there).
    clock = Clock()
    closing: Deferred[Any] = Deferred()
    timer_errors: list[BaseException] = []

    def timer_runs_in_the_same_turn(result: Any) -> Any:
        try:
            clock.advance(2)
        except BaseException as error:  # what the timer raised is the assertion
            timer_errors.append(error)
        return result

    closing.addCallback(timer_runs_in_the_same_turn)
    waited = Deferred.fromCoroutine(compat.wait_closed(closing, 1, clock))
    closing.callback(None)
    assert timer_errors == []
    assert waited.called
    assert clock.getDelayedCalls() == []


@pytest.mark.usefixtures("twisted_waits")
def test_closing_stops_waiting_for_a_pool_that_never_closes_after_the_timeout() -> None:
    clock = Clock()
    closing: Deferred[Any] = Deferred()
    waited = Deferred.fromCoroutine(compat.wait_closed(closing, 1, clock))
    clock.advance(0.5)
    assert not waited.called
    clock.advance(0.6)
    assert waited.called


@pytest.mark.usefixtures("twisted_waits")
def test_closing_a_pool_that_closes_in_time_cancels_the_timer() -> None:
    clock = Clock()
    closing: Deferred[Any] = Deferred()
    waited = Deferred.fromCoroutine(compat.wait_closed(closing, 1, clock))
    closing.callback(None)
    assert waited.called
    assert clock.getDelayedCalls() == []
