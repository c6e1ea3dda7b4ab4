"""Scrapy's own speed on our crawl's requests: a spider that replays exactly the requests the
replica server recorded during our crawl, in the order it received them, and does nothing with
the responses (no parsing, no pipelines, no dedupe: ``dont_filter``).

Run with ``scrapy runspider`` from a directory outside the project, so that none of our
settings, pipelines, middlewares or extensions load. robots.txt is in the log like any other
request, so the replay runs with ROBOTSTXT_OBEY off and fetches it once, as a plain request.

    scrapy runspider replay_spider.py -a base_url=http://127.0.0.1:PORT \
        -a request_log=requests.jsonl -a stats_path=stats.json
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import Request, Spider, signals

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from scrapy.http import Response


def replayed_targets(lines: Iterator[str]) -> Iterator[str]:
    """The path-and-query of every GET in a replica request log (JSON lines), in order."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"request log line {number} is not JSON: {exc}") from exc
        if record.get("method") == "GET":
            yield record["path_and_query"]


def requested(request_log: Path) -> Counter[str]:
    with request_log.open(encoding="utf-8") as lines:
        return Counter(replayed_targets(lines))


def check_same_requests(ours: Path, replay: Path) -> None:
    """The replay is only a measure of our crawl's requests if the server saw the same ones."""
    wanted, got = requested(ours), requested(replay)
    if wanted != got:
        extra, lacking = got - wanted, wanted - got
        raise RuntimeError(
            f"the replay's requests differ from our crawl's: {sum(extra.values())} extra "
            f"(e.g. {sorted(extra)[:3]}), {sum(lacking.values())} missing "
            f"(e.g. {sorted(lacking)[:3]})"
        )


class ReplaySpider(Spider):
    name = "replay"

    def __init__(
        self, base_url: str, request_log: str, stats_path: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")
        self.request_log = Path(request_log)
        self.stats_path = stats_path

    async def start(self) -> AsyncIterator[Request]:
        engine = self.crawler.engine
        assert engine is not None
        with self.request_log.open(encoding="utf-8") as lines:
            for target in replayed_targets(lines):
                # Scrapy reads start() on while the downloader is full, so every request of
                # the log would sit in the scheduler at once (a 20,000-article log: ~26,000
                # Requests, most of the replay's peak memory): read on as the queue drains.
                while engine.needs_backout():
                    await self.crawler.signals.wait_for(signals.scheduler_empty)
                self.crawler.stats.inc_value("replay/requests_read")
                yield Request(
                    self.base_url + target,
                    callback=self.ignore,
                    errback=self.on_error,
                    dont_filter=True,
                )

    def ignore(self, response: Response) -> None:
        return None

    def on_error(self, failure: Any) -> None:
        self.crawler.stats.inc_value("replay/errors")

    def closed(self, reason: str) -> None:
        if self.stats_path:
            stats = {"finish_reason": reason, **self.crawler.stats.get_stats()}
            Path(self.stats_path).write_text(json.dumps(stats, default=str, indent=1))
