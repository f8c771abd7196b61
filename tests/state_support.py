"""Limiters for tests over either backend, with a clock the test moves."""

from __future__ import annotations

import datetime
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from orchestrator_server.config.state import RedisConfig
from orchestrator_server.state import Limiter
from orchestrator_server.state.guard import Guard
from orchestrator_server.state.memory import MemoryLimitBackend
from orchestrator_server.state.redis_backend import RedisLimitBackend, connect

NOON = datetime.datetime(2026, 11, 21, 12, 0, tzinfo=datetime.UTC).timestamp()
_prefixes = itertools.count()


class FakeClock:
    """Epoch seconds that move only when the test says so."""

    def __init__(self, now: float = NOON) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@asynccontextmanager
async def limiter_on(
    backend: str,
    clock: FakeClock | None,
    redis_url: str | None = None,
    *,
    on_error: str = "open",
    timeout: float = 2.0,
    prefix: str | None = None,
    connections: int = 50,
) -> AsyncIterator[Limiter]:
    """`backend` is "memory" or "redis" (then `redis_url`); each limiter gets its own key
    prefix, so tests sharing a server never see each other's counts."""
    if backend == "memory":
        limiter = Limiter(MemoryLimitBackend(clock) if clock else MemoryLimitBackend(), clock=clock)
    else:
        assert redis_url is not None
        client = connect(RedisConfig(url=redis_url, timeout=timeout, max_connections=connections))
        prefix = prefix or f"t{next(_prefixes)}:"
        limiter = Limiter(
            RedisLimitBackend(client, prefix),
            on_error=on_error,  # type: ignore[arg-type]
            guard=Guard(timeout, slots=connections),
            clock=clock,
        )
    try:
        yield limiter
    finally:
        await limiter.aclose()
