"""What the limiter and the cache need from a place to keep state: this process's memory or
Redis. Each call is applied atomically there, all checks of a call together."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from orchestrator_server.state.cached import CachedResponse
from orchestrator_server.state.types import Check, CheckState, Denial, Settlement


class LimitBackend(Protocol):
    # A remote backend can fail or be slow: its calls are bounded and their failures counted.
    remote: bool

    async def admit(
        self, rid: str, checks: Sequence[Check], lease: float, now: float | None
    ) -> Denial | None:
        """Takes every check's amount under reservation `rid` if all of them fit, else
        nothing, and returns the denial that frees last. A concurrency lease and a budget
        reservation expire `lease` seconds from now unless settled first. Repeating an
        admission that was applied (a retry after a lost reply) changes nothing.
        `now` (epoch seconds) replaces the backend's clock when given (tests)."""
        ...

    async def settle(self, rid: str, settlements: Sequence[Settlement], now: float | None) -> None:
        """Replaces reservation `rid`'s estimates by what was consumed and releases its
        lease; applied once however often it is sent."""
        ...

    async def read(self, checks: Sequence[Check], now: float | None) -> list[CheckState]:
        """Current use of each check, taking nothing."""
        ...

    async def aclose(self) -> None: ...


class CacheStore(Protocol):
    remote: bool

    async def get(self, key: str) -> CachedResponse | None: ...

    async def put(self, key: str, response: CachedResponse, ttl: float) -> None:
        """Stores `response` for `ttl` seconds."""
        ...

    async def aclose(self) -> None: ...
