"""An interactive command starts on Scrapy's own floor (issue 24, item 5).

Scrapy imports every module of COMMANDS_MODULE at any `scrapy` start-up, so what a command
module imports at its top every command pays: these tests run a `scrapy` command's start-up in
a fresh interpreter and look at what it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from pipelines.storage.store import ArticleStore
from tests.crawl_runner import PROJECT_ROOT

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

# What a database command's start-up must not load: the crawl's machinery, and the libraries
# a command imports only when it uses them.
HEAVY = (
    "sqlalchemy",
    "numpy",
    "pyarrow",
    "matplotlib",
    "warcio",
    "crawler.spiders",
    "crawler.setup.preflight",
    "crawler.extensions.run",
    "crawler.compat",
    "pipelines.storage.store",
    "pipelines.storage.models",
    # what the other commands use, imported by each where it uses it
    "crawler.setup.config",
    "crawler.sites.profile",
    "crawler.sites.resolve",
    "crawler.middlewares.fence",
    "crawler.extensions.reachability",
    "crawler.ledger.report",
    "crawler.ledger.verdict",
)
# What a search or a change feed of a database at the schema's head must not load: the ORM and
# the models (a search is a Core query), the writing store, Alembic, the crawl's preflight.
MODELS = "pipelines.storage.models"
NOT_FOR_READING = (
    "sqlalchemy.orm",
    MODELS,
    "pipelines.storage.store",
    "alembic",
    "crawler.setup.preflight",
    "crawler.sites.profile",
)

SCRIPT = """
import json, sys
from scrapy.cmdline import execute
try:
    execute(["scrapy", *sys.argv[1:]])
except SystemExit as exc:
    code = exc.code
heavy = json.loads(sys.stdin.read())
sys.stderr.write(json.dumps({"code": code, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def _start(*args: str, modules: tuple[str, ...] = HEAVY) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        cwd=PROJECT_ROOT,
        input=json.dumps(modules),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_search_help_loads_neither_the_database_libraries_nor_the_crawl():
    started = _start("search", "--help")
    assert started == {"code": 0, "loaded": []}


def test_the_command_list_loads_neither_the_database_libraries_nor_the_crawl():
    # Every command module imported (the list shows each one's description)
    started = _start()
    assert started == {"code": 0, "loaded": []}


@pytest.fixture
def database(tmp_path: Path, make_article_record: Callable[..., dict[str, Any]]) -> str:
    url = f"sqlite:///{tmp_path / 'hepza.sqlite3'}"
    store = ArticleStore(url)
    store.write_batch([make_article_record("dau-tu", title="Thu hút đầu tư")], "run-1")
    store.close()
    return url


@pytest.mark.parametrize("site", [[], ["--site", "hepza"], ["--site", "nowhere"]])
def test_a_search_loads_neither_the_orm_nor_the_models_nor_the_preflight(database, site):
    started = _start(
        "search", "dau tu", *site, "-s", f"DATABASE_URL={database}", modules=NOT_FOR_READING
    )
    # found (0), or the unknown site refused (2): either way without them
    assert started == {"code": 2 if "nowhere" in site else 0, "loaded": []}


def test_the_runs_list_opens_its_database_without_the_store_alembic_or_the_preflight(database):
    # What every reading command shares: the database's check and its opening (the run
    # history itself reads through the models).
    shared = tuple(m for m in NOT_FOR_READING if m not in {"sqlalchemy.orm", MODELS})
    started = _start("runs", "-s", f"DATABASE_URL={database}", modules=shared)
    assert started == {"code": 0, "loaded": []}


FROZEN_AT_EXIT = """
import atexit, gc, sys
from scrapy.cmdline import execute
try:
    execute(["scrapy", *sys.argv[1:]])
except SystemExit:
    pass
atexit._run_exitfuncs()
sys.stderr.write(str(gc.get_freeze_count() > 0))
"""


def _frozen_at_exit(*args: str) -> bool:
    done = subprocess.run(
        [sys.executable, "-c", FROZEN_AT_EXIT, *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stderr.strip().splitlines()[-1] == "True"


def test_a_database_command_skips_the_collections_at_exit_even_for_its_help(database):
    assert _frozen_at_exit("search", "--help")
    assert _frozen_at_exit("search", "dau tu", "-s", f"DATABASE_URL={database}")


def test_a_command_that_is_not_a_database_command_keeps_the_collections_at_exit():
    assert not _frozen_at_exit("version")
