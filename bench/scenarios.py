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


@dataclass
class Sample:
    """A measurement with its raw latencies, kept for pooling the rounds."""

    scenario: Scenario
    target: str
    result: LoadResult
    server_cpu_s: float
    check: Verdict


def figures(samples: list[Sample]) -> Figures:
    first = samples[0]
    elapsed = sum(s.result.elapsed_s for s in samples)
    ok = sum(s.result.ok for s in samples)
    latencies = sorted(v for s in samples for v in s.result.latencies_us)
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
    )
