"""Embed's routing: candidates by embedding model, fallback cut to the first choice's model,
and vectors the caller could not use treated as a failed attempt."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator_server.domain.capabilities import ALL
from orchestrator_server.domain.chat import Usage
from orchestrator_server.domain.embeddings import EmbeddingRequest, Embeddings
from orchestrator_server.domain.errors import AllProvidersFailed, ErrorKind, ProviderError
from orchestrator_server.providers.base import ProviderSpec
from orchestrator_server.routing.types import RouteOptions
from tests.unit.routing.fakes import router


class Embedder:
    """Answers vectors of a fixed size whatever the request asks, or fails."""

    def __init__(self, name: str, model: str, size: int = 4, fail: bool = False) -> None:
        self._spec = ProviderSpec(
            name=name,
            kind="mock",
            model="chat",
            retries=0,
            capabilities=ALL,
            embedding_model=model,
        )
        self.size = size
        self.fail = fail
        self.calls: list[EmbeddingRequest] = []

    @property
    def spec(self) -> ProviderSpec:
        return self._spec

    async def embed(self, request: EmbeddingRequest, *, timeout: float) -> Embeddings:
        self.calls.append(request)
        if self.fail:
            raise ProviderError(ErrorKind.UNAVAILABLE, "down")
        vectors = [[0.5] * self.size for _ in request.inputs]
        return Embeddings(vectors, request.model or "", Usage.of(len(request.inputs), 0))

    async def aclose(self) -> None:
        pass


REQUEST = EmbeddingRequest(("a", "b"))


async def test_a_wrong_size_fails_over_to_an_interchangeable_provider() -> None:
    short, right = Embedder("short", "e", size=3), Embedder("right", "e", size=8)
    result = await router(short, right).embed(  # type: ignore[arg-type]
        EmbeddingRequest(("a",), dimensions=8), RouteOptions()
    )
    assert result.provider == "right"
    [failed, ok] = result.attempts
    assert (failed.error_code, failed.message) == (
        "malformed_response",
        "asked for 8 dimensions, got 3",
    )
    assert ok.provider == "right"


async def test_fallback_never_reaches_another_model() -> None:
    down, other = Embedder("down", "e", fail=True), Embedder("other", "f")
    with pytest.raises(AllProvidersFailed):
        await router(down, other).embed(REQUEST, RouteOptions())  # type: ignore[arg-type]
    assert other.calls == []


async def test_an_open_circuit_does_not_choose_the_model() -> None:
    down, other = Embedder("down", "e", fail=True), Embedder("other", "f")
    r: Any = router(down, other, circuit_breaker={"cooldown": 60})
    r.slots[0].breaker.record_failure(probe=False, health=r.slots[0].stats.health())
    for _ in range(5):
        r.slots[0].failed(ProviderError(ErrorKind.UNAVAILABLE, "x"), probe=False)
    result = await r.embed(REQUEST, RouteOptions())
    assert result.provider == "other"
    assert result.model == "f"
