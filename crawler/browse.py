"""``make browse``: the SQLite database in Datasette, with the project's metadata.

``python -m crawler.browse [--port N] [--host H] [--database-url URL]`` serves DATABASE_URL (the
project setting, else ``--database-url``) on http://127.0.0.1:8001. The metadata
(pipelines/storage/datasette.json) describes every table and column, facets articles by site,
category, author and publication month, wires the diacritics-insensitive search index in and
sorts by publication date, newest first. Datasette reads SQLite only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pipelines.storage
from crawler.config import ConfigError
from crawler.preflight import parse_database_url
from pipelines.storage.secrets import redact_url

METADATA_TEMPLATE = Path(pipelines.storage.__file__).parent / "datasette.json"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8001


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


def datasette_command(database: Path, metadata: Path, host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        str(database),
        "--metadata",
        str(metadata),
        "--host",
        host,
        "--port",
        str(port),
    ]


def write_metadata(database: Path) -> Path:
    handle, name = tempfile.mkstemp(prefix="datasette-", suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as fh:
        json.dump(datasette_metadata(database), fh, ensure_ascii=False, indent=2)
    return Path(name)


def project_database_url() -> str:
    from scrapy.utils.project import get_project_settings  # noqa: PLC0415

    from crawler.paths import resolve_output_paths  # noqa: PLC0415

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
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0
    finally:
        metadata.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
