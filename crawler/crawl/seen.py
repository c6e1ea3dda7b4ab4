"""The URLs a crawl met, as 16-byte digests in 16 bytes each.

A Python ``set`` of ``bytes`` costs about 80 bytes a digest (the object and its slot): a re-run
of a million-article portal meets two or three million URLs in its sitemaps, 200 MB for the set
alone. Here the digests met last are in a small set, and every ``MERGE_AT`` of them move into a
sorted array of 16-byte strings, looked up by binary search (``numpy.searchsorted``, in C) and
grown by a merge that moves each digest once more (``numpy.insert``), not a sort of the whole.

A re-run meets mostly URLs the database already holds: those are marked in a byte each beside
the stored index (:class:`KnownMarks`), and only the others are kept as digests.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import numpy as np

from pipelines.storage.compact import map_large_arrays

MERGE_AT = 65536
_DIGEST = "S16"


def url_digest(url: str) -> bytes:
    # 128 bits: no two URLs of any crawl share one (a collision would skip a URL unseen).
    return hashlib.blake2b(url.encode(), digest_size=16).digest()


def digest_key(digest: bytes) -> int:
    """The 64-bit key of a URL's digest: its first 8 bytes."""
    return int.from_bytes(digest[:8], "little")


def url_key(url: str) -> int:
    """The 64-bit key the stored index holds a URL under (crawler/crawl/crawl_state.py): that
    of its digest, so that a URL met, known by its digest alone, is found in the index."""
    return digest_key(url_digest(url))


class DigestSet:
    def __init__(self) -> None:
        map_large_arrays()
        self._recent: set[bytes] = set()
        self._sorted = np.array([], dtype=_DIGEST)

    def __len__(self) -> int:
        return len(self._recent) + len(self._sorted)

    def __contains__(self, digest: object) -> bool:
        if not isinstance(digest, bytes):
            return False
        return digest in self._recent or self._in_sorted(digest)

    def _in_sorted(self, digest: bytes) -> bool:
        if not len(self._sorted):
            return False
        at = int(np.searchsorted(self._sorted, digest))
        # numpy hands an element back without its trailing NUL bytes; both are 16 bytes long,
        # so they are equal exactly when their stripped forms are.
        return at < len(self._sorted) and bytes(self._sorted[at]) == digest.rstrip(b"\0")

    def add(self, digest: bytes) -> bool:
        """Add a digest of 16 bytes; True when it was not in the set."""
        if len(digest) != 16:
            raise ValueError(f"a digest of {len(digest)} bytes, expected 16")
        if digest in self:
            return False
        self._recent.add(digest)
        if len(self._recent) >= MERGE_AT:
            self._merge()
        return True

    def _merge(self) -> None:
        new = np.sort(np.array(list(self._recent), dtype=_DIGEST))
        self._sorted = np.insert(self._sorted, np.searchsorted(self._sorted, new), new)
        self._recent = set()

    @property
    def nbytes(self) -> int:
        """The bytes of its sorted array (the recent set not counted)."""
        return int(self._sorted.nbytes)


class KeyPositions(Protocol):
    """Where a 64-bit key is among an index's keys, each at its own position."""

    def __len__(self) -> int: ...

    def position(self, key: int) -> int | None: ...


class SeenUrls:
    """The URLs a crawl met, by digest: those of the stored index (:meth:`use_known`, once it is
    read) as one byte each at their key's position in it, every other in a :class:`DigestSet`.

    A URL met is one of the index's when the first 64 bits of its digest are a key of the index:
    the 64 bits the index already tells its URLs apart by (pipelines/storage/compact.py). A URL
    that is not stored but shares those bits with a stored URL is that stored URL to the index
    (its dates are answered for it), and here shares its mark: met once for both. The chance is
    (new URLs met) x (stored URLs) / 2^64: about 1 in 6 million for a run that meets a million
    new URLs of a site holding three million, the chance the index itself already takes of
    answering one of them as stored."""

    def __init__(self) -> None:
        self._digests = DigestSet()
        self._known: KeyPositions | None = None
        self._marks = bytearray()

    def use_known(self, known: KeyPositions) -> None:
        """Mark the index's URLs in it from now on (those met before stay digests)."""
        if known is not self._known:
            self._known = known
            self._marks = bytearray(len(known))

    def _at(self, digest: bytes) -> int | None:
        return self._known.position(digest_key(digest)) if self._known is not None else None

    def __len__(self) -> int:
        return len(self._digests) + self._marks.count(1)

    def __contains__(self, digest: object) -> bool:
        if not isinstance(digest, bytes):
            return False
        at = self._at(digest)
        return (at is not None and bool(self._marks[at])) or digest in self._digests

    def add(self, digest: bytes) -> bool:
        """Add a digest of 16 bytes; True when it was not met before."""
        at = self._at(digest)
        if at is None:
            return self._digests.add(digest)
        if self._marks[at] or digest in self._digests:
            return False
        self._marks[at] = 1
        return True

    @property
    def digests(self) -> DigestSet:
        """The URLs met that are not the index's (or met before it was read)."""
        return self._digests
