"""``python -m pipelines.schema [--check]``: rewrite (or check) the files the record schema
generates: ``article.schema.json`` and ``DATA.md``."""

from __future__ import annotations

import argparse
import sys

from pipelines.schema import generated_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.schema", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a file differs, rewrite nothing"
    )
    opts = parser.parse_args(argv)
    stale = []
    for path, text in generated_files().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not opts.check:
            path.write_text(text, encoding="utf-8")
    for path in stale:
        verb = "out of date" if opts.check else "rewritten"
        print(f"{path}: {verb}", file=sys.stderr if opts.check else sys.stdout)
    if opts.check and stale:
        print("run: python -m pipelines.schema", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
