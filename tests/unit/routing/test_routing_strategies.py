"""The seven strategies: the pick, and the fallback order behind it."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import get_args

import pytest

from orchestrator_server.config.models import StrategyName
from orchestrator_server.routing.strategies import build_strategies
from orchestrator_server.routing.types import HealthClass

H, D, U = HealthClass.HEALTHY, HealthClass.DEGRADED, HealthClass.UNHEALTHY


@dataclass(frozen=True)
class Item:
    name: str
    weight: float = 1.0
    price: float = 0.0
    rolling: float | None = None
    state: HealthClass = HealthClass.HEALTHY

    def latency(self) -> float | None:
        return self.rolling

    def health(self) -> HealthClass:
        return self.state


def names(items: list[Item]) -> list[str]:
    return [i.name for i in items]


def order(strategy: StrategyName, items: list[Item], seed: int = 1) -> list[str]:
    return names(build_strategies(random.Random(seed))[strategy].order(items))


def test_every_strategy_name_has_a_strategy() -> None:
    assert set(build_strategies(random.Random())) == set(get_args(StrategyName))


@pytest.mark.parametrize("strategy", get_args(StrategyName))
@pytest.mark.parametrize("count", [0, 1])
def test_trivial_lists(strategy: StrategyName, count: int) -> None:
    items = [Item("a")][:count]
    assert order(strategy, items) == names(items)


@pytest.mark.parametrize(
    ("strategy", "items", "expected"),
    [
        ("first-available", [Item("a", rolling=9), Item("b", rolling=1)], ["a", "b"]),
        (
            "best-available",
            [Item("a", rolling=0.1, state=D), Item("b", rolling=0.5), Item("c", rolling=0.2)],
            ["c", "b", "a"],
        ),
        (  # no latency data sorts as if instant, so it is not starved
            "best-available",
            [Item("a", rolling=0.1), Item("b"), Item("c", rolling=0.1, state=U)],
            ["b", "a", "c"],
        ),
        (  # ties keep configured order
            "best-available",
            [Item("a", rolling=0.2), Item("b", rolling=0.2), Item("c", rolling=0.2)],
            ["a", "b", "c"],
        ),
        (
            "lowest-latency",
            [Item("a", rolling=0.3), Item("b", rolling=0.1), Item("c"), Item("d", rolling=0.2)],
            ["c", "b", "d", "a"],
        ),
        (  # health plays no part
            "lowest-latency",
            [Item("a", rolling=0.3), Item("b", rolling=0.1, state=U)],
            ["b", "a"],
        ),
        (
            "cheapest",
            [
                Item("a", price=3.0),
                Item("b", price=1.0, rolling=0.5),
                Item("c", price=1.0, rolling=0.2),
                Item("d", price=2.0),
            ],
            ["c", "b", "d", "a"],
        ),
        ("cheapest", [Item("a", price=1.0), Item("b", price=1.0)], ["a", "b"]),
    ],
)
def test_deterministic_orders(
    strategy: StrategyName, items: list[Item], expected: list[str]
) -> None:
    assert order(strategy, items) == expected


def test_round_robin_rotates_the_start() -> None:
    strategy = build_strategies(random.Random())["round-robin"]
    items = [Item("a"), Item("b"), Item("c")]
    assert [names(strategy.order(items)) for _ in range(4)] == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
        ["a", "b", "c"],
    ]


def test_random_shuffles_reproducibly() -> None:
    items = [Item(n) for n in "abcd"]
    strategy = build_strategies(random.Random(5))["random"]
    orders = [names(strategy.order(items)) for _ in range(400)]
    assert all(sorted(o) == ["a", "b", "c", "d"] for o in orders)
    firsts = Counter(o[0] for o in orders)
    assert set(firsts) == {"a", "b", "c", "d"}
    assert min(firsts.values()) > 60
    again = build_strategies(random.Random(5))["random"]
    assert [names(again.order(items)) for _ in range(400)] == orders


def test_weighted_picks_in_proportion_and_puts_weight_zero_last() -> None:
    items = [Item("zero", weight=0.0), Item("a", weight=1.0), Item("b", weight=3.0)]
    strategy = build_strategies(random.Random(11))["weighted"]
    orders = [names(strategy.order(items)) for _ in range(4000)]
    assert all(o[-1] == "zero" for o in orders)
    share_b = sum(o[0] == "b" for o in orders) / len(orders)
    assert share_b == pytest.approx(0.75, abs=0.03)


def test_weighted_all_zero_keeps_configured_order() -> None:
    items = [Item("a", weight=0.0), Item("b", weight=0.0)]
    assert order("weighted", items) == ["a", "b"]
