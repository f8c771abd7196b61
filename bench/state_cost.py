"""What limits and the response cache cost per call, in process and with Redis, beside what
a whole Generate call costs in the same run.

Measured in one process as CPU time (so other jobs on the machine matter less) and wall
time per operation, run one after another; with Redis also the redis-server's own CPU per
operation (from /proc) and throughput with 64 operations in flight. Setups alternate over
several rounds; medians with their range.

    .venv/bin/python bench/state_cost.py [--calls 3000] [--rounds 5]

Needs redis-server (Debian package) on PATH for the Redis rows.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.v1 import generate_pb2
from orchestrator_server.config.state import BudgetConfig, CacheConfig, RedisConfig, StateConfig
from orchestrator_server.domain.chat import (
    ChatMessage,
    ChatRequest,
    Completion,
    GenerationParams,
    Role,
    Usage,
)
from orchestrator_server.state import (
    CachedResponse,
    Quota,
    SharedState,
    Subject,
    SubjectKind,
    build_state,
)
from orchestrator_server.state.redis_backend import connect
from tests.helpers import make_config, mock_provider, running
from tests.redis_server import RedisServer

TICKS = os.sysconf("SC_CLK_TCK")
FLOOR = "PING, one round trip (the floor)"
FRESH = itertools.count()
IN_FLIGHT = 64
# The heaviest call: a key with every limit and a budget, whose tenant has limits too.
QUOTAS = [
    Quota(
        Subject(SubjectKind.KEY, "team-a"),
        rpm=10**9,
        tpm=10**12,
        concurrency=10**6,
        budget=BudgetConfig(amount=10**6, currency="USD", period="month"),
    ),
    Quota(Subject(SubjectKind.TENANT, "acme"), rpm=10**9, tpm=10**12),
]
RPM_ONLY = [Quota(Subject(SubjectKind.KEY, "team-b"), rpm=10**9)]
REQUEST = ChatRequest(
    (
        ChatMessage(Role.SYSTEM, "You are terse."),
        ChatMessage(Role.USER, "Summarise the plot of a short novel in two sentences."),
    ),
    GenerationParams(temperature=0.0, max_tokens=256),
)
REPLY = CachedResponse.of(
    Completion(
        "A reply of about a dozen words to relay back to the caller.", "m", Usage.of(30, 14)
    ),
    "p",
)


def server_cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def operations(state: SharedState) -> dict[str, Callable[[int], Awaitable[None]]]:
    limiter, cache = state.limiter, state.cache

    async def rpm_only(_: int) -> None:
        admission = await limiter.admit(RPM_ONLY, tokens=300, time_left=30)
        await admission.settle(tokens=280)  # nothing to settle: no backend call

    async def limits(_: int) -> None:
        admission = await limiter.admit(QUOTAS, tokens=300, cost=0.001, time_left=30)
        await admission.settle(tokens=280, cost=0.0009)

    async def cache_miss(_: int) -> None:
        question = f"question {next(FRESH)}"  # never asked before, in any round
        request = ChatRequest((ChatMessage(Role.USER, question),), REQUEST.params)
        key = cache.key(request, provider="p", model="m", scope="*")
        assert key is not None
        await cache.get(key)  # a miss
        await cache.put(key, REPLY)

    async def cache_hit(_: int) -> None:
        key = cache.key(REQUEST, provider="p", model="m", scope="*")
        assert key is not None
        await cache.get(key)  # a hit

    return {
        "limits, key rpm only": rpm_only,
        "limits, 6 (admit + settle)": limits,
        "cache miss + store": cache_miss,
        "cache hit": cache_hit,
    }


async def measure(
    op: Callable[[int], Awaitable[None]], calls: int, redis_pid: int | None
) -> tuple[float, float, float, float]:
    """CPU µs/op here, wall µs/op one at a time, Redis CPU µs/op, ops/s with 64 in flight."""
    for i in range(200):
        await op(i)
    cpu, wall, rcpu = time.process_time(), time.perf_counter(), server_cpu(redis_pid)
    for i in range(calls):
        await op(i)
    cpu = (time.process_time() - cpu) / calls * 1e6
    wall = (time.perf_counter() - wall) / calls * 1e6
    rcpu = (server_cpu(redis_pid) - rcpu) / calls * 1e6
    queue = iter(range(calls))

    async def worker() -> None:
        for i in queue:
            await op(i)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return cpu, wall, rcpu, calls / (time.perf_counter() - start)


async def gateway_call_cpu(calls: int) -> float:
    provider = mock_provider(
        "mock", "mock-bench", reply="a reply of about a dozen words to relay back"
    )
    config = make_config(provider, telemetry={"metrics": {"address": "127.0.0.1:0"}})
    async with running(config) as server:
        request = generate_pb2.GenerateRequest(prompt="hello")
        for _ in range(200):
            await server.stub.Generate(request)
        start = time.process_time()
        for _ in range(calls):
            await server.stub.Generate(request)
        return (time.process_time() - start) / calls * 1e6


def span(values: list[float]) -> str:
    return f"{statistics.median(values):,.1f} ({min(values):,.1f} to {max(values):,.1f})"


async def main(calls: int, rounds: int) -> None:
    binary = shutil.which("redis-server")
    results: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {}
    gateway: list[float] = []
    failed = 0
    with tempfile.TemporaryDirectory() as directory:
        redis = RedisServer(binary, Path(directory)) if binary else None
        if redis is not None:
            redis.start()
        try:
            for _ in range(rounds):
                gateway.append(await gateway_call_cpu(calls))
                for backend in ("memory", "redis") if redis else ("memory",):
                    state_config = StateConfig()
                    if backend == "redis":
                        assert redis is not None
                        state_config = StateConfig(redis=RedisConfig(url=redis.url, timeout=1.0))
                    state = build_state(state_config, CacheConfig(enabled=True, max_entries=10_000))
                    ops = operations(state)
                    hit = state.cache.key(REQUEST, provider="p", model="m", scope="*")
                    assert hit is not None
                    await state.cache.put(hit, REPLY)
                    pid = redis.pid if backend == "redis" and redis else None
                    for name, op in ops.items():
                        results.setdefault((backend, name), []).append(
                            await measure(op, calls, pid)
                        )
                    if state.guard is not None:
                        failed += sum(state.guard.errors.values())
                    await state.aclose()
                    if backend == "redis":
                        assert redis is not None
                        client = connect(
                            RedisConfig(url=redis.url, timeout=5.0, max_connections=64)
                        )

                        async def ping(_: int, client: Redis = client) -> None:
                            await client.ping()

                        results.setdefault((backend, FLOOR), []).append(
                            await measure(ping, calls, pid)
                        )
                        await client.aclose()
        finally:
            if redis is not None:
                redis.kill()
    base = statistics.median(gateway)
    print(
        f"Generate through the gateway (client and server in one process, metrics on): "
        f"{span(gateway)} CPU µs/call\n"
    )
    print(
        "| backend | operation | CPU µs/op here | vs a Generate call | wall µs/op (one at a time) "
        "| redis-server CPU µs/op | ops/s, 64 in flight |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for (backend, name), runs in results.items():
        cpu = [r[0] for r in runs]
        redis_cpu = span([r[2] for r in runs]) if backend == "redis" else "-"
        print(
            f"| {backend} | {name} | {span(cpu)} | {statistics.median(cpu) / base:.1%} "
            f"| {span([r[1] for r in runs])} | {redis_cpu} | {span([r[3] for r in runs])} |"
        )
    if not binary:
        print("\nredis-server not found: Redis rows left out")
    else:
        print(f"\nRedis calls that failed or timed out (1 s) during the run: {failed}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    uvloop.run(main(args.calls, args.rounds))
