"""End-to-end: alerts reach a local SMTP sink and a local webhook receiver on a failed run,
never on a good one, and a dead SMTP server or webhook leaves the run's outcome and exit
status as they were, recorded in its report (crawler/extensions/alerts.py)."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from tests.alert_receivers import SmtpSink, WebhookReceiver, free_port
from tests.crawl_runner import FAST_SETTINGS, PROJECT_ROOT, run_crawl
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig
from tests.test_cron import Harness

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e

UNREACHABLE = "could not be reached"


def alert_settings(smtp_port: int, webhook_url: str, **more: str) -> dict[str, str]:
    return {
        "ALERT_EMAIL_TO": "ops@example.org",
        "ALERT_EMAIL_FROM": "crawler@example.org",
        "ALERT_SMTP_HOST": "127.0.0.1",
        "ALERT_SMTP_PORT": str(smtp_port),
        "ALERT_WEBHOOK_URL": webhook_url,
        "ALERT_TIMEOUT": "5",
        **more,
    }


def crawl_runs_report(workdir: Path) -> dict[str, object]:
    with sqlite3.connect(workdir / "hepza.sqlite3") as conn:
        (report,) = conn.execute("SELECT report FROM crawl_runs").fetchone()
    return dict(json.loads(report))


def test_failed_run_sends_one_email_and_one_webhook_with_the_reason(tmp_path: Path) -> None:
    with SmtpSink() as sink, WebhookReceiver() as hook:
        result = run_crawl(
            f"http://127.0.0.1:{free_port()}",
            tmp_path,
            settings={"RETRY_TIMES": "0", **alert_settings(sink.port, hook.url)},
        )
    assert result.returncode == 1, result.log[-3000:]
    assert len(sink.messages) == 1
    assert len(hook.bodies) == 1
    email = sink.messages[0]
    assert email["Subject"] == "[hepza-crawler] hepza: run FAILED"
    body = email.get_body(preferencelist=("plain",))
    assert body is not None
    assert UNREACHABLE in body.get_content()
    assert UNREACHABLE in json.loads(hook.bodies[0])["text"]
    alerts = result.report["alerts"]
    assert [d["delivered"] for d in alerts["deliveries"]] == [True, True]
    assert any(UNREACHABLE in reason for reason in alerts["reasons"])
    assert crawl_runs_report(tmp_path)["alerts"] == alerts


def test_good_run_sends_nothing(tmp_path: Path) -> None:
    with (
        ReplicaServer(ReplicaConfig(articles=10)) as server,
        SmtpSink() as sink,
        WebhookReceiver() as hook,
    ):
        result = run_crawl(server.url, tmp_path, settings=alert_settings(sink.port, hook.url))
    assert result.returncode == 0, result.log[-3000:]
    assert result.report["outcome"] == "succeeded"
    assert sink.messages == []
    assert hook.bodies == []
    assert "alerts" not in result.report


def test_dead_smtp_and_failing_webhook_leave_a_failed_run_failed_and_are_recorded(
    tmp_path: Path,
) -> None:
    dead_smtp = free_port()
    with WebhookReceiver(status=500) as hook:
        result = run_crawl(
            f"http://127.0.0.1:{free_port()}",
            tmp_path,
            settings={"RETRY_TIMES": "0", **alert_settings(dead_smtp, hook.url)},
        )
    assert result.returncode == 1
    report = result.report
    assert report["outcome"] == "failed"
    deliveries = report["alerts"]["deliveries"]
    assert [d["delivered"] for d in deliveries] == [False, False]
    assert f"e-mail via 127.0.0.1:{dead_smtp} failed" in deliveries[0]["error"]
    assert "answered HTTP 500" in deliveries[1]["error"]
    assert "alert not delivered (e-mail to ops@example.org)" in result.log
    assert "SECRETPATH" not in result.log
    assert crawl_runs_report(tmp_path)["alerts"]["deliveries"] == deliveries


def test_dead_alert_channels_on_a_good_run_keep_it_succeeded(tmp_path: Path) -> None:
    """A good run that still alerts (no new article for N days) keeps exit 0 and outcome
    succeeded when neither channel answers; the failed delivery is in its report."""
    settings = alert_settings(free_port(), f"http://127.0.0.1:{free_port()}/hook")
    with ReplicaServer(ReplicaConfig(articles=10)) as server:
        first = run_crawl(server.url, tmp_path)
        assert first.returncode == 0, first.log[-3000:]
        # The first run (which stored every article) ten days back: nothing new since.
        old = (datetime.now(UTC) - timedelta(days=10)).replace(tzinfo=None).isoformat(" ")
        with sqlite3.connect(tmp_path / "hepza.sqlite3") as conn:
            conn.execute("UPDATE crawl_runs SET started_at = ?", (old,))
        second = run_crawl(
            server.url, tmp_path / "second", database_url=first.database_url,
            settings={**settings, "ALERT_NO_NEW_DAYS": "3"},
        )  # fmt: skip
    assert second.returncode == 0, second.log[-3000:]
    report = second.report
    assert report["outcome"] == "succeeded"
    assert report["alerts"]["reasons"] == [
        "no new article stored in the last 3 day(s) (1 run(s) since then)"
    ]
    assert [d["delivered"] for d in report["alerts"]["deliveries"]] == [False, False]
    assert second.log.count("alert not delivered") == 2


def _hepza_run(out: Path, alerts: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``hepza-run`` of a site that cannot be reached, with these alert settings."""
    settings = {**FAST_SETTINGS, "RETRY_TIMES": "0", "FEEDS": "{}", **alerts}
    args = [sys.executable, "-m", "crawler.ops.cron", "--output-dir", str(out), "--"]
    args += ["-a", f"base_url=http://127.0.0.1:{free_port()}"]
    for name, value in settings.items():
        args += ["-s", f"{name}={value}"]
    return subprocess.run(
        args, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_hepza_run_failure_alerts_through_the_same_path(tmp_path: Path) -> None:
    with SmtpSink() as sink, WebhookReceiver() as hook:
        result = _hepza_run(tmp_path / "out", alert_settings(sink.port, hook.url))
    assert result.returncode == 1, result.stderr[-3000:]
    assert "hepza-run: failed" in result.stdout
    assert len(sink.messages) == 1
    assert len(hook.bodies) == 1
    assert UNREACHABLE in json.loads(hook.bodies[0])["text"]
    assert "alert not delivered" not in result.stdout


def test_hepza_run_summary_names_an_alert_that_did_not_go_out(tmp_path: Path) -> None:
    dead_smtp = free_port()
    result = _hepza_run(tmp_path / "out", alert_settings(dead_smtp, ""))
    assert result.returncode == 1, result.stderr[-3000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("hepza-run: failed: ")
    assert f"; alert not delivered: e-mail via 127.0.0.1:{dead_smtp} failed" in summary


def test_a_bad_alert_setting_stops_the_crawl_before_it_starts(tmp_path: Path) -> None:
    result = run_crawl(
        f"http://127.0.0.1:{free_port()}", tmp_path, settings={"ALERT_SMTP_SECURITY": "tls"}
    )
    assert result.returncode == 2
    assert "scrapy crawl hepza: error: ALERT_SMTP_SECURITY='tls' is not known" in result.log
    assert not (tmp_path / "reports" / "latest.json").exists()


def _crawl_with_refused_database(
    tmp_path: Path, alerts: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """``scrapy crawl hepza`` whose PostgreSQL refuses connections: it stops before the run
    starts, so no run report exists to hold the failure."""
    url = f"postgresql+psycopg://u:pw-4711@127.0.0.1:{free_port()}/db"
    settings = {
        "DATABASE_URL": url,
        "REPORTS_DIR": str(tmp_path / "reports"),
        "ARCHIVE_DIR": str(tmp_path / "archive"),
        **alerts,
    }
    cmd = [sys.executable, "-m", "scrapy", "crawl", "hepza"]
    cmd += ["-a", f"base_url=http://127.0.0.1:{free_port()}"]
    for name, value in settings.items():
        cmd += ["-s", f"{name}={value}"]
    return subprocess.run(
        cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_database_that_cannot_be_reached_is_alerted_though_no_run_started(
    tmp_path: Path,
) -> None:
    with SmtpSink() as sink, WebhookReceiver() as hook:
        result = _crawl_with_refused_database(tmp_path, alert_settings(sink.port, hook.url))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("scrapy crawl hepza: error: the database")
    assert len(sink.messages) == 1
    assert len(hook.bodies) == 1
    text = json.loads(hook.bodies[0])["text"]
    assert "The crawl of hepza could not start" in text
    assert "postgresql+psycopg://u:***@127.0.0.1:" in text
    assert "pw-4711" not in text


def test_an_undelivered_alert_of_an_unreachable_database_keeps_exit_1(tmp_path: Path) -> None:
    dead_smtp = free_port()
    result = _crawl_with_refused_database(tmp_path, alert_settings(dead_smtp, ""))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("scrapy crawl hepza: error: the database")
    assert lines[-2].startswith(
        f"scrapy crawl hepza: alert not delivered: e-mail to ops@example.org: "
        f"e-mail via 127.0.0.1:{dead_smtp} failed"
    )


def test_hepza_run_alerts_about_a_crawl_killed_before_it_could_report(tmp_path: Path) -> None:
    """The crawl (a stand-in that SIGKILLs itself, as the OOM killer would) leaves no report
    and sends nothing: the wrapper alerts with the crawl's own alert settings."""
    harness = Harness(tmp_path)
    with SmtpSink() as sink, WebhookReceiver() as hook:
        environ = {"HEPZA_ALERT_WEBHOOK_URL": hook.url}
        # e-mail from `-s` after `--`, the webhook from the environment: both as the crawl reads
        smtp = {k: v for k, v in alert_settings(sink.port, "").items() if "WEBHOOK" not in k}
        args = [arg for name, value in smtp.items() for arg in ("-s", f"{name}={value}")]
        result = harness.run("--", *args, environ=environ, self_kill="1")
    assert result.returncode == 128 + signal.SIGKILL
    assert len(sink.messages) == 1
    assert len(hook.bodies) == 1
    text = json.loads(hook.bodies[0])["text"]
    assert "The crawl of hepza died" in text
    assert "killed by SIGKILL" in text
    assert "alert not delivered" not in result.stdout


def test_hepza_run_names_an_undelivered_alert_about_a_killed_crawl(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    dead = free_port()
    environ = {"HEPZA_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{dead}/hook"}
    result = harness.run(environ=environ, self_kill="1")
    assert result.returncode == 128 + signal.SIGKILL
    assert f"; alert not delivered: webhook http://127.0.0.1:{dead}: " in result.stdout
