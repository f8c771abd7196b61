"""Generation parameters under each provider's own names.

Each adapter declares a table from GenerationParams fields to its API's keys; a field left
out of the table is one that API does not support, so it is not sent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator_server.domain.chat import GenerationParams


def wire_params(params: GenerationParams, names: Mapping[str, str]) -> dict[str, Any]:
    """The parameters the caller set, under the provider's names."""
    out: dict[str, Any] = {}
    for field, key in names.items():
        value = getattr(params, field)
        if value is None or value == ():
            continue
        out[key] = list(value) if isinstance(value, tuple) else value
    return out
