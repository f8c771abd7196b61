"""Embed's routing: candidates by embedding model, fallback cut to the first choice's model,
vectors the caller could not use treated as a failed attempt, and every call settled by the
same Attempt owner as a chat call: the same verdicts for a deadline, a shutdown cut and a
model no provider knows."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator_server.config.models import RouterConfig
from orchestrator_server.domain.attempts import AttemptOutcome
from orchestrator_server.domain.capabilities import ALL
from orchestrator_server.domain.chat import Usage
from orchestrator_server.domain.embeddings import EmbeddingRequest, Embeddings
from orchestrator_server.domain.errors import (
    AllProvidersFailed,
    DeadlineExceeded,
    ErrorKind,
    NotFound,
    ProviderError,
    ServerShuttingDown,
)
from orchestrator_server.providers.base import ProviderSpec
from orchestrator_server.routing.observer import AttemptRecord
from orchestrator_server.routing.router import Router
from orchestrator_server.routing.types import RouteOptions
from tests.unit.routing.fakes import FakeClock, FakeSleep, router


class Embedder:
    """Answers vectors of a fixed size whatever the request asks, or fails."""

    def __init__(
        self,
        name: str,
        model: str,
        size: int = 4,
        fail: bool = False,
        error: ErrorKind = ErrorKind.UNAVAILABLE,
        hang: bool = False,
    ) -> None:
        self._spec = ProviderSpec(
            name=name,
            kind="mock",
            model="chat",
            retries=0,
            timeout=30.0,
            capabilities=ALL,
            embedding_model=model,
        )
        self.size = size
        self.fail = fail
        self.error = error
        self.hang = hang
        self.hanging = asyncio.Event()
        self.calls: list[EmbeddingRequest] = []

    @property
    def spec(self) -> ProviderSpec:
        return self._spec

    async def embed(self, request: EmbeddingRequest, *, timeout: float) -> Embeddings:
        self.calls.append(request)
        if self.hang:
            self.hanging.set()
            await asyncio.Event().wait()
        if self.fail:
            raise ProviderError(self.error, "down")
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


class Ended:
    def __init__(self) -> None:
        self.records: list[AttemptRecord] = []

    def attempt_started(self, record: AttemptRecord) -> None:
        pass

    def attempt_ended(self, record: AttemptRecord) -> None:
        self.records.append(record)


def trail(error: Any) -> list[tuple[str, AttemptOutcome, str]]:
    return [(a.provider, a.outcome, a.error_code) for a in error.attempts]


async def test_a_deadline_cut_embed_is_cancelled_in_every_view_and_blames_nobody() -> None:
    clock = FakeClock()
    slow = Embedder("slow", "e", hang=True)
    seen = Ended()
    r = Router(
        [slow, Embedder("other", "e")],  # type: ignore[list-item]
        RouterConfig(strategy="first-available"),
        clock=clock,
        sleep=FakeSleep(clock),
        observer=seen,
    )
    with pytest.raises(DeadlineExceeded) as caught:
        await r.embed(REQUEST, RouteOptions(), deadline=clock.now + 0.01)
    assert trail(caught.value) == [("slow", AttemptOutcome.CANCELLED, "deadline_exceeded")]
    [record] = seen.records
    assert (record.outcome, record.error_kind, record.operation) == (
        AttemptOutcome.CANCELLED,
        "deadline_exceeded",
        "embeddings",
    )
    snap = r.snapshot()[0]
    assert (snap.requests_failed, snap.in_flight, snap.consecutive_failures) == (0, 0, 0)


async def test_a_shutdown_cut_embed_ends_with_its_trail() -> None:
    slow = Embedder("slow", "e", hang=True)
    r = router(slow)  # type: ignore[arg-type]
    call = asyncio.create_task(r.embed(REQUEST, RouteOptions()))
    await slow.hanging.wait()
    assert r.interrupt() == 1
    with pytest.raises(ServerShuttingDown) as caught:
        await call
    assert trail(caught.value) == [("slow", AttemptOutcome.CANCELLED, "shutdown")]
    assert call.cancelling() == 0


async def test_an_embedding_model_no_provider_knows_is_not_found() -> None:
    one = Embedder("one", "e", fail=True, error=ErrorKind.NOT_FOUND)
    two = Embedder("two", "e", fail=True, error=ErrorKind.NOT_FOUND)
    with pytest.raises(NotFound) as caught:
        await router(one, two).embed(REQUEST, RouteOptions(model="e"))  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.name) == ("model", "e")
    assert "ListModels" in caught.value.message
    assert len(caught.value.attempts) == 2
