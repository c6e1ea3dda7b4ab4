"""End-to-end against a hostile portal on 127.0.0.1 (tests/hostile_server.py): each answer a
portal may send that once made a run lose articles while it claimed success."""

from __future__ import annotations

import gzip
import html
import os
import re
import signal
import subprocess
import time
import unicodedata
from typing import TYPE_CHECKING, Any

import pytest

from tests.crawl_runner import PROJECT_ROOT, CrawlResult, crawl_command, run_crawl
from tests.hostile_server import Answer, HostileServer
from tests.replica.content import fold_text
from tests.replica.site import ReplicaConfig, ReplicaSite
from tests.test_e2e import truth_of
from tests.test_limits_e2e import run_stats, stored_urls
from tests.test_quality import cp1258

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

pytestmark = pytest.mark.e2e

ARTICLES = 12
CRAWL_TIMEOUT = 240
BASE = "http://replica.test"


def _gzip_members(body: bytes, parts: int = 3) -> bytes:
    step = -(-len(body) // parts)
    return b"".join(gzip.compress(body[i : i + step]) for i in range(0, len(body), step))


def _multi_member_sitemaps(target: str, base: str, replica: Callable[[], Answer]) -> Answer:
    answer = replica()
    if not target.startswith("/sitemap.xml") or not isinstance(answer.body, bytes):
        return answer
    headers = [*answer.headers, ("Content-Encoding", "gzip")]
    return Answer(answer.status, headers, _gzip_members(answer.body))


def _sitemap_entries(config: ReplicaConfig) -> int:
    """How many <url> entries the replica's sitemaps hold, every sub-sitemap of its index."""
    site = ReplicaSite(config)
    index = site.handle("GET", "/sitemap.xml", 1, base_url=BASE).body.decode()
    subs = [html.unescape(u).removeprefix(BASE) for u in re.findall(r"<loc>([^<]+)</loc>", index)]
    return sum(site.handle("GET", sub, 1, base_url=BASE).body.count(b"<url>") for sub in subs)


def test_a_multi_member_gzip_sitemap_is_read_whole(tmp_path: Path) -> None:
    config = ReplicaConfig(articles=ARTICLES)
    with HostileServer(config, _multi_member_sitemaps) as server:
        result = run_crawl(server.url, tmp_path, timeout=CRAWL_TIMEOUT)
        truth = sorted(truth_of(config, server.url))
    assert result.returncode == 0, result.log[-3000:]
    assert stored_urls(result) == truth
    stats = run_stats(result)
    assert stats["crawl/sitemaps_streamed"] == stats["crawl/sitemaps"] >= 2
    assert stats.get("crawl/sitemaps_empty", 0) == 0
    # Every entry of every sitemap was read, not only its first gzip member's (navigation
    # alone would still find the articles of this small portal).
    assert stats["crawl/sitemap_entries"] == _sitemap_entries(config) > ARTICLES


# --- a million-URL sitemap, and the crawl stopped while it is read ---------------------------

MILLION = 1_000_000
# Entries per chunk of the generated sitemap: the test server never holds it whole either.
CHUNK_ENTRIES = 5000
# What a stopped crawl may take to end, and the memory it may reach, reading that sitemap.
STOP_SECONDS = 30
PEAK_RSS_MB = 500
# MAX_RUN_SECONDS of the crawl stopped by its limit
RUN_SECONDS = 12


def _million_url_sitemap(target: str, base: str, replica: Callable[[], Answer]) -> Answer:
    """/sitemap.xml lists a million articles (/w/mN, generated as sent, about 50 MB); each of
    them answers a small 404; everything else is the replica's."""
    if target == "/sitemap.xml":

        def body() -> Iterator[bytes]:
            yield b'<?xml version="1.0" encoding="UTF-8"?>'
            yield b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            for start in range(0, MILLION, CHUNK_ENTRIES):
                yield "".join(
                    f"<url><loc>{base}/w/m{i}</loc></url>"
                    for i in range(start, start + CHUNK_ENTRIES)
                ).encode()
            yield b"</urlset>"

        return Answer(200, [("Content-Type", "text/xml;charset=UTF-8")], body())
    if target.startswith("/w/m"):
        return Answer(404, [("Content-Type", "text/html;charset=UTF-8")], b"<p>not found</p>")
    return replica()


def _high_water_mb(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM, MB): that of its own program. The
    kernel's ru_maxrss of a child also keeps the high-water mark of the parent it was forked
    from (exec records the old memory map's), here the test process itself, hundreds of MB
    into a full test run."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def _wait_reaping(proc: subprocess.Popen[str], timeout: float) -> tuple[int, int]:
    """(exit status, peak RSS in MB) of ``proc``, waited for up to ``timeout`` seconds (killed
    past it); the peak as the kernel counts it for the crawl's own program (VmHWM), read every
    tenth of a second until it exits."""
    deadline = time.monotonic() + timeout
    peak = _high_water_mb(proc.pid)
    while time.monotonic() < deadline:
        peak = max(peak, _high_water_mb(proc.pid))
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, peak
        time.sleep(0.1)
    proc.kill()
    _, status, _ = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    pytest.fail(f"the crawl did not end within {timeout} s (peak {peak} MB)")


def _stopped_in_a_million_url_sitemap(
    tmp_path: Path, *, stop: str
) -> tuple[int, float, int, dict[str, Any], str]:
    """A crawl of a portal whose sitemap lists a million articles, stopped while that sitemap is
    read (``stop``: "sigterm", or "max_run_seconds" of RUN_SECONDS): (exit status, seconds
    from the stop to the exit, peak RSS in MB, the run's stats, the log)."""
    settings = {"MAX_RUN_SECONDS": str(RUN_SECONDS)} if stop == "max_run_seconds" else {}
    with HostileServer(ReplicaConfig(articles=ARTICLES), _million_url_sitemap) as server:
        cmd, _, _ = crawl_command(server.url, tmp_path, settings={"LOG_LEVEL": "INFO", **settings})
        proc = subprocess.Popen(
            cmd, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # MAX_RUN_SECONDS counts from the spider's opening, a little after this.
        stopped = time.monotonic() + RUN_SECONDS
        try:
            # Reading it: its first articles are being fetched.
            deadline = time.monotonic() + 120
            while len(server.requested("/w/m")) < 200:
                assert proc.poll() is None, "the crawl ended before its sitemap was read"
                assert time.monotonic() < deadline, "the sitemap's articles were never fetched"
                time.sleep(0.1)
            if stop == "sigterm":
                proc.send_signal(signal.SIGTERM)
                stopped = time.monotonic()
                status, peak = _wait_reaping(proc, STOP_SECONDS)
            else:
                status, peak = _wait_reaping(proc, RUN_SECONDS + STOP_SECONDS)
        finally:
            if proc.returncode is None:
                proc.kill()
                proc.wait()
        ended = time.monotonic()
    log = (tmp_path / "crawl.log").read_text(encoding="utf-8")
    result = CrawlResult(status, tmp_path, log, tmp_path / "feed.jsonl", "")
    result.database_url = f"sqlite:///{tmp_path / 'hepza.sqlite3'}"
    return status, ended - stopped, peak, run_stats(result), log


def test_sigterm_while_a_million_url_sitemap_is_read_stops_reading_it(tmp_path: Path) -> None:
    status, seconds, peak, stats, log = _stopped_in_a_million_url_sitemap(tmp_path, stop="sigterm")
    assert status == 1, log[-3000:]
    assert seconds < STOP_SECONDS
    assert peak < PEAK_RSS_MB
    assert stats["finish_reason"] == "shutdown"
    assert stats["crawl/sitemaps_stopped"] == 1
    # Only what was queued before the stop: nowhere near the million the sitemap lists.
    assert stats["scheduler/enqueued"] < 20_000
    assert "stopped reading" in log


def test_max_run_seconds_while_a_million_url_sitemap_is_read_stops_reading_it(
    tmp_path: Path,
) -> None:
    status, seconds, peak, stats, log = _stopped_in_a_million_url_sitemap(
        tmp_path, stop="max_run_seconds"
    )
    assert status == 1, log[-3000:]
    assert seconds < STOP_SECONDS
    assert peak < PEAK_RSS_MB
    assert stats["finish_reason"] == "limit_reached"
    assert stats["crawl/sitemaps_stopped"] == 1
    assert stats["scheduler/enqueued"] < 20_000


# --- redirects off the host, and redirect loops -------------------------------------------


def _redirecting(paths: dict[str, str]) -> Callable[[str, str, Callable[[], Answer]], Answer]:
    """Articles (by canonical path, in either locale) that redirect: "off_host" to the same
    page under another host name (localhost), "loop" to ``?x=1`` and back, "endless" to
    ``?x=1``, ``?x=2``..."""

    def answer(target: str, base: str, replica: Callable[[], Answer]) -> Answer:
        path, _, query = target.partition("?")
        how = paths.get(path.removeprefix("/en"))
        if how is None:
            return replica()
        port = base.rsplit(":", 1)[1]
        n = int(query.removeprefix("x=") or 0) if query.startswith("x=") or not query else 0
        if how == "off_host":
            location = f"http://localhost:{port}{path}"
        elif how == "loop":
            location = path if query else f"{path}?x=1"
        else:
            location = f"{path}?x={n + 1}"
        return Answer(302, [("Location", location), ("Content-Type", "text/html")], b"")

    return answer


def test_articles_lost_to_redirects_are_counted_named_and_fail_the_run_past_the_error_rate(
    tmp_path: Path,
) -> None:
    # Three articles of about 80 requests: under the default MAX_ERROR_RATE (5%) the run
    # succeeds with the WARNINGs and counts; under 1% it fails, as a portal losing many would.
    config = ReplicaConfig(articles=ARTICLES)
    site = ReplicaSite(config)
    articles = sorted(site.articles, key=lambda a: a.number)
    hows = {"off_host": articles[0], "loop": articles[1], "endless": articles[2]}
    paths = {a.canonical_path: how for how, a in hows.items()}
    with HostileServer(config, _redirecting(paths)) as server:
        result = run_crawl(
            server.url, tmp_path, timeout=CRAWL_TIMEOUT, settings={"MAX_ERROR_RATE": "0.01"}
        )
        truth = truth_of(config, server.url)
    lost = sorted(u for u, a in truth.items() if a["canonical_path"] in paths)
    assert len(lost) == 3
    assert stored_urls(result) == sorted(set(truth) - set(lost))
    stats = run_stats(result)
    assert stats["fence/refused"] == stats["fence/redirect_refused"] == 1
    assert stats["fetch/redirect_loop"] == 2
    assert stats["fetch/failed"] == 3
    port = server.url.rsplit(":", 1)[1]
    assert f"refused a request outside {server.url}: http://localhost:{port}/w/" in result.log
    assert "redirect loop (back into its own chain), not followed" in result.log
    assert "redirect loop (more than REDIRECT_MAX_TIMES (20))" in result.log
    # Lost articles are failed requests: past MAX_ERROR_RATE they fail the run.
    assert result.returncode == 1
    assert result.report["outcome"] == "failed"
    assert any("requests failed" in f for f in result.report["failures"])


# --- charsets declared wrong ---------------------------------------------------------------


def latin1_only(text: str) -> str:
    """``text`` with every character Latin-1 lacks stripped of its marks (Vietnamese keeps á, à,
    ã, â, é, ê, í, ó, ô, õ, ú, ý and loses the rest of its diacritics): a Latin-1 page."""
    out = []
    for char in text:
        if ord(char) < 256:
            out.append(char)
            continue
        base = unicodedata.normalize("NFD", char.replace("đ", "d").replace("Đ", "D"))
        out.append(unicodedata.normalize("NFC", base[0]) if ord(base[0]) < 256 else "?")
    return "".join(out)


CHARSET_FORMS = {
    # Vietnamese in windows-1258 under UTF-8 (Content-Type and <meta>)
    "cp1258_under_utf8": lambda page: (cp1258(page), "text/html;charset=UTF-8"),
    # Vietnamese in UTF-8 under windows-1258 (Content-Type and <meta>)
    "utf8_under_cp1258": lambda page: (
        page.replace("charset=UTF-8", "charset=windows-1258").encode("utf-8"),
        "text/html;charset=windows-1258",
    ),
    # Latin-1 text under UTF-8
    "latin1_under_utf8": lambda page: (
        latin1_only(page).encode("latin-1"),
        "text/html;charset=UTF-8",
    ),
}


def test_pages_with_a_wrong_charset_are_stored_in_correct_text_with_a_problem_code(
    tmp_path: Path,
) -> None:
    config = ReplicaConfig(articles=ARTICLES)
    articles = sorted(ReplicaSite(config).articles, key=lambda a: a.number)
    forms = dict(zip([a.canonical_path for a in articles[3:6]], CHARSET_FORMS, strict=True))

    def answer(target: str, base: str, replica: Callable[[], Answer]) -> Answer:
        form = forms.get(target.split("?", 1)[0])
        answer = replica()
        if form is None or not isinstance(answer.body, bytes):
            return answer
        body, content_type = CHARSET_FORMS[form](answer.body.decode("utf-8"))
        return Answer(answer.status, [("Content-Type", content_type)], body)

    with HostileServer(config, answer) as server:
        result = run_crawl(server.url, tmp_path, timeout=CRAWL_TIMEOUT)
        truth = truth_of(config, server.url)
    assert result.returncode == 0, result.log[-3000:]
    records = {r["url"]: r for r in result.feed()}
    expected_code = {
        "cp1258_under_utf8": "charset_not_utf8",
        "utf8_under_cp1258": "charset_corrected",
        "latin1_under_utf8": "charset_not_utf8",
    }
    for url, article in truth.items():
        form = forms.get(article["canonical_path"])
        if form is None:
            continue
        record = records[url]
        text = latin1_only if form == "latin1_under_utf8" else str
        assert record["title"] == fold_text(text(article["title"])), form
        assert record["body_text"].split("\n\n") == [
            fold_text(text(p)) for p in article["body_paragraphs"]
        ], form
        assert "\ufffd" not in record["body_text"]
        assert expected_code[form] in [p["code"] for p in record["problems"]], form
    report = result.report
    assert report["problems"]["charset_not_utf8"] == 2
    assert report["problems"]["charset_corrected"] == 1
