"""Cheap in-process series that the exporter turns into OpenTelemetry metric points at
scrape time.

Why not the SDK's synchronous instruments: one `Histogram.record` or `Counter.add` costs
about 7 µs (attribute hashing, locks, exemplar checks), several per request, and a series,
once recorded, can never be dropped. These cost about 0.1 µs and live in plain dicts that
`retain_providers` can prune.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Sequence

from opentelemetry.sdk.metrics.export import HistogramDataPoint, NumberDataPoint
from opentelemetry.util.types import Attributes

# Seconds: from a fast local model to a long generation.
LATENCY_BOUNDS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
)  # fmt: skip
# The GenAI semantic conventions' advice for gen_ai.client.operation.duration and TTFT.
GENAI_DURATION_BOUNDS: tuple[float, ...] = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
# ... and for gen_ai.client.token.usage.
TOKEN_BOUNDS: tuple[float, ...] = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
# The gateway's own time per RPC: well under a millisecond when all is well.
OVERHEAD_BOUNDS: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip


class Histogram:
    """Explicit buckets, cumulative since creation: bucket i counts values in
    (bounds[i-1], bounds[i]], the last one everything above."""

    __slots__ = ("bounds", "count", "counts", "created", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.sum = 0.0
        self.created = time.time_ns()

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value

    def point(self, attributes: Attributes, now: int) -> HistogramDataPoint:
        # May run in the render thread while the loop observes: the count is taken from the
        # buckets copied in one step, so the two always agree.
        counts = list(self.counts)
        return HistogramDataPoint(
            attributes=attributes,
            start_time_unix_nano=self.created,
            time_unix_nano=now,
            count=sum(counts),
            sum=self.sum,
            bucket_counts=counts,
            explicit_bounds=self.bounds,
            # Not tracked (Prometheus has no use for them): the cost is on every request.
            min=0.0,
            max=0.0,
        )


class Counts:
    """Monotonic sums by one label value (a status, a token type)."""

    __slots__ = ("created", "values")

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.created = time.time_ns()

    def add(self, key: str, amount: float = 1) -> None:
        values = self.values
        values[key] = values.get(key, 0) + amount

    def points(self, label: str, attributes: dict[str, str], now: int) -> Sequence[NumberDataPoint]:
        return [
            NumberDataPoint({**attributes, label: key}, self.created, now, value)
            for key, value in list(self.values.items())  # one step: safe from another thread
        ]
