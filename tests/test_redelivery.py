"""Whether a callback runs again for its request is bound once per response
(crawler/crawl/redelivery.py): each step of the callback sees its own response's flag, however
Scrapy interleaves callbacks, and nothing outside a callback sees one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy import Request
from scrapy.http import Response
from twisted.python.failure import Failure

from crawler.crawl.redelivery import REDELIVERED_META, per_response, redelivered

if TYPE_CHECKING:
    from collections.abc import Iterator

URL = "https://portal.example.gov.vn/w/tin-a"


def response(*, again: bool) -> Response:
    meta = {REDELIVERED_META: True} if again else {}
    return Response(URL, request=Request(URL, meta=meta))


class Callbacks:
    def __init__(self) -> None:
        self.closed_with: list[bool] = []

    @per_response
    def parse(self, response: Response) -> Iterator[bool]:
        try:
            for _ in range(3):
                yield redelivered()
        finally:
            self.closed_with.append(redelivered())

    @per_response
    def errback(self, failure: Failure) -> Iterator[bool]:
        yield redelivered()


def test_interleaved_callbacks_each_see_their_own_response_s_flag() -> None:
    callbacks = Callbacks()
    again, fresh = callbacks.parse(response(again=True)), callbacks.parse(response(again=False))
    steps = [next(again), next(fresh), next(again), next(fresh), next(again), next(fresh)]
    assert steps == [True, False, True, False, True, False]
    # between the steps, and outside any callback, no flag
    assert redelivered() is False


def test_a_callback_closed_early_cleans_up_with_its_flag() -> None:
    callbacks = Callbacks()
    again = callbacks.parse(response(again=True))
    assert next(again) is True
    again.close()
    assert callbacks.closed_with == [True]
    assert redelivered() is False


def test_an_errback_sees_the_flag_of_its_failure_s_request() -> None:
    failure = Failure(TimeoutError("timed out"))
    failure.request = Request(URL, meta={REDELIVERED_META: True})  # as Scrapy gives it
    assert list(Callbacks().errback(failure)) == [True]
    failure.request = Request(URL)
    assert list(Callbacks().errback(failure)) == [False]
