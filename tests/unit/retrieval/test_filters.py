"""Filter semantics that the gRPC tests do not reach: numbers vs booleans, lists, depth."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator_server.domain.errors import InvalidRequest
from orchestrator_server.retrieval.filters import MAX_DEPTH, compile_filter


@pytest.mark.parametrize(
    ("spec", "metadata", "matches"),
    [
        ({"n": 3}, {"n": 3}, True),
        ({"n": 3.0}, {"n": 3}, True),  # Struct numbers are doubles
        ({"n": 1}, {"n": True}, False),
        ({"flag": True}, {"flag": 1}, False),
        ({"n": {"$in": [1, 2]}}, {"n": True}, False),
        ({"n": {"$gt": 2}}, {"n": "3"}, False),  # no comparing text with numbers
        ({"s": {"$lt": "b"}}, {"s": "a"}, True),
        ({"tags": "x"}, {"tags": ["x", "y"]}, True),
        ({"tags": {"$nin": ["z"]}}, {"tags": ["x", "y"]}, True),
        ({"v": None}, {"v": None}, True),
        ({"v": None}, {}, False),
        ({"v": {"$exists": False}}, {}, True),
        ({"v": {"$ne": 1}}, {}, True),
        ({}, {"anything": 1}, True),
    ],
)
def test_semantics(spec: dict[str, Any], metadata: dict[str, Any], matches: bool) -> None:
    assert compile_filter(spec)(metadata) is matches


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidRequest) as caught:
        compile_filter({"a": {"$in": 1}, "b": {"$wat": 2}, "c": [{"x": 1}], "$not": "x"})
    assert {v.field for v in caught.value.violations} == {
        "filter.a.$in",
        "filter.b.$wat",
        "filter.c",
        "filter.$not",
    }


def test_depth_is_bounded() -> None:
    spec: dict[str, Any] = {"a": 1}
    for _ in range(MAX_DEPTH + 1):
        spec = {"$not": spec}
    with pytest.raises(InvalidRequest, match="nested deeper"):
        compile_filter(spec)
