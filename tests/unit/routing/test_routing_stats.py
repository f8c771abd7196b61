"""ProviderStats: the health class, errors ageing out, the latency rule and the counters."""

from __future__ import annotations

import random

import pytest

from orchestrator_server.config.models import HealthConfig
from orchestrator_server.domain.chat import Usage
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.providers.base import Price, ProviderSpec
from orchestrator_server.routing.stats import ProviderStats
from orchestrator_server.routing.types import CircuitState, HealthClass

from .fakes import FakeClock

USAGE = Usage.of(10, 5)


def make_stats(clock: FakeClock | None = None, **health: object) -> ProviderStats:
    return ProviderStats(
        HealthConfig.model_validate(health), clock=clock or FakeClock(), wall=lambda: 1.7e9
    )


def succeed(stats: ProviderStats, latency: float = 0.1, times: int = 1) -> None:
    for _ in range(times):
        stats.on_start()
        stats.record_success(latency, USAGE, 0.0)


def fail(stats: ProviderStats, kind: ErrorKind = ErrorKind.UNAVAILABLE, times: int = 1) -> None:
    for _ in range(times):
        stats.on_start()
        stats.record_failure(ProviderError(kind, "upstream answered 503"))


def spread(stats: ProviderStats, failures: int, total: int) -> None:
    """`failures` out of `total` outcomes, spread out so no long run of failures forms."""
    for i in range(total):
        if (i + 1) * failures // total != i * failures // total:
            fail(stats)
        else:
            succeed(stats)


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        (0, HealthClass.HEALTHY),
        (30, HealthClass.HEALTHY),  # 30% is not above the degraded threshold
        (31, HealthClass.DEGRADED),
        (60, HealthClass.DEGRADED),  # 60% is not above the unhealthy threshold
        (61, HealthClass.UNHEALTHY),
        (100, HealthClass.UNHEALTHY),
    ],
)
def test_error_rate_thresholds(failures: int, expected: HealthClass) -> None:
    stats = make_stats(consecutive_failures=1000)
    spread(stats, failures, 100)
    assert stats.error_rate() == pytest.approx(failures / 100)
    assert stats.health() is expected


@pytest.mark.parametrize(
    ("samples", "expected"),
    [(9, HealthClass.HEALTHY), (10, HealthClass.UNHEALTHY)],
)
def test_too_few_samples_count_as_healthy(samples: int, expected: HealthClass) -> None:
    stats = make_stats(min_samples=10, consecutive_failures=1000)
    fail(stats, times=samples)
    assert stats.health() is expected


@pytest.mark.parametrize(
    ("run", "expected"), [(4, HealthClass.HEALTHY), (5, HealthClass.UNHEALTHY)]
)
def test_consecutive_failures_make_unhealthy_even_with_few_samples(
    run: int, expected: HealthClass
) -> None:
    stats = make_stats(consecutive_failures=5)
    fail(stats, times=run)
    assert stats.health() is expected
    succeed(stats)
    assert stats.health() is HealthClass.HEALTHY
    assert stats.consecutive_failures == 0


def test_consecutive_failures_count_against_a_good_history() -> None:
    stats = make_stats(consecutive_failures=5)
    succeed(stats, times=95)
    fail(stats, times=5)
    assert stats.error_rate() == pytest.approx(0.05)
    assert stats.health() is HealthClass.UNHEALTHY


def test_errors_age_out() -> None:
    clock = FakeClock()
    stats = make_stats(clock, error_ttl=300.0)
    fail(stats, times=80)
    assert stats.health() is HealthClass.UNHEALTHY
    clock.advance(301.0)
    succeed(stats, times=3)
    assert stats.error_rate() == 0.0
    assert stats.health() is HealthClass.HEALTHY
    # The counters still remember what happened.
    assert stats.requests_failed == 80


def test_an_idle_providers_failure_run_ages_out() -> None:
    clock = FakeClock()
    stats = make_stats(clock, error_ttl=60.0)
    fail(stats, times=5)
    assert stats.health() is HealthClass.UNHEALTHY
    clock.advance(61.0)
    assert stats.health() is HealthClass.HEALTHY


def test_window_keeps_only_the_last_outcomes() -> None:
    stats = make_stats(window=100)
    fail(stats, times=100)
    succeed(stats, times=100)
    assert stats.error_rate() == 0.0
    assert stats.health() is HealthClass.HEALTHY


def test_latency_degradation_fires_on_a_slowdown() -> None:
    stats = make_stats(latency_window=20)
    succeed(stats, 0.1, times=60)
    assert stats.health() is HealthClass.HEALTHY
    succeed(stats, 1.0, times=20)
    assert stats.rolling_latency() == pytest.approx(1.0)
    assert stats.health() is HealthClass.DEGRADED


def test_latency_degradation_does_not_fire_on_a_steady_provider() -> None:
    rng = random.Random(3)
    stats = make_stats(latency_window=20)
    for _ in range(500):
        succeed(stats, rng.uniform(0.05, 0.3))
        assert stats.health() is HealthClass.HEALTHY


def test_latency_rule_needs_a_baseline_behind_the_window() -> None:
    stats = make_stats(latency_window=20)
    succeed(stats, 0.1, times=19)  # only 19 samples will have left the window
    succeed(stats, 1.0, times=20)
    assert stats.health() is HealthClass.HEALTHY
    succeed(stats, 1.0)  # a 20th sample leaves the window: the baseline is long enough
    assert stats.health() is HealthClass.DEGRADED


def test_latency_rule_ignores_tiny_absolute_increases() -> None:
    stats = make_stats(latency_window=20, latency_min_increase=0.05)
    succeed(stats, 0.001, times=60)
    succeed(stats, 0.01, times=20)  # ten times slower, but only 9 ms more
    assert stats.health() is HealthClass.HEALTHY


def test_a_lasting_slowdown_becomes_the_new_normal() -> None:
    stats = make_stats(latency_window=20)
    succeed(stats, 0.1, times=60)
    succeed(stats, 1.0, times=20)
    assert stats.health() is HealthClass.DEGRADED
    succeed(stats, 1.0, times=400)
    assert stats.health() is HealthClass.HEALTHY


def test_slow_samples_age_out_so_a_degraded_provider_is_tried_again() -> None:
    clock = FakeClock()
    stats = make_stats(clock, latency_window=20, error_ttl=300.0)
    succeed(stats, 0.1, times=60)
    succeed(stats, 1.0, times=20)
    assert stats.health() is HealthClass.DEGRADED
    clock.advance(301.0)
    assert stats.rolling_latency() is None
    assert stats.health() is HealthClass.HEALTHY


@pytest.mark.parametrize("kind", [ErrorKind.INVALID_REQUEST])
def test_callers_faults_do_not_touch_health(kind: ErrorKind) -> None:
    stats = make_stats()
    fail(stats, kind, times=20)
    assert stats.health() is HealthClass.HEALTHY
    assert stats.consecutive_failures == 0
    assert stats.requests_failed == 20
    assert stats.last_error is not None
    assert stats.last_error.code == "invalid_request"


def test_cancellations_count_in_total_only() -> None:
    stats = make_stats()
    for _ in range(20):
        stats.on_start()
        stats.record_cancelled()
    assert (stats.requests_total, stats.requests_ok, stats.requests_failed) == (20, 0, 0)
    assert stats.in_flight == 0
    assert stats.health() is HealthClass.HEALTHY


def test_reset_health_forgets_the_window() -> None:
    stats = make_stats()
    fail(stats, times=50)
    stats.reset_health()
    assert stats.health() is HealthClass.HEALTHY
    assert stats.consecutive_failures == 0


def test_snapshot_reports_counters_and_percentiles() -> None:
    stats = make_stats(window=100)
    spec = ProviderSpec(name="p", kind="mock", model="m", weight=2.0, price=Price(1.0, 2.0, "EUR"))
    for i in range(1, 101):
        stats.on_start()
        stats.record_success(i / 100, USAGE, 0.5, ttft=0.01 if i % 2 else 0.03)
    stats.on_start()
    stats.record_failure(
        ProviderError(ErrorKind.AUTH, "bad key Bearer sk-abcdefghijklmnopqrstuvwxyz0123456789")
    )
    stats.on_start()  # still running
    snap = stats.snapshot(spec, CircuitState.CLOSED)
    assert (snap.name, snap.kind, snap.model, snap.weight, snap.currency) == (
        "p",
        "mock",
        "m",
        2.0,
        "EUR",
    )
    assert (snap.requests_total, snap.requests_ok, snap.requests_failed) == (101, 100, 1)
    assert snap.success_rate == pytest.approx(99 / 100)  # the window holds the last 100
    assert snap.average_latency == pytest.approx(0.505)
    assert snap.rolling_latency == pytest.approx(sum(range(81, 101)) / 100 / 20)
    assert snap.p50_latency == pytest.approx(0.50)
    assert snap.p95_latency == pytest.approx(0.95)
    assert snap.time_to_first_token == pytest.approx(0.02)
    assert (snap.prompt_tokens, snap.completion_tokens) == (1000, 500)
    assert snap.cost == pytest.approx(50.0)
    assert snap.consecutive_failures == 1
    assert snap.in_flight == 1
    assert snap.last_error is not None
    assert snap.last_error.code == "auth"
    assert snap.last_error.at == 1.7e9
    assert "sk-abc" not in snap.last_error.message
    assert "[redacted]" in snap.last_error.message


def test_snapshot_of_an_unused_provider() -> None:
    snap = make_stats().snapshot(ProviderSpec(name="p", kind="mock", model="m"), CircuitState.OPEN)
    assert snap.health is HealthClass.UNHEALTHY  # an open circuit serves nothing
    assert snap.average_latency is None
    assert snap.p50_latency is None
    assert snap.time_to_first_token is None
    assert snap.success_rate == 0.0  # no data, not a perfect record
    assert snap.recent_samples == 0
    assert snap.last_error is None
