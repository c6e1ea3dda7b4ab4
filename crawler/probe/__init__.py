"""``scrapy probe``: a first, polite look at a portal before writing its profile
(crawler/commands/probe.py runs it; docs/portals.md, "First contact with a new portal")."""

# Listing pages, and articles, a probe reads at most unless --pages says otherwise.
DEFAULT_PAGES = 20
