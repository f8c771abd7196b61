"""CPU per call that telemetry adds, measured in one process (client and server together)
as process CPU time, so other jobs on the machine hardly matter: the gateway with telemetry
off, with metrics on (the bench and `make run` setting), and with metrics and tracing on
(spans to an exporter that drops them). Alternates the setups over several rounds.

    .venv/bin/python bench/telemetry_cost.py [--calls 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import uvloop
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.v1 import generate_pb2
from orchestrator_server.config import Config
from orchestrator_server.telemetry.setup import Telemetry
from tests.helpers import make_config, mock_provider, running


class Dropping(SpanExporter):
    def export(self, spans: Sequence[object]) -> SpanExportResult:  # type: ignore[override]
        return SpanExportResult.SUCCESS


def setups() -> dict[str, tuple[Config, bool]]:
    provider = mock_provider(
        "mock", "mock-bench", reply="a reply of about a dozen words to relay back"
    )
    metrics = {"metrics": {"address": "127.0.0.1:0"}}
    return {
        "off": (make_config(provider), False),
        "metrics": (make_config(provider, telemetry=metrics), False),
        "metrics+tracing": (make_config(provider, telemetry=metrics), True),
    }


async def measure(config: Config, tracing: bool, calls: int, stream: bool) -> float:
    telemetry = Telemetry(config, span_exporter=Dropping() if tracing else None)
    async with running(config, telemetry=telemetry) as server:
        request = generate_pb2.GenerateRequest(prompt="hello")
        srequest = generate_pb2.GenerateStreamRequest(prompt="hello")
        for _ in range(200):  # warm-up
            await server.stub.Generate(request)
        start = time.process_time()
        for _ in range(calls):
            if stream:
                async for _event in server.stub.GenerateStream(srequest):
                    pass
            else:
                await server.stub.Generate(request)
        return (time.process_time() - start) / calls * 1e6


async def main(calls: int, rounds: int) -> None:
    results: dict[tuple[str, bool], list[float]] = {}
    for _ in range(rounds):
        for stream in (False, True):
            for name, (config, tracing) in setups().items():
                us = await measure(config, tracing, calls, stream)
                results.setdefault((name, stream), []).append(us)
    print("| rpc | telemetry | CPU µs/call (median) | vs off |")
    print("| --- | --- | --- | --- |")
    for stream in (False, True):
        base = statistics.median(results[("off", stream)])
        for name in setups():
            us = statistics.median(results[(name, stream)])
            rpc = "GenerateStream" if stream else "Generate"
            print(f"| {rpc} | {name} | {us:.0f} | {us / base:.3f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    uvloop.run(main(args.calls, args.rounds))
