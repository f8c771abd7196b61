"""Router.generate: strategies, fallback, retries, deadlines, cancellation, circuits."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from orchestrator_server.domain.attempts import AttemptOutcome
from orchestrator_server.domain.errors import (
    AllProvidersFailed,
    AllRateLimited,
    DeadlineExceeded,
    ErrorKind,
    NotFound,
    ProviderError,
    ProviderRejectedRequest,
    ServerShuttingDown,
)
from orchestrator_server.providers.base import Price
from orchestrator_server.routing.types import CircuitState, HealthClass, RouteOptions

from .fakes import HANG, REQUEST, FakeClock, FakeSleep, ScriptedProvider, mock, router

ANY = RouteOptions()
FAILED, SKIPPED, CANCELLED, SUCCESS = (
    AttemptOutcome.FAILED,
    AttemptOutcome.SKIPPED,
    AttemptOutcome.CANCELLED,
    AttemptOutcome.SUCCESS,
)


def down(
    kind: ErrorKind = ErrorKind.UNAVAILABLE, retry_after: float | None = None
) -> ProviderError:
    return ProviderError(kind, f"upstream says {kind.value}", retry_after=retry_after)


def trail(error: BaseException) -> list[tuple[str, AttemptOutcome, str]]:
    assert isinstance(
        error,
        AllProvidersFailed | DeadlineExceeded | ProviderRejectedRequest | ServerShuttingDown,
    )
    return [(a.provider, a.outcome, a.error_code) for a in error.attempts]


async def test_serves_from_the_first_provider() -> None:
    clock = FakeClock()
    a = ScriptedProvider("a", clock=clock, takes=0.25, price=Price(1.0, 2.0, "EUR"))
    r = router(a, ScriptedProvider("b"), clock=clock)
    result = await r.generate(REQUEST, ANY)
    assert (result.text, result.provider, result.model) == ("a answers", "a", "a-model")
    assert result.usage.total_tokens == 30
    assert result.cost == pytest.approx((10 * 1.0 + 20 * 2.0) / 1000)
    assert result.currency == "EUR"
    assert result.latency == pytest.approx(0.25)
    assert [(x.provider, x.outcome, x.latency) for x in result.attempts] == [("a", SUCCESS, 0.25)]
    snap = r.snapshot()[0]
    assert (snap.requests_total, snap.requests_ok, snap.prompt_tokens, snap.completion_tokens) == (
        1,
        1,
        10,
        20,
    )
    assert snap.cost == pytest.approx(0.05)
    assert snap.average_latency == pytest.approx(0.25)
    assert snap.in_flight == 0


async def test_model_from_the_route_reaches_the_provider() -> None:
    a = ScriptedProvider("a")
    result = await router(a).generate(REQUEST, RouteOptions(model="a/custom"))
    assert a.requests[0].model == "custom"
    assert result.model == "custom"
    assert a.requests[0].messages == REQUEST.messages


async def test_falls_back_and_reports_the_trail() -> None:
    a = ScriptedProvider("a", down(ErrorKind.UNAVAILABLE))
    b = ScriptedProvider("b", down(ErrorKind.AUTH))
    c = ScriptedProvider("c")
    result = await router(a, b, c).generate(REQUEST, ANY)
    assert result.provider == "c"
    assert [(x.provider, x.outcome, x.error_code) for x in result.attempts] == [
        ("a", FAILED, "unavailable"),
        ("b", FAILED, "auth"),
        ("c", SUCCESS, ""),
    ]
    assert result.attempts[0].message == "upstream says unavailable"


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("first-available", ["a", "b", "c"]),
        ("lowest-latency", ["c", "b", "a"]),  # c has no data yet, b is faster than a
        ("best-available", ["c", "b", "a"]),
        ("cheapest", ["b", "a", "c"]),
        ("round-robin", ["a", "b", "c"]),
    ],
)
async def test_strategy_orders_pick_and_fallback(strategy: Any, expected: list[str]) -> None:
    clock = FakeClock()
    fail = down()
    a = ScriptedProvider("a", None, otherwise=fail, clock=clock, takes=0.3, price=Price(2, 2))
    b = ScriptedProvider("b", None, otherwise=fail, clock=clock, takes=0.1, price=Price(1, 1))
    c = ScriptedProvider("c", otherwise=fail, price=Price(3, 3))
    r = router(a, b, c, clock=clock)
    for name in ("a", "b"):  # latency data for a and b only
        await r.generate(REQUEST, RouteOptions(provider=name))
    with pytest.raises(AllProvidersFailed) as caught:
        await r.generate(REQUEST, RouteOptions(strategy=strategy))
    assert [x.provider for x in caught.value.attempts] == expected


async def test_round_robin_moves_the_pick() -> None:
    providers = [ScriptedProvider(n) for n in "abc"]
    r = router(*providers, strategy="round-robin")
    picks = [(await r.generate(REQUEST, ANY)).provider for _ in range(4)]
    assert picks == ["a", "b", "c", "a"]


async def test_weighted_and_random_try_every_candidate_once() -> None:
    fail = down()
    providers = [
        ScriptedProvider("a", otherwise=fail, weight=0.0),
        ScriptedProvider("b", otherwise=fail, weight=1.0),
        ScriptedProvider("c", otherwise=fail, weight=5.0),
    ]
    r = router(*providers)
    for strategy, last in (("weighted", "a"), ("random", None)):
        with pytest.raises(AllProvidersFailed) as caught:
            await r.generate(REQUEST, RouteOptions(strategy=strategy))  # type: ignore[arg-type]
        order = [x.provider for x in caught.value.attempts]
        assert sorted(order) == ["a", "b", "c"]
        if last is not None:
            assert order[-1] == last


@pytest.mark.parametrize(
    ("route", "config"),
    [
        (RouteOptions(allow_fallback=False), {}),
        (RouteOptions(), {"fallback": False}),
        (RouteOptions(provider="a"), {}),
    ],
)
async def test_without_fallback_only_the_first_is_tried(
    route: RouteOptions, config: dict[str, Any]
) -> None:
    a = ScriptedProvider("a", down(), down(), retries=1)
    b = ScriptedProvider("b")
    with pytest.raises(AllProvidersFailed) as caught:
        await router(a, b, **config).generate(REQUEST, route)
    assert trail(caught.value) == [("a", FAILED, "unavailable")] * 2  # its retries still apply
    assert b.calls == 0


async def test_without_fallback_an_open_circuit_is_skipped_not_failed_over() -> None:
    clock = FakeClock()
    a = ScriptedProvider("a", down())
    b = ScriptedProvider("b")
    r = router(a, b, clock=clock, health={"consecutive_failures": 1})
    with pytest.raises(AllProvidersFailed):
        await r.generate(REQUEST, RouteOptions(allow_fallback=False))
    # a's circuit is open now: no call to a is made, so b is the first candidate called.
    result = await r.generate(REQUEST, RouteOptions(allow_fallback=False))
    assert result.provider == "b"
    assert [(x.provider, x.outcome, x.error_code) for x in result.attempts] == [
        ("a", SKIPPED, "circuit_open"),
        ("b", SUCCESS, ""),
    ]


async def test_retry_honours_retry_after() -> None:
    clock = FakeClock()
    sleep = FakeSleep(clock)
    limited = down(ErrorKind.RATE_LIMITED, retry_after=0.5)
    a = ScriptedProvider("a", limited, limited, retries=2)
    result = await router(a, clock=clock, sleep=sleep).generate(REQUEST, ANY)
    assert result.provider == "a"
    assert sleep.calls == [0.5, 0.5]
    assert [(x.outcome, x.retry) for x in result.attempts] == [
        (FAILED, 0),
        (FAILED, 1),
        (SUCCESS, 2),
    ]


async def test_retry_uses_jittered_backoff_without_retry_after() -> None:
    clock = FakeClock()
    sleep = FakeSleep(clock)
    a = ScriptedProvider("a", down(), down(), retries=2)
    await router(a, clock=clock, sleep=sleep, retry={"base_delay": 0.1}).generate(REQUEST, ANY)
    assert len(sleep.calls) == 2
    assert 0.0 <= sleep.calls[0] <= 0.1
    assert 0.0 <= sleep.calls[1] <= 0.2


async def test_retry_after_past_the_cap_is_not_waited_out() -> None:
    clock = FakeClock()
    sleep = FakeSleep(clock)
    a = ScriptedProvider("a", otherwise=down(ErrorKind.RATE_LIMITED, retry_after=30.0), retries=3)
    r = router(a, clock=clock, sleep=sleep, retry={"max_retry_after": 10.0})
    with pytest.raises(AllRateLimited) as caught:
        await r.generate(REQUEST, ANY)
    assert sleep.calls == []
    assert a.calls == 1
    assert caught.value.retry_after == 30.0


@pytest.mark.parametrize(("with_b", "sleeps", "served_by"), [(True, [], "b"), (False, [5.0], "a")])
async def test_long_retry_after_fails_over_when_another_candidate_exists(
    with_b: bool, sleeps: list[float], served_by: str
) -> None:
    clock = FakeClock()
    sleep = FakeSleep(clock)
    a = ScriptedProvider("a", down(ErrorKind.RATE_LIMITED, retry_after=5.0), retries=2)
    providers = [a, ScriptedProvider("b")] if with_b else [a]
    r = router(*providers, clock=clock, sleep=sleep, retry={"failover_after": 1.0})
    result = await r.generate(REQUEST, ANY)
    assert sleep.calls == sleeps
    assert result.provider == served_by


@pytest.mark.parametrize("kind", [ErrorKind.AUTH, ErrorKind.PERMISSION, ErrorKind.QUOTA])
async def test_never_retries_auth_or_billing_errors(kind: ErrorKind) -> None:
    clock = FakeClock()
    sleep = FakeSleep(clock)
    a = ScriptedProvider("a", otherwise=down(kind), retries=3)
    result = await router(a, ScriptedProvider("b"), clock=clock, sleep=sleep).generate(REQUEST, ANY)
    assert a.calls == 1
    assert sleep.calls == []
    assert result.provider == "b"


async def test_deadline_budget_is_split_across_attempts() -> None:
    clock = FakeClock()
    sleep = FakeSleep(clock)
    a = ScriptedProvider("a", otherwise=down(), clock=clock, takes=3.0, timeout=5.0, retries=2)
    b = ScriptedProvider("b", clock=clock, takes=0.5, timeout=5.0)
    r = router(a, b, clock=clock, sleep=sleep)
    result = await r.generate(REQUEST, ANY, deadline=clock.now + 10.0)
    slept = sum(sleep.calls)
    assert len(sleep.calls) == 2
    assert a.timeouts == pytest.approx([5.0, 5.0, 10.0 - 6.0 - slept])
    assert b.timeouts == pytest.approx([10.0 - 9.0 - slept])
    assert result.provider == "b"


async def test_default_deadline_is_the_request_timeout() -> None:
    a = ScriptedProvider("a", timeout=30.0)
    await router(a, request_timeout=12.0).generate(REQUEST, ANY)
    assert a.timeouts == [12.0]


async def test_spent_deadline_calls_nobody() -> None:
    clock = FakeClock()
    a = ScriptedProvider("a")
    with pytest.raises(DeadlineExceeded) as caught:
        await router(a, clock=clock).generate(REQUEST, ANY, deadline=clock.now)
    assert caught.value.attempts == ()
    assert a.calls == 0


async def test_deadline_shorter_than_the_provider_timeout_cancels_without_blame() -> None:
    clock = FakeClock()
    a = ScriptedProvider("a", HANG, timeout=30.0)
    b = ScriptedProvider("b")
    r = router(a, b, clock=clock)
    with pytest.raises(DeadlineExceeded) as caught:
        await r.generate(REQUEST, ANY, deadline=clock.now + 0.01)
    assert trail(caught.value) == [("a", CANCELLED, "deadline_exceeded")]
    assert b.calls == 0
    snap = r.snapshot()[0]
    assert (snap.requests_total, snap.requests_failed, snap.consecutive_failures) == (1, 0, 0)
    assert snap.in_flight == 0


async def test_provider_timeout_falls_back() -> None:
    slow = mock("slow", mode="timeout", spec={"timeout": 0.01, "retries": 0})
    r = router(slow, mock("fast"))
    result = await r.generate(REQUEST, ANY)
    assert result.provider == "fast"
    assert [(x.provider, x.outcome, x.error_code) for x in result.attempts] == [
        ("slow", FAILED, "timeout"),
        ("fast", SUCCESS, ""),
    ]
    assert r.snapshot()[0].requests_failed == 1


async def test_invalid_request_does_not_fall_back() -> None:
    a = mock("a", mode="invalid-request")
    b = mock("b")
    r = router(a, b)
    with pytest.raises(ProviderRejectedRequest) as caught:
        await r.generate(REQUEST, ANY)
    assert trail(caught.value) == [("a", FAILED, "invalid_request")]
    assert b.calls == 0
    snap = r.snapshot()[0]
    assert snap.health is HealthClass.HEALTHY
    assert snap.consecutive_failures == 0


async def test_cancellation_is_recorded_and_not_held_against_the_provider() -> None:
    a = ScriptedProvider("a", HANG)
    r = router(a, ScriptedProvider("b"))
    task = asyncio.create_task(r.generate(REQUEST, ANY))
    await a.hanging.wait()
    assert r.snapshot()[0].in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    snap = r.snapshot()[0]
    assert (snap.requests_total, snap.requests_ok, snap.requests_failed) == (1, 0, 0)
    assert snap.in_flight == 0
    assert snap.consecutive_failures == 0
    assert snap.last_error is None


async def test_all_rate_limited_reports_the_soonest_retry_after() -> None:
    a = ScriptedProvider("a", down(ErrorKind.RATE_LIMITED, retry_after=3.0))
    b = ScriptedProvider("b", down(ErrorKind.QUOTA))
    c = ScriptedProvider("c", down(ErrorKind.RATE_LIMITED, retry_after=2.0))
    with pytest.raises(AllRateLimited) as caught:
        await router(a, b, c).generate(REQUEST, ANY)
    assert caught.value.retry_after == 2.0
    assert [x.error_code for x in caught.value.attempts] == [
        "rate_limited",
        "quota",
        "rate_limited",
    ]


async def test_mixed_failures_are_not_all_rate_limited() -> None:
    a = ScriptedProvider("a", down(ErrorKind.RATE_LIMITED, retry_after=3.0))
    b = ScriptedProvider("b", down(ErrorKind.UNAVAILABLE))
    with pytest.raises(AllProvidersFailed) as caught:
        await router(a, b).generate(REQUEST, ANY)
    assert not isinstance(caught.value, AllRateLimited)
    assert caught.value.retry_after is None


async def test_unexpected_exception_is_logged_and_treated_as_unavailable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "token sk-live-0123456789abcdefghijklmnopqrstuv"
    a = ScriptedProvider("a", RuntimeError(secret))
    with caplog.at_level(logging.ERROR):
        result = await router(a, ScriptedProvider("b")).generate(REQUEST, ANY)
    assert result.provider == "b"
    failed = result.attempts[0]
    assert (failed.outcome, failed.error_code) == (FAILED, "unavailable")
    assert secret not in failed.message
    assert any(r.exc_info and r.exc_info[0] is RuntimeError for r in caplog.records)


async def test_circuit_opens_skips_probes_once_and_closes() -> None:
    clock = FakeClock()
    a = ScriptedProvider("a", down(), HANG, None)
    b = ScriptedProvider("b")
    r = router(
        a, b, clock=clock, health={"consecutive_failures": 1}, circuit_breaker={"cooldown": 30}
    )
    first = await r.generate(REQUEST, ANY)
    assert [x.outcome for x in first.attempts] == [FAILED, SUCCESS]
    assert r.snapshot()[0].circuit_state is CircuitState.OPEN

    second = await r.generate(REQUEST, ANY)
    assert [(x.provider, x.outcome, x.error_code) for x in second.attempts] == [
        ("a", SKIPPED, "circuit_open"),
        ("b", SUCCESS, ""),
    ]
    assert a.calls == 1

    clock.advance(30.0)
    probe = asyncio.create_task(r.generate(REQUEST, ANY))  # a's probe hangs
    await a.hanging.wait()
    assert r.snapshot()[0].circuit_state is CircuitState.HALF_OPEN
    meanwhile = await r.generate(REQUEST, ANY)
    assert [x.outcome for x in meanwhile.attempts] == [SKIPPED, SUCCESS]
    probe.cancel()  # a cancelled probe frees the slot, with no verdict
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert r.snapshot()[0].circuit_state is CircuitState.HALF_OPEN

    recovered = await r.generate(REQUEST, ANY)
    assert recovered.provider == "a"
    snap = r.snapshot()[0]
    assert snap.circuit_state is CircuitState.CLOSED
    assert snap.health is HealthClass.HEALTHY  # the old failure window was reset
    assert snap.consecutive_failures == 0


async def test_failed_probe_doubles_the_cooldown() -> None:
    clock = FakeClock()
    a = ScriptedProvider("a", otherwise=down())
    r = router(a, clock=clock, health={"consecutive_failures": 1}, circuit_breaker={"cooldown": 10})
    with pytest.raises(AllProvidersFailed):
        await r.generate(REQUEST, ANY)
    clock.advance(10.0)
    with pytest.raises(AllProvidersFailed):
        await r.generate(REQUEST, ANY)  # the probe fails
    assert a.calls == 2
    with pytest.raises(AllProvidersFailed) as caught:
        await r.generate(REQUEST, ANY)
    assert trail(caught.value) == [("a", SKIPPED, "circuit_open")]
    assert caught.value.retry_after == pytest.approx(20.0)


async def test_every_circuit_open_reports_the_soonest_probe() -> None:
    clock = FakeClock()
    a = ScriptedProvider("a", otherwise=down())
    b = ScriptedProvider("b", otherwise=down())
    r = router(
        a, b, clock=clock, health={"consecutive_failures": 1}, circuit_breaker={"cooldown": 30}
    )
    with pytest.raises(AllProvidersFailed):
        await r.generate(REQUEST, ANY)
    clock.advance(12.0)
    with pytest.raises(AllProvidersFailed) as caught:
        await r.generate(REQUEST, ANY)
    assert trail(caught.value) == [("a", SKIPPED, "circuit_open"), ("b", SKIPPED, "circuit_open")]
    assert caught.value.retry_after == pytest.approx(18.0)
    assert (a.calls, b.calls) == (1, 1)


@pytest.mark.parametrize("strategy", ["best-available", "lowest-latency"])
async def test_a_provider_without_data_is_not_starved(strategy: Any) -> None:
    clock = FakeClock()
    a = ScriptedProvider("a", clock=clock, takes=0.001)
    b = ScriptedProvider("b", clock=clock, takes=0.5)
    r = router(a, b, clock=clock, strategy=strategy)
    picks = [(await r.generate(REQUEST, ANY)).provider for _ in range(4)]
    # Neither has data: configured order. Then b, which has none, goes before a's 1 ms;
    # once both have data, the faster one wins.
    assert picks == ["a", "b", "a", "a"]


@pytest.mark.parametrize(
    ("route", "field"),
    [(RouteOptions(provider="nope"), "provider"), (RouteOptions(model="nope"), "model")],
)
async def test_unknown_names_are_not_found(route: RouteOptions, field: str) -> None:
    with pytest.raises(NotFound) as caught:
        await router(ScriptedProvider("a")).generate(REQUEST, route)
    assert caught.value.field == field


async def test_aliases_route_to_their_targets() -> None:
    a, b = ScriptedProvider("a"), ScriptedProvider("b")
    r = router(a, b, aliases={"best": ["b/b-large", "a"]})
    result = await r.generate(REQUEST, RouteOptions(model="best"))
    assert (result.provider, result.model) == ("b", "b-large")


async def test_snapshot_order_properties_and_aclose() -> None:
    providers = [ScriptedProvider(n) for n in "cab"]
    r = router(*providers, strategy="cheapest")
    assert [s.name for s in r.snapshot()] == ["c", "a", "b"]
    assert r.strategy == "cheapest"
    assert list(r.providers) == providers
    await r.aclose()
    assert all(p.closed for p in providers)


async def test_a_cut_call_ends_with_its_trail_and_blames_no_provider() -> None:
    a = ScriptedProvider("a", HANG)
    r = router(a, ScriptedProvider("b"))
    call = asyncio.create_task(r.generate(REQUEST, ANY))
    await a.hanging.wait()
    assert r.interrupt() == 1
    with pytest.raises(ServerShuttingDown) as caught:
        await call
    assert trail(caught.value) == [("a", CANCELLED, "shutdown")]
    assert not caught.value.partial
    assert call.cancelling() == 0  # the task goes on to answer, uncancelled
    snap = r.snapshot()[0]
    assert (snap.requests_total, snap.requests_failed, snap.in_flight) == (1, 0, 0)
    assert r.interrupt() == 0  # nothing in flight any more
