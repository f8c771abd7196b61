"""What a load generator is asked to do and what it reports, whichever tool runs it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from workload import Rpc


@dataclass(frozen=True)
class LoadSpec:
    """Closed loop (`rate` None): `concurrency` calls always in flight over `connections`.
    Open loop: `rate` calls per second in total, at most `concurrency` in flight. With `calls`
    (h2load, closed loop) the run ends after that many calls instead of after `duration_s`."""

    rpc: Rpc
    concurrency: int
    connections: int
    duration_s: float
    rate: int | None = None
    calls: int | None = None


@dataclass
class LoadResult:
    tool: str
    elapsed_s: float
    ok: int
    failed: int
    latencies_us: list[int] = field(repr=False)
    loadgen_cpu_s: float
    data_bytes: int | None = None  # response body bytes (h2load), for the reply check
    messages: int | None = None  # stream messages counted by the client (python)
    ttft_us: list[int] = field(default_factory=list, repr=False)  # streams, python client


def connections_for(concurrency: int, max_connections: int = 4) -> int:
    """Calls are spread over a few HTTP/2 connections, as from a handful of client processes."""
    return max(1, min(concurrency, max_connections))


def percentile(sorted_values: list[int], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted values; NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return float(sorted_values[rank - 1])
