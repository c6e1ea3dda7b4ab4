"""The replica server's own ceiling: a bounded load loop over a few keep-alive connections.

The client is Python too (threads in this process, one GIL), so the figure is a lower bound on
what the server can do; it only has to show that the server is not what limits the crawls.
"""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Tally:
    requests: int = 0
    errors: int = 0
    bytes: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def server_ceiling(
    host: str,
    port: int,
    paths: list[str],
    *,
    connections: int = 4,
    max_requests: int = 4000,
    max_seconds: float = 15.0,
) -> dict[str, Any]:
    if host not in {"127.0.0.1", "localhost"}:
        raise ValueError(f"the load loop only targets 127.0.0.1, not {host!r}")
    if not paths:
        raise ValueError("no paths to request")
    counter = itertools.count()  # next() on it is atomic under the GIL
    tally = _Tally()
    deadline = time.perf_counter() + max_seconds

    def worker() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        done = errors = size = 0
        statuses: dict[int, int] = {}
        try:
            while time.perf_counter() < deadline:
                n = next(counter)
                if n >= max_requests:
                    break
                try:
                    conn.request("GET", paths[n % len(paths)])
                    resp = conn.getresponse()
                    size += len(resp.read())
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                    if resp.will_close:
                        conn.close()
                except (OSError, http.client.HTTPException):
                    errors += 1
                    conn.close()
                done += 1
        finally:
            conn.close()
            with tally.lock:
                tally.requests += done
                tally.errors += errors
                tally.bytes += size
                for status, count in statuses.items():
                    tally.statuses[status] = tally.statuses.get(status, 0) + count

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max_seconds + 30)
    seconds = time.perf_counter() - start
    return {
        "connections": connections,
        "requests": tally.requests,
        "seconds": round(seconds, 3),
        "requests_per_s": round(tally.requests / seconds, 1) if seconds else None,
        "errors": tally.errors,
        "mb": round(tally.bytes / 1e6, 2),
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "distinct_paths": min(len(paths), tally.requests),
    }
