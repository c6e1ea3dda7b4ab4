"""The cluster queue's entries are JSON data, never pickles (crawler/cluster/serializer.py)."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime

import pytest
from scrapy import Request, Spider
from scrapy.http import FormRequest
from scrapy.utils.request import request_from_dict

from crawler.cluster import serializer
from crawler.cluster.serializer import QueueEncodeError, QueueEntryError
from crawler.domain.items import ListingHint


class RoundTripSpider(Spider):
    name = "round-trip"

    def parse_article(self, response: object, **kwargs: object) -> None:
        return None

    def on_error(self, failure: object) -> None:
        return None


SPIDER = RoundTripSpider()


def full_request() -> Request:
    """Every field of a request the crawler queues, each with a value that is not its default."""
    return Request(
        "https://hepza.hochiminhcity.gov.vn/w/dau-tu?p=1",
        callback=SPIDER.parse_article,
        errback=SPIDER.on_error,
        method="POST",
        headers={"Accept-Language": "vi-VN", "X-Raw": b"caf\xe9", "X-Two": ["a", "b"]},
        body=b"\x00\xff\xfe binary",
        cookies={"JSESSIONID": "abc", "GUEST_LANGUAGE_ID": "vi_VN"},
        meta={
            "download_maxsize": 10_000_000,
            "stream_body_to_file": True,
            "retry_times": 2,
            "download_latency": 0.25,
            "redirect_urls": ["http://hepza.test/a", "http://hepza.test/b"],
            "redirect_reasons": [301, "meta refresh"],
            "charset_corrected_from": None,
            "cluster_host_slot": ("hepza.test", "token-1"),
            "raw": b"\x01\x02",
            "nested": {"đầu tư": [1, 2.5, None, {"k": "v"}]},
        },
        encoding="utf-8",
        priority=-7,
        dont_filter=True,
        flags=["cached"],
        cb_kwargs={
            "key": "https://hepza.hochiminhcity.gov.vn/w/dau-tu",
            "hint": ListingHint("Tin tức", "vi-VN", "18/01/2023"),
            "via_preferred": True,
            "met_url": None,
            "depth": 3,
        },
    )


def round_trip(request: Request) -> Request:
    data = serializer.dumps(request.to_dict(spider=SPIDER))
    return request_from_dict(serializer.loads(data), spider=SPIDER)


def test_a_json_round_trip_keeps_every_request_field_the_crawler_uses():
    request = full_request()
    back = round_trip(request)
    assert back.callback == SPIDER.parse_article
    assert back.errback == SPIDER.on_error
    for name in (
        "url", "method", "body", "cookies", "meta", "encoding", "priority", "dont_filter",
        "flags", "cb_kwargs",
    ):  # fmt: skip
        assert getattr(back, name) == getattr(request, name), name
    assert back.headers == request.headers
    assert back.headers.getlist("X-Two") == [b"a", b"b"]
    assert back.headers["X-Raw"] == b"caf\xe9"
    assert type(back.meta["cluster_host_slot"]) is tuple
    assert type(back.cb_kwargs["hint"]) is ListingHint


def test_a_plain_article_request_round_trips_to_its_defaults():
    request = Request("https://h.test/w/x", callback=SPIDER.parse_article)
    back = round_trip(request)
    assert back.to_dict(spider=SPIDER) == request.to_dict(spider=SPIDER)


def test_an_entry_is_json_text_without_pickle():
    data = serializer.dumps(full_request().to_dict(spider=SPIDER))
    entry = json.loads(data)
    assert entry["callback"] == "parse_article"
    assert entry["headers"]["X-Raw"] == ["café"]
    assert entry["cb_kwargs"]["hint"] == {
        "$object": {
            "type": "ListingHint",
            "fields": {"name": "Tin tức", "locale": "vi-VN", "date_raw": "18/01/2023"},
        }
    }


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("meta", {"when": datetime(2024, 1, 1, tzinfo=UTC)}, r"meta\['when'\] is a datetime"),
        ("meta", {"seen": {1, 2}}, r"meta\['seen'\] is a builtins.set"),
        ("cb_kwargs", {"x": [object()]}, r"cb_kwargs\['x'\]\[0\] is a builtins.object"),
        ("meta", {"nan": float("nan")}, r"meta\['nan'\] is nan"),
        ("meta", {1: "int key"}, "has a key 1 that is not a string"),
        ("meta", {"$tuple": [1]}, "keys beginning with \\$ are tags"),
    ],
)
def test_a_value_the_queue_cannot_carry_is_refused_naming_its_key(where, value, message):
    request = Request("https://h.test/w/x", **{where: value})
    with pytest.raises(QueueEncodeError, match=message) as caught:
        serializer.dumps(request.to_dict(spider=SPIDER))
    assert "request https://h.test/w/x" in str(caught.value)


def test_a_request_subclass_is_not_queued():
    request = FormRequest("https://h.test/search", formdata={"q": "x"})
    with pytest.raises(QueueEncodeError, match=r"scrapy\.Request only"):
        serializer.dumps(request.to_dict(spider=SPIDER))


class Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("ran",))


def good_entry(**changes: object) -> bytes:
    entry = json.loads(serializer.dumps(Request("https://h.test/w/x").to_dict(spider=SPIDER)))
    entry.update(changes)
    return json.dumps(entry).encode()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (pickle.dumps({"url": "https://h.test/"}), "not a JSON request"),
        (pickle.dumps(Payload()), "not a JSON request"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"url": "https://h.test/"}', "version None"),
        (good_entry(url=""), "no URL"),
        (good_entry(callback="__class__"), "is not a method name"),
        (good_entry(errback="crawler.engine.close"), "is not a method name"),
        (good_entry(_class="os.system"), "unknown keys"),
        (good_entry(headers={"A": "b"}), "headers are not lists of strings"),
        (good_entry(priority="1"), "priority not a number"),
        (good_entry(priority=True), "priority not a number"),
        (good_entry(dont_filter=1), "dont_filter not a boolean"),
        (good_entry(body="!!"), "not base64"),
        (good_entry(meta=[]), "meta is not an object"),
        (good_entry(meta={"x": {"$object": {"type": "Popen", "fields": {}}}}), "unknown type"),
        (good_entry(meta={"x": {"$eval": "1"}}), "unknown tag"),
        (good_entry(cb_kwargs={"h": {"$object": {"type": "ListingHint", "fields": {"z": 1}}}}),
         "ListingHint"),
    ],
)  # fmt: skip
def test_an_entry_that_is_not_a_request_it_wrote_is_refused(data, reason, capsys):
    with pytest.raises(QueueEntryError, match=reason):
        serializer.loads(data)
    assert "ran" not in capsys.readouterr().out
