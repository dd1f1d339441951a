"""Every third-party module the agent imports is declared in pyproject.toml: a box installs
exactly the declared packages (offline, from a locked wheelhouse), so an import that only
works because another package happens to pull it in breaks on the next lock."""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AGENT = ROOT / "agent"


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    box = {_name(r) for r in project["dependencies"]}
    fleet = {_name(r) for r in project["optional-dependencies"]["fleet"]}
    return box, fleet


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"agent", "__future__"}


@functools.cache
def _providers() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _distributions(module: str) -> set[str]:
    return {_name(d) for d in _providers().get(module, [])}


def test_every_imported_package_is_declared_where_it_is_used() -> None:
    box, fleet = _declared()
    undeclared = []
    for path in sorted(AGENT.rglob("*.py")):
        allowed = box | fleet if "fleet" in path.relative_to(AGENT).parts else box
        for module in sorted(_imports(path)):
            distributions = _distributions(module)
            if not distributions & allowed:
                where = path.relative_to(ROOT)
                undeclared.append(f"{where}: {module} ({', '.join(sorted(distributions))})")
    assert not undeclared, "imported but not declared:\n" + "\n".join(undeclared)


def test_the_box_never_imports_the_fleet_extras() -> None:
    box, fleet = _declared()
    leaking = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in sorted(AGENT.rglob("*.py"))
        if "fleet" not in path.relative_to(AGENT).parts and path.name != "fleet_cmd.py"
        for module in sorted(_imports(path))
        if _distributions(module) & (fleet - box)
    ]
    assert not leaking, leaking
