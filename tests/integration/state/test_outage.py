"""Redis hung (SIGSTOP) or gone (SIGKILL, then started again on the same port): each call
ends within its bound, `on_error` decides between serving unchecked and refusing, failures
are counted and logged once, and service comes back with Redis by itself."""

from __future__ import annotations

import asyncio
import logging

import pytest

from orchestrator_server.config.state import CacheConfig, RedisConfig
from orchestrator_server.domain.chat import ChatMessage, ChatRequest, Completion, Role, Usage
from orchestrator_server.domain.errors import DeadlineExceeded
from orchestrator_server.state import (
    CachedResponse,
    Quota,
    ResponseCache,
    StateUnavailable,
    Subject,
    SubjectKind,
)
from orchestrator_server.state.guard import Guard
from orchestrator_server.state.redis_backend import RedisCacheStore, connect
from tests.redis_server import RedisServer
from tests.state_support import limiter_on

KEY = Subject(SubjectKind.KEY, "team-a")
QUOTA = [Quota(KEY, rpm=1000, concurrency=10)]
TIMEOUT = 0.2  # the Redis timeout these limiters are configured with
BOUND = 3.0  # far above TIMEOUT: a call still running then has hung


async def bounded(awaitable: object) -> object:
    async with asyncio.timeout(BOUND):
        return await awaitable  # type: ignore[misc]


@pytest.mark.parametrize("outage", ["paused", "killed"])
async def test_open_serves_unchecked_and_recovers(redis_srv: RedisServer, outage: str) -> None:
    async with limiter_on("redis", None, redis_srv.url, timeout=TIMEOUT) as limiter:
        assert (await limiter.admit(QUOTA)).checked
        redis_srv.pause() if outage == "paused" else redis_srv.kill()
        for _ in range(3):
            admission = await bounded(limiter.admit(QUOTA, time_left=10))
            assert not admission.checked  # type: ignore[attr-defined]
        assert limiter.stats.skipped == 3
        assert limiter.guard is not None
        assert limiter.guard.errors["admit"] == 3
        redis_srv.resume() if outage == "paused" else redis_srv.start(redis_srv.port)
        # The first call after Redis returns is checked again: a pooled connection the old
        # server closed is replaced within the call.
        assert (await bounded(limiter.admit(QUOTA))).checked  # type: ignore[attr-defined]
        assert not limiter.guard.failing


@pytest.mark.parametrize("outage", ["paused", "killed"])
async def test_closed_refuses_with_a_clear_error_and_recovers(
    redis_srv: RedisServer, outage: str
) -> None:
    async with limiter_on(
        "redis", None, redis_srv.url, timeout=TIMEOUT, on_error="closed"
    ) as limiter:
        redis_srv.pause() if outage == "paused" else redis_srv.kill()
        with pytest.raises(StateUnavailable, match="shared state backend is unavailable"):
            await bounded(limiter.admit(QUOTA, time_left=10))
        assert limiter.stats.refused == 1
        redis_srv.resume() if outage == "paused" else redis_srv.start(redis_srv.port)
        assert (await bounded(limiter.admit(QUOTA))).checked  # type: ignore[attr-defined]


async def test_the_callers_deadline_bounds_a_redis_call(redis_srv: RedisServer) -> None:
    # A generous Redis timeout; the caller has far less time left, and that wins.
    async with limiter_on(
        "redis", None, redis_srv.url, timeout=BOUND * 2, on_error="closed"
    ) as limiter:
        await limiter.admit(QUOTA)
        redis_srv.pause()
        with pytest.raises(StateUnavailable):
            await bounded(limiter.admit(QUOTA, time_left=0.2))
        redis_srv.resume()


async def test_a_settlement_during_an_outage_is_counted_not_raised(
    redis_srv: RedisServer,
) -> None:
    async with limiter_on("redis", None, redis_srv.url, timeout=TIMEOUT) as limiter:
        admission = await limiter.admit(QUOTA, time_left=10)
        redis_srv.pause()
        await bounded(admission.settle(tokens=5))
        assert limiter.stats.unsettled == 1
        redis_srv.resume()
        (status,) = await limiter.status(QUOTA)
        # The lease stays until it expires (deadline + grace); the request stays counted.
        assert [s.used for s in status.limits] == [1, 1]


async def test_a_cancelled_caller_still_releases_its_lease(redis_srv: RedisServer) -> None:
    quota = [Quota(KEY, concurrency=1)]
    async with limiter_on("redis", None, redis_srv.url, timeout=BOUND, prefix="cx:") as limiter:
        admission = await limiter.admit(quota, time_left=10)
        redis_srv.pause()
        settling = asyncio.create_task(admission.settle())
        await asyncio.sleep(0)  # one turn of the loop: the task starts and hangs on Redis
        assert admission.settled  # (settle() marks itself before its first await)
        settling.cancel()
        with pytest.raises(asyncio.CancelledError):
            await settling
        redis_srv.resume()
        await bounded(limiter.aclose())  # waits for the settlement still on its way
        assert limiter.stats.unsettled == 0
    async with limiter_on("redis", None, redis_srv.url, prefix="cx:") as reader:
        (status,) = await reader.status(quota)
    assert status.limits[0].used == 0  # the lease is gone, not left to expire


async def test_an_outage_is_logged_once_and_its_end_too(
    redis_srv: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="orchestrator_server.state")
    async with limiter_on("redis", None, redis_srv.url, timeout=TIMEOUT) as limiter:
        redis_srv.kill()
        for _ in range(5):
            await bounded(limiter.admit(QUOTA))
        redis_srv.start(redis_srv.port)
        await bounded(limiter.admit(QUOTA))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith("shared state backend unavailable: admit failed")
    assert "is back after" in messages[1]
    assert "5 calls failed" in messages[1]


async def test_the_cache_misses_and_skips_while_redis_is_away(redis_srv: RedisServer) -> None:
    guard = Guard(TIMEOUT)
    client = connect(RedisConfig(url=redis_srv.url, timeout=TIMEOUT))
    cache = ResponseCache(CacheConfig(enabled=True), RedisCacheStore(client, "o:"), guard=guard)
    request = ChatRequest((ChatMessage(Role.USER, "hi"),))
    key = cache.key(request, provider="p", model="m", scope="*")
    assert key is not None
    reply = CachedResponse.of(Completion("hello", "m", Usage.of(1, 1)), "p")
    try:
        redis_srv.pause()
        assert await bounded(cache.get(key)) is None
        await bounded(cache.put(key, reply))
        assert (cache.stats.failed, cache.stats.misses, cache.stats.stores) == (2, 1, 0)
        redis_srv.resume()
        await cache.put(key, reply)
        assert await cache.get(key) == reply
    finally:
        await client.aclose()


async def test_a_spent_deadline_is_not_a_backend_failure(redis_srv: RedisServer) -> None:
    async with limiter_on("redis", None, redis_srv.url, on_error="closed") as limiter:
        with pytest.raises(DeadlineExceeded):
            await limiter.admit(QUOTA, time_left=0)
        assert limiter.guard is not None
        assert not limiter.guard.errors
        assert not limiter.guard.failing
