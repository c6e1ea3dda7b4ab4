"""The run ledger fails closed: success is a verdict every check reached, never a missing value.

Unit tests of the verdict, the checks and the exit status; end-to-end crawls of the replica in
which a check raises, the run owner itself raises, or the feed cannot be written (a full disk),
each of which must exit 1 with a report saying why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from scrapy.settings import Settings

from crawler.ledger import discard_ended_jobdir, exit_status, load_checks, reach_verdict
from crawler.ledger.checks import DEFAULT_RUN_CHECKS, BadRunChecks, RunFacts, error_rate
from tests.crawl_runner import PROJECT_ROOT, run_crawl
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig

if TYPE_CHECKING:
    from crawler.ledger.checks import Check

GOOD = {
    "downloader/request_count": 10,
    "response_received_count": 10,
    "storage/new": 3,
    "coverage/articles": 3,
}


def facts(stats: dict[str, Any] | None = None, reason: str = "finished") -> RunFacts:
    return RunFacts(stats=stats if stats is not None else GOOD, finish_reason=reason)


def passing(facts: RunFacts) -> list[str]:
    return []


def failing(facts: RunFacts) -> list[str]:
    return ["the deployment says no"]


def raising(facts: RunFacts) -> list[str]:
    raise KeyError("missing stat")


def returns_none(facts: RunFacts) -> None:
    return None


def named(*checks: Check) -> list[tuple[str, Check]]:
    return [(check.__name__, check) for check in checks]


# --- the verdict ----------------------------------------------------------------------------


def test_a_run_whose_every_check_passed_succeeds() -> None:
    verdict = reach_verdict(facts(), named(passing, passing))
    assert verdict.outcome == "succeeded"
    assert [c.passed for c in verdict.checks] == [True, True]


def test_a_check_that_raises_fails_the_run_naming_the_check() -> None:
    verdict = reach_verdict(facts(), named(passing, raising, passing))
    assert verdict.outcome == "failed"
    assert verdict.failures == ("the run check raising failed to run: KeyError: 'missing stat'",)
    assert [c.name for c in verdict.checks] == ["passing", "raising", "passing"]


def test_a_check_that_returns_no_list_of_reasons_fails_the_run() -> None:
    verdict = reach_verdict(facts(), named(returns_none))  # type: ignore[arg-type]
    assert verdict.outcome == "failed"
    assert "returned NoneType, not a list of reasons" in verdict.failures[0]


def test_no_checks_at_all_is_no_success() -> None:
    verdict = reach_verdict(facts(), [])
    assert verdict.outcome == "failed"
    assert verdict.failures == ("no run check is configured (RUN_CHECKS): nothing decided success",)


def test_reasons_come_in_the_order_of_the_checks_then_the_ledgers_own() -> None:
    verdict = reach_verdict(facts(), named(failing, passing), extra=["report unwritable"])
    assert verdict.failures == ("the deployment says no", "report unwritable")


def test_a_failure_found_after_the_verdict_turns_a_success_into_a_failure() -> None:
    verdict = reach_verdict(facts(), named(passing)).with_failures(["not recorded"])
    assert verdict.outcome == "failed"
    assert verdict.failures == ("not recorded",)


def test_a_run_stopped_by_a_signal_is_interrupted_whatever_the_checks_say() -> None:
    assert reach_verdict(facts(reason="shutdown"), named(passing)).outcome == "interrupted"


def test_only_a_verdict_of_success_exits_0() -> None:
    assert exit_status(None) == 1
    assert exit_status(reach_verdict(facts(), named(failing))) == 1
    assert exit_status(reach_verdict(facts(reason="shutdown"), named(passing))) == 1
    assert exit_status(reach_verdict(facts(), named(passing))) == 0
    assert exit_status(reach_verdict(facts(), named(passing)), bootstrap_failed=True) == 1


# --- the checks -----------------------------------------------------------------------------


def test_the_default_checks_load_in_their_order() -> None:
    settings = Settings({"RUN_CHECKS": list(DEFAULT_RUN_CHECKS)})
    assert [name for name, _ in load_checks(settings)] == list(DEFAULT_RUN_CHECKS)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[]", "RUN_CHECKS is empty"),
        ("", "RUN_CHECKS is empty"),
        ("[not json", "RUN_CHECKS is not a JSON list"),
        (
            "crawler.ledger.checks.no_such_check",
            "cannot load 'crawler.ledger.checks.no_such_check'",
        ),
        ("no_module_here.check", "cannot load 'no_module_here.check'"),
        ("crawler.ledger.checks.DEFAULT_RUN_CHECKS", "is not a function"),
    ],
)
def test_run_checks_that_cannot_be_loaded_are_refused(value: str, message: str) -> None:
    with pytest.raises(BadRunChecks, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_checks(Settings({"RUN_CHECKS": value}))


def test_run_checks_given_as_comma_separated_text_load() -> None:
    settings = Settings({"RUN_CHECKS": "crawler.ledger.checks.coverage, tests.test_ledger.passing"})
    assert [name for name, _ in load_checks(settings)] == [
        "crawler.ledger.checks.coverage",
        "tests.test_ledger.passing",
    ]


def test_retries_and_robots_refusals_do_not_make_the_error_rate_pass_100_percent() -> None:
    # robots.txt refused 2 requests (each then failed in the errback), 1 was downloaded.
    stats = {"downloader/request_count": 1, "robotstxt/forbidden": 2, "fetch/failed": 2}
    assert error_rate(facts(stats)) == ["2 of 3 requests failed (66.7% > 5.0%)"]
    # 10 requests, each retried twice before 1 of them failed for good: 1 of 10.
    stats = {"downloader/request_count": 30, "retry/count": 20, "fetch/failed": 1}
    assert error_rate(RunFacts(stats, "finished", max_error_rate=0.2)) == []
    stats["fetch/failed"] = 3
    assert error_rate(RunFacts(stats, "finished", max_error_rate=0.2)) == [
        "3 of 10 requests failed (30.0% > 20.0%)"
    ]


def test_a_finished_runs_job_state_is_discarded_and_an_interrupted_ones_kept(
    tmp_path: Path,
) -> None:
    jobdir = tmp_path / "job"
    (jobdir / "requests.queue").mkdir(parents=True)
    (jobdir / "requests.seen").write_text("x")
    (jobdir / "spider.state").write_text("x")
    settings = Settings({"JOBDIR": str(jobdir)})
    assert discard_ended_jobdir(settings, "shutdown") is None
    assert discard_ended_jobdir(settings, None) is None
    assert sorted(p.name for p in jobdir.iterdir()) == [
        "requests.queue",
        "requests.seen",
        "spider.state",
    ]
    (jobdir / "mine.txt").write_text("a user's file is not Scrapy's job state")
    assert discard_ended_jobdir(settings, "finished") == jobdir
    assert [p.name for p in jobdir.iterdir()] == ["mine.txt"]
    (jobdir / "mine.txt").unlink()
    (jobdir / "spider.state").write_text("x")
    assert discard_ended_jobdir(settings, "closespider_timeout") == jobdir
    assert not jobdir.exists()


# --- end to end -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def replica() -> Any:
    with ReplicaServer(ReplicaConfig(articles=12)) as server:
        yield server


def _checks(*extra: str) -> str:
    return json.dumps([*DEFAULT_RUN_CHECKS, *extra])


@pytest.mark.e2e
def test_a_run_check_that_raises_exits_1_with_a_report_naming_it(
    replica: ReplicaServer, tmp_path: Path
) -> None:
    result = run_crawl(
        replica.url, tmp_path, settings={"RUN_CHECKS": _checks("tests.ledger_faults.raising_check")}
    )
    assert result.returncode == 1, result.log[-3000:]
    report = result.report
    assert report["outcome"] == "failed"
    assert report["failures"] == [
        "the run check tests.ledger_faults.raising_check failed to run: "
        "RuntimeError: planted fault in a run check"
    ]
    assert [c["name"] for c in report["checks"] if not c["passed"]] == [
        "tests.ledger_faults.raising_check"
    ]
    # the crawl itself went well: every article stored is in the feed
    assert len(result.feed()) == report["counts"]["stored_new"] > 0


@pytest.mark.e2e
def test_a_deployments_own_check_decides_the_run_with_its_reason(
    replica: ReplicaServer, tmp_path: Path
) -> None:
    check = "tests.ledger_faults.at_least_a_million_articles"
    result = run_crawl(replica.url, tmp_path, settings={"RUN_CHECKS": _checks(check)})
    assert result.returncode == 1, result.log[-3000:]
    parsed = result.report["counts"]["articles_parsed"]
    assert parsed > 0
    assert result.report["failures"] == [
        f"only {parsed} articles parsed, this deployment wants a million"
    ]


@pytest.mark.e2e
def test_a_run_owner_whose_own_code_raises_exits_1_and_says_the_ledger_crashed(
    replica: ReplicaServer, tmp_path: Path
) -> None:
    extensions = json.dumps(
        {"crawler.extensions.run.RunOwner": None, "tests.ledger_faults.CrashingRunOwner": 500}
    )
    result = run_crawl(replica.url, tmp_path, settings={"EXTENSIONS": extensions})
    assert result.returncode == 1, result.log[-3000:]
    report = result.report
    assert report["outcome"] == "failed"
    assert report["failures"] == [
        "the run ledger crashed before its verdict: RuntimeError: planted fault in the run "
        "owner's judging"
    ]
    assert "Error caught on signal handler" not in result.log


@pytest.mark.e2e
def test_a_feed_on_a_full_disk_exits_1_with_a_report_saying_so(
    replica: ReplicaServer, tmp_path: Path
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    result = run_crawl(replica.url, tmp_path, feed_name="unused.jsonl", settings={})
    assert result.returncode == 0, result.log[-3000:]
    full = tmp_path / "full"
    cmd = [
        sys.executable, "-m", "scrapy", "crawl", "hepza", "-a", f"base_url={replica.url}",
        "-s", f"DATABASE_URL=sqlite:///{full / 'db.sqlite3'}",
        "-s", f"REPORTS_DIR={full / 'reports'}",
        "-s", f"REJECTS_PATH={full / 'rejects.jsonl'}",
        "-s", f"ARCHIVE_DIR={full / 'archive'}",
        "-s", "FEEDS={}", "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False",
        "-O", "/dev/full:jsonlines",
    ]  # fmt: skip
    full.mkdir()
    proc = subprocess.run(
        cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    report = json.loads((full / "reports" / "latest.json").read_text("utf-8"))
    assert report["outcome"] == "failed"
    assert any("could not be" in f and "feed" in f for f in report["failures"]), report["failures"]
    assert "dictionary changed size during iteration" not in proc.stderr
