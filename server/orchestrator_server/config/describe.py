"""The configuration described by its own models: a JSON Schema of the file, and every key
with its default (`orchestrator config schema | defaults`). Generated from the pydantic
models, so they cannot drift from what the server accepts."""

from __future__ import annotations

import json
import typing
from typing import Any

import yaml
from pydantic import BaseModel

from orchestrator_server.config.models import Config
from orchestrator_server.config.providers import PROVIDER_KINDS, ProviderConfig

SCHEMA_ID = "https://github.com/orchestrator/orchestrator/config.schema.json"
REQUIRED = "<required>"
_NO_DEFAULTS = ("providers",)  # a list of entries, one per upstream: nothing to default


def schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of the configuration file, for editors and CI."""
    out = Config.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **out,
        "title": "orchestrator configuration",
    }


def schema_text() -> str:
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"


def defaults() -> dict[str, Any]:
    """Every section but `providers` with each key at its default."""
    out: dict[str, Any] = {}
    for name, field in Config.model_fields.items():
        if name in _NO_DEFAULTS:
            continue
        value = field.get_default(call_default_factory=True)
        key = field.alias or name
        out[key] = (
            value.model_dump(mode="json", by_alias=True) if isinstance(value, BaseModel) else value
        )
    return out


def provider_model(kind: str) -> type[BaseModel]:
    for model in typing.get_args(typing.get_args(ProviderConfig)[0]):
        if kind in typing.get_args(model.model_fields["kind"].annotation):
            return typing.cast(type[BaseModel], model)
    raise KeyError(f"unknown provider kind {kind!r}; kinds: {', '.join(PROVIDER_KINDS)}")


def provider_defaults(kind: str) -> dict[str, Any]:
    """A provider entry of `kind` with each key at its default, or REQUIRED."""
    model = provider_model(kind)
    entry: dict[str, Any] = {"name": REQUIRED, "kind": kind}
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key in entry:
            continue
        if field.is_required():
            entry[key] = REQUIRED
        else:
            value = field.get_default(call_default_factory=True)
            entry[key] = (
                value.model_dump(mode="json", by_alias=True)
                if isinstance(value, BaseModel)
                else _plain(value)
            )
    return entry


def _plain(value: Any) -> Any:
    # Enums and other defaults as they are written in the file.
    return json.loads(json.dumps(value, default=str))


def defaults_text(kind: str | None = None) -> str:
    if kind is not None:
        body = yaml.safe_dump({"providers": [provider_defaults(kind)]}, sort_keys=False)
        return (
            f"# A `{kind}` provider entry, each key at its default ({REQUIRED}: no default).\n"
            + body
        )
    header = (
        "# Every section with each key at its default. `providers` has none: see\n"
        "# `orchestrator config defaults --provider KIND` and docs/providers.md.\n"
    )
    return header + yaml.safe_dump(defaults(), sort_keys=False)
