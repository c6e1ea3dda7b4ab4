"""Site profiles: what one Liferay portal needs beyond what the crawler discovers by itself.

A profile is a TOML file in ``crawler/sites/profiles/`` (one per portal; ``hepza.toml`` is the
first). Everything in it is optional but the name and the base URL: a portal without a profile
is crawled by the generic ``liferay`` spider from its arguments alone. Profile selectors and
labels are tried *before* the generic Liferay layers of the parsers, so a fix for one site
cannot break another. A profile can pin selectors to a date range (``[[versions]]``): the
site's layout history, chosen by the publication date a listing or sitemap gives.

Fields (docs/portals.md, "Adding a portal", lists them with examples):

    name            slug [a-z0-9-]+, the site's key in the database and in `scrapy list`
    base_url        http(s)://host[:port] of the portal
    group           the site group path when the news lives under /web/<group>/ (else none)
    locales         the portal's locales, "xx-YY"
    default_locale  the locale of pages that do not say theirs; decides day/month order
    timezone        the zone of the display dates (an IANA name zoneinfo knows)
    concurrency     parallel requests to the portal (politeness)
    download_delay  seconds between requests (politeness)
    coverage        field -> minimum share of articles carrying it (the run report's thresholds)
    [selectors]     parser field -> CSS selectors tried first (keys: SELECTOR_FIELDS)
    [labels]        label kind -> words the portal prints (keys: LABEL_KINDS)
    [[versions]]    {name, since, until, selectors, labels}: overrides for pages published in
                    [since, until)
"""

from __future__ import annotations

import contextlib
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from crawler.domain.locales import parse_locale
from crawler.setup.config import COVERAGE_FIELDS, ConfigError, parse_base_url, parse_timezone

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from scrapy.settings import BaseSettings

PROFILES_DIR = Path(__file__).parent / "profiles"

# Parser fields a profile may give selectors for (tried before the generic Liferay layers).
SELECTOR_FIELDS: dict[str, str] = {
    "navigation": "links of the theme's menus (CSS selecting <a> elements)",
    "listing_title": "the name of a listing page (its category)",
    "title": "an article's title",
    "summary": "an article's summary",
    "body": "an article's body container",
    "date": "an article's publication date text",
    "author": "an article's byline",
    "category": "an article's category",
    "tags": "an article's tags (one element per tag)",
    "related": "the container of an article's related-articles links",
}
# Words a portal prints that the parsers recognize (headings, labels, soft-404 texts).
LABEL_KINDS: dict[str, str] = {
    "not_found": "texts of a page saying the article does not exist (soft 404)",
    "related": "headings of the related-articles block",
    "byline": "prefixes of an author line, e.g. 'Tác giả:'",
    "published": "labels before a publication date, e.g. 'Ngày đăng:'",
    "modified": "labels before a modification date",
}
_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_GROUP = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
KNOWN_FIELDS = frozenset(
    {
        "name",
        "base_url",
        "group",
        "locales",
        "default_locale",
        "timezone",
        "concurrency",
        "download_delay",
        "coverage",
        "selectors",
        "labels",
        "versions",
    }
)

Selectors = MappingProxyType[str, tuple[str, ...]]
_EMPTY: Selectors = MappingProxyType({})


@dataclass(frozen=True)
class ParserConfig:
    """What a parser needs of a profile: selectors and labels to try first, per field/kind."""

    selectors: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY)
    labels: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY)

    def selectors_for(self, name: str) -> tuple[str, ...]:
        return self.selectors.get(name, ())

    def labels_for(self, kind: str) -> tuple[str, ...]:
        return self.labels.get(kind, ())


GENERIC = ParserConfig()


@dataclass(frozen=True)
class ParserVersion:
    name: str
    since: date | None
    until: date | None
    config: ParserConfig

    def covers(self, day: date) -> bool:
        return (self.since is None or day >= self.since) and (
            self.until is None or day < self.until
        )


@dataclass(frozen=True)
class SiteProfile:
    name: str
    base_url: str
    group: str | None = None
    locales: tuple[str, ...] = ()
    default_locale: str = "vi-VN"
    timezone: str = "Asia/Ho_Chi_Minh"
    concurrency: int | None = None
    download_delay: float | None = None
    coverage: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    parser: ParserConfig = GENERIC
    versions: tuple[ParserVersion, ...] = ()

    @property
    def origin(self) -> str:
        parts = self.base_url.split("/", 3)
        return "/".join(parts[:3]).lower()

    def parser_config(self, published: date | None = None) -> ParserConfig:
        """The selectors and labels for a page published on ``published`` (unknown: today's
        layout): a matching version's entries come first, then the profile's own."""
        version = None
        if published is not None:
            version = next((v for v in self.versions if v.covers(published)), None)
        elif self.versions:
            version = next((v for v in self.versions if v.until is None), None)
        if version is None:
            return self.parser
        return ParserConfig(
            selectors=_merge(version.config.selectors, self.parser.selectors),
            labels=_merge(version.config.labels, self.parser.labels),
        )


def _merge(first: Mapping[str, tuple[str, ...]], then: Mapping[str, tuple[str, ...]]) -> Selectors:
    keys = list(dict.fromkeys([*first, *then]))
    return MappingProxyType(
        {k: tuple(dict.fromkeys([*first.get(k, ()), *then.get(k, ())])) for k in keys}
    )


# --- loading and validation -------------------------------------------------------------------


class ProfileError(ConfigError):
    """A profile file with a wrong field: names the file, the field, the value, what is expected."""


def _fail(source: str, name: str, value: object, expected: str) -> ProfileError:
    return ProfileError(f"profile {source}: {name} = {value!r}: expected {expected}")


def _strings(source: str, name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v.strip() for v in value)
    ):
        raise _fail(source, name, value, "a non-empty string or list of non-empty strings")
    return tuple(v.strip() for v in value)


def _table(source: str, name: str, value: object, known: Mapping[str, str]) -> Selectors:
    if not isinstance(value, dict):
        raise _fail(source, name, value, f"a table with keys among {', '.join(known)}")
    out: dict[str, tuple[str, ...]] = {}
    for key, entry in value.items():
        if key not in known:
            raise _fail(source, f"{name}.{key}", entry, f"a key among {', '.join(known)}")
        out[key] = _strings(source, f"{name}.{key}", entry)
    return MappingProxyType(out)


def _locale(source: str, name: str, value: object) -> str:
    if isinstance(value, str):
        with contextlib.suppress(ConfigError):
            return parse_locale(value, name)
    raise _fail(source, name, value, "a locale of the form xx-YY, e.g. vi-VN")


def _day(source: str, name: str, value: object) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value
    raise _fail(source, name, value, "a TOML date, e.g. 2023-01-01")


def _number(source: str, name: str, value: object, kind: type, low: float) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
        noun = "a whole number" if kind is int else "a number"
        raise _fail(source, name, value, f"{noun} of at least {low:g}")
    if kind is int and not isinstance(value, int):
        raise _fail(source, name, value, f"a whole number of at least {low:g}")
    return kind(value)


def profile_from_dict(data: Mapping[str, Any], source: str = "<profile>") -> SiteProfile:
    """A validated profile; ProfileError names the first wrong field."""
    unknown = sorted(set(data) - KNOWN_FIELDS)
    if unknown:
        raise _fail(source, unknown[0], data[unknown[0]], f"a field among {sorted(KNOWN_FIELDS)}")
    for required in ("name", "base_url"):
        if required not in data:
            raise ProfileError(f"profile {source}: the field {required!r} is missing")
    name = data["name"]
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _fail(source, "name", name, "a slug of a-z, 0-9 and '-', e.g. hepza")
    try:
        base_url = parse_base_url(str(data["base_url"]), "base_url")
    except ConfigError:
        if urlsplit_path(str(data["base_url"]).strip().rstrip("/")):
            raise _fail(
                source, "base_url", data["base_url"], "a URL without a path (use group)"
            ) from None
        raise _fail(source, "base_url", data["base_url"], "http(s)://host[:port]") from None
    group = data.get("group")
    if group is not None and (not isinstance(group, str) or not _GROUP.fullmatch(group)):
        raise _fail(source, "group", group, "a Liferay site group name such as 'guest'")
    default_locale = _locale(source, "default_locale", data.get("default_locale", "vi-VN"))
    given = _strings(source, "locales", data.get("locales", [default_locale]))
    locales = tuple(_locale(source, "locales", v) for v in given)
    if default_locale not in locales:
        locales = (default_locale, *locales)
    timezone = data.get("timezone", "Asia/Ho_Chi_Minh")
    try:
        parse_timezone(str(timezone), "timezone")
    except ConfigError:
        expected = "an IANA time zone, e.g. Asia/Ho_Chi_Minh"
        raise _fail(source, "timezone", timezone, expected) from None
    concurrency = data.get("concurrency")
    if concurrency is not None:
        concurrency = _number(source, "concurrency", concurrency, int, 1)
    delay = data.get("download_delay")
    if delay is not None:
        delay = _number(source, "download_delay", delay, float, 0)
    coverage = _coverage(source, data.get("coverage", {}))
    parser = ParserConfig(
        selectors=_table(source, "selectors", data.get("selectors", {}), SELECTOR_FIELDS),
        labels=_table(source, "labels", data.get("labels", {}), LABEL_KINDS),
    )
    versions = _versions(source, data.get("versions", []))
    return SiteProfile(
        name=name,
        base_url=base_url,
        group=group,
        locales=locales,
        default_locale=default_locale,
        timezone=str(timezone),
        concurrency=concurrency,
        download_delay=delay,
        coverage=MappingProxyType(coverage),
        parser=parser,
        versions=versions,
    )


def _coverage(source: str, raw: Any) -> dict[str, float]:
    """The profile's ``[coverage]`` table: a share from 0 to 1 per known field."""
    if not isinstance(raw, dict):
        raise _fail(source, "coverage", raw, f"a table with keys among {COVERAGE_FIELDS}")
    coverage: dict[str, float] = {}
    for key, share in raw.items():
        if key not in COVERAGE_FIELDS:
            raise _fail(source, f"coverage.{key}", share, f"a key among {COVERAGE_FIELDS}")
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise _fail(source, f"coverage.{key}", share, "a share from 0 to 1")
        coverage[key] = float(share)
    return coverage


def _versions(source: str, raw_versions: Any) -> tuple[ParserVersion, ...]:
    """The profile's ``[[versions]]``: the portal's layouts of past days, each with its days."""
    if not isinstance(raw_versions, list):
        raise _fail(source, "versions", raw_versions, "an array of tables ([[versions]])")
    versions = []
    for i, raw in enumerate(raw_versions):
        where = f"versions[{i}]"
        if not isinstance(raw, dict):
            raise _fail(source, where, raw, "a table")
        extra = sorted(set(raw) - {"name", "since", "until", "selectors", "labels"})
        if extra:
            expected = "name, since, until, selectors or labels"
            raise _fail(source, f"{where}.{extra[0]}", raw[extra[0]], expected)
        since = _day(source, f"{where}.since", raw.get("since"))
        until = _day(source, f"{where}.until", raw.get("until"))
        if since and until and since >= until:
            raise _fail(source, f"{where}.until", until, f"a day after since ({since})")
        selectors = _table(source, f"{where}.selectors", raw.get("selectors", {}), SELECTOR_FIELDS)
        labels = _table(source, f"{where}.labels", raw.get("labels", {}), LABEL_KINDS)
        versions.append(
            ParserVersion(
                name=str(raw.get("name") or f"version {i + 1}"),
                since=since,
                until=until,
                config=ParserConfig(selectors=selectors, labels=labels),
            )
        )
    return tuple(versions)


def urlsplit_path(url: str) -> str:
    """The path of a base URL ("" or "/" mean none)."""
    rest = url.split("://", 1)[-1]
    return rest.partition("/")[2]


def load_profile(path: Path) -> SiteProfile:
    source = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {source}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ProfileError(f"profile {source}: cannot be read: {exc.strerror or exc}") from None
    profile = profile_from_dict(data, source)
    if path.stem != profile.name:
        raise _fail(source, "name", profile.name, f"the file's own name, {path.stem!r}")
    return profile


def profile_dirs(settings: BaseSettings | None = None) -> list[Path]:
    """Where profiles are read: the project's own, then ``SITE_PROFILES_DIR`` (a deployment's
    profiles, outside the code; a profile there replaces the project's of the same name)."""
    dirs = [PROFILES_DIR]
    extra = settings.get("SITE_PROFILES_DIR") if settings is not None else None
    if extra:
        dirs.append(Path(str(extra)))
    return dirs


def load_profiles(directories: Sequence[Path] | None = None) -> dict[str, SiteProfile]:
    """Every profile of the directories, by name (a later directory wins)."""
    profiles: dict[str, SiteProfile] = {}
    for directory in directories or [PROFILES_DIR]:
        if directory != PROFILES_DIR and not directory.is_dir():
            raise ProfileError(f"SITE_PROFILES_DIR={str(directory)!r} is not a directory")
        profiles.update({p.stem: load_profile(p) for p in sorted(directory.glob("*.toml"))})
    return profiles


def find_profile(name: str, directories: Sequence[Path] | None = None) -> SiteProfile:
    profiles = load_profiles(directories)
    if name not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(f"site={name!r} is not a known site profile: expected one of {known}")
    return profiles[name]
