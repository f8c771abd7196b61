"""Fakes for the router tests: a hand-driven clock, a sleep that only records, and a
provider that follows a script."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from orchestrator_server.config.models import RouterConfig
from orchestrator_server.config.providers import MockOptions
from orchestrator_server.domain.chat import (
    ChatMessage,
    ChatRequest,
    Completion,
    FinishReason,
    Role,
    StreamChunk,
    Usage,
)
from orchestrator_server.providers.base import Provider, ProviderSpec
from orchestrator_server.providers.mock import MockProvider
from orchestrator_server.routing.router import Router

REQUEST = ChatRequest((ChatMessage(Role.USER, "hello there"),), request_id="req-1")

HANG = "hang"  # a script step that never completes: only a timeout or a cancel ends it


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeSleep:
    """Records what the router asked to sleep and moves the fake clock instead."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.advance(seconds)
        await asyncio.sleep(0)


Step = BaseException | str | None  # None: succeed; an exception: raise it; HANG: never end


class ScriptedProvider:
    """Each call takes the next step of `script` (`otherwise` once it runs out) and `takes`
    seconds of fake time. Streams follow `stream_scripts`, one list of chunks per call."""

    def __init__(
        self,
        name: str,
        *script: Step,
        otherwise: Step = None,
        clock: FakeClock | None = None,
        takes: float = 0.0,
        **spec: Any,
    ) -> None:
        spec.setdefault("model", f"{name}-model")
        spec.setdefault("kind", "mock")
        spec.setdefault("retries", 0)
        self._spec = ProviderSpec(name=name, **spec)
        self.script: deque[Step] = deque(script)
        self.otherwise = otherwise
        self.stream_scripts: deque[Sequence[StreamChunk | BaseException | str]] = deque()
        self.clock = clock
        self.takes = takes
        self.timeouts: list[float] = []
        self.requests: list[ChatRequest] = []
        self.streams_closed = 0
        self.hanging = asyncio.Event()  # set once a call is stuck on a HANG step
        self.closed = False

    @property
    def spec(self) -> ProviderSpec:
        return self._spec

    @property
    def calls(self) -> int:
        return len(self.requests)

    async def _step(self, request: ChatRequest, timeout: float) -> None:
        self.requests.append(request)
        self.timeouts.append(timeout)
        if self.clock is not None:
            self.clock.advance(self.takes)
        step = self.script.popleft() if self.script else self.otherwise
        if isinstance(step, BaseException):
            raise step
        if step == HANG:
            self.hanging.set()
            await asyncio.Event().wait()

    async def generate(self, request: ChatRequest, *, timeout: float) -> Completion:
        await self._step(request, timeout)
        return Completion(
            text=f"{self._spec.name} answers",
            model=request.model or self._spec.model,
            usage=Usage.of(10, 20),
        )

    async def stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamChunk]:
        try:
            await self._step(request, timeout)
            script = (
                self.stream_scripts.popleft()
                if self.stream_scripts
                else [
                    StreamChunk("Hello"),
                    StreamChunk(" world"),
                    StreamChunk(finish_reason=FinishReason.STOP, usage=Usage.of(3, 2)),
                ]
            )
            for item in script:
                if isinstance(item, BaseException):
                    raise item
                if item == HANG:
                    self.hanging.set()
                    await asyncio.Event().wait()
                assert isinstance(item, StreamChunk)
                yield item
        finally:
            self.streams_closed += 1

    async def check_health(self) -> None:
        return None

    async def aclose(self) -> None:
        self.closed = True


def mock(
    name: str, model: str = "mock-model", spec: Mapping[str, Any] | None = None, **options: Any
) -> MockProvider:
    return MockProvider(
        ProviderSpec(name=name, kind="mock", model=model, **(spec or {})),
        MockOptions(**options),
    )


def router(
    *providers: Provider,
    clock: FakeClock | None = None,
    sleep: FakeSleep | None = None,
    aliases: Mapping[str, Sequence[str]] | None = None,
    seed: int = 7,
    **config: Any,
) -> Router:
    config.setdefault("strategy", "first-available")
    clock = clock or FakeClock()
    return Router(
        providers,
        RouterConfig.model_validate(config),
        aliases,
        clock=clock,
        rng=random.Random(seed),
        sleep=sleep or FakeSleep(clock),
    )
