"""``make demo`` ends with commands that explore what it stored, and each of them works."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from typing import TYPE_CHECKING

import pytest

from tests import demo
from tests.crawl_runner import PROJECT_ROOT

if TYPE_CHECKING:
    from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def printed_commands(output: str) -> list[str]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("explore what the demo"))
    return [line.strip() for line in lines[start + 1 :] if line.startswith("  ")]


def run_shell(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        shell=True,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def serve_until_it_answers(command: str, port: int) -> None:
    """Start the printed browse command on ``port``, wait for its first page, stop it."""
    command = command.replace("BROWSE_ARGS=", f"BROWSE_ARGS=--port {port} ", 1)
    server = subprocess.Popen(
        command,
        shell=True,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/hepza.json", timeout=10):
                    return
            except OSError:
                if server.poll() is not None:
                    out = server.stdout.read() if server.stdout else ""
                    pytest.fail(f"{command} exited {server.returncode}: {out}")
                assert time.monotonic() < deadline, f"{command} never answered"
                time.sleep(0.2)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_every_command_the_demo_prints_runs_on_what_it_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert demo.main(tmp_path / "demo") == 0
    commands = printed_commands(capsys.readouterr().out)
    assert [re.split(r"\s+", c)[:2] for c in commands] == [
        [".venv/bin/scrapy", "search"],
        [".venv/bin/scrapy", "runs"],
        [".venv/bin/scrapy", "report"],
        ["make", "browse"],
    ]
    search, runs, report, browse = commands

    found = run_shell(search)
    assert found.returncode == 0, found.stderr
    matches = re.search(r"^(\d+) articles? match", found.stdout, re.MULTILINE)
    assert matches is not None and int(matches[1]) > 0, found.stdout

    listed = run_shell(runs)
    assert listed.returncode == 0, listed.stderr
    assert "succeeded" in listed.stdout

    written = run_shell(report)
    assert written.returncode == 0, written.stderr
    assert list((tmp_path / "demo" / "reports").glob("report-*.html"))

    serve_until_it_answers(browse, free_port())
