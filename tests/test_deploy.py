"""The deployment files (crawler/deploy/): systemd units that systemd itself accepts, whose
ExecStart is the hepza-run of the venv the Makefile builds, and a cron line that parses."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from crawler.ops.cron import EXIT_LOCKED
from tests.crawl_runner import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "crawler" / "deploy"
INSTALL_ROOT = "/srv/hepza-crawler"
ENV_FILE = "/etc/hepza-crawler/env"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / name, encoding="utf-8")
    return parser


def makefile_bin() -> str:
    """The Makefile's $(BIN): where `make venv` puts the project's scripts."""
    text = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    venv = re.search(r"^VENV := (\S+)$", text, re.MULTILINE)
    bin_ = re.search(r"^BIN := (\S+)$", text, re.MULTILINE)
    assert venv and bin_
    return bin_.group(1).replace("$(VENV)", venv.group(1))


def test_the_service_runs_the_hepza_run_script_of_the_makefiles_venv() -> None:
    service = unit("hepza-crawler.service")["Service"]
    assert service["WorkingDirectory"] == INSTALL_ROOT
    assert service["ExecStart"] == f"{INSTALL_ROOT}/{makefile_bin()}/hepza-run"
    scripts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text("utf-8"))["project"][
        "scripts"
    ]
    assert scripts["hepza-run"] == "crawler.ops.cron:main"
    # The venv running these tests is the one `make` builds: the script is installed in it.
    assert (Path(sys.executable).parent / "hepza-run").is_file()


def test_the_service_respects_hepza_runs_lock_and_stops_it_cleanly() -> None:
    service = unit("hepza-crawler.service")["Service"]
    assert str(EXIT_LOCKED) in service["SuccessExitStatus"].split()
    # SIGTERM to hepza-run only, which forwards it once to the crawl (a second signal would
    # make Scrapy stop without saving its job state).
    assert service["KillMode"] == "mixed"
    assert service["KillSignal"] == "SIGTERM"
    assert service["EnvironmentFile"] == ENV_FILE
    assert service["StandardOutput"] == "journal"


def test_the_timer_starts_the_service() -> None:
    timer = unit("hepza-crawler.timer")
    assert timer["Timer"]["Unit"] == "hepza-crawler.service"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_systemd_analyze_verifies_the_units_without_a_warning(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    # The install root as `make venv` leaves it: a .venv whose bin holds hepza-run.
    root = tmp_path / "hepza-crawler"
    root.mkdir()
    (root / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (root / "output").mkdir()
    env = tmp_path / "env"
    env.write_text((DEPLOY / "hepza-crawler.env.example").read_text("utf-8"), "utf-8")
    for name in ("hepza-crawler.service", "hepza-crawler.timer", "hepza-worker@.service"):
        text = (DEPLOY / name).read_text("utf-8")
        text = text.replace(ENV_FILE, str(env)).replace(INSTALL_ROOT, str(root))
        (tmp_path / name).write_text(text, "utf-8")
    (tmp_path / "hepza-worker@1.service").symlink_to(tmp_path / "hepza-worker@.service")
    result = subprocess.run(
        [
            analyze,
            "verify",
            "hepza-crawler.service",
            "hepza-crawler.timer",
            "hepza-worker@1.service",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Unknown keys are only warnings (exit 0): any output is a mistake in the units.
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


def test_the_worker_unit_runs_cluster_workers_that_wait_for_the_next_crawl() -> None:
    worker = unit("hepza-worker@.service")
    service = worker["Service"]
    assert service["WorkingDirectory"] == INSTALL_ROOT
    assert service["ExecStart"].split() == [
        f"{INSTALL_ROOT}/{makefile_bin()}/scrapy",
        "cluster",
        "work",
        "--wait",
        "3600",
    ]
    assert (Path(sys.executable).parent / "scrapy").is_file()
    # Exit 0 (crawl done), 1 (failed run) and 2 (no crawl within the wait): started again.
    assert service["Restart"] == "always"
    assert worker["Unit"]["StartLimitIntervalSec"] == "0"
    assert service["EnvironmentFile"] == ENV_FILE
    assert service["KillSignal"] == "SIGTERM"
    assert worker["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_analyze_refuses_a_unit_whose_execstart_is_missing(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    text = (DEPLOY / "hepza-crawler.service").read_text("utf-8")
    text = text.replace(ENV_FILE, "/dev/null").replace(INSTALL_ROOT, str(tmp_path / "none"))
    (tmp_path / "hepza-crawler.service").write_text(text, "utf-8")
    result = subprocess.run(
        [analyze, "verify", "hepza-crawler.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "hepza-run is not executable" in result.stderr


def cron_entry() -> list[str]:
    lines = (DEPLOY / "hepza-crawler.cron").read_text("utf-8").splitlines()
    entries = [line for line in lines if line.strip() and not line.startswith("#")]
    jobs = [line for line in entries if not re.match(r"^[A-Z_]+=", line)]
    assert len(jobs) == 1
    return jobs[0].split(maxsplit=6)


def test_the_cron_line_is_one_job_of_the_hepza_user_whose_command_parses() -> None:
    minute, hour, day, month, weekday, user, command = cron_entry()
    assert (minute, hour, day, month, weekday) == ("0", "*/4", "*", "*", "*")
    assert user == "hepza"
    assert "%" not in command  # cron turns % into a newline
    assert f"cd {INSTALL_ROOT} " in command
    assert f". {ENV_FILE} " in command
    assert f"{makefile_bin()}/hepza-run" in command
    syntax = subprocess.run(
        ["sh", "-n", "-c", command], capture_output=True, text=True, check=False
    )
    assert syntax.returncode == 0, syntax.stderr


def test_every_variable_of_the_environment_example_is_read_by_the_project() -> None:
    sources = "\n".join(
        path.read_text("utf-8")
        for folder in ("crawler", "pipelines")
        for path in (PROJECT_ROOT / folder).rglob("*.py")
    )
    example = (DEPLOY / "hepza-crawler.env.example").read_text("utf-8")
    names = re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.MULTILINE)
    assert "DATABASE_URL" in names
    unknown = [name for name in names if f'"{name}"' not in sources]
    assert unknown == []


def test_the_deploy_files_ship_as_package_data() -> None:
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text("utf-8"))
    assert "deploy/*" in config["tool"]["setuptools"]["package-data"]["crawler"]
    shipped = {path.name for path in DEPLOY.iterdir()}
    assert {
        "hepza-crawler.service",
        "hepza-crawler.timer",
        "hepza-crawler.cron",
        "hepza-crawler.env.example",
        "README.md",
    } <= shipped
