"""The routing strategies. Each orders the candidates: the first is the pick, the rest is the
fallback chain. Python's sort is stable, so ties keep the configured order everywhere.

Strategies read the candidates through the small Rankable protocol, so they can be tested
with plain records and know nothing of stats windows or providers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar

from orchestrator_server.config.models import StrategyName
from orchestrator_server.routing.types import HealthClass


class Rankable(Protocol):
    @property
    def weight(self) -> float: ...

    @property
    def price(self) -> float:
        """Price per 1,000 tokens (prompt and completion together)."""
        ...

    def latency(self) -> float | None:
        """Rolling latency in seconds, None with no recent data."""
        ...

    def health(self) -> HealthClass: ...


R = TypeVar("R", bound=Rankable)

_HEALTH_RANK = {HealthClass.HEALTHY: 0, HealthClass.DEGRADED: 1, HealthClass.UNHEALTHY: 2}


class Strategy(Protocol):
    def order(self, candidates: Sequence[R]) -> list[R]: ...


def _optimistic_latency(candidate: Rankable) -> float:
    # No data sorts as if instant, so a new or recovered provider gets traffic and data.
    latency = candidate.latency()
    return 0.0 if latency is None else latency


class RoundRobin:
    def __init__(self) -> None:
        self._turn = 0

    def order(self, candidates: Sequence[R]) -> list[R]:
        count = len(candidates)
        if count <= 1:
            return list(candidates)
        start = self._turn % count
        self._turn = (self._turn + 1) % (1 << 32)
        return [*candidates[start:], *candidates[:start]]


class Shuffle:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def order(self, candidates: Sequence[R]) -> list[R]:
        ordered = list(candidates)
        if len(ordered) > 1:
            self._rng.shuffle(ordered)
        return ordered


class FirstAvailable:
    def order(self, candidates: Sequence[R]) -> list[R]:
        return list(candidates)


class BestAvailable:
    def order(self, candidates: Sequence[R]) -> list[R]:
        if len(candidates) <= 1:
            return list(candidates)
        return sorted(candidates, key=lambda c: (_HEALTH_RANK[c.health()], _optimistic_latency(c)))


class Weighted:
    """Weighted random order without replacement (Efraimidis-Spirakis): each candidate draws
    an exponential key with rate = weight, and the smallest key goes first, so a candidate is
    picked first with probability weight / total and the fallback chain follows the same law.
    Weight 0 never wins a draw and goes last, in configured order."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def order(self, candidates: Sequence[R]) -> list[R]:
        if len(candidates) <= 1:
            return list(candidates)
        expovariate = self._rng.expovariate
        keys = [expovariate(c.weight) if c.weight > 0 else math.inf for c in candidates]
        return [candidates[i] for i in sorted(range(len(keys)), key=keys.__getitem__)]


class LowestLatency:
    def order(self, candidates: Sequence[R]) -> list[R]:
        if len(candidates) <= 1:
            return list(candidates)
        return sorted(candidates, key=_latency_no_data_first)


def _latency_no_data_first(candidate: Rankable) -> tuple[int, float]:
    latency = candidate.latency()
    return (0, 0.0) if latency is None else (1, latency)


class Cheapest:
    def order(self, candidates: Sequence[R]) -> list[R]:
        if len(candidates) <= 1:
            return list(candidates)
        return sorted(candidates, key=lambda c: (c.price, _optimistic_latency(c)))


def build_strategies(rng: random.Random) -> Mapping[StrategyName, Strategy]:
    return {
        "round-robin": RoundRobin(),
        "random": Shuffle(rng),
        "first-available": FirstAvailable(),
        "best-available": BestAvailable(),
        "weighted": Weighted(rng),
        "lowest-latency": LowestLatency(),
        "cheapest": Cheapest(),
    }
