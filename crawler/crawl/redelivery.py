"""Whether the callback running now runs again for its request (a redelivery).

A request whose output may never have reached the queue comes back marked ``REDELIVERED_META``
(the cluster's lease queue puts a killed worker's lease back so, crawler/cluster/queue.py): its
callback runs a second time for one response, and what the first run decided may never have been
requested, so the frontier decides its URLs again (:meth:`crawler.crawl.frontier.Frontier.article`).

The flag is bound once per response, by :func:`per_response` on the spider's callbacks, and the
frontier reads it with :func:`redelivered`; nothing passes it from call to call. A single-process
crawl never redelivers: the flag is always False there.

A callback is a generator that Scrapy advances a step at a time, interleaved with other
responses' callbacks: the flag is set around each step of it and reset before the step yields,
so it never leaks into another callback, whichever context Scrapy advances it in.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Generator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# request.meta key of a request delivered again (its first run's output may be lost).
REDELIVERED_META = "cluster_redelivered"

_REDELIVERED: ContextVar[bool] = ContextVar("redelivered", default=False)
# request.meta key: what the callback's run left to free once its output is safe (committed),
# as (key, field) pairs (field None: the whole key); read by the cluster's scheduler.
RELEASE_META = "cluster_release"
# The meta of the request whose callback runs now (None outside a callback).
_META: ContextVar[dict[str, Any] | None] = ContextVar("callback_meta", default=None)

F = TypeVar("F", bound="Callable[..., Any]")
T = TypeVar("T")


def redelivered() -> bool:
    """Whether the callback running now runs again for its request."""
    return _REDELIVERED.get()


def release_when_done(key: str, field: bytes | None = None) -> None:
    """State the callback running now no longer needs once its output is safe (its request's
    lease acknowledged after its items were committed): a run of it again would need it, and
    after that none will run. Outside a callback (or in a single process, where nothing frees
    it): nothing."""
    meta = _META.get()
    if meta is not None:
        meta.setdefault(RELEASE_META, []).append((key, field))


def is_redelivered(request: Any) -> bool:
    """Whether ``request`` (a Scrapy Request, or None) comes back after its output was lost."""
    meta = getattr(request, "meta", None)
    return bool(meta and meta.get(REDELIVERED_META))


@contextlib.contextmanager
def redelivery(flag: bool = True, meta: dict[str, Any] | None = None) -> Iterator[None]:
    """What runs inside runs as a callback run again (``flag``) or not, for the request with
    ``meta``."""
    token = _REDELIVERED.set(flag)
    meta_token = _META.set(meta)
    try:
        yield
    finally:
        _META.reset(meta_token)
        _REDELIVERED.reset(token)


def per_response(callback: F) -> F:
    """A spider callback or errback whose every step runs with the redelivery flag of its
    response's (or failure's) request bound."""

    @functools.wraps(callback)
    def bound(self: Any, answer: Any, *args: Any, **kwargs: Any) -> Any:
        request = getattr(answer, "request", None)
        flag = is_redelivered(request)
        meta = getattr(request, "meta", None)
        with redelivery(flag, meta):
            result = callback(self, answer, *args, **kwargs)
        if isinstance(result, Generator):
            return _each_step(result, flag, meta)
        return result

    return cast("F", bound)


def _each_step(
    steps: Generator[T, None, None], flag: bool, meta: dict[str, Any] | None
) -> Iterator[T]:
    try:
        while True:
            with redelivery(flag, meta):
                try:
                    output = next(steps)
                except StopIteration:
                    return
            yield output
    finally:
        # Closed early (a sitemap stopped midway): the callback's own cleanup runs bound too.
        with redelivery(flag, meta):
            steps.close()
