"""The run ledger: the one place that decides whether a run succeeded.

A run's outcome starts ``failed``. It becomes ``succeeded`` only when every check named in
the ordered setting ``RUN_CHECKS`` ran and returned no reason (:func:`reach_verdict`); a check
that raises fails the run, naming the check. ``interrupted`` is a run stopped by a signal.
Nothing else turns a run green: a crash anywhere between the engine stopping and the verdict
leaves no verdict, and no verdict is exit status 1 (:func:`exit_status`).

- :mod:`crawler.ledger.checks`: the facts a check reads (:class:`RunFacts`), the default
  checks and how ``RUN_CHECKS`` is loaded;
- :mod:`crawler.ledger.report`: the typed run report, built in one place for a crawl and for
  a cluster's merged run, and written whole or not at all;
- :mod:`crawler.ledger.verdict`: the verdict, the exit status derived from it, and the one
  place a finished run's job directory is discarded.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crawler.ledger.checks import RunFacts, load_checks
    from crawler.ledger.report import RunReport, build_report, write_report
    from crawler.ledger.verdict import (
        EXIT_FAILED,
        EXIT_OK,
        Verdict,
        discard_ended_jobdir,
        exit_status,
        reach_verdict,
    )

# Each name is imported from its module on first use: the project's settings read the default
# checks (crawler.ledger.checks) at every `scrapy` start-up, which needs neither the report nor
# the verdict.
_HOMES = {
    "RunFacts": "checks",
    "load_checks": "checks",
    "RunReport": "report",
    "build_report": "report",
    "write_report": "report",
    "EXIT_FAILED": "verdict",
    "EXIT_OK": "verdict",
    "Verdict": "verdict",
    "discard_ended_jobdir": "verdict",
    "exit_status": "verdict",
    "reach_verdict": "verdict",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "RunFacts",
    "RunReport",
    "Verdict",
    "build_report",
    "discard_ended_jobdir",
    "exit_status",
    "load_checks",
    "reach_verdict",
    "write_report",
]
