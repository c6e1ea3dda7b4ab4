"""Is this a Liferay portal? Markers every Liferay 6.2-7.4 page carries in its HTML.

Liferay renders the ``Liferay`` JavaScript object and ``themeDisplay``, portlet boxes with
``p_p_id_`` ids, ``com_liferay_`` portlet names, ``lfr-`` CSS classes, Senna.js navigation
attributes and front-end modules under ``/o/``. A page showing at least two of them is taken as
Liferay's; a site showing none is not crawled (the crawler's discovery relies on Liferay's
sitemaps, paging and URL forms).
"""

from __future__ import annotations

import re

MARKERS: dict[str, re.Pattern[str]] = {
    "Liferay JavaScript object": re.compile(
        r"\bLiferay\.(?:ThemeDisplay|Portlet|Util|Language|on)\b"
    ),
    "themeDisplay": re.compile(r"\bthemeDisplay\b"),
    "portlet ids (p_p_id_)": re.compile(r"\bp_p_id_?"),
    "Liferay portlet names (com_liferay_)": re.compile(r"\bcom_liferay_"),
    "lfr- CSS classes": re.compile(r"""class=["'][^"']*\blfr-"""),
    "Senna.js attributes": re.compile(r"\bdata-senna-"),
    "Liferay front-end modules (/o/)": re.compile(
        r"""["']/o/(?:frontend|classic-theme|js_loader|[a-z-]+-theme)"""
    ),
    "/web/ group URLs": re.compile(r"""href=["'][^"']*/web/[A-Za-z0-9._-]+/"""),
}
MIN_MARKERS = 2


def liferay_markers(html: str) -> list[str]:
    """The names of the Liferay markers the page carries."""
    return [name for name, pattern in MARKERS.items() if pattern.search(html)]


def is_liferay(html: str) -> bool:
    return len(liferay_markers(html)) >= MIN_MARKERS
