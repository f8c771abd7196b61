"""Tool-call arguments as providers that speak protobuf JSON send them (Gemini, YandexGPT):
every integer a float (`5.0`), as recorded."""

from __future__ import annotations

from typing import Any


def as_floats(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dict):
        return {k: as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_floats(v) for v in value]
    return value
