"""The package declares what its code imports, and imports what it declares: every
third-party module the server and the Python client import belongs to a distribution named in
pyproject.toml (its dependencies, or the extra that feature needs), and every dependency is
imported somewhere."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = (
    ROOT / "server" / "orchestrator_server",
    ROOT / "clients" / "python" / "orchestrator_client",
)
OURS = ("orchestrator", "orchestrator_server", "orchestrator_client")
TOOLING_EXTRAS = ("dev", "deploy-check")  # for working on the project, not for running it


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def declared() -> tuple[set[str], set[str]]:
    """(dependencies, those of the feature extras)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = {
        _name(r)
        for extra, requirements in project["optional-dependencies"].items()
        if extra not in TOOLING_EXTRAS
        for r in requirements
    }
    return {_name(r) for r in project["dependencies"]}, extras


def imported_modules() -> set[str]:
    names: set[str] = set()
    for root in CODE:
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    # The names may be submodules of a namespace package (opentelemetry.trace).
                    names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {
        n
        for n in names
        if n.split(".")[0] not in sys.stdlib_module_names and not n.startswith(OURS)
    }


@cache
def _packages() -> dict[str, list[str]]:
    return dict(metadata.packages_distributions())


@cache
def _files(dist: str) -> frozenset[str]:
    return frozenset(str(file) for file in metadata.files(dist) or ())


def distribution_of(module: str) -> str | None:
    """The distribution whose files hold `module`, or its package (None: not installed
    here). Namespace packages (google, opentelemetry) are shared: the file decides."""
    candidates = _packages().get(module.split(".")[0], [])
    if len(candidates) <= 1:
        return _name(candidates[0]) if candidates else None
    parts = module.split(".")
    while parts:
        stem = "/".join(parts)
        wanted = {f"{stem}.py", f"{stem}/__init__.py"}
        for dist in candidates:
            files = _files(dist)
            if wanted & files or any(file.startswith(f"{stem}/") for file in files):
                return _name(dist)
        parts.pop()
    return None


def test_every_import_is_declared() -> None:
    dependencies, extras = declared()
    undeclared = {}
    for module in sorted(imported_modules()):
        owner = distribution_of(module)
        if owner is None:
            continue  # an optional extra that is not installed here (local embeddings)
        if owner not in dependencies | extras:
            undeclared[module] = owner
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_every_dependency_is_imported() -> None:
    dependencies, _ = declared()
    used = {distribution_of(module) for module in imported_modules()}
    assert dependencies - used == set(), "declared but never imported"
