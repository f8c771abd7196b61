"""Limits hold exactly across replicas: several OS processes, each with its own limiter and
Redis connections, call at once against one real redis-server."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.state.replica_worker import quota
from tests.redis_server import RedisServer
from tests.state_support import limiter_on

ROOT = Path(__file__).resolve().parents[3]
CALLS = 100
STEP_TIMEOUT = 60  # bound on each step of the replicas (start, calls, release)
_prefixes = itertools.count()


class Replicas:
    def __init__(self, spec: dict[str, Any], count: int) -> None:
        self.spec = spec
        self.count = count
        self.processes: list[asyncio.subprocess.Process] = []

    async def start(self) -> None:
        share, extra = divmod(self.spec["calls"], self.count)
        for i in range(self.count):
            spec = {**self.spec, "calls": share + (1 if i < extra else 0)}
            self.processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "tests.integration.state.replica_worker",
                    json.dumps(spec),
                    cwd=ROOT,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
            )
        assert await self.lines() == ["ready"] * self.count

    async def say(self, word: str) -> None:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(f"{word}\n".encode())
            await process.stdin.drain()

    async def lines(self) -> list[str]:
        async def one(process: asyncio.subprocess.Process) -> str:
            assert process.stdout is not None
            return (await process.stdout.readline()).decode().strip()

        async with asyncio.timeout(STEP_TIMEOUT):
            return list(await asyncio.gather(*(one(p) for p in self.processes)))

    async def run(self) -> tuple[list[dict[str, Any]], int]:
        """Every call's result, and the most calls that were in flight at once (an upper
        bound: the sum of each replica's most)."""
        await self.say("go")
        reports = [json.loads(line) for line in await self.lines()]
        results = [r for report in reports for r in report["results"]]
        return results, sum(report["max_in_flight"] for report in reports)

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.kill()
            await process.wait()


async def replicas(redis: RedisServer, count: int, **spec: Any) -> Replicas:
    made = Replicas(
        {"url": redis.url, "prefix": f"rep{next(_prefixes)}:", "calls": CALLS, **spec}, count
    )
    await made.start()
    return made


async def status(redis: RedisServer, prefix: str, spec: dict[str, Any]) -> tuple[float, float]:
    async with limiter_on("redis", None, redis.url, prefix=prefix) as limiter:
        (state,) = await limiter.status([quota(spec)])
    (limit,) = state.limits
    return limit.used, limit.reserved


@pytest.mark.parametrize("count", [2, 3])
async def test_rpm_admits_exactly_the_limit_over_replicas(
    redis_srv: RedisServer, count: int
) -> None:
    group = await replicas(redis_srv, count, scenario="rpm", limit=30)
    try:
        results, _ = await group.run()
    finally:
        await group.stop()
    assert len(results) == CALLS
    admitted = [r for r in results if r["ok"]]
    denied = [r for r in results if not r["ok"]]
    assert len(admitted) == 30
    assert {r["reason"] for r in denied} == {"RATE_LIMITED"}
    assert all(0 < r["retry_after"] <= 60 for r in denied)
    used, _ = await status(redis_srv, group.spec["prefix"], group.spec)
    assert used == 30


@pytest.mark.parametrize(
    ("scenario", "spec", "reason"),
    [
        # Each call reserves 100 tokens and uses 120: every settlement overshoots its estimate.
        ("tpm", {"limit": 3000, "estimate": 100, "actual": 120}, "TOKEN_LIMITED"),
        # The same with money: 0.010 reserved, 0.012 spent, a daily budget of 0.30.
        ("budget", {"limit": 0.30, "cost": 0.010, "actual_cost": 0.012}, "BUDGET_EXCEEDED"),
    ],
)
async def test_overshoot_is_bounded_by_the_reservations_in_flight(
    redis_srv: RedisServer, scenario: str, spec: dict[str, Any], reason: str
) -> None:
    group = await replicas(redis_srv, 3, scenario=scenario, parallel=4, **spec)
    try:
        results, in_flight = await group.run()
    finally:
        await group.stop()
    admitted = sum(r["ok"] for r in results)
    assert {r["reason"] for r in results if not r["ok"]} == {reason}
    estimate = spec.get("estimate") or spec["cost"]
    actual = spec.get("actual") or spec["actual_cost"]
    limit = spec["limit"]
    used, reserved = await status(redis_srv, group.spec["prefix"], group.spec)
    assert reserved == 0  # every call settled
    assert used == pytest.approx(admitted * actual)
    # Admissions never exceed the limit with estimates; only the excess of calls that were in
    # flight together when the last one was admitted can push past it.
    assert used <= limit + in_flight * (actual - estimate) + 1e-9
    assert in_flight <= 12
    # And the limiter did not refuse early: the last denial saw too little room for one more.
    assert used + estimate > limit


async def test_concurrency_admits_exactly_the_limit_over_replicas(
    redis_srv: RedisServer,
) -> None:
    group = await replicas(redis_srv, 3, scenario="concurrency", limit=5, calls=30)
    try:
        results, _ = await group.run()  # every admitted call holds its lease
        admitted = sum(r["ok"] for r in results)
        assert admitted == 5
        assert {r["reason"] for r in results if not r["ok"]} == {"CONCURRENCY_LIMITED"}
        in_use, _ = await status(redis_srv, group.spec["prefix"], group.spec)
        assert in_use == 5
        await group.say("release")
        assert await group.lines() == ["released"] * 3
    finally:
        await group.stop()
    in_use, _ = await status(redis_srv, group.spec["prefix"], group.spec)
    assert in_use == 0
