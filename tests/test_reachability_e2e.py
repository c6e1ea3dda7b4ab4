"""Reachability is decided first and fast: a site that does not answer, a home page that fails,
a robots.txt that forbids the crawl and a base_url with a path each end the run with their own
reason. Each through a real ``scrapy crawl`` (or ``hepza-run``) subprocess against a small
server on 127.0.0.1, with the project's own timeouts and retries (not the test's fast ones)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from tests.crawl_runner import FAST_SETTINGS, PROJECT_ROOT, run_crawl
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.e2e

# What the issue asks of an unreachable site, start-up and shutdown included.
UNREACHABLE_SECONDS = 30


def closed_port() -> int:
    """A port on 127.0.0.1 bound, then closed: nothing listens there (refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def silent_server() -> Iterator[int]:
    """A port whose connections are accepted (by the kernel's backlog) and never answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


class TinySite(BaseHTTPRequestHandler):
    """Answers each path from ``pages`` (status, body, seconds held), others 404."""

    pages: ClassVar[dict[str, tuple[int, str, float]]] = {}
    requested: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).requested.append(self.path)
        status, body, hold = self.pages.get(self.path, (404, "not here", 0.0))
        time.sleep(hold)
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def tiny_site(pages: dict[str, tuple[int, str, float]]) -> Iterator[tuple[str, list[str]]]:
    """(base URL, the paths asked for so far) of a TinySite serving ``pages``."""
    asked: list[str] = []
    handler = type("Site", (TinySite,), {"pages": pages, "requested": asked})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def crawl(
    tmp_path: Path,
    base_url: str,
    *,
    spider: str = "hepza",
    settings: dict[str, str] | None = None,
    timeout: float = 120,
) -> tuple[subprocess.CompletedProcess[str], float]:
    """``scrapy crawl`` with the project's politeness, timeouts and retries, its log on stderr
    at INFO; every output place in tmp_path. (result, seconds it took)."""
    merged = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'hepza.sqlite3'}",
        "REPORTS_DIR": str(tmp_path / "reports"),
        "REJECTS_PATH": str(tmp_path / "rejects.jsonl"),
        "ARCHIVE_DIR": str(tmp_path / "archive"),
        "FEEDS": "{}",
        "LOG_LEVEL": "INFO",
        **(settings or {}),
    }
    cmd = [sys.executable, "-m", "scrapy", "crawl", spider, "-a", f"base_url={base_url}"]
    for name, value in merged.items():
        cmd += ["-s", f"{name}={value}"]
    started = time.monotonic()
    result = subprocess.run(
        cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    return result, time.monotonic() - started


def report_of(tmp_path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((tmp_path / "reports" / "latest.json").read_text("utf-8"))
    return report


# --- a site that does not answer ------------------------------------------------------------


@contextmanager
def unreachable(kind: str) -> Iterator[tuple[str, str]]:
    """(base_url, how its failure reads) of a site that is refused, silent or unknown."""
    if kind == "refused":
        port = closed_port()
        yield f"http://127.0.0.1:{port}", "Connection was refused"
    elif kind == "timeout":
        with silent_server() as port:
            yield f"http://127.0.0.1:{port}", "no answer within 15 s (REACHABILITY_TIMEOUT)"
    else:
        # The .invalid top-level domain never resolves (RFC 6761): no query leaves the machine.
        yield "http://nonexistent.invalid", "DNS lookup failed"


@pytest.mark.parametrize("kind", ["refused", "timeout", "dns"])
def test_an_unreachable_site_fails_in_under_30_s_with_its_reason_first_and_no_traceback(
    tmp_path: Path, kind: str
) -> None:
    with unreachable(kind) as (base_url, how):
        result, seconds = crawl(tmp_path, base_url)
    host = base_url.removeprefix("http://")
    reason = f"the site {host} could not be reached: {how}"
    assert result.returncode == 1, result.stderr[-3000:]
    assert seconds < UNREACHABLE_SECONDS, f"{kind}: {seconds:.1f} s"
    assert "Traceback" not in result.stderr + result.stdout
    assert f"run failed (site_unreachable): {reason}" in result.stderr
    failures = report_of(tmp_path)["failures"]
    assert failures[0].startswith(reason), failures


def test_hepza_run_fails_an_unreachable_site_with_exit_1_in_under_30_s(tmp_path: Path) -> None:
    out = tmp_path / "out"
    base_url = f"http://127.0.0.1:{closed_port()}"
    cmd = [
        sys.executable,
        "-m",
        "crawler.ops.cron",
        "--output-dir",
        str(out),
        "--no-jobdir",
        "--",
        "-a",
        f"base_url={base_url}",
    ]
    started = time.monotonic()
    result = subprocess.run(
        cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    seconds = time.monotonic() - started
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert seconds < UNREACHABLE_SECONDS, f"{seconds:.1f} s"
    assert "Traceback" not in result.stdout + result.stderr
    report = json.loads((out / "reports" / "latest.json").read_text("utf-8"))
    assert report["failures"][0].startswith(
        f"the site {base_url.removeprefix('http://')} could not be reached: Connection was refused"
    ), report["failures"]


def test_a_slow_page_after_the_first_answer_gets_the_full_download_timeout(
    tmp_path: Path,
) -> None:
    # robots.txt answers at once; the home page takes longer than REACHABILITY_TIMEOUT, and is
    # still fetched and judged (it is not Liferay: exit 2 with that reason, not unreachable).
    pages = {"/robots.txt": (200, "User-agent: *\nAllow: /\n", 0.0)}
    pages["/"] = (200, "<html><body>a slow plain page</body></html>", 2.0)
    with tiny_site(pages) as (base_url, asked):
        result, _ = crawl(tmp_path, base_url, settings={"REACHABILITY_TIMEOUT": "1"})
    assert result.returncode == 2, result.stderr[-3000:]
    assert "is not a Liferay portal" in result.stderr
    assert "could not be reached" not in result.stderr
    assert asked == ["/robots.txt", "/"]


# --- a home page that fails -----------------------------------------------------------------


def test_a_home_page_404_fails_the_run_even_with_articles_stored(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'hepza.sqlite3'}"
    with ReplicaServer(ReplicaConfig(articles=5)) as server:
        first = run_crawl(server.url, tmp_path / "first", database_url=database)
    assert first.returncode == 0, first.log[-3000:]
    with tiny_site({}) as (base_url, _):
        result, _ = crawl(tmp_path, base_url, settings={"DATABASE_URL": database})
    reason = f"the home page {base_url}/ answered HTTP 404 Not Found"
    assert result.returncode == 1, result.stderr[-3000:]
    assert f"run failed (home_unavailable): {reason}" in result.stderr
    report = report_of(tmp_path)
    assert report["outcome"] == "failed"
    assert any(failure.startswith(reason) for failure in report["failures"])


def test_a_home_page_that_keeps_answering_503_fails_the_run_after_its_retries(
    tmp_path: Path,
) -> None:
    pages = {"/": (503, "down for maintenance", 0.0)}
    with tiny_site(pages) as (base_url, asked):
        result, _ = crawl(tmp_path, base_url, settings=FAST_SETTINGS)
    assert result.returncode == 1, result.stderr[-3000:]
    assert (
        f"run failed (home_unavailable): the home page {base_url}/ answered HTTP 503 "
        "Service Unavailable" in result.stderr
    )
    # RETRY_TIMES (5) retries once the site answered, not the probe's 2; nothing after it.
    assert asked.count("/") == 6
    assert set(asked) == {"/robots.txt", "/"}


# --- robots.txt -----------------------------------------------------------------------------


@pytest.mark.parametrize("fallback", ["False", "True"], ids=["internals", "compat-fallback"])
def test_robots_txt_disallowing_everything_is_the_named_reason(
    tmp_path: Path, fallback: str
) -> None:
    # With crawler.compat's fallbacks forced, Scrapy's own robots.txt fetch runs: the same
    # reason.
    pages = {"/robots.txt": (200, "User-agent: *\nDisallow: /\n", 0.0)}
    settings = {**FAST_SETTINGS, "SCRAPY_COMPAT_FALLBACK": fallback}
    with tiny_site(pages) as (base_url, asked):
        result, _ = crawl(tmp_path, base_url, settings=settings)
    reason = f"robots.txt of {base_url} disallows the crawl of {base_url}/"
    assert result.returncode == 1, result.stderr[-3000:]
    assert f"run failed (robots_disallowed): {reason}" in result.stderr
    report = report_of(tmp_path)
    assert any(failure.startswith(reason) for failure in report["failures"])
    assert not any("requests failed" in failure for failure in report["failures"])
    assert asked == ["/robots.txt"]


# --- a base_url with a path -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spider", "args", "hint"),
    [
        pytest.param("hepza", [], "", id="hepza"),
        pytest.param("liferay", [], "", id="liferay"),
        pytest.param("liferay", ["-a", "site=hepza"], "", id="liferay-site"),
        pytest.param("hepza", [], ' = "guest"', id="web-group"),
    ],
)
def test_a_base_url_with_a_path_is_one_line_naming_group_and_exit_2(
    tmp_path: Path, spider: str, args: list[str], hint: str
) -> None:
    path = "/web/guest" if hint else "/some/path"
    base_url = f"http://127.0.0.1:{closed_port()}{path}"
    cmd = [sys.executable, "-m", "scrapy", "crawl", spider, "-a", f"base_url={base_url}", *args]
    cmd += ["-s", f"OUTPUT_DIR={tmp_path}"]
    result = subprocess.run(
        cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr[-3000:]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"scrapy crawl {spider}: error: base_url={base_url!r} has a path")
    assert f"site profile field group{hint} " in lines[0]


def test_hepza_base_url_with_a_path_from_the_environment_is_one_line_and_exit_2(
    tmp_path: Path,
) -> None:
    cmd = [sys.executable, "-m", "scrapy", "crawl", "hepza", "-s", f"OUTPUT_DIR={tmp_path}"]
    result = subprocess.run(
        cmd,
        cwd=PROJECT_ROOT,
        env={**os.environ, "HEPZA_BASE_URL": "https://hepza.hochiminhcity.gov.vn/vi/"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr[-3000:]
    assert len(lines) == 1, lines
    assert "HEPZA_BASE_URL='https://hepza.hochiminhcity.gov.vn/vi/' has a path" in lines[0]
