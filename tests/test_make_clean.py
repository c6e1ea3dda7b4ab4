"""``make clean`` removes what a rebuild recreates (the virtualenv, caches), never the data."""

from __future__ import annotations

import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.crawl_runner import PROJECT_ROOT

if TYPE_CHECKING:
    from pathlib import Path

DATA = (
    "output/hepza.sqlite3",
    "output/hepza.sqlite3-wal",
    "output/reports/latest.json",
    "output/feeds/hepza-2026-01-01T00-00-00.jsonl",
    "output/rejects.jsonl",
    "output/exports/hepza-2026-01-01.parquet",
    "output/.gitkeep",
)
DERIVED = (
    ".venv/bin/python",
    ".pytest_cache/README.md",
    ".mypy_cache/3.12/x.json",
    ".ruff_cache/0.1/x",
    "crawler/__pycache__/settings.cpython-312.pyc",
    "pipelines/storage/__pycache__/store.cpython-312.pyc",
    "hepza_crawler.egg-info/PKG-INFO",
)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_clean_removes_the_venv_and_caches_and_keeps_the_database(tmp_path: Path) -> None:
    # The project's own Makefile, run for real in a copy of the project's layout.
    shutil.copy(PROJECT_ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for name in (*DATA, *DERIVED):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x", encoding="utf-8")
    (tmp_path / "tests").mkdir(exist_ok=True)

    done = subprocess.run(
        ["make", "clean"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 0, done.stderr
    kept = [name for name in DATA if (tmp_path / name).is_file()]
    assert kept == list(DATA)
    left = [name for name in DERIVED if (tmp_path / name).exists()]
    assert left == []
    assert not (tmp_path / ".venv").exists()
