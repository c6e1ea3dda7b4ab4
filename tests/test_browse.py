from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import unicodedata
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest

from crawler.ops.browse import BrowseError, datasette_command, sqlite_file, write_metadata
from pipelines.storage.store import ArticleStore
from tests.crawl_runner import PROJECT_ROOT, run_crawl
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaConfig

if TYPE_CHECKING:
    from collections.abc import Iterator

pytest.importorskip("datasette")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def datasette(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    workdir = tmp_path_factory.mktemp("browse")
    with ReplicaServer(ReplicaConfig()) as server:
        result = run_crawl(server.url, workdir)
    assert result.returncode == 0, result.log[-2000:]
    database = sqlite_file(result.database_url)
    metadata = write_metadata(database)
    port = free_port()
    proc = subprocess.Popen(
        datasette_command(database, metadata, "127.0.0.1", port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}/{database.stem}"
    try:
        for _ in range(300):
            try:
                get_json(f"{base}.json")
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"datasette exited: {proc.stderr.read() if proc.stderr else ''}")
                time.sleep(0.1)
        yield base, database
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        metadata.unlink(missing_ok=True)


def rows(base: str, table: str, **params: str) -> dict[str, Any]:
    query = urlencode({"_shape": "objects", **params})
    return get_json(f"{base}/{table}.json?{query}")


def folded_words(value: str) -> set[str]:
    """The words of ``value`` without case or diacritics, "đ" as "d" (independent of the index)."""
    value = value.replace("đ", "d").replace("Đ", "D")
    bare = "".join(c for c in unicodedata.normalize("NFD", value) if not unicodedata.combining(c))
    return set(re.findall(r"[^\W_]+", bare.lower()))


def stored_ids_holding(database: Path, words: set[str]) -> set[str]:
    with sqlite3.connect(database) as conn:
        texts = conn.execute("SELECT id, title, summary, body_text, category, tags FROM articles")
        out = {row[0] for row in texts if words <= folded_words(" ".join(v or "" for v in row[1:]))}
    conn.close()
    return out


def test_datasette_table_search_finds_exactly_the_articles_holding_the_words(datasette):
    base, database = datasette
    expected = stored_ids_holding(database, {"dau", "tu"})
    assert expected, "the replica has articles about đầu tư"
    for table in ("articles_browse", "articles"):
        plain = rows(base, table, _search="dau tu", _size="max")
        assert {row["id"] for row in plain["rows"]} == expected, table


def test_datasette_search_query_ignores_every_diacritic_including_d_with_stroke(datasette):
    base, database = datasette
    expected = stored_ids_holding(database, {"dau", "tu"})
    found = []
    for query in ("dau tu", "đầu tư", "ĐẦU TƯ"):
        data = get_json(
            f"{base}/search_articles.json?" + urlencode({"q": query, "_shape": "objects"})
        )
        found.append({row["id"] for row in data["rows"]})
    # A phrase search: adjacent words, so a subset of the articles holding both.
    assert found[0]
    assert found[0] <= expected
    assert found[0] == found[1] == found[2]


def test_datasette_facets_and_sort_come_from_the_metadata(datasette):
    base, _ = datasette
    data = rows(base, "articles_browse", _size="max")
    facets = data["facet_results"]
    assert set(facets) >= {"site", "category", "author", "published_month"}
    assert [value["value"] for value in facets["site"]["results"]] == ["hepza"]
    months = [value["value"] for value in facets["published_month"]["results"]]
    assert months and all(len(month) == 7 and month[4] == "-" for month in months if month)
    published = [row["published_at_utc"] for row in data["rows"] if row["published_at_utc"]]
    assert len(published) > 1
    assert published == sorted(published, reverse=True)


def test_browse_refuses_what_datasette_cannot_open(tmp_path):
    with pytest.raises(BrowseError, match="no database at"):
        sqlite_file(f"sqlite:///{tmp_path / 'missing.sqlite3'}")
    with pytest.raises(BrowseError, match="SQLite databases only"):
        sqlite_file("postgresql://user:secret@localhost/db")


def test_browse_stopped_by_sigterm_stops_datasette_frees_the_port_and_removes_its_temp_file(
    tmp_path: Path,
) -> None:
    database = tmp_path / "hepza.sqlite3"
    ArticleStore(f"sqlite:///{database}").close()  # the schema alone: enough to serve
    temp = tmp_path / "tmp"
    temp.mkdir()
    port = free_port()
    browse = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crawler.ops.browse",
            "--database-url",
            f"sqlite:///{database}",
            "--port",
            str(port),
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "TMPDIR": str(temp)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: Datasette's too
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                get_json(f"http://127.0.0.1:{port}/{database.stem}.json")
                break
            except OSError:
                assert browse.poll() is None, browse.stderr.read() if browse.stderr else ""
                assert time.monotonic() < deadline, "Datasette never answered"
                time.sleep(0.1)
        assert [path.name[:10] for path in temp.iterdir()] == ["datasette-"]

        browse.send_signal(signal.SIGTERM)
        assert browse.wait(timeout=30) == 0
    finally:
        if browse.poll() is None:
            os.killpg(browse.pid, signal.SIGKILL)
            browse.wait()

    with pytest.raises(ProcessLookupError):
        os.killpg(browse.pid, 0)  # no process of the group is left, Datasette included
    with pytest.raises(ConnectionRefusedError):  # nobody listens on the port any more
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert list(temp.iterdir()) == []
