"""An interactive command starts on Scrapy's own floor (issue 24, item 5).

Scrapy imports every module of COMMANDS_MODULE at any `scrapy` start-up, so what a command
module imports at its top every command pays: these tests run a `scrapy` command's start-up in
a fresh interpreter and look at what it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.crawl_runner import PROJECT_ROOT

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


def _start(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        cwd=PROJECT_ROOT,
        input=json.dumps(HEAVY),
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
