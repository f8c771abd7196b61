"""CPU per call that caller authentication adds, measured in one process (client and server
together) as process CPU time, like telemetry_cost.py: the server whose error border has no
authentication step at all (the code before caller keys), with it but no `auth` section
(the default), with a caller key that may use everything, and with a key limited to one
provider (so each call also resolves and checks its targets). Alternates the setups over
rounds. First, the two steps on their own (timeit): reading the call's metadata and
authenticating a key among 100, and checking a limited key's route.

    .venv/bin/python bench/auth_cost.py [--calls 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
import timeit
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.v1 import generate_pb2
from orchestrator_server import app as app_module
from orchestrator_server.api.calls import read_call
from orchestrator_server.auth.scope import authorize_route
from orchestrator_server.config import Config
from orchestrator_server.reload.build import first_generation
from orchestrator_server.routing.types import RouteOptions
from tests.helpers import bearer, caller_key, make_config, mock_provider, running

KEY = "orch_bench-caller-key-0123456789abcdef"
SETUPS = ("no auth step", "no auth", "key *", "key limited")


class _Metadata:
    """What the border reads of a call: its metadata."""

    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._metadata = metadata

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata


def _no_auth_step(*args: Any) -> None:
    """Stands in for Authentication in the 'no auth step' setup: the border gets none."""


def config(name: str) -> Config:
    provider = mock_provider(
        "mock", "mock-bench", reply="a reply of about a dozen words to relay back"
    )
    if name in ("no auth step", "no auth"):
        return make_config(provider)
    models = ("*",) if name == "key *" else ("mock/*",)
    return make_config(provider, auth={"keys": [caller_key("bench", KEY, models)]})


async def measure(name: str, calls: int, stream: bool) -> float:
    real_authentication = app_module.Authentication
    if name == "no auth step":
        app_module.Authentication = _no_auth_step  # type: ignore[misc, assignment]
    try:
        async with running(config(name)) as running_server:
            metadata = () if name in ("no auth step", "no auth") else bearer(KEY)
            request = generate_pb2.GenerateRequest(prompt="hello", model="mock/mock-bench")
            srequest = generate_pb2.GenerateStreamRequest(prompt="hello", model="mock/mock-bench")
            stub = running_server.stub
            for _ in range(200):  # warm-up
                await stub.Generate(request, metadata=metadata)
            start = time.process_time()
            for _ in range(calls):
                if stream:
                    async for _event in stub.GenerateStream(srequest, metadata=metadata):
                        pass
                else:
                    await stub.Generate(request, metadata=metadata)
            return (time.process_time() - start) / calls * 1e6
    finally:
        app_module.Authentication = real_authentication  # type: ignore[misc]


def micro() -> None:
    keys = [caller_key(f"k{i}", f"{KEY}{i}") for i in range(99)]
    keys.append(caller_key("bench", KEY, ("mock/*",)))
    cfg = make_config(mock_provider("mock", "m"), mock_provider("other", "m2"), auth={"keys": keys})
    generation = first_generation(cfg)
    table = generation.keys
    assert table is not None
    context: Any = _Metadata((("x-request-id", "abc"), *bearer(KEY), ("user-agent", "grpc")))
    now = datetime.datetime.now(datetime.UTC)
    caller = table.authenticate(KEY, now)
    route = RouteOptions(model="mock/m")

    def authenticate() -> None:
        table.authenticate(read_call(context)[2], now)

    def authorize() -> None:
        authorize_route(
            caller,
            model=route.model,
            provider="",
            targets=lambda: generation.router.targets(route),
            aliases=cfg.aliases,
        )

    print("| step | µs/call (median of 5) | min-max |")
    print("| --- | --- | --- |")
    for name, step in (
        ("read metadata, authenticate among 100 keys", authenticate),
        ("authorize, limited key", authorize),
    ):
        runs = [min(timeit.repeat(step, number=20000, repeat=3)) / 20000 * 1e6 for _ in range(5)]
        print(f"| {name} | {statistics.median(runs):.1f} | {min(runs):.1f}-{max(runs):.1f} |")
    print()


async def main(calls: int, rounds: int) -> None:
    micro()
    results: dict[tuple[str, bool], list[float]] = {}
    for _ in range(rounds):
        for stream in (False, True):
            for name in SETUPS:
                results.setdefault((name, stream), []).append(await measure(name, calls, stream))
    print("| rpc | setup | CPU µs/call (median) | min-max | vs no auth step |")
    print("| --- | --- | --- | --- | --- |")
    for stream in (False, True):
        base = statistics.median(results[("no auth step", stream)])
        for name in SETUPS:
            runs = results[(name, stream)]
            us = statistics.median(runs)
            rpc = "GenerateStream" if stream else "Generate"
            spread = f"{min(runs):.0f}-{max(runs):.0f}"
            print(f"| {rpc} | {name} | {us:.0f} | {spread} | {us / base:.3f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    uvloop.run(main(args.calls, args.rounds))
