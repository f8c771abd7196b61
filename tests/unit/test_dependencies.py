"""Each distribution declares what its code imports, and imports what it declares: every
third-party module the server (pyproject.toml) and the Python client
(clients/python/pyproject.toml) import belongs to a distribution named in that one's
dependencies, or the extra that feature needs, and every dependency is imported somewhere."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Each distribution: its pyproject.toml and the code it ships. The server depends on the
# client distribution, so its own imports of orchestrator_client are ours, not third-party.
SERVER = (ROOT / "pyproject.toml", ROOT / "server" / "orchestrator_server")
CLIENT = (
    ROOT / "clients" / "python" / "pyproject.toml",
    ROOT / "clients" / "python" / "orchestrator_client",
)
DISTRIBUTIONS = pytest.mark.parametrize(
    ("pyproject", "code"), [SERVER, CLIENT], ids=["server", "client"]
)
OURS = ("orchestrator", "orchestrator_server", "orchestrator_client")
OUR_DISTRIBUTIONS = {"llm-orchestrator-client", "llm-orchestrator-server"}
TOOLING_EXTRAS = ("dev", "deploy-check")  # for working on the project, not for running it


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def declared(pyproject: Path) -> tuple[set[str], set[str]]:
    """(dependencies, those of the feature extras), our own distributions left out."""
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = {
        _name(r)
        for extra, requirements in project.get("optional-dependencies", {}).items()
        if extra not in TOOLING_EXTRAS
        for r in requirements
    }
    return {_name(r) for r in project["dependencies"]} - OUR_DISTRIBUTIONS, extras


def imported_modules(code: Path) -> set[str]:
    names: set[str] = set()
    for path in code.rglob("*.py"):
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


@DISTRIBUTIONS
def test_every_import_is_declared(pyproject: Path, code: Path) -> None:
    dependencies, extras = declared(pyproject)
    undeclared = {}
    for module in sorted(imported_modules(code)):
        owner = distribution_of(module)
        if owner is None:
            continue  # an optional extra that is not installed here (local embeddings)
        if owner not in dependencies | extras:
            undeclared[module] = owner
    assert not undeclared, f"imported but not declared in {pyproject}: {undeclared}"


@DISTRIBUTIONS
def test_every_dependency_is_imported(pyproject: Path, code: Path) -> None:
    dependencies, _ = declared(pyproject)
    used = {distribution_of(module) for module in imported_modules(code)}
    assert dependencies - used == set(), f"declared in {pyproject} but never imported"
