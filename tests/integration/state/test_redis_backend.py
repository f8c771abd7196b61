"""The Redis backend itself: scripts that a retried call cannot apply twice, keys that all
expire, the server's clock, and cached replies shared between two clients."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from orchestrator_server.config.state import BudgetConfig, CacheConfig, RedisConfig
from orchestrator_server.domain.chat import (
    ChatMessage,
    ChatRequest,
    Completion,
    FinishReason,
    Role,
    Usage,
)
from orchestrator_server.state import (
    CachedResponse,
    Quota,
    RateLimited,
    ResponseCache,
    Subject,
    SubjectKind,
)
from orchestrator_server.state.redis_backend import RedisCacheStore, RedisLimitBackend, connect
from orchestrator_server.state.types import Check, LimitKind, Settlement, period_of
from tests.redis_server import RedisServer
from tests.state_support import NOON, limiter_on

KEY = Subject(SubjectKind.KEY, "team-a")


async def test_a_repeated_admission_or_settlement_counts_once(redis_srv: RedisServer) -> None:
    client = connect(RedisConfig(url=redis_srv.url, timeout=2))
    backend = RedisLimitBackend(client, "idem:")
    period = period_of("day", NOON)
    checks = [
        Check(LimitKind.RPM, KEY, 10, 1, "rpm:k"),
        Check(LimitKind.TPM, KEY, 1000, 100, "tpm:k"),
        Check(LimitKind.BUDGET, KEY, 10**9, 10**8, f"budget:k:{period.name}", period),
    ]
    try:
        for _ in range(2):  # as if the first reply was lost and the call sent again
            assert await backend.admit("r1", checks, 30, NOON) is None
        used = await backend.read(checks, NOON)
        assert [(s.used, s.reserved) for s in used] == [(1, 0), (100, 0), (0, 10**8)]
        settlements = [Settlement(checks[1], 40), Settlement(checks[2], 3 * 10**7)]
        for _ in range(2):
            await backend.settle("r1", settlements, NOON + 1)
        used = await backend.read(checks, NOON + 1)
        assert [(s.used, s.reserved) for s in used] == [(1, 0), (40, 0), (3 * 10**7, 0)]
    finally:
        await backend.aclose()


async def test_every_key_written_expires(redis_srv: RedisServer) -> None:
    budget = BudgetConfig.model_validate({"amount": 5, "period": "month"})
    quota = [Quota(KEY, rpm=5, tpm=500, concurrency=2, budget=budget)]
    probe = Redis.from_url(redis_srv.url)

    async def all_expire(count: int) -> None:
        keys = await probe.keys("ttl:*")
        assert len(keys) == count
        for key in keys:
            assert await probe.pttl(key) > 0, key

    try:
        async with limiter_on("redis", None, redis_srv.url, prefix="ttl:") as limiter:
            admission = await limiter.admit(quota, tokens=50, cost=0.1, time_left=20)
            await all_expire(6)  # rpm, tpm and its values, leases, budget and its holds
            await admission.settle(tokens=60, cost=0.2)
            await all_expire(5)  # the last lease gone, its set with it
    finally:
        await probe.aclose()


async def test_windows_follow_the_redis_server_clock(redis_srv: RedisServer) -> None:
    # No clock given: the scripts read TIME, so replicas with skewed clocks agree.
    async with limiter_on("redis", None, redis_srv.url) as limiter:
        quota = [Quota(KEY, rpm=1)]
        await limiter.admit(quota)
        with pytest.raises(RateLimited) as denied:
            await limiter.admit(quota)
    assert 59 < denied.value.retry_after <= 60


def request(text: str) -> ChatRequest:
    return ChatRequest((ChatMessage(Role.USER, text),))


async def test_a_reply_cached_through_one_client_is_served_to_another(
    redis_srv: RedisServer,
) -> None:
    config = CacheConfig(enabled=True, ttl=30)
    caches = [
        ResponseCache(config, RedisCacheStore(connect(RedisConfig(url=redis_srv.url)), "c:"))
        for _ in range(2)
    ]
    key = caches[0].key(request("hi"), provider="p", model="m", scope="*")
    assert key is not None
    assert key == caches[1].key(request("hi"), provider="p", model="m", scope="*")
    completion = Completion("hello there", "m-2024", Usage.of(3, 2), FinishReason.STOP)
    await caches[0].put(key, CachedResponse.of(completion, "p"))
    found = await caches[1].get(key)
    assert found is not None
    assert (found.text, found.model, found.provider, found.usage) == (
        "hello there",
        "m-2024",
        "p",
        Usage.of(3, 2),
    )
    probe = Redis.from_url(redis_srv.url)
    try:
        assert 29_000 < await probe.pttl(f"c:cache:{key}") <= 30_000
        await probe.set(f"c:cache:{key}", b'{"v": 999}')  # another format: a miss
        assert await caches[1].get(key) is None
    finally:
        await probe.aclose()
        for cache in caches:
            await cache.aclose()


async def test_a_burst_larger_than_the_pool_waits_its_turn(redis_srv: RedisServer) -> None:
    # 200 calls at once over 2 connections: each waits in line, none for its whole timeout
    # (the client's own pool let some wait seconds while later ones went first).
    quota = [Quota(KEY, rpm=10_000, concurrency=1000)]
    async with limiter_on("redis", None, redis_srv.url, timeout=2.0, connections=2) as limiter:
        admissions = await asyncio.gather(*(limiter.admit(quota) for _ in range(200)))
        assert all(a.checked for a in admissions)
        assert limiter.guard is not None
        assert not limiter.guard.errors
