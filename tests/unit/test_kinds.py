"""The registry of provider kinds (config/providers.py KINDS): every entry is whole, every
consumer reads it, and the configuration floor imports nothing above it."""

from __future__ import annotations

import ast
import inspect
import typing
from pathlib import Path

import pytest

from orchestrator.v1 import common_pb2
from orchestrator_client.requests import PROVIDER_KINDS as CLIENT_KINDS
from orchestrator_server.api.convert import PROVIDER_KINDS as PROTO_KINDS
from orchestrator_server.api.validate_key import KINDS as VALIDATE_KEY_KINDS
from orchestrator_server.config import Config
from orchestrator_server.config.kind import Kind
from orchestrator_server.config.providers import BY_NAME, KINDS, PROVIDER_KINDS
from orchestrator_server.providers.registry import spec_of
from orchestrator_server.retrieval.embedders.remote import EMBEDDING_KINDS
from orchestrator_server.telemetry.genai import genai_provider_name
from orchestrator_server.validation.allowlist import OFFICIAL
from orchestrator_server.validation.service import default_validators

SERVER = Path(__file__).resolve().parents[2] / "server" / "orchestrator_server"


def test_kind_names_are_unique_and_match_their_config_models() -> None:
    assert len(BY_NAME) == len(KINDS) == len(PROVIDER_KINDS)
    for kind in KINDS:
        literal = typing.get_type_hints(kind.config)["kind"]
        assert typing.get_args(literal) == (kind.name,), kind.name


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_every_entry_names_code_that_exists(kind: Kind) -> None:
    factory = kind.load_adapter()
    assert callable(factory)
    assert list(inspect.signature(factory).parameters)[:3] == ["spec", "config", "api_key"]
    validator = kind.load_validator()
    if kind.validator is not None:
        assert inspect.iscoroutinefunction(validator.validate)
    assert kind.proto in set(common_pb2.ProviderKind.keys())


def test_every_proto_kind_has_an_entry_and_validate_key_checks_it() -> None:
    values = {v for n, v in common_pb2.ProviderKind.items() if n != "PROVIDER_KIND_UNSPECIFIED"}
    assert set(PROTO_KINDS.values()) == values
    assert set(VALIDATE_KEY_KINDS) == values
    for number, name in VALIDATE_KEY_KINDS.items():
        assert BY_NAME[name].validator is not None
        assert PROTO_KINDS[name] == number


def test_consumers_read_the_registry() -> None:
    assert set(PROTO_KINDS) == set(PROVIDER_KINDS)
    assert set(default_validators()) == {k.name for k in KINDS if k.validator}
    assert {k.name: k.key_check_url for k in KINDS if k.key_check_url} == OFFICIAL
    assert tuple(k.name for k in KINDS if k.capabilities.embeddings) == EMBEDDING_KINDS
    assert {genai_provider_name(k.name) for k in KINDS} == {k.genai_name for k in KINDS}
    # The client reads the contract's enum: every kind ValidateKey takes has a name there.
    assert set(VALIDATE_KEY_KINDS.values()) <= set(CLIENT_KINDS)


# What each kind's model requires beyond name, kind and model.
REQUIRED: dict[str, dict[str, str]] = {
    "gigachat": {"api_key_env": "K"},
    "yandexgpt": {"api_key_env": "K", "folder_id": "f"},
    "azure-openai": {"api_key_env": "K", "base_url": "https://x.test", "api_version": "v"},
    "anthropic": {"api_key_env": "K"},
    "gemini": {"api_key_env": "K"},
}


def test_the_config_union_takes_every_kind() -> None:
    providers = [
        {"name": f"p{i}", "kind": kind.name, "model": "m", **REQUIRED.get(kind.name, {})}
        for i, kind in enumerate(KINDS)
    ]
    config = Config.model_validate({"providers": providers})
    assert [type(p) for p in config.providers] == [kind.config for kind in KINDS]
    # What a kind supports (capability routing, Embed) is its entry's row too.
    assert [spec_of(p).capabilities for p in config.providers] == [k.capabilities for k in KINDS]


def test_the_configuration_floor_imports_nothing_above_it() -> None:
    allowed = ("orchestrator_server.config", "orchestrator_server.domain")
    for path in sorted((SERVER / "config").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.startswith("orchestrator_server"):
                    assert name.startswith(allowed), f"{path.name} imports {name}"
