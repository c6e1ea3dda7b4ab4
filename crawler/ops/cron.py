"""``hepza-run``: one crawl of the site for cron and ``make crawl``.

Takes a lock so that runs never overlap, gives each run its own log file (the last KEEP_LOGS
kept), keeps a job directory so that a stopped run resumes, sets that directory aside when the
previous run was killed too hard to save it (the crawl itself discards it once a run reached its
end), forwards SIGINT/SIGTERM to Scrapy, and ends with a summary line (the run ledger's verdict
as this run's report gives it, its reasons and counts) and Scrapy's exit code; an exit 0 that
no report of this run backs is a failed run (exit 1). ``--output-dir`` moves every file the wrapper
and the crawl write (``-s OUTPUT_DIR=...``, see crawler/setup/paths.py).

Relative paths are taken from the project root (where scrapy.cfg is and where Scrapy runs),
so cron's working directory does not matter.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.setup.config import parse_number
from crawler.setup.paths import PLACES_BY_SETTING, env_output_dir

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

PROG = "hepza-run"
SPIDER = "hepza"
# EX_TEMPFAIL: "try again later", which is what cron should make of an overlapping run.
EXIT_LOCKED = 75
EXIT_USAGE = 2
EXIT_FAILED = 1
KEEP_LOGS = 30
KEEP_LOGS_ENV = "HEPZA_KEEP_LOGS"
KEEP_CRASHED_JOBDIRS = 3
# For tests only: a command line that replaces `<python> -m scrapy crawl hepza`; the wrapper
# appends the same -s options and extra arguments to it.
COMMAND_ENV = "HEPZA_RUN_COMMAND"
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class RunPaths:
    project_root: Path
    output_dir: Path
    lock_file: Path
    log_dir: Path
    log_file: Path
    jobdir: Path | None
    spider: str = SPIDER

    @property
    def marker(self) -> Path | None:
        return None if self.jobdir is None else _sibling(self.jobdir, ".running")


class LockHeld(Exception):
    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def find_project_root() -> Path:
    package_parent = Path(__file__).resolve().parents[2]
    if (package_parent / "scrapy.cfg").is_file():
        return package_parent
    # Installed without the source tree: fall back to Scrapy's own search from the cwd.
    # Imported here because importing Scrapy doubles the wrapper's start-up time.
    from scrapy.utils.conf import closest_scrapy_cfg  # noqa: PLC0415

    cfg = closest_scrapy_cfg()
    if not cfg:
        raise SystemExit(f"{PROG}: cannot find scrapy.cfg (the project root)")
    return Path(cfg).resolve().parent


def utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def acquire_lock(path: Path, started: datetime) -> int:
    """Lock ``path`` for this process and its child; raise LockHeld with the holder's details."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not O_TRUNC: the file holds the current holder's pid until we own the lock.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").split()
        os.close(fd)
        pid = holder[0] if holder else "?"
        since = holder[1] if len(holder) > 1 else "?"
        raise LockHeld(f"pid {pid}, started {since}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {started.isoformat(timespec='seconds')}\n".encode(), 0)
    return fd


def set_aside_crashed_jobdir(
    jobdir: Path, now: datetime, keep: int = KEEP_CRASHED_JOBDIRS
) -> Path | None:
    """Move a job directory that a killed run may have left corrupt out of the way."""
    moved: Path | None = None
    if jobdir.exists():
        base = _sibling(jobdir, f".crashed-{utc_stamp(now)}")
        moved, n = base, 1
        while moved.exists():
            moved, n = _sibling(base, f"-{n}"), n + 1
        jobdir.rename(moved)
    crashed = sorted(jobdir.parent.glob(f"{jobdir.name}.crashed-*"), key=lambda p: p.name)
    for old in crashed[: max(len(crashed) - keep, 0)]:
        shutil.rmtree(old, ignore_errors=True)
    return moved


def rotate_logs(log_dir: Path, keep: int = KEEP_LOGS, spider: str = SPIDER) -> list[Path]:
    # Names carry a UTC timestamp, so sorting the stems sorts by start time.
    logs = sorted(log_dir.glob(f"{spider}-*.log"), key=lambda p: p.stem)
    old = logs[: max(len(logs) - keep, 0)]
    for path in old:
        path.unlink(missing_ok=True)
    return old


def new_log_file(log_dir: Path, started: datetime, spider: str = SPIDER) -> Path:
    base = f"{spider}-{utc_stamp(started)}"
    path, n = log_dir / f"{base}.log", 1
    while path.exists():
        path, n = log_dir / f"{base}-{n}.log", n + 1
    return path


def crawl_command(paths: RunPaths, extra: Sequence[str]) -> list[str]:
    override = os.environ.get(COMMAND_ENV)
    command = (
        shlex.split(override)
        if override
        else [sys.executable, "-m", "scrapy", "crawl", paths.spider]
    )
    command += ["-s", f"LOG_FILE={paths.log_file}", "-s", f"OUTPUT_DIR={paths.output_dir}"]
    if paths.jobdir is not None:
        command += ["-s", f"JOBDIR={paths.jobdir}"]
    return command + list(extra)


def setting_in_args(extra: Sequence[str], name: str) -> str | None:
    """The last ``-s NAME=value`` (``--set``) among the arguments given to ``scrapy crawl``."""
    value = None
    args = list(extra)
    for n, arg in enumerate(args):
        if arg in ("-s", "--set") and n + 1 < len(args):
            given = args[n + 1]
        elif arg.startswith("--set="):
            given = arg.removeprefix("--set=")
        elif arg.startswith("-s") and len(arg) > 2:
            given = arg[2:]
        else:
            continue
        key, sep, rest = given.partition("=")
        if sep and key == name:
            value = rest
    return value


def report_path(paths: RunPaths, extra: Sequence[str]) -> Path:
    """Where this run's ``latest.json`` goes: REPORTS_DIR as the crawl resolves it."""
    place = PLACES_BY_SETTING["REPORTS_DIR"]
    reports_dir = setting_in_args(extra, place.setting) or os.environ.get(place.env)
    if not reports_dir:
        # `-s OUTPUT_DIR=...` after `--` comes after the wrapper's own and wins in Scrapy
        output_dir = setting_in_args(extra, "OUTPUT_DIR") or paths.output_dir
        return paths.project_root / output_dir / place.relative / "latest.json"
    return paths.project_root / reports_dir / "latest.json"


def keep_logs(extra: Sequence[str]) -> int:
    given, shown = setting_in_args(extra, "KEEP_LOGS"), "KEEP_LOGS"
    if not given:
        given, shown = os.environ.get(KEEP_LOGS_ENV), KEEP_LOGS_ENV
    if given is None or given == "":
        return KEEP_LOGS
    # The same parse (and the same one-line error, named as the operator set it) as
    # `scrapy crawl`'s preflight.
    return int(parse_number("KEEP_LOGS", given, shown))


def read_report(path: Path, started: datetime) -> dict[str, Any] | None:
    """The run report at ``path`` if this run wrote it (not one left by an earlier run)."""
    try:
        if path.stat().st_mtime < started.timestamp() - 1:
            return None
        report = json.loads(path.read_text(encoding="utf-8"))
        report_started = datetime.fromisoformat(report["started_at"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    # started_at is written to the second
    if report_started < started.replace(microsecond=0):
        return None
    return report if isinstance(report, dict) else None


def report_summary(report: dict[str, Any] | None) -> tuple[list[str], str]:
    """(failure reasons, counts) of a run report, as the summary line shows them."""
    if report is None:
        return [], "no report from this run"
    counts = report.get("counts") or {}

    def count(name: str) -> int:
        try:
            return int(counts.get(name) or 0)
        except (TypeError, ValueError):
            return 0

    errors = count("failed_requests") + count("spider_exceptions")
    try:
        duration = f"{float(report.get('duration_seconds') or 0):.1f} s"
    except (TypeError, ValueError):
        duration = "? s"
    reasons = [str(reason) for reason in report.get("failures") or []]
    return reasons, (
        f"new {count('stored_new')}, changed {count('stored_changed')}, "
        f"rejected {count('rejected')}, requests {count('requests')}, errors {errors}, "
        f"{duration}"
    )


def undelivered_alerts(report: dict[str, Any] | None) -> list[str]:
    """The errors of the run's alerts that did not go out (crawler/extensions/alerts.py)."""
    alerts = (report or {}).get("alerts")
    deliveries = alerts.get("deliveries") if isinstance(alerts, dict) else None
    return [
        str(delivery.get("error"))
        for delivery in deliveries or []
        if isinstance(delivery, dict) and not delivery.get("delivered")
    ]


def alert_killed_crawl(extra: Sequence[str], spider: str, reason: str) -> list[str]:
    """Alerts for a crawl that died without a report, with the crawl's own alert settings (the
    project's, the environment's, ``-s ALERT_*`` after ``--``); the errors of those not sent."""
    # Scrapy only here: the wrapper itself never needs it otherwise.
    from scrapy.settings import Settings  # noqa: PLC0415

    from crawler.ledger.alerts import alert_without_report  # noqa: PLC0415

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    for name in list(settings):
        if name.startswith("ALERT_") and (value := setting_in_args(extra, name)) is not None:
            settings.set(name, value, priority="cmdline")
    return alert_without_report(settings, os.environ, spider, reason, headline="died")


def spider_not_found(spider: str, extra: Sequence[str], project_root: Path) -> str | None:
    """Why ``scrapy crawl SPIDER`` (with the site profiles it would read) finds no such spider;
    None when it does."""
    # Scrapy only here: loading the spiders costs a second, paid only for a --spider given.
    from scrapy.settings import Settings  # noqa: PLC0415
    from scrapy.spiderloader import get_spider_loader  # noqa: PLC0415

    from crawler.setup.config import ConfigError  # noqa: PLC0415
    from crawler.setup.preflight import unknown_spider  # noqa: PLC0415
    from crawler.sites.profile import load_profiles, profile_dirs  # noqa: PLC0415

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    given = setting_in_args(extra, "SITE_PROFILES_DIR") or settings.get("SITE_PROFILES_DIR")
    if given:
        # The crawl runs from the project root: a relative directory is taken from there.
        settings.set("SITE_PROFILES_DIR", str(project_root / given), priority="cmdline")
    try:
        load_profiles(profile_dirs(settings))
    except ConfigError as exc:
        return str(exc)
    known = get_spider_loader(settings).list()
    return None if spider in known else unknown_spider(spider, known)


def parse_args(argv: Sequence[str], project_root: Path) -> tuple[RunPaths, list[str]]:
    parser = argparse.ArgumentParser(
        prog=PROG,
        allow_abbrev=False,
        description="Crawl a portal's news into the output directory (cron-safe).",
        epilog="Arguments after -- (or not known here) are passed to `scrapy crawl SPIDER`. "
        "Relative paths are taken from the project root. Exits 75 if another run holds the lock.",
    )
    parser.add_argument(
        "--output-dir",
        default=Path(env_output_dir()),
        type=Path,
        help="where every file of the run goes (default: $HEPZA_OUTPUT_DIR or output)",
    )
    parser.add_argument(
        "--spider",
        default=SPIDER,
        help="the spider to run: hepza (default), liferay or a site profile's (`scrapy list`); "
        "the lock, logs and job state are named after it, so portals run side by side",
    )
    parser.add_argument("--lock-file", type=Path, help="default: OUTPUT_DIR/SPIDER.lock")
    jobdir = parser.add_mutually_exclusive_group()
    jobdir.add_argument("--jobdir", type=Path, help="default: OUTPUT_DIR/jobs/SPIDER")
    jobdir.add_argument("--no-jobdir", action="store_true", help="do not keep resumable state")
    argv = list(argv)
    head, tail = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    options, unknown = parser.parse_known_args(head)

    output_dir = project_root / options.output_dir
    log_dir = output_dir / "logs"
    spider = options.spider
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", spider):
        parser.error(f"--spider {spider!r} is not a spider name (see `scrapy list`)")
    if spider != SPIDER:
        # Before the lock, logs and job state are made in its name: a spider that is not there
        # is bad usage (exit status 2, one line), which cron must not retry as a failed run.
        not_found = spider_not_found(spider, unknown + tail, project_root)
        if not_found:
            print(f"{PROG}: error: --spider {spider!r}: {not_found}", file=sys.stderr)
            raise SystemExit(EXIT_USAGE)
    paths = RunPaths(
        project_root=project_root,
        output_dir=output_dir,
        lock_file=project_root / (options.lock_file or output_dir / f"{spider}.lock"),
        log_dir=log_dir,
        log_file=log_dir / f"{spider}.log",  # replaced once the start time is known
        jobdir=None
        if options.no_jobdir
        else project_root / (options.jobdir or output_dir / "jobs" / spider),
        spider=spider,
    )
    return paths, unknown + tail


class Run:
    def __init__(self, paths: RunPaths) -> None:
        self.paths = paths
        self.child: subprocess.Popen[bytes] | None = None
        self.received: list[int] = []

    def say(self, message: str, level: str = "INFO") -> None:
        with contextlib.suppress(OSError):
            print(f"{PROG}: {message}", file=sys.stderr, flush=True)
        self.log(message, level)

    def log(self, message: str, level: str = "INFO") -> None:
        stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
        with contextlib.suppress(OSError), self.paths.log_file.open("a", encoding="utf-8") as f:
            f.write(f"{stamp} [{PROG}] {level}: {message}\n")

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        # SIGHUP means the terminal went away; Scrapy stops gracefully on SIGTERM.
        forward = signal.SIGTERM if signum == signal.SIGHUP else signum
        if self.child is not None:
            self.child.send_signal(forward)

    def start_child(self, command: list[str], keep_open: int) -> int:
        """Run the crawl; return Popen's return code (negative for a signal death)."""
        previous = {sig: signal.signal(sig, self.on_signal) for sig in FORWARDED_SIGNALS}
        try:
            if self.received:
                return -self.received[0]
            try:
                # Own process group: a Ctrl-C at the terminal reaches only this wrapper, which
                # forwards it once. Twice would make Scrapy skip its clean shutdown.
                self.child = subprocess.Popen(
                    command, cwd=self.paths.project_root, process_group=0, pass_fds=(keep_open,)
                )
            except OSError as exc:
                self.say(f"cannot start {command[0]}: {exc}", "ERROR")
                return 127 if isinstance(exc, FileNotFoundError) else 126
            for signum in self.received:
                self.on_signal(signum, None)
            return self.child.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    started = datetime.now(UTC)
    project_root = find_project_root()
    paths, extra = parse_args(sys.argv[1:] if argv is None else argv, project_root)
    try:
        keep = keep_logs(extra)
    except ValueError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        # Inherited by the crawl, so the lock outlives a wrapper killed while Scrapy runs on.
        lock_fd = acquire_lock(paths.lock_file, started)
    except LockHeld as held:
        print(f"{PROG}: another run is in progress ({held.holder}); exiting", file=sys.stderr)
        return EXIT_LOCKED
    try:
        paths.log_dir.mkdir(parents=True, exist_ok=True)
        paths = replace(paths, log_file=new_log_file(paths.log_dir, started, paths.spider))
        run = Run(paths)
        prepare_job_state(run, paths, started)
        returncode = run.start_child(crawl_command(paths, extra), lock_fd)
        exit_code, outcome = child_outcome(returncode, run, paths.marker)
        report_file = report_path(paths, extra)
        report = read_report(report_file, started)
        reasons, counts = report_summary(report)
        if returncode >= 0 and run.child is not None:
            exit_code, outcome, reasons = relay_verdict(
                returncode, run, report, report_file, (exit_code, outcome, reasons)
            )
        rotate_logs(paths.log_dir, keep, paths.spider)
        if reasons:
            outcome += ": " + "; ".join(reasons)
        summary = f"{outcome}; {counts}; exit code {exit_code}; log {paths.log_file}"
        if returncode < 0 and run.child is not None and not run.received:
            # Killed (SIGKILL, the OOM killer) before it could judge itself and alert.
            reason = f"{outcome}; the crawl wrote no report (log {paths.log_file})"
            undelivered = alert_killed_crawl(extra, paths.spider, reason)
        else:
            undelivered = undelivered_alerts(report)
        if undelivered:
            summary += "; alert not delivered: " + "; ".join(undelivered)
        if report is not None:
            summary += f"; report {report_file}"
        run.log(summary, "INFO" if exit_code == 0 else "ERROR")
        with contextlib.suppress(OSError):
            print(f"{PROG}: {summary}", flush=True)
        return exit_code
    finally:
        os.close(lock_fd)


def prepare_job_state(run: Run, paths: RunPaths, started: datetime) -> None:
    """Sets aside the job state of a run killed too hard to save it, and marks this run."""
    marker = paths.marker
    if paths.jobdir is None or marker is None:
        return
    paths.jobdir.parent.mkdir(parents=True, exist_ok=True)
    if marker.exists():
        moved = set_aside_crashed_jobdir(paths.jobdir, started)
        run.say(
            "the previous run was killed before it could save its job state; "
            + (f"moved {paths.jobdir} to {moved}" if moved else "no job dir to move")
            + "; starting afresh (the database keeps what was stored)",
            "WARNING",
        )
    marker.write_text(f"{os.getpid()} {started.isoformat(timespec='seconds')}\n")


def child_outcome(returncode: int, run: Run, marker: Path | None) -> tuple[int, str]:
    """(exit status, outcome words) from how the crawl process ended, before its report."""
    if returncode < 0 and run.child is None:
        if marker is not None:
            marker.unlink(missing_ok=True)
        return 128 - returncode, f"stopped by {_signal_name(-returncode)} before the crawl started"
    if returncode < 0:
        # Scrapy handles SIGINT/SIGTERM itself, so a signal death is a hard kill and the job
        # state was not saved: keep the marker and the next run sets the job dir aside.
        outcome = f"killed by {_signal_name(-returncode)}"
        if marker is not None:
            outcome += "; the next run starts afresh"
        return 128 - returncode, outcome
    if marker is not None:
        marker.unlink(missing_ok=True)
    # the verdict comes from this run's report (relay_verdict)
    return returncode, f"stopped by {_signal_name(run.received[0])}" if run.received else "failed"


def relay_verdict(
    returncode: int,
    run: Run,
    report: dict[str, Any] | None,
    report_file: Path,
    current: tuple[int, str, list[str]],
) -> tuple[int, str, list[str]]:
    """The ledger's verdict, relayed, never re-derived: "ok" only when the crawl exited 0 and
    this run's report says it succeeded; an exit 0 the report does not back is a failed run
    (fail closed). The crawl itself discards its finished job state."""
    exit_code, outcome, reasons = current
    verdict = report.get("outcome") if report is not None else None
    if returncode == 0 and verdict != "succeeded":
        backed = (
            "the crawl exited 0 without a report of this run saying it succeeded "
            f"({report_file}: {verdict or 'none'})"
        )
        return EXIT_FAILED, "failed", [backed, *reasons]
    if not run.received:
        outcome = "ok" if returncode == 0 else str(verdict or "failed")
    return exit_code, outcome, reasons


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


if __name__ == "__main__":
    sys.exit(main())
