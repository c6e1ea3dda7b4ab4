"""``scrapy search "dau tu"``: the stored articles matching every word, best first.

Words match with or without their diacritics ("dau tu" finds "đầu tư"), in the title, summary,
body, category or tags (pipelines/storage/search.py). ``--format text`` prints a numbered block
per article (id, publication date, title, URL, a snippet with the matched words in brackets)
and a count; ``--format jsonl`` one JSON object per article and nothing else.

A query is bounded (``MAX_QUERY_CHARS`` characters, ``MAX_QUERY_TERMS`` different words; beyond,
one line and exit status 2) and so is its time (``SEARCH_TIMEOUT_SECONDS``; past it, one line
and exit status 1). SIGINT or SIGTERM while a search runs cancels it on the server.
"""

from __future__ import annotations

import json
import signal
import sys
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import UsageError

from crawler.commands.export import Command as ExportCommand
from crawler.commands.export import add_by_option
from crawler.domain.errors import ConfigError
from crawler.ops.database_command import DatabaseCommand

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator
    from types import FrameType

    from pipelines.storage.search import SearchHit

# The search and the storage are imported where they are used: Scrapy imports every command
# module at any `scrapy` start-up, and they bring SQLAlchemy.

FORMATS = ("text", "jsonl")


def format_text(hits: list[SearchHit], query: str) -> str:
    lines: list[str] = []
    for number, hit in enumerate(hits, 1):
        shown = hit.published_at or "undated"
        if hit.published_at_quality == "bulk":
            # a migration's display date: the event day says when it happened
            shown += f" (bulk display date; event {hit.event_date or 'unknown'})"
        elif hit.event_date:
            shown += f" (event {hit.event_date})"
        lines.append(f"{number}. {hit.id}  {shown}  {hit.title or ''}")
        lines.append(f"   {hit.url}")
        if hit.snippet:
            lines.append(f"   {hit.snippet}")
    noun = "article matches" if len(hits) == 1 else "articles match"
    lines.append(f"{len(hits)} {noun} {query!r}")
    return "\n".join(lines)


def format_jsonl(hits: list[SearchHit]) -> str:
    return "".join(json.dumps(asdict(hit), ensure_ascii=False) + "\n" for hit in hits)


class SearchInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM during a search. A KeyboardInterrupt, because that is what makes
    psycopg send the server a cancel request for the running statement."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signal_name = signal.Signals(signum).name


@contextmanager
def interruptible() -> Iterator[list[str]]:
    """SIGINT and SIGTERM raise :class:`SearchInterrupted` inside the block (SIGTERM would
    otherwise end the process at once and leave PostgreSQL running the search); the list
    yielded names the signals received, for a driver that turns the interrupt into its own
    error (SQLite: "interrupted")."""
    received: list[str] = []

    def interrupt(signum: int, frame: FrameType | None) -> Any:
        received.append(signal.Signals(signum).name)
        raise SearchInterrupted(signum)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Command(ExportCommand):
    """Shares ``scrapy export``'s database checks, ``--site`` and ``--since`` rules."""

    name = "search"

    def syntax(self) -> str:
        return (
            '"QUERY" [--site NAME] [--since YYYY-MM-DD [--by display|event]] [--limit N] '
            "[--format text|jsonl]"
        )

    def short_desc(self) -> str:
        return "Search the stored articles, with or without Vietnamese diacritics"

    def long_desc(self) -> str:
        from pipelines.storage.search import (  # noqa: PLC0415
            DEFAULT_LIMIT,
            MAX_QUERY_CHARS,
            MAX_QUERY_TERMS,
        )

        return (
            "Print the stored articles holding every word of QUERY (title, summary, body, "
            "category, tags), best match first; diacritics are optional ('dau tu' finds "
            "'đầu tư'). --site keeps one site's articles; --since those whose display date "
            "(published_at) is on or after that day (site timezone), or with --by event those "
            "whose event day (event_date, the day the lead opens with) is; --limit caps the "
            f"list (default {DEFAULT_LIMIT}). Each result shows its event day, and says when "
            "its display date is a migration's (published_at_quality bulk). "
            "The database is DATABASE_URL (-s DATABASE_URL=...); one that does not exist or "
            "holds no articles table is refused (exit status 2), as is a query without words, "
            f"longer than {MAX_QUERY_CHARS} characters or with more than {MAX_QUERY_TERMS} "
            "different words. A search running longer than SEARCH_TIMEOUT_SECONDS is stopped "
            "(exit status 1)."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        from pipelines.storage.search import DEFAULT_LIMIT  # noqa: PLC0415

        # Export's own options (--format jsonl|csv|parquet, --output) are not search's.
        DatabaseCommand.add_options(self, parser)
        parser.add_argument("-f", "--format", dest="format", choices=FORMATS, default="text")
        parser.add_argument("--site", metavar="NAME", default=None)
        parser.add_argument("--since", metavar="YYYY-MM-DD", default=None)
        add_by_option(parser)
        parser.add_argument("--limit", metavar="N", default=str(DEFAULT_LIMIT))

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        from crawler.setup.config import parse_number  # noqa: PLC0415
        from pipelines.storage.engine import StorageError  # noqa: PLC0415
        from pipelines.storage.search import (  # noqa: PLC0415
            QueryError,
            SearchTimeoutError,
            query_words,
            search_articles,
        )

        assert self.settings is not None
        if not args:
            raise UsageError('search wants a query, e.g. scrapy search "dau tu"')
        query = " ".join(args)
        try:
            query_words(query)
        except QueryError as exc:
            self.refuse(str(exc))
            return
        try:
            timeout = parse_number(
                "SEARCH_TIMEOUT_SECONDS", self.settings.get("SEARCH_TIMEOUT_SECONDS")
            )
        except ConfigError as exc:
            self.refuse(str(exc))
            return
        try:
            limit = int(opts.limit)
        except ValueError:
            limit = 0
        if limit < 1:
            raise UsageError(f"--limit wants a whole number of at least 1, got {opts.limit!r}")
        since, event_since = self.since_options(opts)
        database_url = self.database_url()
        if database_url is None:
            return
        try:
            with interruptible() as received:
                store = self.open_database(database_url)
                try:
                    with store.guard("search"):
                        unknown = self._unknown_site(store.engine, opts.site)
                        if unknown:
                            self.refuse(unknown)
                            return
                        hits = search_articles(
                            store.engine,
                            query,
                            site=opts.site,
                            since=since,
                            event_since=event_since,
                            limit=limit,
                            timeout=timeout,
                        )
                finally:
                    store.close()
        except SearchInterrupted as exc:
            self.refuse(f"interrupted by {exc.signal_name}: the search was cancelled", exitcode=1)
            return
        except SearchTimeoutError as exc:
            self.refuse(f"{exc} (SEARCH_TIMEOUT_SECONDS)", exitcode=1)
            return
        except StorageError as exc:
            if received:
                self.refuse(f"interrupted by {received[0]}: the search was cancelled", exitcode=1)
                return
            print(f"search failed: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        if opts.format == "jsonl":
            sys.stdout.write(format_jsonl(hits))
        else:
            print(format_text(hits, query))
