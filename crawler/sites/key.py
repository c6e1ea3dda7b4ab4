"""The site key of a crawl: the name that keys its rows in every table and its records."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crawler.sites.profile import SiteProfile


def site_of(spider: object) -> str:
    """The spider's profile name (every project spider has a profile, crawler/sites/)."""
    profile: SiteProfile | None = getattr(spider, "profile", None)
    if profile is None:
        name = getattr(spider, "name", type(spider).__name__)
        raise ValueError(f"the spider {name!r} has no site profile: its site is unknown")
    return profile.name
