"""What one site's stored articles hold, read with one query, to classify articles in memory.

The storage pipeline must give every article its ``change`` before the article leaves it, one
article at a time; asking the database for each would cost a query per article. The index is
read once per site and run, then follows what the pipeline accepts, so it answers as the
database would once the open batch is committed. It assumes one run writes a site at a time
(``hepza-run`` holds a lock per spider). A second run writing the same site meanwhile could make
a ``change`` label stale, never a row: ``ArticleStore.write_batch`` compares with the stored hash
inside its transaction before it adds a version.

The stored articles are held in arrays (:mod:`pipelines.storage.compact`), about 50 bytes an
article, so that an unchanged re-run of a million-article site does not hold a million pairs of
strings; what this run accepts is kept apart, in ordinary dicts (as many as it stores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipelines.storage.compact import Column, KeyMap, key64, map_large_arrays, release_freed_memory

if TYPE_CHECKING:
    from collections.abc import Iterable


@dataclass(frozen=True, slots=True)
class Classification:
    # "new" | "changed" | "unchanged" | "duplicate_content"
    status: str
    # the record's own id, or for "duplicate_content" the article that already has this content
    article_id: str


class ContentIndex:
    def __init__(self, rows: Iterable[tuple[str, str | None]]) -> None:
        # The stored articles, oldest first (first_seen, then id), as the database orders
        # twins: position -> id, content key (0 and ``_has`` False: no content hash).
        map_large_arrays()
        ids, digests, has = Column("S"), Column("uint64"), Column("bool")
        self._positions = KeyMap()  # id -> position
        count = 0
        for record_id, digest in rows:
            self._positions.add(record_id, count)
            ids.append(record_id.encode())
            digests.append(key64(digest) if digest is not None else 0)
            has.append(digest is not None)
            count += 1
        self._positions.freeze()
        self._stored = count
        self._ids = ids.array()
        self._digests = digests.array()
        self._has = has.array()
        # content key -> the oldest stored article holding it (by position)
        holding = np.flatnonzero(self._has)
        keys, first = np.unique(self._digests[holding], return_index=True)
        self._owner_keys = keys
        self._owner_positions = holding[first].astype(np.uint32)
        del holding, first, keys
        release_freed_memory()
        # What this run accepted: id -> content hash; its rank among the holders of a content
        # (a stored article keeps its position, a new one comes after every stored one); and
        # content hash -> the accepted ids holding it.
        self._accepted: dict[str, str] = {}
        self._ranks: dict[str, int] = {}
        self._holders: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return self._stored + sum(1 for i in self._ranks.values() if i >= self._stored)

    def _stored_id(self, position: int) -> str:
        return bytes(self._ids[position]).decode()

    def classify(self, record_id: str, digest: str) -> Classification:
        if record_id in self._accepted:
            same = self._accepted[record_id] == digest
            return Classification("unchanged" if same else "changed", record_id)
        position = self._positions.get(record_id)
        if position is not None:
            same = bool(self._has[position]) and int(self._digests[position]) == key64(digest)
            return Classification("unchanged" if same else "changed", record_id)
        owner = self._owner(digest)
        if owner is not None:
            return Classification("duplicate_content", owner)
        return Classification("new", record_id)

    def _owner(self, digest: str) -> str | None:
        """The oldest article holding ``digest`` now, stored or accepted."""
        best: tuple[int, str] | None = None
        for record_id in self._holders.get(digest, ()):
            rank = (self._ranks[record_id], record_id)
            best = rank if best is None or rank < best else best
        key = np.uint64(key64(digest))
        at = int(np.searchsorted(self._owner_keys, key))
        if at < len(self._owner_keys) and self._owner_keys[at] == key:
            position = int(self._owner_positions[at])
            stored = self._stored_id(position)
            if stored in self._accepted:
                # Its content changed in this run (rare): the next oldest stored holder.
                stored = ""
                for other in np.flatnonzero(self._has & (self._digests == key)):
                    candidate = self._stored_id(int(other))
                    if candidate not in self._accepted:
                        position, stored = int(other), candidate
                        break
            if stored and (best is None or position < best[0]):
                best = (position, stored)
        return best[1] if best is not None else None

    def accept(self, record_id: str, digest: str) -> None:
        """The article is queued for storage with this content."""
        old = self._accepted.get(record_id)
        if old is not None:
            self._holders[old].discard(record_id)
        else:
            position = self._positions.get(record_id)
            self._ranks[record_id] = (
                position if position is not None else self._stored + len(self._ranks)
            )
        self._accepted[record_id] = digest
        self._holders.setdefault(digest, set()).add(record_id)


# A stored article's place among the holders of a content, as the database orders them
# (first_seen, then id), before every article new in this run: (0, first_seen, id).
Rank = tuple[int, str, str]


def stored_rank(first_seen: object, record_id: str) -> Rank:
    return (0, "" if first_seen is None else str(first_seen), record_id)


class LookedUpContents:
    """A :class:`ContentIndex` that holds only what it was told (:meth:`learn`) of the stored
    articles: for a site too large to hold whole (a million-article site's index is 50 MB,
    twice that while it is built), as an unchanged re-run classifies a few dozen re-checked
    articles. :meth:`classify` answers as a ContentIndex of the whole site would, or None while
    it lacks what the answer needs (:meth:`wanted`: the record's stored row, and for a record
    not stored, the stored holders of its content)."""

    def __init__(self) -> None:
        # looked-up id -> its stored content hash and rank; None: not stored
        self._stored: dict[str, tuple[str | None, Rank] | None] = {}
        # looked-up content hash -> its stored holders (rank, id), as stored
        self._stored_holders: dict[str, list[tuple[Rank, str]]] = {}
        # what this run accepted, as in ContentIndex
        self._accepted: dict[str, str] = {}
        self._ranks: dict[str, Rank | tuple[int, int, str]] = {}
        self._holders: dict[str, set[str]] = {}
        self._new = 0

    def wanted(self, record_id: str, digest: str) -> tuple[bool, bool]:
        """Whether the record's stored row, and the stored holders of its content, must still
        be looked up for :meth:`classify` to answer."""
        if record_id in self._accepted:
            return False, False
        if record_id not in self._stored:
            return True, digest not in self._stored_holders
        return False, self._stored[record_id] is None and digest not in self._stored_holders

    def learn(
        self,
        stored: dict[str, tuple[str | None, object]],
        looked_up: Iterable[str],
        holders: dict[str, list[tuple[object, str]]],
        looked_up_hashes: Iterable[str],
    ) -> None:
        """The stored rows of the ids ``looked_up`` (``stored``: id -> content hash and
        first_seen, the others are not stored), and the stored holders (first_seen, id) of the
        hashes ``looked_up_hashes``."""
        for record_id in looked_up:
            found = stored.get(record_id)
            self._stored.setdefault(
                record_id,
                None if found is None else (found[0], stored_rank(found[1], record_id)),
            )
        for digest in looked_up_hashes:
            found_holders = sorted(
                (stored_rank(seen, held), held) for seen, held in holders.get(digest, [])
            )
            self._stored_holders.setdefault(digest, found_holders)
            # a holder is a stored row too
            for rank, held in found_holders:
                self._stored.setdefault(held, (digest, rank))

    def classify(self, record_id: str, digest: str) -> Classification | None:
        if record_id in self._accepted:
            same = self._accepted[record_id] == digest
            return Classification("unchanged" if same else "changed", record_id)
        if record_id not in self._stored:
            return None
        stored = self._stored[record_id]
        if stored is not None:
            same = stored[0] is not None and stored[0] == digest
            return Classification("unchanged" if same else "changed", record_id)
        if digest not in self._stored_holders:
            return None
        owner = self._owner(digest)
        if owner is not None:
            return Classification("duplicate_content", owner)
        return Classification("new", record_id)

    def _owner(self, digest: str) -> str | None:
        """The oldest article holding ``digest`` now: a stored holder whose content this run
        did not change, or one this run accepted with it."""
        candidates: list[tuple[Any, str]] = [
            (rank, held)
            for rank, held in self._stored_holders.get(digest, ())
            if held not in self._accepted
        ]
        candidates += [(self._ranks[held], held) for held in self._holders.get(digest, ())]
        return min(candidates)[1] if candidates else None

    def accept(self, record_id: str, digest: str) -> None:
        """The article is queued for storage with this content."""
        old = self._accepted.get(record_id)
        if old is not None:
            self._holders[old].discard(record_id)
        else:
            stored = self._stored.get(record_id)
            if stored is not None:
                self._ranks[record_id] = stored[1]
            else:
                self._ranks[record_id] = (1, self._new, record_id)
                self._new += 1
        self._accepted[record_id] = digest
        self._holders.setdefault(digest, set()).add(record_id)
