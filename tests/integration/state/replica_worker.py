"""One replica in the exactness tests: its own process and limiter on the shared Redis.

    python -m tests.integration.state.replica_worker '{"url": ..., "scenario": ..., ...}'

Prints `ready`, waits for `go` on stdin, runs its calls all at once and prints one JSON
line of results. In the concurrency scenario it then holds its leases until `release`."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from orchestrator_server.config.state import BudgetConfig
from orchestrator_server.state import Admission, Limiter, LimitExceeded, Quota, Subject, SubjectKind
from tests.state_support import limiter_on

KEY = Subject(SubjectKind.KEY, "shared")


def quota(spec: dict[str, Any]) -> Quota:
    scenario, limit = spec["scenario"], spec["limit"]
    if scenario == "rpm":
        return Quota(KEY, rpm=limit)
    if scenario == "tpm":
        return Quota(KEY, tpm=limit)
    if scenario == "concurrency":
        return Quota(KEY, concurrency=limit)
    return Quota(KEY, budget=BudgetConfig(amount=limit, currency="USD", period="day"))


class Replica:
    def __init__(self, limiter: Limiter, spec: dict[str, Any]) -> None:
        self.limiter = limiter
        self.spec = spec
        self.quota = [quota(spec)]
        self.in_flight = 0
        self.max_in_flight = 0
        self.held: list[Admission] = []
        self.slots = asyncio.Semaphore(spec.get("parallel", spec["calls"]))

    async def call(self) -> dict[str, Any]:
        async with self.slots:
            # From before the admission is sent until its settlement is answered: at least as
            # long as Redis holds the reservation.
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                return await self._call()
            finally:
                self.in_flight -= 1

    async def _call(self) -> dict[str, Any]:
        spec = self.spec
        try:
            admission = await self.limiter.admit(
                self.quota, tokens=spec.get("estimate", 0), cost=spec.get("cost", 0.0),
                time_left=30,
            )  # fmt: skip
        except LimitExceeded as denied:
            return {"ok": False, "reason": denied.reason, "retry_after": denied.retry_after}
        if spec["scenario"] == "concurrency":
            self.held.append(admission)
            return {"ok": True}
        await self.limiter.status(self.quota)  # a round trip while the reservation is held
        await admission.settle(tokens=spec.get("actual", 0), cost=spec.get("actual_cost", 0.0))
        return {"ok": True}


async def line() -> str:
    return (await asyncio.to_thread(sys.stdin.readline)).strip()


async def main(spec: dict[str, Any]) -> None:
    async with limiter_on("redis", None, spec["url"], prefix=spec["prefix"], timeout=10) as lim:
        replica = Replica(lim, spec)
        print("ready", flush=True)
        assert await line() == "go"
        results = await asyncio.gather(*(replica.call() for _ in range(spec["calls"])))
        print(json.dumps({"results": results, "max_in_flight": replica.max_in_flight}), flush=True)
        if spec["scenario"] == "concurrency":
            assert await line() == "release"
            for admission in replica.held:
                await admission.settle()
            print("released", flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
