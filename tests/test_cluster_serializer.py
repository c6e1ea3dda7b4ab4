"""The cluster queue's entries are data, never pickles: compact records, the JSON objects of the
code before still read (crawler/cluster/serializer.py)."""

from __future__ import annotations

import inspect
import json
import pickle
from datetime import UTC, datetime

import pytest
from scrapy import Request, Spider
from scrapy.http import FormRequest
from scrapy.utils.request import request_from_dict
from w3lib.url import safe_url_string

from crawler.cluster import packed, serializer
from crawler.cluster.queue import request_dict
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


def test_an_entry_is_a_compact_record_without_pickle():
    data = serializer.dumps(full_request().to_dict(spider=SPIDER))
    assert data.startswith(serializer.MARKER)
    # the usual callbacks are one-byte codes, not their names
    assert b"parse_article" not in data and b"on_error" not in data
    rest = json.loads(data[data.index(b"{") :])
    assert rest["headers"]["X-Raw"] == ["café"]
    assert rest["cb_kwargs"]["hint"] == {
        "$object": {
            "type": "ListingHint",
            "fields": {"name": "Tin tức", "locale": "vi-VN", "date_raw": "18/01/2023"},
        }
    }


SITEMAP = (
    "http://127.0.0.1:34093/sitemap.xml?p_l_id=31&layoutUuid=949901e5-e1ed-57a6-9c53-"
    "032d00322cd5&groupId=20122&privateLayout=false"
)
ARTICLE = (
    "http://127.0.0.1:34093/w/c%C3%B4ng-%C4%91o%C3%A0n-khu-ch%E1%BA%BF-xu%E1%BA%A5t-linh-trung-"
    "i-trao-qu%C3%A0-cho-c%C3%B4ng-nh%C3%A2n-kh%C3%B3-kh%C4%83n-d%E1%BB%8Bp-t%E1%BA%BFt-"
    "nguy%C3%AAn-%C4%91%C3%A1n"
)
# An article request a sitemap queued, as the code before wrote it (version 1, JSON).
ARTICLE_V1 = json.dumps(
    {
        "v": 1,
        "url": ARTICLE,
        "callback": "parse_article",
        "errback": "on_error",
        "headers": {"Referer": [SITEMAP]},
        "meta": {"depth": 4},
        "priority": 20,
    },
    separators=(",", ":"),
).encode()


def sitemap_article() -> Request:
    return Request(
        ARTICLE,
        callback=SPIDER.parse_article,
        errback=SPIDER.on_error,
        priority=20,
        headers={"Referer": SITEMAP},
        meta={"depth": 4},
    )


def test_an_article_request_a_sitemap_queued_takes_about_half_its_json_entry():
    request = sitemap_article()
    data = serializer.dumps(request.to_dict(spider=SPIDER))
    # 448 bytes of JSON: the URL percent-decoded, the Referer a path, callbacks one byte each
    assert len(ARTICLE_V1) == 448
    assert len(data) <= 250
    assert "công-đoàn".encode() in data
    back = round_trip(request)
    assert back.to_dict(spider=SPIDER) == request.to_dict(spider=SPIDER)
    assert back.headers["Referer"] == SITEMAP.encode()


def test_an_entry_the_code_before_wrote_as_json_is_still_read():
    back = request_from_dict(serializer.loads(ARTICLE_V1), spider=SPIDER)
    assert back.to_dict(spider=SPIDER) == sitemap_article().to_dict(spider=SPIDER)


@pytest.mark.parametrize(
    "url",
    [
        "https://h.test/w/a%2Fb",  # a quoted slash: decoded, it would be another path
        "https://h.test/w/c%c3%b4ng",  # lower-case escapes: quoted again they are upper-case
        "https://h.test/w/%FF%FE",  # bytes that are not UTF-8
        "https://h.test/search?q=a%26b&x=%C3%B4",  # a quoted & in the query
        "https://h.test/w/a%25b",  # a quoted %
        "https://h.test/w/c%C3%B4ng?p=%E1%BA%A1",
        "https://h.test/w/plain",
    ],
)
def test_a_url_comes_back_exactly_whatever_its_escapes(url):
    request = Request(
        url, callback=SPIDER.parse_article, headers={"Referer": url + "-from"}, meta={"depth": 1}
    )
    back = round_trip(request)
    assert back.url == request.url == url
    assert back.headers["Referer"] == (url + "-from").encode()


def test_a_referer_of_another_origin_stays_whole_and_comes_back():
    request = Request("https://h.test/w/x", headers={"Referer": "https://h.test.other/a"})
    back = round_trip(request)
    assert back.headers["Referer"] == b"https://h.test.other/a"
    assert back.to_dict(spider=SPIDER) == request.to_dict(spider=SPIDER)


def test_a_callback_outside_the_codes_and_a_negative_priority_round_trip():
    class Other(Spider):
        name = "other"

        def parse_listing_more(self, response: object) -> None:
            return None

    spider = Other()
    request = Request("https://h.test/l", callback=spider.parse_listing_more, priority=-1)
    data = serializer.dumps(request.to_dict(spider=spider))
    back = request_from_dict(serializer.loads(data), spider=spider)
    assert back.callback == spider.parse_listing_more
    assert back.priority == -1


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
    """A version 1 (JSON) entry, as the code before wrote it, with ``changes``."""
    entry: dict[str, object] = {"v": 1, "url": "https://h.test/w/x"}
    entry.update(changes)
    return json.dumps(entry).encode()


def good_record(**changes: object) -> bytes:
    """A version 2 entry whose JSON fields are ``changes``."""
    data = serializer.dumps(Request("https://h.test/w/x").to_dict(spider=SPIDER))
    assert data[1] == 0  # no flags: no field after the URL
    # the flag of the JSON fields (256) as a varint
    return data[:1] + b"\x80\x02" + data[2:] + json.dumps(changes).encode()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (pickle.dumps({"url": "https://h.test/"}), "not a queued request"),
        (pickle.dumps(Payload()), "not a queued request"),
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
        (b"\x02", "truncated"),
        (b"\x02\x00\x40https://h.test/", "truncated"),
        (b"\x02\x01\x10https://h.test/x\x63", "unknown method code 99"),
        (b"\x02\x01\x10https://h.test/x\x00\x08__init__", "is not a method name"),
        (b"\x02\x00\x10https://h.test/x!", "bytes after its fields"),
        (b"\x02\x00\x02\xff\xfe", "not UTF-8"),
        (b"\x02\x00\x00", "no URL"),
        (good_record(_class="os.system"), "unknown keys"),
        (good_record(callback="parse"), "out of place"),
        (good_record(meta={"x": {"$object": {"type": "Popen", "fields": {}}}}), "unknown type"),
        (b"\x02\x80\x02\x10https://h.test/x[1]", "not a JSON object"),
        (b"\x02\x80\x08\x10https://h.test/x", "unknown flags"),
        (b"\x02\x40\x02/x", "read without it"),
    ],
)  # fmt: skip
def test_an_entry_that_is_not_a_request_it_wrote_is_refused(data, reason, capsys):
    with pytest.raises(QueueEntryError, match=reason):
        serializer.loads(data)
    assert "ran" not in capsys.readouterr().out


def test_a_referer_in_the_queue_s_table_is_a_digest_in_the_entry_and_comes_back_from_it():
    request = sitemap_article()
    obj = request.to_dict(spider=SPIDER)
    obj["headers"] = {k: v for k, v in obj["headers"].items() if k != b"Referer"}
    ref = b"12345678"
    data = serializer.dumps(obj, ref)
    assert serializer.referer_ref(data) == ref
    assert b"sitemap.xml" not in data
    assert len(data) <= 150  # of the JSON's 448 bytes
    back = request_from_dict(serializer.loads(data, {ref: SITEMAP}), spider=SPIDER)
    assert back.to_dict(spider=SPIDER) == request.to_dict(spider=SPIDER)
    # its table freed (or never written): the request still runs, without a Referer
    alone = request_from_dict(serializer.loads(data), spider=SPIDER)
    assert b"Referer" not in alone.headers and alone.url == ARTICLE


def test_an_entry_without_a_referer_digest_names_none():
    plain = serializer.dumps(sitemap_article().to_dict(spider=SPIDER))
    assert serializer.referer_ref(plain) is None
    assert serializer.referer_ref(ARTICLE_V1) is None


def test_a_url_under_the_site_s_origin_is_kept_as_its_path():
    request = sitemap_article()
    obj = request.to_dict(spider=SPIDER)
    obj["headers"] = {}
    origin = "http://127.0.0.1:34093"
    data = serializer.dumps(obj, None, origin)
    assert origin.encode() not in data
    assert len(data) <= len(serializer.dumps(obj)) - len(origin)
    back = request_from_dict(serializer.loads(data, None, origin), spider=SPIDER)
    assert back.url == ARTICLE
    # another origin's URL (a look-alike host) is kept whole
    other = Request("http://127.0.0.1:3409/w/x").to_dict(spider=SPIDER)
    assert b"127.0.0.1:3409/w/x" in serializer.dumps(other, None, "http://127.0.0.1:340")


class SubclassSpider(RoundTripSpider):
    name = "round-trip-subclass"

    def on_error(self, failure: object) -> None:  # overridden: its own method, same name
        return None


@pytest.mark.parametrize(
    "request_of",
    [
        lambda spider: full_request().replace(
            callback=spider.parse_article, errback=spider.on_error
        ),
        lambda spider: Request("https://h.test/w/x"),
        lambda spider: Request("https://h.test/w/x", callback=spider.parse_article),
    ],
)
@pytest.mark.parametrize("spider", [SPIDER, SubclassSpider()])
def test_a_queued_request_s_dict_is_to_dict_s_without_searching_the_spider(
    request_of, spider, monkeypatch
):
    request = request_of(spider)
    expected = request.to_dict(spider=spider)
    monkeypatch.setattr(inspect, "getmembers", _no_search)
    assert request_dict(request, spider) == expected


def _no_search(*args: object, **kwargs: object) -> None:
    raise AssertionError("inspect.getmembers called")


def test_a_callback_that_is_no_method_of_the_spider_is_refused_as_to_dict_refuses_it():
    other = Spider(name="other")
    with pytest.raises(ValueError, match="not an instance method"):
        request_dict(Request("https://h.test/w/x", callback=SPIDER.parse_article), other)
    with pytest.raises(ValueError, match="not an instance method"):
        request_dict(Request("https://h.test/w/x", callback=lambda r: None), SPIDER)


def test_a_request_subclass_s_dict_still_names_its_class():
    request = FormRequest("https://h.test/w/x", formdata={"a": "b"})
    assert request_dict(request, SPIDER)["_class"] == "scrapy.http.request.form.FormRequest"


def test_a_url_packed_again_or_unpacked_is_not_quoted_again(monkeypatch):
    calls: list[str] = []

    def counting(url: str, encoding: str = "utf-8") -> str:
        calls.append(url)
        return safe_url_string(url, encoding)

    monkeypatch.setattr(packed, "safe_url_string", counting)
    monkeypatch.setattr(packed, "_DECODED", {})
    monkeypatch.setattr(packed, "_QUOTED", {})
    url = "https://h.test/w/c%C3%B4ng-ty?p=%E1%BA%A1"
    text = packed.pack(url, "https://h.test")
    assert packed.pack(url, "https://h.test") == text
    assert packed.unpack(text, "https://h.test") == url
    assert len(calls) == 1


def test_the_kept_answers_are_bounded_and_stay_right_once_forgotten(monkeypatch):
    monkeypatch.setattr(packed, "CACHED", 3)
    monkeypatch.setattr(packed, "_DECODED", {})
    monkeypatch.setattr(packed, "_QUOTED", {})
    urls = [f"https://h.test/w/c%C3%B4ng-{n}" for n in range(10)] + ["https://h.test/w/a%2Fb"]
    for url in urls * 2:
        plain = packed.decoded(url)
        assert (plain is None) == (url.endswith("%2Fb"))
        if plain is not None:
            assert packed.quoted(plain) == url == safe_url_string(plain)
        assert len(packed._DECODED) <= 3
        assert len(packed._QUOTED) <= 3
