"""The run lock of a site on a database (pipelines/storage/run_lock.py), on SQLite and
PostgreSQL: one holder at a time, per site, released by its holder; a refusal names the run."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from pipelines.storage.run_lock import RunLockHeld, acquire_run_lock, site_lock_key
from pipelines.storage.store import ArticleStore


def test_a_held_run_lock_refuses_the_same_site_and_names_the_holding_run(
    database_url: str,
) -> None:
    store = ArticleStore(database_url)
    try:
        store.start_run("run-one", datetime.now(UTC), {}, site="hepza")
    finally:
        store.close()
    first = acquire_run_lock(database_url, "hepza")
    assert first is not None
    try:
        with pytest.raises(RunLockHeld) as refused:
            acquire_run_lock(database_url, "hepza")
        message = str(refused.value)
        assert message.startswith("another run of site hepza holds the database")
        assert f"run run-one, pid {os.getpid()}" in message
        assert "\n" not in message
        other = acquire_run_lock(database_url, "another-portal")  # sites lock apart
        assert other is not None
        other.release()
    finally:
        first.release()
    again = acquire_run_lock(database_url, "hepza")  # released: the next run takes it
    assert again is not None
    again.release()


def test_an_in_memory_database_needs_no_run_lock() -> None:
    assert acquire_run_lock("sqlite:///:memory:", "hepza") is None


def test_site_lock_keys_fit_postgresql_int4() -> None:
    keys = [site_lock_key(name) for name in ("hepza", "127-0-0-1-8080", "x" * 200, "liferay")]
    assert all(-(2**31) <= key < 2**31 for key in keys)
    assert len(set(keys)) == len(keys)
