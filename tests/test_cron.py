from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from crawler.ops import cron

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Stands in for `scrapy crawl hepza`: records what it was given, then behaves as FAKE_* says.
FAKE_CHILD = r"""
import json, os, signal, sys, time
from pathlib import Path

args = sys.argv[1:]
settings = dict(v.split("=", 1) for k, v in zip(args, args[1:]) if k == "-s")
env = os.environ
record = {
    "argv": args,
    "cwd": os.getcwd(),
    "pid": os.getpid(),
    "pgid": os.getpgid(0),
    "jobdir_existed": Path(settings["JOBDIR"]).exists() if "JOBDIR" in settings else None,
}
Path(env["FAKE_RECORD"]).write_text(json.dumps(record))
with open(settings["LOG_FILE"], "a") as log:  # Scrapy appends (LOG_FILE_APPEND)
    log.write("scrapy log\n")
# Like the real crawl, it writes its report with its verdict (FAKE_NO_REPORT: it does not).
report_file = env.get("FAKE_REPORT") or str(Path(env["HEPZA_REPORTS_DIR"]) / "latest.json")
if not env.get("FAKE_NO_REPORT"):
    from datetime import datetime, timezone
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    verdict = "succeeded" if env.get("FAKE_EXIT", "0") == "0" else "failed"
    report = {"started_at": started, "outcome": verdict}
    report.update(json.loads(env.get("FAKE_REPORT_JSON", "{}")))
    Path(report_file).parent.mkdir(parents=True, exist_ok=True)
    Path(report_file).write_text(json.dumps(report))

def on_signal(signum, frame):
    with open(env["FAKE_SIGNALS"], "a") as f:
        f.write(signal.Signals(signum).name + "\n")
    sys.exit(int(env.get("FAKE_SIGNAL_EXIT", "0")))

signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)
Path(env["FAKE_READY"]).touch()
if env.get("FAKE_SELF_KILL"):
    os.kill(os.getpid(), signal.SIGKILL)
while env.get("FAKE_WAIT") and not Path(env["FAKE_RELEASE"]).exists():
    time.sleep(0.02)
sys.exit(int(env.get("FAKE_EXIT", "0")))
"""


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.output = tmp_path / "output"
        self.fake = tmp_path / "fake_scrapy.py"
        self.fake.write_text(FAKE_CHILD)
        self.release = tmp_path / "release"
        self.ready = tmp_path / "ready"
        self.signals = tmp_path / "signals"
        self.record = tmp_path / "record.json"

    def env(self, **fake: str) -> dict[str, str]:
        env = {
            **os.environ,
            "PYTHONPATH": str(PROJECT_ROOT),
            cron.COMMAND_ENV: f"{sys.executable} {self.fake}",
            "HEPZA_REPORTS_DIR": str(self.tmp / "reports"),
            "FAKE_RECORD": str(self.record),
            "FAKE_READY": str(self.ready),
            "FAKE_RELEASE": str(self.release),
            "FAKE_SIGNALS": str(self.signals),
        }
        env.update({f"FAKE_{key.upper()}": value for key, value in fake.items()})
        return env

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "crawler.ops.cron", "--output-dir", str(self.output), *args]

    def run(
        self, *args: str, environ: dict[str, str] | None = None, **fake: str
    ) -> subprocess.CompletedProcess[str]:
        # cwd is not the project: cron starts jobs from $HOME.
        return subprocess.run(
            self.argv(*args),
            cwd=self.tmp,
            env={**self.env(**fake), **(environ or {})},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def start(self, *args: str, **fake: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            self.argv(*args),
            cwd=self.tmp,
            env=self.env(wait="1", **fake),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not self.ready.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the fake crawl never started"
            time.sleep(0.02)
        return process

    def recorded(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.record.read_text())
        return result

    @property
    def jobdir(self) -> Path:
        return self.output / "jobs" / "hepza"

    @property
    def marker(self) -> Path:
        return self.output / "jobs" / "hepza.running"


@pytest.fixture
def harness(tmp_path: Path) -> Any:
    harness = Harness(tmp_path)
    yield harness
    # Never leave a fake crawl behind, whatever the test did to its wrapper.
    harness.release.touch()
    if harness.record.exists():
        pid = harness.recorded()["pid"]
        for _ in range(250):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)


# --- the command it runs --------------------------------------------------------------------


def test_runs_the_crawl_in_the_project_root_with_log_file_and_jobdir(harness: Harness) -> None:
    result = harness.run("--", "-a", "since=2024-01-01")
    assert result.returncode == 0, result.stderr
    record = harness.recorded()
    assert record["cwd"] == str(PROJECT_ROOT)
    argv = record["argv"]
    assert argv[0] == "-s"
    assert re.fullmatch(
        rf"LOG_FILE={re.escape(str(harness.output))}/logs/hepza-\d{{8}}T\d{{6}}Z\.log", argv[1]
    )
    assert argv[2:] == [
        "-s",
        f"OUTPUT_DIR={harness.output}",
        "-s",
        f"JOBDIR={harness.jobdir}",
        "-a",
        "since=2024-01-01",
    ]


def test_unknown_options_go_to_scrapy(harness: Harness) -> None:
    assert harness.run("-s", "LOG_LEVEL=DEBUG").returncode == 0
    assert harness.recorded()["argv"][-2:] == ["-s", "LOG_LEVEL=DEBUG"]


def test_no_jobdir(harness: Harness) -> None:
    assert harness.run("--no-jobdir").returncode == 0
    assert not any(arg.startswith("JOBDIR=") for arg in harness.recorded()["argv"])
    assert not (harness.output / "jobs").exists()


def test_custom_jobdir(harness: Harness) -> None:
    jobdir = harness.tmp / "state" / "job"
    assert harness.run("--jobdir", str(jobdir)).returncode == 0
    assert f"JOBDIR={jobdir}" in harness.recorded()["argv"]


def test_console_script_is_declared() -> None:
    (script,) = entry_points(group="console_scripts", name="hepza-run")
    assert script.load() is cron.main


# --- exit codes and the summary -------------------------------------------------------------


@pytest.mark.parametrize("code", [1, 3])
def test_exit_code_propagates(harness: Harness, code: int) -> None:
    result = harness.run(exit=str(code), no_report="1")
    assert result.returncode == code
    (log,) = (harness.output / "logs").glob("hepza-*.log")
    assert result.stdout == (
        f"hepza-run: failed; no report from this run; exit code {code}; log {log}\n"
    )
    assert "[hepza-run] ERROR: failed" in log.read_text()


def test_an_exit_0_without_a_report_of_this_run_is_a_failed_run(harness: Harness) -> None:
    result = harness.run(exit="0", no_report="1")
    assert result.returncode == 1
    report = harness.tmp / "reports" / "latest.json"
    (log,) = (harness.output / "logs").glob("hepza-*.log")
    assert result.stdout == (
        "hepza-run: failed: the crawl exited 0 without a report of this run saying it succeeded "
        f"({report}: none); no report from this run; exit code 1; log {log}\n"
    )
    assert "[hepza-run] ERROR: failed" in log.read_text()


def test_an_exit_0_whose_report_does_not_say_succeeded_is_a_failed_run(harness: Harness) -> None:
    report = harness.tmp / "reports" / "latest.json"
    result = harness.run(exit="0", report_json=json.dumps({"outcome": "failed"}))
    assert result.returncode == 1
    assert result.stdout.startswith(
        "hepza-run: failed: the crawl exited 0 without a report of this run saying it succeeded "
        f"({report}: failed); "
    )


def test_the_summary_relays_the_reports_verdict(harness: Harness) -> None:
    interrupted = json.dumps({"outcome": "interrupted"})
    result = harness.run(exit="1", report_json=interrupted)
    assert result.returncode == 1
    assert result.stdout.startswith("hepza-run: interrupted; ")


def test_signal_death_exits_128_plus_signum_and_keeps_the_marker(harness: Harness) -> None:
    result = harness.run(self_kill="1")
    assert result.returncode == 128 + signal.SIGKILL
    assert "killed by SIGKILL" in result.stdout
    assert harness.marker.exists()


def test_summary_names_the_report_written_by_this_run(harness: Harness) -> None:
    report = harness.tmp / "reports" / "latest.json"
    result = harness.run(report=str(report))
    assert result.stdout.rstrip().endswith(f"; report {report}")


def test_summary_skips_a_report_left_by_an_earlier_run(harness: Harness) -> None:
    report = harness.tmp / "reports" / "latest.json"
    report.parent.mkdir()
    report.write_text("{}")
    os.utime(report, (time.time() - 3600, time.time() - 3600))
    stdout = harness.run(no_report="1").stdout
    assert "; report " not in stdout
    assert "; no report from this run; " in stdout


def test_summary_skips_a_fresh_report_of_a_run_that_started_earlier(harness: Harness) -> None:
    report = harness.tmp / "reports" / "latest.json"
    earlier = json.dumps({"started_at": "2024-01-01T00:00:00+00:00", "outcome": "succeeded"})
    stdout = harness.run(report=str(report), report_json=earlier).stdout
    assert "; no report from this run; " in stdout


def test_summary_carries_the_reasons_and_counts_of_this_run(harness: Harness) -> None:
    report = harness.tmp / "reports" / "latest.json"
    failed = {
        "outcome": "failed",
        "failures": [
            "the site example.org could not be reached: DNS lookup failed",
            "first run stored zero articles",
        ],
        "counts": {
            "requests": 3,
            "stored_new": 0,
            "stored_changed": 0,
            "rejected": 0,
            "failed_requests": 3,
            "spider_exceptions": 0,
        },
        "duration_seconds": 4.14,
    }
    result = harness.run(exit="1", report=str(report), report_json=json.dumps(failed))
    assert result.returncode == 1
    (log,) = (harness.output / "logs").glob("hepza-*.log")
    summary = (
        "failed: the site example.org could not be reached: DNS lookup failed; "
        "first run stored zero articles; new 0, changed 0, rejected 0, requests 3, errors 3, "
        f"4.1 s; exit code 1; log {log}; report {report}"
    )
    assert result.stdout == f"hepza-run: {summary}\n"
    assert f"[hepza-run] ERROR: {summary}" in log.read_text()


def test_summary_of_a_good_run_has_its_counts(harness: Harness) -> None:
    report = harness.tmp / "reports" / "latest.json"
    ok = {
        "outcome": "succeeded",
        "failures": [],
        "counts": {"requests": 40, "stored_new": 5, "stored_changed": 2, "rejected": 1},
        "duration_seconds": 12,
    }
    result = harness.run(report=str(report), report_json=json.dumps(ok))
    assert result.stdout.startswith(
        "hepza-run: ok; new 5, changed 2, rejected 1, requests 40, errors 0, 12.0 s; exit code 0; "
    )


def test_the_child_cannot_start(harness: Harness) -> None:
    env = harness.env()
    env[cron.COMMAND_ENV] = str(harness.tmp / "no-such-program")
    result = subprocess.run(
        harness.argv(), cwd=harness.tmp, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 127
    assert "cannot start" in result.stderr
    assert not harness.marker.exists()


# --- the lock -------------------------------------------------------------------------------


def test_overlapping_run_exits_75_at_once(harness: Harness) -> None:
    first = harness.start()
    try:
        second = harness.run(record=str(harness.tmp / "second.json"))
        assert second.returncode == 75
        assert re.fullmatch(
            rf"hepza-run: another run is in progress \(pid {first.pid}, started "
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\); exiting\n",
            second.stderr,
        )
        assert not (harness.tmp / "second.json").exists()
        assert first.poll() is None
    finally:
        harness.release.touch()
        first.communicate(timeout=30)
    assert first.returncode == 0


def test_lock_is_released_after_a_run(harness: Harness) -> None:
    assert harness.run().returncode == 0
    assert harness.run().returncode == 0


def test_lock_outlives_a_wrapper_killed_while_the_crawl_runs(harness: Harness) -> None:
    first = harness.start()
    first.kill()
    # not communicate(): the orphaned crawl still holds the inherited pipes open
    first.wait(timeout=30)
    assert first.stdout is not None and first.stderr is not None
    first.stdout.close()
    first.stderr.close()
    child_pid = harness.recorded()["pid"]
    os.kill(child_pid, 0)  # the crawl is still running
    assert harness.run(record=str(harness.tmp / "second.json")).returncode == 75


# --- signals --------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_is_forwarded_once(harness: Harness, signum: signal.Signals) -> None:
    # Scrapy stops gracefully: an interrupted run, exit 1 (here without a report).
    wrapper = harness.start(signal_exit="1", no_report="1")
    wrapper.send_signal(signum)
    stdout, _ = wrapper.communicate(timeout=30)
    assert wrapper.returncode == 1
    assert harness.signals.read_text() == f"{signum.name}\n"
    assert f"stopped by {signum.name}; no report from this run; exit code 1" in stdout
    # Scrapy saved its state on the graceful stop, so the next run resumes from JOBDIR.
    assert not harness.marker.exists()


def test_child_exit_code_after_a_forwarded_signal(harness: Harness) -> None:
    wrapper = harness.start(signal_exit="1")
    wrapper.send_signal(signal.SIGTERM)
    wrapper.communicate(timeout=30)
    assert wrapper.returncode == 1


def test_terminal_ctrl_c_reaches_the_crawl_only_through_the_wrapper(harness: Harness) -> None:
    wrapper = harness.start()
    try:
        assert harness.recorded()["pgid"] != os.getpgid(wrapper.pid)
    finally:
        harness.release.touch()
        wrapper.communicate(timeout=30)


# --- JOBDIR after a hard kill ---------------------------------------------------------------


def test_stale_marker_moves_the_job_dir_aside(harness: Harness) -> None:
    (harness.jobdir / "requests.queue").mkdir(parents=True)
    (harness.jobdir / "requests.queue" / "active.json").write_text("[1, 2")
    harness.marker.write_text("123 2024-01-01T00:00:00+00:00\n")
    result = harness.run()
    assert result.returncode == 0
    (crashed,) = harness.jobdir.parent.glob("hepza.crashed-*")
    assert re.fullmatch(r"hepza\.crashed-\d{8}T\d{6}Z", crashed.name)
    assert (crashed / "requests.queue" / "active.json").read_text() == "[1, 2"
    assert harness.recorded()["jobdir_existed"] is False
    warning = (
        "the previous run was killed before it could save its job state; "
        f"moved {harness.jobdir} to {crashed}; starting afresh"
    )
    assert f"hepza-run: {warning}" in result.stderr
    (log,) = (harness.output / "logs").glob("hepza-*.log")
    assert f"[hepza-run] WARNING: {warning}" in log.read_text()
    assert not harness.marker.exists()


def test_only_the_last_three_crashed_job_dirs_are_kept(harness: Harness) -> None:
    for stamp in ("20240101T000000Z", "20240201T000000Z", "20240301T000000Z"):
        (harness.jobdir.parent / f"hepza.crashed-{stamp}").mkdir(parents=True)
    harness.jobdir.mkdir()
    harness.marker.touch()
    assert harness.run().returncode == 0
    kept = sorted(p.name for p in harness.jobdir.parent.glob("hepza.crashed-*"))
    assert len(kept) == 3
    assert kept[:2] == ["hepza.crashed-20240201T000000Z", "hepza.crashed-20240301T000000Z"]


def test_a_run_after_a_hard_kill_starts_afresh(harness: Harness) -> None:
    harness.jobdir.mkdir(parents=True)
    assert harness.run(self_kill="1").returncode == 128 + signal.SIGKILL
    harness.record.unlink()
    assert harness.run().returncode == 0
    assert len(list(harness.jobdir.parent.glob("hepza.crashed-*"))) == 1


def job_state(harness: Harness) -> Path:
    state = harness.jobdir / "spider.state"
    state.parent.mkdir(parents=True)
    state.write_text("scheduled_articles")
    return state


@pytest.mark.parametrize(("outcome", "code"), [("succeeded", "0"), ("failed", "1")])
def test_the_wrapper_leaves_a_finished_runs_job_state_to_the_crawl(
    harness: Harness, outcome: str, code: str
) -> None:
    # One place discards a finished run's job state: the crawl command, after its verdict
    # (tests/test_ledger.py, and test_trust_e2e.py through the real crawl). This stand-in
    # crawl keeps it, so the wrapper must not have touched it either.
    state = job_state(harness)
    report = json.dumps({"outcome": outcome})
    result = harness.run(
        exit=code, report=str(harness.tmp / "reports" / "latest.json"), report_json=report
    )
    assert result.returncode == int(code)
    assert harness.recorded()["jobdir_existed"] is True
    assert state.read_text() == "scheduled_articles"
    assert not harness.marker.exists()
    assert not list(harness.jobdir.parent.glob("hepza.crashed-*"))


def test_an_interrupted_run_keeps_its_job_state(harness: Harness) -> None:
    state = job_state(harness)
    report = json.dumps({"outcome": "interrupted"})
    result = harness.run(
        exit="1", report=str(harness.tmp / "reports" / "latest.json"), report_json=report
    )
    assert result.returncode == 1
    assert state.read_text() == "scheduled_articles"


def test_a_run_stopped_by_the_wrapper_keeps_its_job_state(harness: Harness) -> None:
    state = job_state(harness)
    # the crawl's report says it ended; the wrapper knows it forwarded SIGTERM
    report = json.dumps({"outcome": "succeeded"})
    wrapper = harness.start(
        signal_exit="0", report=str(harness.tmp / "reports" / "latest.json"), report_json=report
    )
    wrapper.send_signal(signal.SIGTERM)
    wrapper.communicate(timeout=30)
    assert wrapper.returncode == 0
    assert state.read_text() == "scheduled_articles"


def test_a_run_without_a_report_keeps_the_job_state(harness: Harness) -> None:
    state = job_state(harness)
    assert harness.run(exit="2").returncode == 2
    assert state.read_text() == "scheduled_articles"


# --- log rotation ---------------------------------------------------------------------------


def test_keeps_the_last_30_logs(harness: Harness) -> None:
    logs = harness.output / "logs"
    logs.mkdir(parents=True)
    old = [logs / f"hepza-202401{day:02d}T000000Z.log" for day in range(1, 36)]
    for path in old:
        path.write_text("old\n")
    other = logs / "keep-me.txt"
    other.write_text("not a run log")
    assert harness.run().returncode == 0
    remaining = sorted(logs.glob("hepza-*.log"))
    assert len(remaining) == 30
    assert remaining[:-1] == old[6:]
    assert "scrapy log\n" in remaining[-1].read_text()
    assert other.exists()


@pytest.mark.parametrize("how", ["env", "setting"])
def test_keep_logs_is_a_setting(harness: Harness, how: str) -> None:
    logs = harness.output / "logs"
    logs.mkdir(parents=True)
    for day in range(1, 10):
        (logs / f"hepza-202401{day:02d}T000000Z.log").write_text("old\n")
    if how == "env":
        result = harness.run(environ={"HEPZA_KEEP_LOGS": "1"})
    else:
        result = harness.run("-s", "KEEP_LOGS=3")
    assert result.returncode == 0
    assert len(list(logs.glob("hepza-*.log"))) == (1 if how == "env" else 3)


def test_a_bad_keep_logs_in_the_environment_is_named_by_its_variable(harness: Harness) -> None:
    result = harness.run(environ={"HEPZA_KEEP_LOGS": "lots"})
    assert result.returncode == 2
    assert result.stderr == (
        "hepza-run: HEPZA_KEEP_LOGS='lots' is not a whole number: "
        "expected a whole number of at least 1\n"
    )


def test_a_bad_keep_logs_is_bad_usage(harness: Harness) -> None:
    result = harness.run("-s", "KEEP_LOGS=lots")
    assert result.returncode == 2
    assert result.stderr == (
        "hepza-run: KEEP_LOGS='lots' is not a whole number: expected a whole number of at least 1\n"
    )
    assert not harness.record.exists()


def test_output_dir_defaults_to_hepza_output_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HEPZA_OUTPUT_DIR", str(tmp_path / "elsewhere"))
    paths, _ = cron.parse_args([], PROJECT_ROOT)
    assert paths.output_dir == tmp_path / "elsewhere"
    assert paths.lock_file == tmp_path / "elsewhere" / "hepza.lock"
    assert paths.jobdir == tmp_path / "elsewhere" / "jobs" / "hepza"


def test_setting_in_args_reads_every_form_of_s() -> None:
    args = ["-s", "KEEP_LOGS=1", "--set", "KEEP_LOGS=2", "-sKEEP_LOGS=3", "-a", "x=1"]
    assert cron.setting_in_args(args, "KEEP_LOGS") == "3"
    assert cron.setting_in_args([*args, "--set=KEEP_LOGS=4"], "KEEP_LOGS") == "4"
    assert cron.setting_in_args(args, "REPORTS_DIR") is None


# --- other portals ----------------------------------------------------------------------------


def quan_profiles(harness: Harness) -> dict[str, str]:
    """The environment of a deployment with a second portal's profile, ``quan-1``."""
    profiles = harness.tmp / "profiles"
    profiles.mkdir(exist_ok=True)
    (profiles / "quan-1.toml").write_text('name = "quan-1"\nbase_url = "https://quan1.example"\n')
    return {"HEPZA_SITE_PROFILES_DIR": str(profiles)}


def test_spider_option_names_the_lock_logs_and_job_state_after_the_spider(harness: Harness) -> None:
    result = harness.run("--spider", "quan-1", environ=quan_profiles(harness))
    assert result.returncode == 0, result.stderr
    argv = harness.recorded()["argv"]
    assert f"JOBDIR={harness.output / 'jobs' / 'quan-1'}" in argv
    assert (harness.output / "quan-1.lock").exists()
    assert [p.name.split("-2")[0] for p in (harness.output / "logs").glob("*.log")] == ["quan-1"]


def test_portals_run_side_by_side_under_their_own_locks(harness: Harness) -> None:
    first = harness.start()  # hepza holds hepza.lock
    try:
        other = harness.run(
            "--spider", "quan-1", environ={"FAKE_WAIT": "", **quan_profiles(harness)}
        )
        assert other.returncode == 0, other.stderr
    finally:
        harness.release.touch()
        first.communicate(timeout=30)


def test_a_spider_name_that_is_not_one_is_usage_error(harness: Harness) -> None:
    result = harness.run("--spider", "../etc")
    assert result.returncode == 2
    assert "--spider '../etc' is not a spider name" in result.stderr


def test_a_spider_that_does_not_exist_is_one_line_exit_2_before_the_lock(harness: Harness) -> None:
    result = harness.run("--spider", "nosuch")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "hepza-run: error: --spider 'nosuch': no spider named 'nosuch' "
        "(known: hepza, liferay; `scrapy list` lists them)"
    ]
    assert "Traceback" not in result.stdout
    # Nothing made in its name: no lock, no log, no job state, no crawl started.
    assert not harness.output.exists()
    assert not harness.record.exists()


def test_a_spider_of_a_profile_given_after_the_double_dash_is_found(harness: Harness) -> None:
    profiles = quan_profiles(harness)["HEPZA_SITE_PROFILES_DIR"]
    result = harness.run("--spider", "quan-1", "--", "-s", f"SITE_PROFILES_DIR={profiles}")
    assert result.returncode == 0, result.stderr
    assert harness.recorded()["argv"][-1] == f"SITE_PROFILES_DIR={profiles}"
