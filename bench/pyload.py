"""Fallback load generator: a grpc.aio client on uvloop, in its own process.

`run()` starts this file as a child process (so the client has its own interpreter and GIL),
which warms up, tells the parent it is ready (so the parent can take its snapshots), measures,
says it is done, and writes a JSON report; its CPU is its own, over the measured phase.
Payloads stay bytes end to end: no protobuf work in the client. The client costs CPU of the
same order as the server's; figures from it are a lower bound.
For streams it also times the first delta (time to first token): it tells a delta from the
start and end events by the first byte of the message (field 2 of GenerateStreamResponse,
length-delimited: 0x12), still without parsing it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import grpc
import uvloop

import workload
from loadspec import LoadResult, LoadSpec

TOOL = "python-grpc-aio"
MAX_CALLS = 2_000_000  # hard bound on calls per run, whatever the duration
CALL_TIMEOUT_S = 10.0
MAX_STREAM_MESSAGES = 100_000  # per call
MAX_OUTPUT_READS = 1000  # reads of the child's stdout while waiting for one line
STARTUP_S = 15.0  # the child's start-up and exit, at most
READY, DONE = "READY", "DONE"
_DELTA_FIRST_BYTE = b"\x12"  # GenerateStreamResponse.delta: field 2, wire type 2
_RPCS = {rpc.name: rpc for rpc in (workload.GENERATE, workload.GENERATE_STREAM)}

Outcome = tuple[int, float | None]  # messages received, when the first delta came (streams)


@dataclass
class Tally:
    ok: int = 0
    failed: int = 0
    messages: int = 0
    latencies_us: list[int] = field(default_factory=list)
    ttft_us: list[int] = field(default_factory=list)  # streams: to the first delta

    def record(self, started: float, outcome: Outcome | None) -> None:
        if outcome is None:
            self.failed += 1
            return
        self.ok += 1
        messages, first_delta_at = outcome
        self.messages += messages
        self.latencies_us.append(int((time.perf_counter() - started) * 1e6))
        if first_delta_at is not None:
            self.ttft_us.append(int((first_delta_at - started) * 1e6))


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

    async def __call__(self) -> Outcome | None:
        i = self._next = (self._next + 1) % len(self._unary)
        try:
            if not self._streaming:
                await self._unary[i](self._payload, timeout=CALL_TIMEOUT_S)
                return 1, None
            count = 0
            first_delta_at = None
            async for message in self._stream[i](self._payload, timeout=CALL_TIMEOUT_S):
                count += 1
                if first_delta_at is None and message[:1] == _DELTA_FIRST_BYTE:
                    first_delta_at = time.perf_counter()
                if count >= MAX_STREAM_MESSAGES:
                    return None
            return count, first_delta_at
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


class Window(Protocol):
    """Called by the parent right before and right after the measured phase (for its own
    snapshots of the server's CPU and counters)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


async def measure(
    address: str, spec: LoadSpec, warmup_s: float, handshake: bool
) -> tuple[Tally, float, float]:
    """Warm-up, then (with `handshake`) READY on stdout and a line on stdin before the measured
    phase, DONE after it. Returns the tally, its wall time and this process's CPU time."""
    options = [("grpc.use_local_subchannel_pool", 1)]
    channels = [
        grpc.aio.insecure_channel(address, options=options) for _ in range(spec.connections)
    ]
    try:
        call = Caller(channels, spec.rpc)
        await phase(call, spec, warmup_s)
        if handshake:
            print(READY, flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        cpu = _own_cpu()
        tally, elapsed = await phase(call, spec, spec.duration_s)
        cpu = _own_cpu() - cpu
        if handshake:
            print(DONE, flush=True)
        return tally, elapsed, cpu
    finally:
        for channel in channels:
            await channel.close()


def run(
    spec: LoadSpec, address: str, warmup_s: float = 0.0, window: Window | None = None
) -> LoadResult:
    """Runs this module in a child process and returns what it measured. The warm-up runs in
    the same process, right before the measured phase; `window` brackets the latter."""
    with tempfile.TemporaryDirectory(prefix="bench-pyload-") as tmp:
        out = Path(tmp, "result.json")
        cmd = [sys.executable, __file__, "--address", address, "--rpc", spec.rpc.name]
        cmd += ["--concurrency", str(spec.concurrency), "--connections", str(spec.connections)]
        cmd += ["--duration", str(spec.duration_s), "--warmup", str(warmup_s), "--out", str(out)]
        cmd += ["--handshake"]
        if spec.rate is not None:
            cmd += ["--rate", str(spec.rate)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            lines = _Lines(proc)
            lines.expect(READY, timeout=warmup_s + 2 * CALL_TIMEOUT_S + STARTUP_S)
            if window is not None:
                window.start()
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
            lines.expect(DONE, timeout=spec.duration_s + 2 * CALL_TIMEOUT_S)
            if window is not None:
                window.stop()
            if proc.wait(timeout=STARTUP_S) != 0:
                raise subprocess.CalledProcessError(proc.returncode, cmd)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        report = json.loads(out.read_text())
    return LoadResult(
        tool=TOOL,
        elapsed_s=report["elapsed_s"],
        ok=report["ok"],
        failed=report["failed"],
        latencies_us=sorted(report["latencies_us"]),
        loadgen_cpu_s=report["cpu_s"],
        messages=report["messages"],
        ttft_us=sorted(report["ttft_us"]),
    )


class _Lines:
    """Lines from a child's stdout, each awaited with a timeout."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self._proc, self._fd, self._buffer = proc, proc.stdout.fileno(), b""

    def expect(self, line: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        wanted = line.encode()
        for _ in range(MAX_OUTPUT_READS):
            while b"\n" in self._buffer:
                got, self._buffer = self._buffer.split(b"\n", 1)
                if got.strip() == wanted:
                    return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{TOOL}: no {line} within {timeout:.0f} s")
            readable, _, _ = select.select([self._fd], [], [], remaining)
            if readable:
                chunk = os.read(self._fd, 4096)
                if not chunk:
                    code = self._proc.wait(timeout=STARTUP_S)
                    raise RuntimeError(f"{TOOL} exited with {code} before {line}")
                self._buffer += chunk
        raise RuntimeError(f"{TOOL}: too much output before {line}")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
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
    parser.add_argument("--handshake", action="store_true", help="READY/go/DONE with the parent")
    args = parser.parse_args(argv)
    spec = LoadSpec(_RPCS[args.rpc], args.concurrency, args.connections, args.duration, args.rate)
    tally, elapsed, cpu = uvloop.run(measure(args.address, spec, args.warmup, args.handshake))
    report: dict[str, object] = {"elapsed_s": elapsed, "ok": tally.ok, "failed": tally.failed}
    report["cpu_s"] = cpu
    report |= {"messages": tally.messages, "latencies_us": tally.latencies_us}
    report |= {"ttft_us": tally.ttft_us}
    args.out.write_text(json.dumps(report))


if __name__ == "__main__":
    main()
