"""The cluster queue's entries as data, never pickles: a request in Redis is a compact binary
record that describes it (Scrapy's ``Request.to_dict``), so whoever can write to Redis can queue
a URL but cannot run code on a worker.

A module with ``dumps`` and ``loads``, the shape scrapy-redis wants of a serializer (its
``SCHEDULER_SERIALIZER``). ``dumps`` takes the dict of ``request.to_dict(spider=...)``; ``meta``
and ``cb_kwargs`` must hold JSON values, tuples, bytes or one of :data:`QUEUE_TYPES`, anything
else is refused with :class:`QueueEncodeError` naming the key. ``loads`` gives that dict back
and refuses, with :class:`QueueEntryError`, anything that is not exactly such a record: a
pickle, a foreign request class (``_class``), a callback that is not a plain method name.

The queue is what Redis holds most of at a crawl's peak, so an entry (version 2) is what a
worker cannot re-derive and no more: a marker byte, a byte of flags, the URL (percent-decoded
where quoting it again gives it back exactly: a Vietnamese slug is half as long), the callback
and errback as one-byte codes of the spider's usual methods, the priority and the link depth
as small numbers, the Referer as a path under the URL's origin, and the rest (rare: another
header, a body, other meta, cb_kwargs) as the JSON of version 1. A version 1 entry (a JSON
object, written by the code before) is still read.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import re
from typing import TYPE_CHECKING, Any

from crawler.cluster.packed import decoded, quoted, under
from crawler.domain.items import ListingHint

if TYPE_CHECKING:
    from collections.abc import Mapping

VERSION = 2
# The JSON objects the code before wrote (still read).
VERSION_JSON = 1
MARKER = b"\x02"
# The objects (frozen dataclasses of plain values) a request's meta or cb_kwargs may carry.
QUEUE_TYPES: dict[str, type[Any]] = {"ListingHint": ListingHint}
# A callback or errback: the name of one of the spider's own methods.
METHOD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# The spider's methods a crawl queues, as one byte each (their index + 1; 0: the name follows).
# Only appended to: a code means one name for as long as entries written with it are queued.
METHOD_CODES = (
    "parse_article",
    "parse_page",
    "parse_sitemap",
    "on_error",
    "on_sitemap_error",
    "parse_robots",
    "on_robots_error",
    "on_probe_error",
    "check_portal",
    "parse",
)
_METHOD_CODE = {name: code for code, name in enumerate(METHOD_CODES, 1)}
# Tagged values: a one-key object whose key is one of these.
_TUPLE, _BYTES, _OBJECT = "$tuple", "$bytes", "$object"
_TAGS = frozenset({_TUPLE, _BYTES, _OBJECT})
# A version 2 entry's flags (a varint, one byte for the usual request): which fields follow.
# REFERER_REF: the Referer is in the queue's table of Referers (LeaseQueue), its REF_BYTES
# digest right after the flags; else REFERER: a path under the URL's origin, after the depth.
# URL_RELATIVE: the URL is a path under the site's origin (the queue's).
_CALLBACK, _ERRBACK, _PRIORITY, _DEPTH, _URL_PLAIN, _REFERER_REF = 1, 2, 4, 8, 16, 32
_URL_RELATIVE = 64
# Rare: the Referer inline, the rest as JSON; the Referer's path stored percent-decoded.
_REFERER, _REST, _REFERER_PLAIN = 128, 256, 512
_FLAGS_END = 1024
REF_BYTES = 8
_ORIGIN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")
# The Referer's header name as to_dict gives it and as the JSON fields keep it.
_REFERER_NAME = "Referer"


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


def _fields(obj: dict[str, Any]) -> dict[str, Any]:
    """The request's fields as JSON values, those at their default left out (see _DEFAULTS)."""
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
    return {k: v for k, v in entry.items() if k not in _DEFAULTS or v != _DEFAULTS[k]}


def dumps(obj: dict[str, Any], referer_ref: bytes | None = None, origin: str = "") -> bytes:
    """The entry (version 2) of a request dict (``Request.to_dict``); ``referer_ref``: the
    digest under which its Referer (left out of ``obj``) is in the queue's table; ``origin``:
    the site's scheme and host (no escapes), a URL under it kept as its path."""
    fields = _fields(obj)
    url = fields.pop("url")
    if not isinstance(url, str) or not url:
        raise QueueEncodeError(f"request {url!r}: no URL")
    encoding = fields.get("encoding", "utf-8")
    flags = 0
    tail = bytearray()
    if referer_ref is not None:
        if len(referer_ref) != REF_BYTES:
            raise QueueEncodeError(f"request {url}: a Referer digest of {len(referer_ref)} bytes")
        flags |= _REFERER_REF
        tail += referer_ref
    plain = decoded(url, encoding)
    if plain is not None:
        flags |= _URL_PLAIN
    text = url if plain is None else plain
    if origin and "%" not in origin and under(url, origin) and text.startswith(origin):
        flags |= _URL_RELATIVE
        text = text[len(origin) :]
    _put_text(tail, text)
    for flag, name in ((_CALLBACK, "callback"), (_ERRBACK, "errback")):
        method = fields.pop(name, None)
        if method is not None:
            flags |= flag
            code = _METHOD_CODE.get(method, 0)
            tail.append(code)
            if not code:
                _put_text(tail, str(method))
    priority = fields.pop("priority", 0)
    if priority:
        flags |= _PRIORITY
        _put_varint(tail, priority * 2 if priority >= 0 else -priority * 2 - 1)
    meta = fields.get("meta", {})
    depth = meta.get("depth")
    if type(depth) is int and depth >= 0:
        flags |= _DEPTH
        _put_varint(tail, depth)
        fields["meta"] = meta = {k: v for k, v in meta.items() if k != "depth"}
        if not meta:
            del fields["meta"]
    referer = _relative_referer(fields.get("headers", {}), url)
    if referer is not None:
        relative, referer_plain = referer
        flags |= _REFERER | (_REFERER_PLAIN if referer_plain else 0)
        _put_text(tail, relative)
        headers = {k: v for k, v in fields["headers"].items() if k != _REFERER_NAME}
        if headers:
            fields["headers"] = headers
        else:
            del fields["headers"]
    if fields:
        flags |= _REST
        tail += json.dumps(
            fields, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()
    head = bytearray(MARKER)
    _put_varint(head, flags)
    return bytes(head + tail)


def _relative_referer(headers: dict[str, list[str]], url: str) -> tuple[str, bool] | None:
    """The Referer as a path under ``url``'s origin (and whether it is percent-decoded), when
    it is one value of that origin; None otherwise (it stays among the headers)."""
    values = headers.get(_REFERER_NAME)
    origin = _ORIGIN.match(url)
    if not values or len(values) != 1 or origin is None:
        return None
    [referer] = values
    prefix = origin.group(0)
    own = _ORIGIN.match(referer)
    if own is None or own.group(0) != prefix:
        return None
    relative = referer[len(prefix) :]
    plain = decoded(referer, "utf-8")
    if plain is not None and plain.startswith(prefix):
        return plain[len(prefix) :], True
    return relative, False


def _put_varint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _put_text(out: bytearray, text: str) -> None:
    data = text.encode("utf-8")
    _put_varint(out, len(data))
    out += data


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


def referer_ref(data: bytes) -> bytes | None:
    """The digest of the entry's Referer in the queue's table; None when it has none there."""
    if data[:1] != MARKER:
        return None
    read = _Reader(data, 1)
    try:
        if not read.varint() & _REFERER_REF:
            return None
    except QueueEntryError:
        return None
    return data[read.pos : read.pos + REF_BYTES]


def loads(
    data: bytes | str, referers: Mapping[bytes, str] | None = None, origin: str = ""
) -> dict[str, Any]:
    """The request dict of a queue entry ``dumps`` wrote (version 2, or the JSON object of
    version 1); :class:`QueueEntryError` for any other bytes (never evaluated, whatever they
    hold). ``referers``: the queue's table of Referers (one missing there: no Referer);
    ``origin``: the one ``dumps`` was given."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if data[:1] == MARKER:
        return _from_entry(_entry_v2(bytes(data), referers or {}, origin))
    try:
        entry = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise QueueEntryError("not a queued request (a pickle, or damaged)") from None
    _expect(isinstance(entry, dict), "not a JSON object")
    _expect(
        entry.get("v") == VERSION_JSON,
        f"an entry of version {entry.get('v')!r}, not {VERSION_JSON}",
    )
    return _from_entry({k: v for k, v in entry.items() if k != "v"})


class _Reader:
    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.pos = pos

    def byte(self) -> int:
        _expect(self.pos < len(self.data), "a truncated entry")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        value = shift = 0
        while True:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7
            _expect(shift < 64, "a number too long")

    def raw(self, size: int) -> bytes:
        end = self.pos + size
        _expect(end <= len(self.data), "a truncated entry")
        value = self.data[self.pos : end]
        self.pos = end
        return value

    def text(self) -> str:
        size = self.varint()
        end = self.pos + size
        _expect(end <= len(self.data), "a truncated entry")
        try:
            text = self.data[self.pos : end].decode("utf-8")
        except UnicodeDecodeError:
            raise QueueEntryError("text that is not UTF-8") from None
        self.pos = end
        return text

    def method(self) -> str:
        code = self.byte()
        if code == 0:
            return self.text()
        _expect(code <= len(METHOD_CODES), f"an unknown method code {code}")
        return METHOD_CODES[code - 1]


def _entry_v2(data: bytes, referers: Mapping[bytes, str], origin: str) -> dict[str, Any]:
    """A version 2 entry as the JSON fields of version 1 (checked by _from_entry)."""
    read = _Reader(data, 1)
    flags = read.varint()
    _expect(flags < _FLAGS_END, f"unknown flags {flags}")
    shared = None
    if flags & _REFERER_REF:
        ref = read.raw(REF_BYTES)
        shared = referers.get(ref)
    url = read.text()
    entry: dict[str, Any] = {}
    if flags & _CALLBACK:
        entry["callback"] = read.method()
    if flags & _ERRBACK:
        entry["errback"] = read.method()
    if flags & _PRIORITY:
        zigzag = read.varint()
        entry["priority"] = zigzag // 2 if zigzag % 2 == 0 else -(zigzag + 1) // 2
    depth = read.varint() if flags & _DEPTH else None
    referer = read.text() if flags & _REFERER else None
    if flags & _REST:
        try:
            rest = json.loads(data[read.pos :])
        except (UnicodeDecodeError, ValueError):
            raise QueueEntryError("its fields are not JSON") from None
        _expect(isinstance(rest, dict), "its fields are not a JSON object")
        misplaced = set(rest) & {"url", "callback", "errback", "priority", "v"}
        _expect(not misplaced, f"fields out of place {sorted(misplaced)}")
        entry.update(rest)
    else:
        _expect(read.pos == len(data), "bytes after its fields")
    encoding = entry.get("encoding", "utf-8")
    _expect(isinstance(encoding, str), "no encoding")
    if flags & _URL_RELATIVE:
        _expect(bool(origin), "a URL under the site's origin, read without it")
        url = origin + url
    if flags & _URL_PLAIN:
        url = _quoted(url, encoding)
    entry["url"] = url
    if depth is not None:
        meta = entry.setdefault("meta", {})
        _expect(isinstance(meta, dict) and "depth" not in meta, "meta is not an object")
        meta["depth"] = depth
    if referer is not None:
        own = _ORIGIN.match(url)
        _expect(own is not None, "a Referer without the URL's origin")
        assert own is not None
        full = own.group(0) + referer
        if flags & _REFERER_PLAIN:
            full = _quoted(full, "utf-8")
        headers = entry.setdefault("headers", {})
        _expect(isinstance(headers, dict) and _REFERER_NAME not in headers, "bad headers")
        headers[_REFERER_NAME] = [full]
    if shared is not None:
        headers = entry.setdefault("headers", {})
        _expect(isinstance(headers, dict) and _REFERER_NAME not in headers, "bad headers")
        headers[_REFERER_NAME] = [shared]
    return entry


def _quoted(plain: str, encoding: str) -> str:
    try:
        return quoted(plain, encoding)
    except (LookupError, UnicodeError, ValueError):
        raise QueueEntryError("a URL that cannot be quoted again") from None


def _from_entry(fields: dict[str, Any]) -> dict[str, Any]:
    """The request dict of an entry's JSON fields (those missing at their default)."""
    entry = {**_DEFAULTS, **fields}
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
    unknown = set(entry) - set(_REQUEST_KEYS)
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
