"""Fallback load generator: a grpc.aio client on uvloop, in its own process.

`run()` starts this file as a child process (so the client has its own interpreter and GIL)
and reads its JSON report. Payloads stay bytes end to end: no protobuf work in the client.
The client costs CPU of the same order as the server's; figures from it are a lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import uvloop

import workload
from loadspec import LoadResult, LoadSpec

TOOL = "python-grpc-aio"
MAX_CALLS = 2_000_000  # hard bound on calls per run, whatever the duration
CALL_TIMEOUT_S = 10.0
_RPCS = {rpc.name: rpc for rpc in (workload.GENERATE, workload.GENERATE_STREAM)}


@dataclass
class Tally:
    ok: int = 0
    failed: int = 0
    messages: int = 0
    latencies_us: list[int] = field(default_factory=list)

    def record(self, started: float, messages: int | None) -> None:
        if messages is None:
            self.failed += 1
            return
        self.ok += 1
        self.messages += messages
        self.latencies_us.append(int((time.perf_counter() - started) * 1e6))


class Caller:
    """One call of the benchmarked method over one of a few channels; None on failure."""

    def __init__(self, channels: list[grpc.aio.Channel], rpc: workload.Rpc) -> None:
        self._payload = rpc.body[5:]  # the serialized request, without the gRPC frame header
        self._streaming = rpc.streaming
        self._unary: list[grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]] = [
            ch.unary_unary(rpc.path) for ch in channels
        ]
        self._stream: list[grpc.aio.UnaryStreamMultiCallable[bytes, bytes]] = [
            ch.unary_stream(rpc.path) for ch in channels
        ]
        self._next = 0

    async def __call__(self) -> int | None:
        i = self._next = (self._next + 1) % len(self._unary)
        try:
            if not self._streaming:
                await self._unary[i](self._payload, timeout=CALL_TIMEOUT_S)
                return 1
            count = 0
            async for _message in self._stream[i](self._payload, timeout=CALL_TIMEOUT_S):
                count += 1
            return count
        except grpc.aio.AioRpcError:
            return None


async def closed_loop(call: Caller, concurrency: int, until: float, tally: Tally) -> None:
    budget = MAX_CALLS // concurrency

    async def worker() -> None:
        for _ in range(budget):
            if time.perf_counter() >= until:
                return
            started = time.perf_counter()
            tally.record(started, await call())

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def open_loop(call: Caller, rate: int, limit: int, until: float, tally: Tally) -> None:
    """Sends at a fixed rate from a schedule; latency counts from the scheduled send time, so
    a slow server is not hidden by a client that waits for it (no coordinated omission)."""
    in_flight: set[asyncio.Task[None]] = set()
    start, interval = time.perf_counter(), 1.0 / rate

    async def one(scheduled: float) -> None:
        tally.record(scheduled, await call())

    for n in range(MAX_CALLS):
        scheduled = start + n * interval
        if scheduled >= until:
            break
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))  # pacing, not readiness
        if len(in_flight) >= limit:
            tally.failed += 1  # the client would have to queue: count it as not served
            continue
        task = asyncio.ensure_future(one(scheduled))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.wait(in_flight, timeout=CALL_TIMEOUT_S)


async def phase(call: Caller, spec: LoadSpec, seconds: float) -> tuple[Tally, float]:
    tally = Tally()
    began = time.perf_counter()
    if spec.rate is None:
        await closed_loop(call, spec.concurrency, began + seconds, tally)
    else:
        await open_loop(call, spec.rate, spec.concurrency, began + seconds, tally)
    return tally, time.perf_counter() - began


async def measure(address: str, spec: LoadSpec, warmup_s: float) -> tuple[Tally, float]:
    options = [("grpc.use_local_subchannel_pool", 1)]
    channels = [
        grpc.aio.insecure_channel(address, options=options) for _ in range(spec.connections)
    ]
    try:
        call = Caller(channels, spec.rpc)
        await phase(call, spec, warmup_s)
        return await phase(call, spec, spec.duration_s)
    finally:
        for channel in channels:
            await channel.close()


def run(spec: LoadSpec, address: str, warmup_s: float = 0.0) -> LoadResult:
    """Runs this module in a child process and returns what it measured."""
    with tempfile.TemporaryDirectory(prefix="bench-pyload-") as tmp:
        out = Path(tmp, "result.json")
        cmd = [sys.executable, __file__, "--address", address, "--rpc", spec.rpc.name]
        cmd += ["--concurrency", str(spec.concurrency), "--connections", str(spec.connections)]
        cmd += ["--duration", str(spec.duration_s), "--warmup", str(warmup_s), "--out", str(out)]
        if spec.rate is not None:
            cmd += ["--rate", str(spec.rate)]
        before = _children_cpu()
        timeout = warmup_s + spec.duration_s + 2 * CALL_TIMEOUT_S + 15
        subprocess.run(cmd, check=True, timeout=timeout)
        cpu = _children_cpu() - before
        report = json.loads(out.read_text())
    return LoadResult(
        tool=TOOL,
        elapsed_s=report["elapsed_s"],
        ok=report["ok"],
        failed=report["failed"],
        latencies_us=sorted(report["latencies_us"]),
        loadgen_cpu_s=cpu,
        messages=report["messages"],
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--rpc", choices=sorted(_RPCS), default=workload.GENERATE.name)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rate", type=int, help="open loop: calls per second")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    spec = LoadSpec(_RPCS[args.rpc], args.concurrency, args.connections, args.duration, args.rate)
    tally, elapsed = uvloop.run(measure(args.address, spec, args.warmup))
    report: dict[str, object] = {"elapsed_s": elapsed, "ok": tally.ok, "failed": tally.failed}
    report |= {"messages": tally.messages, "latencies_us": tally.latencies_us}
    args.out.write_text(json.dumps(report))


if __name__ == "__main__":
    main()
