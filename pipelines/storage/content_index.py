"""What one site's stored articles hold, read with one query, to classify articles in memory.

The storage pipeline must give every article its ``change`` before the article leaves it, one
article at a time; asking the database for each would cost a query per article. The index is
read once per site and run, then follows what the pipeline accepts, so it answers as the
database would once the open batch is committed. It assumes one run writes a site at a time
(``hepza-run`` holds a lock per spider). A second run writing the same site meanwhile could make
a ``change`` label stale, never a row: ``ArticleStore.write_batch`` compares with the stored hash
inside its transaction before it adds a version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

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
        # article id -> content hash, oldest article first (first_seen, then id), as the
        # database orders twins; an article accepted in this run is the newest.
        self._hashes: dict[str, str | None] = dict(rows)
        # content hash -> the oldest article holding it: what a twin becomes an alias of
        self._owners: dict[str, str] = {}
        for record_id, digest in self._hashes.items():
            if digest is not None:
                self._owners.setdefault(digest, record_id)

    def __len__(self) -> int:
        return len(self._hashes)

    def classify(self, record_id: str, digest: str) -> Classification:
        if record_id in self._hashes:
            same = self._hashes[record_id] == digest
            return Classification("unchanged" if same else "changed", record_id)
        owner = self._owners.get(digest)
        if owner is not None:
            return Classification("duplicate_content", owner)
        return Classification("new", record_id)

    def accept(self, record_id: str, digest: str) -> None:
        """The article is queued for storage with this content."""
        old = self._hashes.get(record_id, digest)
        self._hashes[record_id] = digest
        if old == digest:
            self._owners.setdefault(digest, record_id)
            return
        # A stored article's content changed: the oldest holder of each hash may be another.
        # Rare (two stored articles sharing content), so a scan is affordable.
        for changed in (old, digest):
            if changed is not None:
                self._owners.pop(changed, None)
                oldest = next((i for i, h in self._hashes.items() if h == changed), None)
                if oldest is not None:
                    self._owners[changed] = oldest
