"""``docs/settings.md``, generated from ``crawler/settings.py`` so that it cannot go stale.

Every setting the module assigns is one row: its name, its default as the module writes it,
the environment variable that overrides it (``os.environ.get("HEPZA_...", default)`` or an
output place's), and the comment above it. The module's ``# --- group ---`` lines are the
sections; components added to a dict setting later (``EXTENSIONS["..."] = 520``) are listed
with their comment. ``python -m crawler.setup.settings_doc`` writes the page, ``--check`` (run by
``make lint``) fails when it differs from what the settings module says now.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from scrapy.settings import default_settings

from crawler.setup.paths import PLACES_BY_SETTING

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_FILE = ROOT / "crawler" / "settings.py"
DOC_FILE = ROOT / "docs" / "settings.md"
GROUP = re.compile(r"^# --- (?P<name>.+?) -+\s*$")

HEADER = """\
# Settings

Generated from `crawler/settings.py` by `python -m crawler.setup.settings_doc` (`make docs`); `make
lint` fails when this page and the module disagree. Every setting can be given to one run with
`-s NAME=value`; deployment values also come from the environment variable named here. Values
are checked before a crawl starts (one line and exit 2 for a bad one).
"""


@dataclass
class Setting:
    name: str
    default: str
    env: str | None
    comment: str
    additions: list[tuple[str, str]] = field(default_factory=list)
    line: int = 0


@dataclass
class Group:
    name: str
    settings: list[Setting] = field(default_factory=list)


def _comment_above(lines: list[str], lineno: int) -> str:
    """The ``#`` lines directly above line ``lineno`` (1-based), a group header excluded."""
    found: list[str] = []
    index = lineno - 2
    while index >= 0:
        text = lines[index].strip()
        if not text.startswith("#") or GROUP.match(text):
            break
        found.append(text.lstrip("#").strip())
        index -= 1
    return " ".join(reversed(found))


def _environment(value: ast.expr, source: str) -> tuple[str, str | None]:
    """(default as written, environment variable) of an assigned value."""
    if (
        isinstance(value, ast.Call)
        and ast.unparse(value.func) == "os.environ.get"
        and value.args
        and isinstance(value.args[0], ast.Constant)
    ):
        default = ast.unparse(value.args[1]) if len(value.args) > 1 else "unset"
        return default, str(value.args[0].value)
    if (
        isinstance(value, ast.Call)
        and ast.unparse(value.func) == "default_place"
        and isinstance(value.args[0], ast.Constant)
    ):
        place = PLACES_BY_SETTING[str(value.args[0].value)]
        return f"`<OUTPUT_DIR>/{place.relative}`", place.env
    if isinstance(value, ast.Call) and ast.unparse(value.func) == "env_output_dir":
        return "`output`", "HEPZA_OUTPUT_DIR"
    return (ast.get_source_segment(source, value) or ast.unparse(value)), None


def read_settings(path: Path = SETTINGS_FILE) -> list[Group]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    groups = [Group("project")]
    by_name: dict[str, Setting] = {}
    headers = {
        number: match["name"]
        for number, line in enumerate(lines, start=1)
        if (match := GROUP.match(line.strip()))
    }
    for node in tree.body:
        # the group is the last `# --- name ---` line above the statement
        above = [headers[number] for number in sorted(headers) if number < node.lineno]
        if above and above[-1] != groups[-1].name:
            groups.append(Group(above[-1]))
        comment = _comment_above(lines, node.lineno)
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and target.id.isupper() and value is not None:
            default, env = _environment(value, source)
            previous = groups[-1].settings[-1] if groups[-1].settings else None
            if not comment and previous is not None and previous.line == node.lineno - 1:
                # one comment above a run of settings speaks for each of them
                comment = previous.comment
            if not comment and hasattr(default_settings, target.id):
                comment = "Scrapy's own setting, with this project's value"
            setting = Setting(target.id, default, env, comment, line=node.end_lineno or 0)
            by_name[target.id] = setting
            groups[-1].settings.append(setting)
        elif (
            isinstance(target, ast.Subscript)
            and isinstance(target.value, ast.Name)
            and target.value.id in by_name
            and value is not None
        ):
            key = ast.unparse(target.slice)
            by_name[target.value.id].additions.append(
                (f"{key.strip(chr(34))} = {ast.unparse(value)}", comment)
            )
        elif (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and node.value.func.attr == "update"
            and isinstance(node.value.func.value, ast.Name)
            and node.value.func.value.id in by_name
        ):
            added = ast.get_source_segment(source, node.value.args[0]) if node.value.args else ""
            by_name[node.value.func.value.id].additions.append(
                (" ".join((added or "").split()), comment)
            )
    return [group for group in groups if group.settings]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(groups: list[Group]) -> str:
    out = [HEADER]
    for group in groups:
        out.append(f"\n## {group.name[0].upper()}{group.name[1:]}\n")
        out.append("| setting | default | environment | meaning |")
        out.append("|---|---|---|---|")
        for setting in group.settings:
            default = setting.default
            if not default.startswith("`"):
                default = f"`{' '.join(default.split())}`"
            env = f"`{setting.env}`" if setting.env else ""
            out.append(
                f"| `{setting.name}` | {_cell(default)} | {env} | {_cell(setting.comment)} |"
            )
        for setting in group.settings:
            for added, comment in setting.additions:
                line = f"- `{setting.name}` adds `{_cell(added)}`"
                out.append(f"{line}: {comment}" if comment else line)
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m crawler.setup.settings_doc", description=__doc__
    )
    parser.add_argument("--check", action="store_true", help="fail if docs/settings.md is stale")
    options = parser.parse_args(argv)
    text = render(read_settings())
    if options.check:
        current = DOC_FILE.read_text(encoding="utf-8") if DOC_FILE.exists() else ""
        if current != text:
            sys.stderr.write(
                f"{DOC_FILE.relative_to(ROOT)} is stale: run `make docs` "
                "(python -m crawler.setup.settings_doc) and commit it\n"
            )
            return 1
        return 0
    DOC_FILE.parent.mkdir(parents=True, exist_ok=True)
    DOC_FILE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
