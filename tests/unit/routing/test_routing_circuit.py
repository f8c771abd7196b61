"""CircuitBreaker: closed -> open -> half-open (one probe) -> closed, and back off on failure."""

from __future__ import annotations

import pytest

from orchestrator_server.config.models import CircuitBreakerConfig
from orchestrator_server.routing.circuit import CircuitBreaker
from orchestrator_server.routing.types import CircuitState, HealthClass

from .fakes import FakeClock


def make_breaker(
    clock: FakeClock, cooldown: float = 30.0, max_cooldown: float = 100.0
) -> CircuitBreaker:
    return CircuitBreaker(
        CircuitBreakerConfig(cooldown=cooldown, max_cooldown=max_cooldown), clock=clock
    )


def opened(clock: FakeClock, **config: float) -> CircuitBreaker:
    breaker = make_breaker(clock, **config)
    assert breaker.record_failure(probe=False, health=HealthClass.UNHEALTHY)
    return breaker


@pytest.mark.parametrize("health", [HealthClass.HEALTHY, HealthClass.DEGRADED])
def test_failures_of_a_provider_that_is_not_unhealthy_keep_it_closed(health: HealthClass) -> None:
    breaker = make_breaker(FakeClock())
    assert not breaker.record_failure(probe=False, health=health)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow()


def test_open_refuses_until_the_cooldown_then_admits_exactly_one_probe() -> None:
    clock = FakeClock()
    breaker = opened(clock)
    assert breaker.state is CircuitState.OPEN
    assert not breaker.allow()
    assert not breaker.may_allow()
    assert breaker.seconds_until_probe() == pytest.approx(30.0)
    clock.advance(29.9)
    assert not breaker.allow()
    assert breaker.seconds_until_probe() == pytest.approx(0.1)
    clock.advance(0.1)
    assert breaker.may_allow()
    assert breaker.allow()  # the probe
    assert breaker.state is CircuitState.HALF_OPEN
    assert not breaker.allow()  # everyone else skips it while the probe runs
    assert not breaker.may_allow()
    assert breaker.record_success(probe=True)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow()
    assert breaker.allow()


def test_failed_probe_reopens_with_doubled_cooldown_up_to_the_cap() -> None:
    clock = FakeClock()
    breaker = opened(clock, cooldown=30.0, max_cooldown=100.0)
    waits = []
    for _ in range(3):
        clock.advance(breaker.seconds_until_probe())
        assert breaker.allow()
        assert breaker.record_failure(probe=True, health=HealthClass.HEALTHY)
        assert breaker.state is CircuitState.OPEN
        waits.append(breaker.seconds_until_probe())
    assert waits == [60.0, 100.0, 100.0]
    # A successful close resets the cooldown.
    clock.advance(100.0)
    assert breaker.allow()
    assert breaker.record_success(probe=True)
    assert breaker.record_failure(probe=False, health=HealthClass.UNHEALTHY)
    assert breaker.seconds_until_probe() == 30.0


def test_cancelled_probe_frees_the_slot_without_changing_state() -> None:
    clock = FakeClock()
    breaker = opened(clock)
    clock.advance(30.0)
    assert breaker.allow()
    breaker.release(probe=True)
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allow()


def test_late_results_of_calls_from_before_the_opening_are_ignored() -> None:
    clock = FakeClock()
    breaker = opened(clock)
    assert not breaker.record_failure(probe=False, health=HealthClass.UNHEALTHY)
    assert breaker.seconds_until_probe() == 30.0  # not extended
    assert not breaker.record_success(probe=False)
    assert breaker.state is CircuitState.OPEN
    clock.advance(30.0)
    assert breaker.allow()
    assert not breaker.record_success(probe=False)  # a straggler, not the probe
    assert not breaker.record_failure(probe=False, health=HealthClass.UNHEALTHY)
    assert breaker.state is CircuitState.HALF_OPEN
    breaker.release(probe=False)
    assert not breaker.allow()  # the probe still holds the slot
