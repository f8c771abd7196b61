"""The limiter and the cache for a configuration: in this process, or in Redis when
`state.redis` is set (one client shared by both)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from orchestrator_server.config.state import CacheConfig, StateConfig
from orchestrator_server.state.backend import CacheStore, LimitBackend
from orchestrator_server.state.cache import ResponseCache
from orchestrator_server.state.guard import Guard
from orchestrator_server.state.limiter import Limiter
from orchestrator_server.state.memory import MemoryCacheStore, MemoryLimitBackend
from orchestrator_server.state.redis_backend import (
    RedisCacheStore,
    RedisLimitBackend,
    connect,
)


@dataclass(frozen=True, slots=True)
class SharedState:
    limiter: Limiter
    cache: ResponseCache
    guard: Guard | None  # the remote backend's calls: timeouts and error counts
    backend: str  # "memory" or "redis", for logs and metrics

    async def aclose(self) -> None:
        await self.cache.aclose()
        await self.limiter.aclose()


def build_state(
    state: StateConfig,
    cache: CacheConfig,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], float] | None = None,
) -> SharedState:
    """Raises RedisSecretMissing when the password variable is unset. Connects lazily: an
    unreachable Redis fails calls (as `on_error` says), not the start."""
    limits: LimitBackend
    store: CacheStore
    guard: Guard | None = None
    if state.redis is None:
        limits = MemoryLimitBackend() if clock is None else MemoryLimitBackend(clock)
        store = (
            MemoryCacheStore(cache.max_entries)
            if clock is None
            else MemoryCacheStore(cache.max_entries, clock)
        )
    else:
        client = connect(state.redis, environ)
        limits = RedisLimitBackend(client, state.redis.key_prefix)
        store = RedisCacheStore(client, state.redis.key_prefix)
        guard = Guard(state.redis.timeout, slots=state.redis.max_connections)
    limiter = Limiter(
        limits,
        on_error=state.on_error,
        guard=guard,
        default_max_tokens=state.default_max_tokens,
        clock=clock,
    )
    return SharedState(
        limiter,
        ResponseCache(cache, store, guard=guard),
        guard,
        "memory" if state.redis is None else "redis",
    )
