"""What a host saw of a crawl's politeness, from the replica's request timings
(``ReplicaConfig(record_timing=True)``, ``ReplicaServer.timings``)."""

from __future__ import annotations

import itertools
from bisect import bisect_right
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tests.replica.server import RequestTiming


def max_in_flight(timings: Sequence[RequestTiming]) -> int:
    """The most requests the server was answering at once."""
    return max((timing.in_flight for timing in timings), default=0)


def min_gap(timings: Sequence[RequestTiming]) -> float:
    """The shortest time between two consecutive request arrivals (inf under two requests)."""
    arrivals = sorted(timing.arrived for timing in timings)
    return min((b - a for a, b in itertools.pairwise(arrivals)), default=float("inf"))


def max_in_window(timings: Sequence[RequestTiming], window: float) -> int:
    """The most request arrivals within any ``window`` seconds (both ends included)."""
    arrivals = sorted(timing.arrived for timing in timings)
    return max(
        (bisect_right(arrivals, start + window) - i for i, start in enumerate(arrivals)),
        default=0,
    )


def allowed_in_window(window: float, delay: float, jitter: float) -> int:
    """The most arrivals a window may hold when starts are at least ``delay`` apart and each
    arrival lags its start by 0 to ``jitter`` seconds: the starts lie within
    ``window + jitter``, so at most ``floor((window + jitter) / delay) + 1`` of them."""
    return int((window + jitter) / delay) + 1
