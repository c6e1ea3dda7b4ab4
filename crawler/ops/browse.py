"""``make browse``: the SQLite database in Datasette, with the project's metadata.

``python -m crawler.ops.browse [--port N] [--host H] [--database-url URL]`` serves DATABASE_URL (the
project setting, else ``--database-url``) on http://127.0.0.1:8001. The metadata
(pipelines/storage/datasette.json) describes every table and column, facets articles by site,
category, author and publication month, wires the diacritics-insensitive search index in and
sorts by publication date, newest first; its plugin (browse_plugins/) keeps the articles' search
fast at a million articles. Datasette reads SQLite only.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pipelines.storage
from crawler.setup.config import ConfigError
from crawler.setup.database_url import parse_database_url
from pipelines.storage.secrets import redact_url

METADATA_TEMPLATE = Path(pipelines.storage.__file__).parent / "datasette.json"
# Datasette loads every module of this directory as a plugin: the articles' search
# (browse_plugins/article_search.py, configured per table in the metadata).
PLUGINS_DIR = Path(__file__).parent / "browse_plugins"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8001
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
# How long Datasette gets to close its connections before it is killed.
SERVER_STOP_SECONDS = 10.0


class BrowseError(ValueError):
    """Why the database cannot be browsed, in one line."""


def sqlite_file(database_url: str) -> Path:
    """The SQLite file of ``database_url``; anything else is refused."""
    try:
        url = parse_database_url(database_url)
    except ConfigError as exc:
        raise BrowseError(str(exc)) from None
    if url.get_backend_name() != "sqlite":
        raise BrowseError(
            f"Datasette browses SQLite databases only, DATABASE_URL is {redact_url(database_url)}"
        )
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BrowseError(f"DATABASE_URL names no database file: {database_url}")
    path = Path(database).expanduser()
    if not path.is_file():
        raise BrowseError(f"no database at {path} (crawl first: make crawl)")
    return path


def datasette_metadata(database: Path) -> dict[str, Any]:
    """The metadata, keyed by the name Datasette gives ``database`` (its file name's stem)."""
    template = json.loads(METADATA_TEMPLATE.read_text(encoding="utf-8"))
    settings = template.pop("database")
    return {**template, "databases": {database.stem: settings}}


# At a million articles every facet Datasette suggests is a query over every row (35 columns
# of the articles table, up to facet_suggest_time_limit_ms each: seconds per page); the
# metadata's facets are offered instead. Each of those counts a million index entries in
# 0.2-0.4 s: past Datasette's default limit of 200 ms, which showed "timed out" for all four.
DATASETTE_SETTINGS = {"suggest_facets": "off", "facet_time_limit_ms": "1000"}


def datasette_command(database: Path, metadata: Path, host: str, port: int) -> list[str]:
    settings = [
        arg for name, value in DATASETTE_SETTINGS.items() for arg in ("--setting", name, value)
    ]
    return [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        str(database),
        "--metadata",
        str(metadata),
        "--plugins-dir",
        str(PLUGINS_DIR),
        "--host",
        host,
        "--port",
        str(port),
        *settings,
    ]


def write_metadata(database: Path) -> Path:
    handle, name = tempfile.mkstemp(prefix="datasette-", suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as fh:
        json.dump(datasette_metadata(database), fh, ensure_ascii=False, indent=2)
    return Path(name)


def project_database_url() -> str:
    from scrapy.utils.project import get_project_settings  # noqa: PLC0415

    from crawler.setup.paths import resolve_output_paths  # noqa: PLC0415

    settings = get_project_settings()
    resolve_output_paths(settings)
    return str(settings.get("DATABASE_URL") or "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make browse", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    try:
        database = sqlite_file(args.database_url or project_database_url())
    except BrowseError as exc:
        print(f"browse: {exc}", file=sys.stderr)
        return 2
    try:
        import datasette  # noqa: F401, PLC0415
    except ImportError:
        print("browse: Datasette is not installed: pip install -e '.[browse]'", file=sys.stderr)
        return 2
    metadata = write_metadata(database)
    command = datasette_command(database, metadata, args.host, args.port)
    print(f"browse: http://{args.host}:{args.port}/{database.stem}/articles_browse", flush=True)
    # SIGTERM (systemd, `kill`, make forwarding its own) would end this process at once: the
    # server left listening, the metadata file left behind. It is stopped like Ctrl-C instead.
    previous = {sig: signal.signal(sig, _stop_serving) for sig in STOP_SIGNALS}
    server: subprocess.Popen[bytes] | None = None
    try:
        server = subprocess.Popen(command)
        return server.wait()
    except (KeyboardInterrupt, Stopped):
        return 0
    finally:
        for sig in STOP_SIGNALS:  # a second SIGTERM must not cut the cleanup short
            signal.signal(sig, signal.SIG_IGN)
        if server is not None:
            stop_server(server)
        metadata.unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Stopped(Exception):
    """SIGTERM or SIGHUP reached ``make browse``."""


def _stop_serving(signum: int, _frame: object) -> None:
    raise Stopped(signal.Signals(signum).name)


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """Datasette asked to stop (SIGTERM), killed if it has not within SERVER_STOP_SECONDS."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=SERVER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


if __name__ == "__main__":
    sys.exit(main())
