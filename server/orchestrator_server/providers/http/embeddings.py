"""Reply shapes that several embedding endpoints share: OpenAI's `data[]` list (also
GigaChat's), and plain lists of vectors (Ollama, YandexGPT)."""

from __future__ import annotations

from typing import Any

from orchestrator_server.domain.chat import Usage
from orchestrator_server.domain.embeddings import estimate_embedding_usage
from orchestrator_server.domain.errors import ErrorKind, ProviderError


def indexed_data(data: Any, expected: int) -> list[list[float]]:
    """`{"data": [{"index": i, "embedding": [...]}, ...]}`, put back in input order."""
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ProviderError(ErrorKind.MALFORMED_RESPONSE, "embedding reply has no data list")
    try:
        ordered = sorted(items, key=lambda item: int(item.get("index", 0)))
        rows = [item["embedding"] for item in ordered]
    except (AttributeError, KeyError, TypeError, ValueError):
        raise ProviderError(
            ErrorKind.MALFORMED_RESPONSE, "embedding reply has an item without an embedding"
        ) from None
    return vector_rows(rows, expected)


def vector_rows(rows: Any, expected: int) -> list[list[float]]:
    """A list of `expected` lists of numbers, all of one length. Numbers sent as strings are
    accepted: Yandex's REST reference types them so (UNVERIFIED whether real replies do)."""
    if not isinstance(rows, list) or len(rows) != expected:
        raise ProviderError(
            ErrorKind.MALFORMED_RESPONSE, f"expected {expected} embeddings in the reply"
        )
    try:
        out = [[float(x) for x in row] for row in rows]
    except (TypeError, ValueError):
        raise ProviderError(ErrorKind.MALFORMED_RESPONSE, "an embedding is not numbers") from None
    if any(not row for row in out):
        raise ProviderError(ErrorKind.MALFORMED_RESPONSE, "an embedding is empty")
    if len({len(row) for row in out}) > 1:
        raise ProviderError(ErrorKind.MALFORMED_RESPONSE, "embeddings of unequal length")
    return out


def summed(counts: list[Any]) -> int | None:
    """The sum of per-item token counts (numbers or int64 strings), None unless all are."""
    total = 0
    for count in counts:
        if isinstance(count, bool):
            return None
        try:
            total += int(count)
        except (TypeError, ValueError):
            return None
    return total if counts else None


def prompt_usage(count: Any, inputs: tuple[str, ...]) -> Usage:
    """Usage from a reported input-token count, else an estimate (flagged)."""
    try:
        tokens = int(count)
    except (TypeError, ValueError):
        return estimate_embedding_usage(inputs)
    if tokens < 0 or isinstance(count, bool):
        return estimate_embedding_usage(inputs)
    return Usage.of(tokens, 0)
