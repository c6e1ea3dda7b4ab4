"""The crawler's code version: a hash of its source, the same on every machine that runs the
same code (cluster workers must run the code that started the crawl; the benchmarks tell when
the code changed between sizes of one run)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import crawler
import pipelines

PACKAGES = (crawler, pipelines)


def source_fingerprint() -> str:
    """12 hex digits of SHA-256 over the path (relative to its package's parent) and bytes of
    every ``.py`` file of the ``crawler`` and ``pipelines`` packages."""
    digest = hashlib.sha256()
    for package in PACKAGES:
        package_dir = Path(str(package.__file__)).resolve().parent
        root = package_dir.parent
        for path in sorted(package_dir.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
