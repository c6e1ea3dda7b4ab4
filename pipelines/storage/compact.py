"""Lookups over a million stored articles in a few bytes each: sorted 64-bit keys in arrays.

A Python dict of a site's URLs costs about 250 bytes per entry (the string, the dict slot, the
value object): 749k URLs of a 300k-article site took 700 MB, and a 1M-article site would take
over 2 GB. A URL here is the 64-bit BLAKE2b of its text, in a sorted ``uint64`` array next to
a ``uint32`` value (12 bytes a URL), looked up by binary search (``numpy.searchsorted``, in C).

Two different URLs share a 64-bit key with probability 2^-64 per pair: a lookup of a URL that
is not stored answers "stored" with probability (stored URLs) / 2^64, about 1 in 10^13 for 2.5
million URLs, far below the chance of any other fault of a run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import NDArray

# Values gathered in Python lists this long before they become an array: a list of Python ints
# costs about 36 bytes an item, the array 8.
CHUNK = 65536


def key64(text: str) -> int:
    """The 64-bit key of a string."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class Column:
    """An array grown in chunks: appended to as rows stream in, held as arrays, not objects."""

    def __init__(self, dtype: str) -> None:
        self.dtype = dtype
        self._chunks: list[NDArray[np.generic]] = []
        self._pending: list[object] = []

    def append(self, value: object) -> None:
        self._pending.append(value)
        if len(self._pending) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._chunks.append(np.array(self._pending, dtype=self.dtype))
            self._pending = []

    def array(self) -> NDArray[np.generic]:
        """Every value appended, as one array (the chunks are let go)."""
        self._flush()
        if not self._chunks:
            return np.array([], dtype=self.dtype)
        whole = np.concatenate(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        self._chunks = [whole]
        return whole


class KeyMap:
    """String -> int, built by :meth:`add` and then :meth:`freeze`; a string added twice keeps
    the value of its lowest ``rank`` (the first added among equal ranks). ``key``: a string's
    64-bit key (:func:`key64` unless a caller has its own, to look strings up by a key it
    already holds: :meth:`position`)."""

    def __init__(self, key: Callable[[str], int] = key64) -> None:
        self._key = key
        self._keys: Column | None = Column("uint64")
        self._values: Column | None = Column("uint32")
        self._ranks: Column | None = Column("uint8")
        self._sorted: NDArray[np.uint64] = np.array([], dtype=np.uint64)
        self._found: NDArray[np.uint32] = np.array([], dtype=np.uint32)

    def add(self, text: str, value: int, rank: int = 0) -> None:
        if self._keys is None or self._values is None or self._ranks is None:
            raise RuntimeError("the map is frozen")
        self._keys.append(self._key(text))
        self._values.append(value)
        self._ranks.append(rank)

    def freeze(self) -> None:
        if self._keys is None or self._values is None or self._ranks is None:
            return
        keys, values, ranks = self._keys.array(), self._values.array(), self._ranks.array()
        self._keys = self._values = self._ranks = None
        # Stable: among equal keys and ranks, the first added comes first.
        order = np.lexsort((ranks, keys))
        keys, values = keys[order], values[order]
        del order, ranks
        first = np.ones(len(keys), dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        self._sorted = np.ascontiguousarray(keys[first], dtype=np.uint64)
        self._found = np.ascontiguousarray(values[first], dtype=np.uint32)

    def __len__(self) -> int:
        return len(self._sorted)

    @property
    def nbytes(self) -> int:
        """The bytes its arrays hold (frozen)."""
        return int(self._sorted.nbytes + self._found.nbytes)

    def get(self, text: str) -> int | None:
        at = self.position(self._key(text))
        return None if at is None else int(self._found[at])

    def position(self, key: int) -> int | None:
        """Where the string of this 64-bit key is among the frozen keys (0 to len - 1), each
        key at its own position: None when no string added has it."""
        wanted = np.uint64(key)
        at = int(np.searchsorted(self._sorted, wanted))
        if at < len(self._sorted) and self._sorted[at] == wanted:
            return at
        return None


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def _malloc_trim() -> Callable[[int], int] | None:
    return getattr(_libc(), "malloc_trim", None)


# glibc's mallopt parameter, and the size from which it gives an allocation pages of its own
_M_MMAP_THRESHOLD = -3
_MMAP_FROM = 1 << 20


@cache
def map_large_arrays() -> None:
    """Have glibc give every allocation of 1 MiB or more pages of its own, handed back when
    freed. By default the threshold rises to the largest block freed (up to 32 MiB), so the
    arrays an index is built and grown with come from the heap, and each one replaced leaves a
    hole the process keeps: 10 MB per 400k URLs met, measured. Set once, process-wide;
    nothing elsewhere than glibc."""
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, _MMAP_FROM)


def release_freed_memory() -> None:
    """Hand the heap's free pages back to the system (glibc's ``malloc_trim``; elsewhere
    nothing): an index built from a million rows leaves tens of megabytes of freed objects that
    glibc would otherwise keep in the process for good."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
