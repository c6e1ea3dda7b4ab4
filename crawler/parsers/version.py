"""The version of the extraction rules, kept with every stored version of an article.

``PARSER_VERSION`` is declared here and bumped by hand when an extraction rule changes (a
selector, a layer, a label, a date form): analysts filter by it to find the values an older rule
produced. It is joined with the code's fingerprint (``crawler.setup.fingerprint``), which
changes with any change of the code, so that two records with the same string were produced by
the same code, whatever a person remembered to bump.
"""

from __future__ import annotations

from functools import cache

from crawler.setup.fingerprint import source_fingerprint

# Bump when an extraction rule changes (crawler/parsers/, the profiles' selectors aside: a
# profile is data, and its change shows in the fingerprint only when it is the project's own).
PARSER_VERSION = "1"


@cache
def parser_version() -> str:
    """``<PARSER_VERSION>+<code fingerprint>``, e.g. ``1+3f2a9c0d1b7e`` (a PEP 440 local
    version), computed once per process."""
    return f"{PARSER_VERSION}+{source_fingerprint()}"
