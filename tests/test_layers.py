"""The layers of the code, as import-linter contracts (pyproject.toml, run by `make lint`):
every package of the crawl is named in them, so a new one is placed on purpose, and they hold."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["name"]: c for c in config["tool"]["importlinter"]["contracts"]}


def crawl_packages() -> set[str]:
    """crawler's children that are Python: its sub-packages and modules, the domain aside."""
    children = {
        f"crawler.{path.stem}"
        for path in (ROOT / "crawler").iterdir()
        if (path.is_dir() and (path / "__init__.py").exists())
        or (path.suffix == ".py" and path.stem != "__init__")
    }
    return children - {"crawler.domain"}


def test_the_pipelines_contract_names_every_package_of_the_crawl() -> None:
    contract = contracts()["The pipelines and storage import nothing of the crawl but its domain"]
    assert contract["source_modules"] == ["pipelines"]
    assert set(contract["forbidden_modules"]) == crawl_packages()  # type: ignore[arg-type]


def test_the_domain_contract_names_the_pipelines_scrapy_and_every_package_of_the_crawl() -> None:
    contract = contracts()["The domain imports neither the crawl nor the pipelines"]
    assert contract["source_modules"] == ["crawler.domain"]
    expected = crawl_packages() | {"pipelines", "scrapy"}
    assert set(contract["forbidden_modules"]) == expected  # type: ignore[arg-type]


def test_the_layer_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def test_the_cluster_package_is_protected_and_only_its_command_may_import_it() -> None:
    contract = contracts()[
        "Cluster mode is an add-on: the cluster package is imported only by itself and its command"
    ]
    assert contract["type"] == "protected"
    assert contract["protected_modules"] == ["crawler.cluster"]
    # Its own modules (the add-on among them) import each other; the crawl reaches it through
    # the ADDONS setting, a dotted path, never an import.
    assert contract["allowed_importers"] == ["crawler.commands.cluster"]
    assert contract.get("as_packages", True) is True
