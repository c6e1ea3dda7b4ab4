"""The URLs a crawl met, as 16-byte digests in 16 bytes each.

A Python ``set`` of ``bytes`` costs about 80 bytes a digest (the object and its slot): a re-run
of a million-article portal meets two or three million URLs in its sitemaps, 200 MB for the set
alone. Here the digests met last are in a small set, and every ``MERGE_AT`` of them move into a
sorted array of 16-byte strings, looked up by binary search (``numpy.searchsorted``, in C) and
grown by a merge that moves each digest once more (``numpy.insert``), not a sort of the whole.
"""

from __future__ import annotations

import numpy as np

from pipelines.storage.compact import map_large_arrays

MERGE_AT = 65536
_DIGEST = "S16"


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
