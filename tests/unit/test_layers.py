"""The house's floors: the domain (and the call layer both doors share) never imports grpc,
the generated contract or a door; the call layer not aiohttp either (it is the HTTP door's,
and the providers')."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[2] / "server" / "orchestrator_server"
DOORS = ("grpc", "grpc_health", "grpc_reflection", "google.rpc", "orchestrator.v1")
DOORS += ("orchestrator_server.api", "orchestrator_server.http")
DOMAIN = ("routing", "providers", "retrieval", "validation", "domain", "auth", "state")


def imports(package: str) -> list[tuple[str, str]]:
    found = []
    for path in sorted((SERVER / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.append((path.name, node.module))
            elif isinstance(node, ast.Import):
                found += [(path.name, alias.name) for alias in node.names]
    return found


def offending(package: str, banned: tuple[str, ...]) -> list[tuple[str, str]]:
    return [
        (file, name)
        for file, name in imports(package)
        if any(name == b or name.startswith(f"{b}.") for b in banned)
    ]


@pytest.mark.parametrize("package", DOMAIN)
def test_the_domain_imports_no_door(package: str) -> None:
    assert offending(package, DOORS) == []


def test_the_call_layer_imports_no_door_and_no_http() -> None:
    assert imports("gateway"), "the gateway package is where it should be"
    assert offending("gateway", (*DOORS, "aiohttp")) == []
