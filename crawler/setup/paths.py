"""Where a run writes: every default output place derives from one directory, ``OUTPUT_DIR``.

The database (SQLite by default), the run reports, the rejects file, the per-run feed and
``scrapy export``'s snapshots all live under ``OUTPUT_DIR`` unless given explicitly. "Explicit"
means set above the project's own priority (``-s NAME=...``, ``-O``/``-o`` for feeds) or by the
setting's own environment variable; such a value always wins over the derived one.

Imported by ``crawler/settings.py`` and by ``hepza-run``, so it imports nothing from Scrapy.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scrapy.settings import BaseSettings

DEFAULT_OUTPUT_DIR = "output"
OUTPUT_DIR_ENV = "HEPZA_OUTPUT_DIR"
# Scrapy's %(time)s: the run's start time, ISO 8601 with ":" replaced by "-".
# %(name)s: the spider (hepza, liferay or a profile's), so portals sharing OUTPUT_DIR keep
# their feeds apart.
FEED_TEMPLATE = "feeds/%(name)s-%(time)s.jsonl"
FEED_OPTIONS: dict[str, Any] = {
    "format": "jsonlines",
    "encoding": "utf-8",
    "item_classes": ["crawler.domain.items.ArticleItem"],
}
# Scrapy's "project" settings priority (scrapy.settings.SETTINGS_PRIORITIES), stated here so
# that the wrapper can import this module without importing Scrapy.
PROJECT_PRIORITY = 20


@dataclass(frozen=True)
class OutputPlace:
    setting: str
    env: str
    relative: str

    def under(self, output_dir: str | Path) -> str:
        value = str(Path(output_dir) / self.relative)
        return f"sqlite:///{value}" if self.setting == "DATABASE_URL" else value


OUTPUT_PLACES = (
    OutputPlace("DATABASE_URL", "DATABASE_URL", "hepza.sqlite3"),
    OutputPlace("REPORTS_DIR", "HEPZA_REPORTS_DIR", "reports"),
    OutputPlace("REJECTS_PATH", "HEPZA_REJECTS_PATH", "rejects.jsonl"),
    OutputPlace("EXPORTS_DIR", "HEPZA_EXPORTS_DIR", "exports"),
    OutputPlace("ARCHIVE_DIR", "HEPZA_ARCHIVE_DIR", "archive"),
)
PLACES_BY_SETTING = {place.setting: place for place in OUTPUT_PLACES}


def env_output_dir(environ: Mapping[str, str] | None = None) -> str:
    """The output directory the project's settings module starts from."""
    environ = os.environ if environ is None else environ
    return environ.get(OUTPUT_DIR_ENV) or DEFAULT_OUTPUT_DIR


def default_place(setting: str, environ: Mapping[str, str] | None = None) -> str:
    """A place's value in the settings module: its environment variable, else under OUTPUT_DIR."""
    environ = os.environ if environ is None else environ
    place = PLACES_BY_SETTING[setting]
    return environ.get(place.env) or place.under(env_output_dir(environ))


def default_feed_uri(output_dir: str | Path) -> str:
    return str(Path(output_dir) / FEED_TEMPLATE)


def default_feeds(output_dir: str | Path) -> dict[str, dict[str, Any]]:
    return {default_feed_uri(output_dir): dict(FEED_OPTIONS)}


def resolve_output_paths(
    settings: BaseSettings, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Point every output place not given explicitly under ``OUTPUT_DIR``; returns what moved."""
    environ = os.environ if environ is None else environ
    output_dir = str(settings.get("OUTPUT_DIR") or DEFAULT_OUTPUT_DIR)
    moved: dict[str, str] = {}
    for place in OUTPUT_PLACES:
        explicit = (settings.getpriority(place.setting) or 0) > PROJECT_PRIORITY
        if explicit or environ.get(place.env):
            continue
        value = place.under(output_dir)
        if settings.get(place.setting) != value:
            settings.set(place.setting, value, priority="project")
            moved[place.setting] = value
    # The per-run feed is not among FEEDS: the crawl command adds default_feeds(OUTPUT_DIR)
    # when no feed was given (crawler/commands/crawl.py).
    return moved


def series_pattern(template: str) -> re.Pattern[str]:
    """Names a per-run file template (``hepza-%(time)s.jsonl``) gives, and nothing else."""
    parts = re.split(r"(%\(\w+\)s)", template)
    regex = "".join(
        r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d(?:\.\d+)?(?:[-+]\d\d-\d\d)?"
        if part == "%(time)s"
        else r"[^/]+"
        if part.startswith("%(")
        else re.escape(part)
        for part in parts
    )
    return re.compile(regex)
