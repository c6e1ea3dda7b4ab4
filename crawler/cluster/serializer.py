"""The cluster queue's entries as JSON data, never pickles: a request in Redis is a JSON object
that describes it (Scrapy's ``Request.to_dict``), so whoever can write to Redis can queue a
URL but cannot run code on a worker.

A module with ``dumps`` and ``loads``, the shape scrapy-redis wants of a serializer (its
``SCHEDULER_SERIALIZER``). ``dumps`` takes the dict of ``request.to_dict(spider=...)``: bytes
(the body, the headers) become base64 or latin-1 text; ``meta`` and ``cb_kwargs`` must hold
JSON values, tuples, bytes or one of :data:`QUEUE_TYPES`, anything else is refused with
:class:`QueueEncodeError` naming the key. ``loads`` gives that dict back and refuses, with
:class:`QueueEntryError`, anything that is not exactly such an object: a pickle, a foreign
request class (``_class``), a callback that is not a plain method name.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import re
from typing import Any

from crawler.domain.items import ListingHint

VERSION = 1
# The objects (frozen dataclasses of plain values) a request's meta or cb_kwargs may carry.
QUEUE_TYPES: dict[str, type[Any]] = {"ListingHint": ListingHint}
# A callback or errback: the name of one of the spider's own methods.
METHOD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Tagged values: a one-key object whose key is one of these.
_TUPLE, _BYTES, _OBJECT = "$tuple", "$bytes", "$object"
_TAGS = frozenset({_TUPLE, _BYTES, _OBJECT})


class QueueEncodeError(TypeError):
    """A request whose meta or cb_kwargs holds a value the queue cannot carry as data."""


class QueueEntryError(ValueError):
    """A queue entry that is not a request this serializer wrote."""


# --- dumps ------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _encode(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QueueEncodeError(f"{where} is {value!r}, which JSON cannot carry")
        return value
    if isinstance(value, list):
        return [_encode(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, tuple):
        return {_TUPLE: [_encode(item, f"{where}[{i}]") for i, item in enumerate(value)]}
    if isinstance(value, bytes):
        return {_BYTES: _b64(value)}
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise QueueEncodeError(f"{where} has a key {key!r} that is not a string")
            if key.startswith("$"):
                raise QueueEncodeError(f"{where} has a key {key!r}: keys beginning with $ are tags")
            out[key] = _encode(item, f"{where}[{key!r}]")
        return out
    name = type(value).__name__
    if QUEUE_TYPES.get(name) is type(value):
        fields = {
            field.name: _encode(getattr(value, field.name), f"{where}.{field.name}")
            for field in dataclasses.fields(value)
        }
        return {_OBJECT: {"type": name, "fields": fields}}
    raise QueueEncodeError(
        f"{where} is a {type(value).__module__}.{name}, which the cluster queue cannot carry: "
        "only JSON values, tuples, bytes and " + ", ".join(sorted(QUEUE_TYPES))
    )


def dumps(obj: dict[str, Any]) -> bytes:
    """The JSON bytes of a request dict (``Request.to_dict``)."""
    url = obj.get("url")
    where = f"request {url}"
    if "_class" in obj:
        # request_from_dict would import the class an entry names: plain requests only.
        raise QueueEncodeError(
            f"{where}: the cluster queue carries scrapy.Request only, not {obj['_class']}"
        )
    headers = {
        _latin1(name): [_latin1(value) for value in values]
        for name, values in (obj.get("headers") or {}).items()
    }
    entry: dict[str, Any] = {
        "v": VERSION,
        "url": url,
        "callback": obj.get("callback"),
        "errback": obj.get("errback"),
        "method": obj.get("method", "GET"),
        "headers": headers,
        "body": _b64(obj.get("body") or b""),
        "cookies": _encode(obj.get("cookies") or {}, f"{where}: cookies"),
        "meta": _encode(obj.get("meta") or {}, f"{where}: meta"),
        "encoding": obj.get("encoding", "utf-8"),
        "priority": obj.get("priority", 0),
        "dont_filter": obj.get("dont_filter", False),
        "flags": list(obj.get("flags") or []),
        "cb_kwargs": _encode(obj.get("cb_kwargs") or {}, f"{where}: cb_kwargs"),
    }
    # Fields at their default left out: a queued article request is its URL, its callbacks and
    # its priority (the queue is what Redis holds most of at a crawl's peak).
    kept = {k: v for k, v in entry.items() if k not in _DEFAULTS or v != _DEFAULTS[k]}
    return json.dumps(kept, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


# What an entry's missing field stands for (dumps leaves out the fields at these values).
_DEFAULTS: dict[str, Any] = {
    "callback": None,
    "errback": None,
    "method": "GET",
    "headers": {},
    "body": "",
    "cookies": {},
    "meta": {},
    "encoding": "utf-8",
    "priority": 0,
    "dont_filter": False,
    "flags": [],
    "cb_kwargs": {},
}


def _latin1(value: bytes | str) -> str:
    # Scrapy keeps headers as bytes; latin-1 maps each byte to one character and back.
    return value.decode("latin-1") if isinstance(value, bytes) else value


# --- loads ------------------------------------------------------------------------------------


def _decode(value: Any, where: str) -> Any:
    if isinstance(value, list):
        return [_decode(item, where) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1 and next(iter(value)) in _TAGS:
        [(tag, inner)] = value.items()
        if tag == _TUPLE:
            _expect(isinstance(inner, list), f"{where}: {_TUPLE} is not a list")
            return tuple(_decode(item, where) for item in inner)
        if tag == _BYTES:
            return _unbase64(inner, where)
        return _decode_object(inner, where)
    _expect(not any(key.startswith("$") for key in value), f"{where}: an unknown tag")
    return {key: _decode(item, where) for key, item in value.items()}


def _decode_object(inner: Any, where: str) -> Any:
    _expect(
        isinstance(inner, dict) and set(inner) == {"type", "fields"},
        f"{where}: a malformed {_OBJECT}",
    )
    cls = QUEUE_TYPES.get(inner["type"]) if isinstance(inner["type"], str) else None
    _expect(cls is not None, f"{where}: {_OBJECT} of an unknown type {inner['type']!r}")
    _expect(isinstance(inner["fields"], dict), f"{where}: {_OBJECT} fields are not an object")
    try:
        return cls(**{k: _decode(v, where) for k, v in inner["fields"].items()})  # type: ignore[misc]
    except TypeError as exc:
        raise QueueEntryError(f"{where}: {inner['type']}: {exc}") from None


def _unbase64(value: Any, where: str) -> bytes:
    _expect(isinstance(value, str), f"{where}: bytes that are not base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise QueueEntryError(f"{where}: bytes that are not base64 text") from None


def _expect(condition: bool, reason: str) -> None:
    if not condition:
        raise QueueEntryError(reason)


def _is_str_or_none(value: Any) -> bool:
    return value is None or isinstance(value, str)


def loads(data: bytes | str) -> dict[str, Any]:
    """The request dict of a queue entry ``dumps`` wrote; :class:`QueueEntryError` for any
    other bytes (never evaluated, whatever they hold)."""
    try:
        entry = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise QueueEntryError("not a JSON request (a pickle, or damaged)") from None
    _expect(isinstance(entry, dict), "not a JSON object")
    entry = {**_DEFAULTS, **entry}
    _expect(entry.get("v") == VERSION, f"an entry of version {entry.get('v')!r}, not {VERSION}")
    _expect(isinstance(entry.get("url"), str) and entry["url"] != "", "no URL")
    for name in ("callback", "errback"):
        value = entry.get(name)
        _expect(
            value is None or (isinstance(value, str) and bool(METHOD_NAME.match(value))),
            f"{name} {value!r} is not a method name",
        )
    headers = entry["headers"]
    _expect(
        isinstance(headers, dict)
        and all(
            isinstance(values, list) and all(isinstance(v, str) for v in values)
            for values in headers.values()
        ),
        "headers are not lists of strings",
    )
    _expect(isinstance(entry.get("method"), str), "no method")
    _expect(isinstance(entry.get("encoding"), str), "no encoding")
    priority = entry.get("priority")
    _expect(isinstance(priority, int) and not isinstance(priority, bool), "priority not a number")
    _expect(isinstance(entry.get("dont_filter"), bool), "dont_filter not a boolean")
    flags = entry["flags"]
    _expect(isinstance(flags, list) and all(isinstance(f, str) for f in flags), "bad flags")
    for name in ("meta", "cb_kwargs"):
        _expect(isinstance(entry.get(name), dict), f"{name} is not an object")
    _expect(isinstance(entry.get("cookies"), dict | list), "cookies are not an object or list")
    unknown = set(entry) - {"v", *_REQUEST_KEYS}
    _expect(not unknown, f"unknown keys {sorted(unknown)}")
    obj: dict[str, Any] = {
        "url": entry["url"],
        "callback": entry.get("callback"),
        "errback": entry.get("errback"),
        "method": entry["method"],
        "headers": {
            name.encode("latin-1"): [value.encode("latin-1") for value in values]
            for name, values in _latin1_safe(headers).items()
        },
        "body": _unbase64(entry.get("body", ""), "body"),
        "cookies": _decode(entry["cookies"], "cookies"),
        "meta": _decode(entry["meta"], "meta"),
        "encoding": entry["encoding"],
        "priority": priority,
        "dont_filter": entry["dont_filter"],
        "flags": list(flags),
        "cb_kwargs": _decode(entry["cb_kwargs"], "cb_kwargs"),
    }
    return obj


_REQUEST_KEYS = (
    "url",
    "callback",
    "errback",
    "method",
    "headers",
    "body",
    "cookies",
    "meta",
    "encoding",
    "priority",
    "dont_filter",
    "flags",
    "cb_kwargs",
)


def _latin1_safe(headers: dict[str, list[str]]) -> dict[str, list[str]]:
    for name, values in headers.items():
        for text in (name, *values):
            try:
                text.encode("latin-1")
            except UnicodeEncodeError:
                raise QueueEntryError(f"header {name!r} is not latin-1 text") from None
    return headers
