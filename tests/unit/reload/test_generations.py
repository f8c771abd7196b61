"""Leases on generations, and which providers a drained generation closes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator_server.config import Config
from orchestrator_server.providers.mock import MockProvider
from orchestrator_server.reload.build import fingerprint, first_generation, next_generation
from orchestrator_server.reload.generation import Generation, Generations
from tests.helpers import make_config, mock_provider


def mocks(generation: Generation) -> dict[str, MockProvider]:
    out = {}
    for p in generation.providers:
        assert isinstance(p, MockProvider)
        out[p.spec.name] = p
    return out


async def advance(generations: Generations, config: Config) -> Generation:
    new, _, _ = await next_generation(generations.current, config, preserve_metrics=True)
    generations.swap(new)
    return new


async def drained(generation: Generation) -> None:
    await asyncio.wait_for(generation.ended.wait(), 5)


async def test_idle_generation_ends_at_once_and_closes_only_what_is_gone() -> None:
    generations = Generations(first_generation(make_config(mock_provider("a"), mock_provider("b"))))
    first = generations.current
    old = mocks(first)
    second = await advance(generations, make_config(mock_provider("a"), mock_provider("c")))
    await drained(first)
    assert old["b"].closed
    assert not old["a"].closed  # unchanged: the same object serves on
    assert mocks(second)["a"] is old["a"]
    assert generations.live == (second,)


async def test_a_lease_keeps_the_generation_and_its_providers() -> None:
    generations = Generations(first_generation(make_config(mock_provider("a"))))
    first = generations.acquire()
    await advance(generations, make_config(mock_provider("b")))
    assert generations.acquire() is generations.current  # new calls get the new one
    await asyncio.sleep(0)  # let any wrongly scheduled close run (it must not)
    assert not mocks(first)["a"].closed
    assert not first.ended.is_set()
    generations.release(first)
    await drained(first)
    assert mocks(first)["a"].closed


async def test_a_provider_shared_by_a_live_generation_stays_open() -> None:
    generations = Generations(first_generation(make_config(mock_provider("a"), mock_provider("b"))))
    first = generations.acquire()
    second = await advance(generations, make_config(mock_provider("a")))
    lease = generations.acquire()
    assert lease is second
    third = await advance(generations, make_config(mock_provider("c")))
    generations.release(first)
    await drained(first)
    a = mocks(first)["a"]
    assert mocks(first)["b"].closed
    assert not a.closed  # generation 2 still runs a call on it
    generations.release(second)
    await drained(second)
    assert a.closed
    assert generations.live == (third,)


async def test_shutdown_closes_every_generation() -> None:
    generations = Generations(first_generation(make_config(mock_provider("a"))))
    first = generations.acquire()
    second = await advance(generations, make_config(mock_provider("b")))
    await generations.aclose()
    assert mocks(first)["a"].closed
    assert mocks(second)["b"].closed


def test_fingerprint_follows_the_key_and_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    entry: dict[str, Any] = {
        "name": "o",
        "kind": "openai",
        "model": "m",
        "api_key_env": "ORCH_TEST_FP_KEY",
    }
    monkeypatch.setenv("ORCH_TEST_FP_KEY", "key-1")
    one = fingerprint(make_config(entry).providers[0])
    assert fingerprint(make_config(entry).providers[0]) == one
    assert fingerprint(make_config({**entry, "timeout": 5}).providers[0]) != one
    monkeypatch.setenv("ORCH_TEST_FP_KEY", "key-2")
    two = fingerprint(make_config(entry).providers[0])
    assert two != one
    assert "key-2" not in two
