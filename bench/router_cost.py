"""The router's own CPU cost, in process: Router.generate per call and Router.stream per chunk,
against an in-memory provider that answers at once (no HTTP, no gRPC), with no observer and
with the metrics observer; then the same calls through the call layer both doors use
(Gateway: a generation leased, the caller authorized, one more generator step per event), for
a caller that may use everything and for a key limited by a pattern. Process CPU time, so
other jobs on the machine hardly matter; alternating rounds, median and spread reported.

    .venv/bin/python bench/router_cost.py [--calls 20000] [--streams 400] [--chunks 100]
                                          [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator_server.auth.failures import AuthFailures
from orchestrator_server.config import Config
from orchestrator_server.config.models import RouterConfig
from orchestrator_server.domain.caller import Caller
from orchestrator_server.domain.chat import (
    ChatMessage,
    ChatRequest,
    Completion,
    FinishReason,
    Role,
    StreamChunk,
    Usage,
)
from orchestrator_server.gateway import Gateway
from orchestrator_server.providers.base import ProviderSpec
from orchestrator_server.providers.catalog import ModelCatalog
from orchestrator_server.reload.generation import Generation, Generations
from orchestrator_server.routing.observer import NO_OBSERVER, AttemptObserver
from orchestrator_server.routing.router import Router
from orchestrator_server.routing.types import RouteOptions
from orchestrator_server.telemetry.metrics import GatewayMetrics

REQUEST = ChatRequest((ChatMessage(Role.USER, "hello"),), request_id="bench")
ROUTE = RouteOptions()
CALLERS = {
    "gateway": Caller(),  # anonymous: no `auth`, may use everything
    "gateway, key": Caller(key_id="bench", authenticated=True, models=("instant/*",)),
}
CONFIG = Config.model_validate({"providers": [{"name": "instant", "kind": "mock", "model": "m"}]})


class Instant:
    """Answers at once; a stream of `chunks` one-word chunks, then the finish."""

    def __init__(self, chunks: int) -> None:
        self._spec = ProviderSpec(name="instant", kind="mock", model="m")
        self._completion = Completion("a short reply", "m", Usage.of(5, 3), FinishReason.STOP)
        self._chunks = [StreamChunk(" word") for _ in range(chunks)]
        self._last = StreamChunk(finish_reason=FinishReason.STOP, usage=Usage.of(5, chunks))

    @property
    def spec(self) -> ProviderSpec:
        return self._spec

    async def generate(self, request: ChatRequest, *, timeout: float) -> Completion:
        return self._completion

    async def stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamChunk]:
        for chunk in self._chunks:
            yield chunk
        yield self._last

    async def check_health(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def build(observer: AttemptObserver, chunks: int) -> Router:
    config = RouterConfig.model_validate({"strategy": "first-available"})
    return Router([Instant(chunks)], config, observer=observer)


class ThroughGateway:
    """Router's generate and stream, called the way a door calls the gateway."""

    def __init__(self, router: Router, caller: Caller) -> None:
        generations = Generations(Generation(1, CONFIG, router, {}))
        self._gateway = Gateway(generations, catalog=ModelCatalog(), auth_failures=AuthFailures())
        self._caller = caller

    async def generate(self, request: ChatRequest, route: RouteOptions) -> object:
        return await self._gateway.generate(self._caller, request, route, deadline=None)

    def stream(self, request: ChatRequest, route: RouteOptions) -> AsyncIterator[object]:
        return self._gateway.stream(self._caller, request, route, deadline=None)


async def unary(router: Router | ThroughGateway, calls: int) -> float:
    start = time.process_time()
    for _ in range(calls):
        await router.generate(REQUEST, ROUTE)
    return (time.process_time() - start) / calls * 1e6


async def stream(router: Router | ThroughGateway, streams: int, chunks: int) -> float:
    start = time.process_time()
    for _ in range(streams):
        async for _event in router.stream(REQUEST, ROUTE):
            pass
    return (time.process_time() - start) / (streams * chunks) * 1e6


async def main(args: argparse.Namespace) -> None:
    setups = {"no observer": NO_OBSERVER, "metrics": GatewayMetrics()}
    results: dict[str, dict[str, list[float]]] = {
        name: {"unary": [], "chunk": []} for name in (*setups, *CALLERS)
    }
    for _ in range(args.rounds):
        runs: list[tuple[str, Router | ThroughGateway]] = [
            (name, build(observer, args.chunks)) for name, observer in setups.items()
        ]
        runs += [
            (name, ThroughGateway(build(NO_OBSERVER, args.chunks), caller))
            for name, caller in CALLERS.items()
        ]
        for name, router in runs:
            await unary(router, 500)  # warm-up
            results[name]["unary"].append(await unary(router, args.calls))
            results[name]["chunk"].append(await stream(router, args.streams, args.chunks))
    print(f"router CPU, median of {args.rounds} rounds (min-max); python {sys.version.split()[0]}")
    for name, figures in results.items():
        for what, unit in (("unary", "us/call"), ("chunk", "us/chunk")):
            values = figures[what]
            print(
                f"  {name:12s} {what:6s} {statistics.median(values):7.2f} {unit}"
                f"  ({min(values):.2f}-{max(values):.2f})"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--streams", type=int, default=400)
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    uvloop.run(main(parser.parse_args()))
