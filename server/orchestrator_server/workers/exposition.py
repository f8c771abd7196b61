"""One Prometheus scrape of every worker: each worker's exposition, every sample labelled with
`worker="<index>"`, families merged (HELP and TYPE once), plus the supervisor's own series.

Why a label and not sums: a counter summed over workers drops when a worker restarts (its
successor counts from zero), and Prometheus would read that drop as a reset and count the
whole remaining total again in rate() and increase(). Per worker, a restart is an ordinary
reset of that worker's series, which rate() handles; `sum without (worker)` gives the totals.
The label's values are the indexes 0..N-1: bounded by configuration, never by traffic.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

WORKER_LABEL = "worker"


class _Families:
    """A collector handing prometheus_client's renderer the families built for one scrape."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def merge(expositions: Mapping[str, str], own: list[Metric] | None = None) -> bytes:
    """`expositions`: worker index -> that worker's text exposition. Returns the merged text
    exposition (the same format the workers serve)."""
    families: dict[str, Metric] = {}
    for worker, text in expositions.items():
        for family in text_string_to_metric_families(text):
            merged = families.get(family.name)
            if merged is None:
                merged = families[family.name] = Metric(
                    family.name, family.documentation, family.type, family.unit
                )
            merged.samples.extend(
                sample._replace(labels={**sample.labels, WORKER_LABEL: worker})
                for sample in family.samples
            )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families([*(own or []), *families.values()]))
    return bytes(generate_latest(registry))


def supervisor_families(
    count: int, up: Mapping[str, bool], restarts: Mapping[str, int]
) -> list[Metric]:
    """What only the supervisor knows: how many workers there should be, which of them
    answered this scrape, and how often each was restarted."""
    workers = GaugeMetricFamily("orchestrator_workers", "Worker processes configured")
    workers.add_metric([], count)
    answered = GaugeMetricFamily(
        "orchestrator_worker_up",
        "1 when the worker's series are in this scrape, 0 when it did not answer",
        labels=[WORKER_LABEL],
    )
    restarted = CounterMetricFamily(
        "orchestrator_worker_restarts",
        "Worker processes started again after one exited unasked",
        labels=[WORKER_LABEL],
    )
    for worker in sorted(up, key=int):
        answered.add_metric([worker], 1.0 if up[worker] else 0.0)
        restarted.add_metric([worker], restarts.get(worker, 0))
    return [workers, answered, restarted]
