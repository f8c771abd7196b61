"""The benchmark scenarios and the figures one measurement of one of them yields."""

from __future__ import annotations

import math
from dataclasses import dataclass

import workload
from loadspec import LoadResult, LoadSpec, connections_for, percentile
from verify import Verdict


@dataclass(frozen=True)
class Scenario:
    name: str
    rpc: workload.Rpc
    concurrency: int  # closed loop: calls in flight; open loop: at most this many
    rate: int | None = None  # open loop: calls per second

    def spec(self, duration_s: float) -> LoadSpec:
        connections = connections_for(self.concurrency)
        return LoadSpec(self.rpc, self.concurrency, connections, duration_s, self.rate)


def default_scenarios(
    concurrencies: list[int], rate: int | None, streams: int | None
) -> list[Scenario]:
    scenarios = [Scenario(f"generate-c{c}", workload.GENERATE, c) for c in concurrencies]
    if rate:
        scenarios.append(Scenario(f"generate-{rate}rps", workload.GENERATE, 256, rate))
    if streams:
        scenarios.append(Scenario(f"stream-c{streams}", workload.GENERATE_STREAM, streams))
    return scenarios


def upstream_scenarios(
    concurrency: int, rate: int | None, streams: int | None, stream_rate: int | None
) -> list[Scenario]:
    """DESIGN.md §8's measurements: Generate at `concurrency` in flight and at a fixed `rate`;
    `streams` concurrent GenerateStream calls; and streams at a fixed `stream_rate` through
    the Python client, which times each stream's first delta (time to first token)."""
    scenarios = [Scenario(f"generate-c{concurrency}", workload.GENERATE, concurrency)]
    if rate:
        scenarios.append(Scenario(f"generate-{rate}rps", workload.GENERATE, 256, rate))
    if streams:
        scenarios.append(Scenario(f"stream-c{streams}", workload.GENERATE_STREAM, streams))
    if stream_rate:
        scenarios.append(
            Scenario(f"stream-{stream_rate}rps", workload.GENERATE_STREAM, 256, stream_rate)
        )
    return scenarios


@dataclass(frozen=True)
class Figures:
    """One scenario against one target: one round, or several rounds pooled."""

    scenario: str
    target: str
    tool: str
    rounds: int
    elapsed_s: float
    ok: int
    failed: int
    calls_per_s: float
    messages_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_us_per_call: float
    loadgen_cpu_share: float  # load generator CPU seconds per second of run (1.0 = one core)
    replies_verified: bool
    problems: str
    ttft_p50_ms: float = math.nan  # streams through the Python client: to the first delta
    ttft_p99_ms: float = math.nan
    upstream_cpu_us_per_call: float = math.nan  # the upstream process, not the server
    upstream_cpu_share: float = math.nan  # upstream CPU seconds per second of run
    other_cpu_share: float = math.nan  # CPU of everything else on the machine, in cores


@dataclass
class Sample:
    """A measurement with its raw latencies, kept for pooling the rounds."""

    scenario: Scenario
    target: str
    result: LoadResult
    server_cpu_s: float
    check: Verdict
    upstream_cpu_s: float | None = None
    other_cpu_s: float = math.nan  # machine CPU minus server, upstream and load generator
    window_s: float = math.nan  # wall time over which the CPU figures were taken
    tries: int = 1  # measurements made, when other processes' CPU disturbed the first ones


def figures(samples: list[Sample]) -> Figures:
    first = samples[0]
    elapsed = sum(s.result.elapsed_s for s in samples)
    ok = sum(s.result.ok for s in samples)
    latencies = sorted(v for s in samples for v in s.result.latencies_us)
    ttft = sorted(v for s in samples for v in s.result.ttft_us)
    upstream = [s.upstream_cpu_s for s in samples if s.upstream_cpu_s is not None]
    upstream_cpu = sum(upstream) if len(upstream) == len(samples) else math.nan
    return Figures(
        scenario=first.scenario.name,
        target=first.target,
        tool=first.result.tool,
        rounds=len(samples),
        elapsed_s=round(elapsed, 3),
        ok=ok,
        failed=sum(s.result.failed for s in samples),
        calls_per_s=ok / elapsed,
        messages_per_s=sum(s.check.messages for s in samples) / elapsed,
        p50_ms=percentile(latencies, 50) / 1000,
        p99_ms=percentile(latencies, 99) / 1000,
        max_ms=(latencies[-1] / 1000) if latencies else math.nan,
        server_cpu_us_per_call=sum(s.server_cpu_s for s in samples) / max(ok, 1) * 1e6,
        loadgen_cpu_share=sum(s.result.loadgen_cpu_s for s in samples) / elapsed,
        replies_verified=all(s.check.verified for s in samples),
        problems="; ".join(s.check.detail for s in samples if s.check.detail),
        ttft_p50_ms=percentile(ttft, 50) / 1000,
        ttft_p99_ms=percentile(ttft, 99) / 1000,
        upstream_cpu_us_per_call=upstream_cpu / max(ok, 1) * 1e6,
        upstream_cpu_share=upstream_cpu / elapsed,
        other_cpu_share=sum(s.other_cpu_s for s in samples) / sum(s.window_s for s in samples),
    )
