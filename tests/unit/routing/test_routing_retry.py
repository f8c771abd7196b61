"""RetryPolicy: full-jitter backoff, Retry-After up to a cap, failover, the deadline."""

from __future__ import annotations

import random

import pytest

from orchestrator_server.config.models import RetryConfig
from orchestrator_server.domain.errors import ERROR_POLICY, ErrorKind, ProviderError
from orchestrator_server.routing.retry import RetryPolicy

CONFIG = RetryConfig(base_delay=0.1, max_delay=2.0, max_retry_after=10.0, failover_after=1.0)


def delay(
    error: ProviderError,
    *,
    retry: int = 0,
    max_retries: int = 3,
    time_left: float = 100.0,
    has_next: bool = False,
) -> float | None:
    policy = RetryPolicy(CONFIG, random.Random(4))
    return policy.delay(
        error,
        retry=retry,
        max_retries=max_retries,
        time_left=time_left,
        has_next=lambda: has_next,
    )


@pytest.mark.parametrize("retry", range(8))
def test_backoff_is_full_jitter_under_an_exponential_ceiling(retry: int) -> None:
    policy = RetryPolicy(CONFIG, random.Random(retry))
    ceiling = min(2.0, 0.1 * 2**retry)
    samples = [policy.backoff(retry) for _ in range(200)]
    assert all(0.0 <= s <= ceiling for s in samples)
    assert max(samples) > ceiling * 0.8
    assert min(samples) < ceiling * 0.2


@pytest.mark.parametrize("kind", [k for k, p in ERROR_POLICY.items() if not p.retry])
def test_no_retry_where_the_policy_forbids(kind: ErrorKind) -> None:
    assert delay(ProviderError(kind, "no")) is None


@pytest.mark.parametrize("kind", [k for k, p in ERROR_POLICY.items() if p.retry])
def test_retryable_errors_retry_with_jitter(kind: ErrorKind) -> None:
    wait = delay(ProviderError(kind, "again"), retry=1)
    assert wait is not None
    assert 0.0 <= wait <= 0.2


def test_retries_are_bounded() -> None:
    error = ProviderError(ErrorKind.UNAVAILABLE, "503")
    assert delay(error, retry=2, max_retries=3) is not None
    assert delay(error, retry=3, max_retries=3) is None


@pytest.mark.parametrize(
    ("retry_after", "has_next", "expected"),
    [
        (0.5, True, 0.5),  # short: worth waiting even with another candidate
        (1.0, True, 1.0),
        (3.0, True, None),  # long, and another candidate exists: fail over
        (3.0, False, 3.0),  # long, but nowhere else to go: wait
        (10.0, False, 10.0),  # the cap itself
        (10.5, False, None),  # past the cap: give up on this provider
    ],
)
def test_retry_after(retry_after: float, has_next: bool, expected: float | None) -> None:
    error = ProviderError(ErrorKind.RATE_LIMITED, "429", retry_after=retry_after)
    assert delay(error, has_next=has_next) == expected


def test_jitter_wins_over_a_shorter_retry_after() -> None:
    error = ProviderError(ErrorKind.RATE_LIMITED, "429", retry_after=0.0)
    wait = delay(error, retry=4, max_retries=5)
    assert wait is not None
    assert 0.0 < wait <= 1.6


@pytest.mark.parametrize(("time_left", "retries"), [(3.0, False), (3.5, True)])
def test_never_sleeps_past_the_deadline(time_left: float, retries: bool) -> None:
    error = ProviderError(ErrorKind.RATE_LIMITED, "429", retry_after=3.0)
    assert (delay(error, time_left=time_left) is not None) is retries
