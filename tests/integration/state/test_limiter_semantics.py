"""What the limiter promises, against the in-process backend and a real Redis alike, with a
clock the test moves: sliding windows, reservations that settle, leases that expire,
budgets per calendar period, and which limit a denial names."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator

import pytest

from orchestrator_server.config.state import BudgetConfig
from orchestrator_server.state import (
    BudgetExceeded,
    ConcurrencyLimited,
    Limiter,
    LimitKind,
    Quota,
    RateLimited,
    Subject,
    SubjectKind,
    TokenLimited,
)
from tests.redis_server import RedisServer
from tests.state_support import FakeClock, limiter_on

KEY = Subject(SubjectKind.KEY, "team-a")
TENANT = Subject(SubjectKind.TENANT, "acme")


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def limiter(
    backend: str, clock: FakeClock, request: pytest.FixtureRequest
) -> AsyncIterator[Limiter]:
    url = None
    if backend == "redis":
        server: RedisServer = request.getfixturevalue("redis_srv")
        url = server.url
    async with limiter_on(backend, clock, url) as made:
        yield made


def budget(amount: float, period: str = "day", currency: str = "USD") -> BudgetConfig:
    return BudgetConfig.model_validate({"amount": amount, "period": period, "currency": currency})


async def test_rpm_is_a_sliding_window(limiter: Limiter, clock: FakeClock) -> None:
    quota = [Quota(KEY, rpm=3)]
    for _ in range(3):
        await limiter.admit(quota)
        clock.advance(10)
    with pytest.raises(RateLimited) as denied:
        await limiter.admit(quota)
    # The first request (30 s ago) leaves the window 30 s from now.
    assert denied.value.retry_after == pytest.approx(30)
    assert denied.value.reason == "RATE_LIMITED"
    assert denied.value.subject == KEY
    assert "key 'team-a'" in denied.value.message
    assert "limit of 3 requests per minute" in denied.value.message
    clock.advance(29.9)
    with pytest.raises(RateLimited) as again:
        await limiter.admit(quota)
    assert again.value.retry_after == pytest.approx(0.1)
    clock.advance(0.1)
    await limiter.admit(quota)  # exactly one slot came free
    with pytest.raises(RateLimited):
        await limiter.admit(quota)


async def test_tokens_reserve_the_estimate_and_settle_with_usage(
    limiter: Limiter, clock: FakeClock
) -> None:
    quota = [Quota(KEY, tpm=1000)]
    first = await limiter.admit(quota, tokens=600)
    clock.advance(5)
    with pytest.raises(TokenLimited) as denied:
        await limiter.admit(quota, tokens=600)
    assert denied.value.retry_after == pytest.approx(55)  # when the first leaves the window
    await first.settle(tokens=150)  # it used far less than it reserved
    second = await limiter.admit(quota, tokens=600)
    (status,) = await limiter.status(quota)
    (tokens,) = status.limits
    assert (tokens.kind, tokens.used, tokens.remaining) == (LimitKind.TPM, 750, 250)
    await second.settle(tokens=900)  # more than reserved: counted as consumed
    (status,) = await limiter.status(quota)
    assert status.limits[0].used == 1050
    assert status.limits[0].remaining == 0


async def test_an_estimate_above_the_whole_limit_needs_the_window_to_itself(
    limiter: Limiter, clock: FakeClock
) -> None:
    quota = [Quota(KEY, tpm=1000)]
    big = await limiter.admit(quota, tokens=50_000)  # capped at 1000: admitted when idle
    with pytest.raises(TokenLimited):
        await limiter.admit(quota, tokens=1)
    await big.settle(tokens=400)
    await limiter.admit(quota, tokens=600)


async def test_a_token_retry_after_counts_the_oldest_entries_needed(
    limiter: Limiter, clock: FakeClock
) -> None:
    quota = [Quota(KEY, tpm=1000)]
    for tokens in (300, 300, 300):
        await (await limiter.admit(quota, tokens=tokens)).settle(tokens=tokens)
        clock.advance(10)
    # 900 used; 700 more needs the first two entries (t=0, t=10) gone: at t=70, 40 s from now.
    with pytest.raises(TokenLimited) as denied:
        await limiter.admit(quota, tokens=700)
    assert denied.value.retry_after == pytest.approx(40)


async def test_tokens_of_a_call_longer_than_the_window_count_when_it_ends(
    limiter: Limiter, clock: FakeClock
) -> None:
    quota = [Quota(KEY, tpm=1000)]
    slow = await limiter.admit(quota, tokens=500)
    clock.advance(61)  # its estimate has left the window
    (status,) = await limiter.status(quota)
    assert status.limits[0].used == 0
    await slow.settle(tokens=800)
    (status,) = await limiter.status(quota)
    assert status.limits[0].used == 800


async def test_concurrency_is_a_lease_released_at_settle(limiter: Limiter) -> None:
    quota = [Quota(KEY, concurrency=2)]
    first = await limiter.admit(quota, time_left=30)
    await limiter.admit(quota, time_left=30)
    with pytest.raises(ConcurrencyLimited) as denied:
        await limiter.admit(quota, time_left=30)
    assert 0 < denied.value.retry_after <= 1
    await first.settle()
    await limiter.admit(quota, time_left=30)


async def test_a_lease_of_a_vanished_call_expires_after_its_deadline(
    limiter: Limiter, clock: FakeClock
) -> None:
    quota = [Quota(KEY, concurrency=1)]
    await limiter.admit(quota, time_left=10)  # never settled: its replica died
    clock.advance(10 + 29)
    with pytest.raises(ConcurrencyLimited):
        await limiter.admit(quota, time_left=10)
    clock.advance(1.001)  # deadline + 30 s of grace
    await limiter.admit(quota, time_left=10)


async def test_async_with_settles_with_the_estimate(limiter: Limiter) -> None:
    quota = [Quota(KEY, tpm=1000, concurrency=1)]
    async with await limiter.admit(quota, tokens=400) as admission:
        assert admission.checked
    assert admission.settled
    (status,) = await limiter.status(quota)
    assert {s.kind: s.used for s in status.limits} == {
        LimitKind.TPM: 400,
        LimitKind.CONCURRENCY: 0,
    }
    await admission.settle(tokens=1)  # a second settlement changes nothing
    (status,) = await limiter.status(quota)
    assert status.limits[0].used == 400


async def test_a_budget_reserves_and_settles_cost(limiter: Limiter, clock: FakeClock) -> None:
    quota = [Quota(KEY, budget=budget(1.0))]
    first = await limiter.admit(quota, cost=0.4)
    second = await limiter.admit(quota, cost=0.4)
    with pytest.raises(BudgetExceeded) as held:
        await limiter.admit(quota, cost=0.4)
    assert 0 < held.value.retry_after <= 1  # frees when a call in flight settles
    await first.settle(cost=0.1)
    await limiter.admit(quota, cost=0.4)
    await second.settle(cost=0.5)
    (status,) = await limiter.status(quota)
    (spend,) = status.limits
    assert spend.used == pytest.approx(0.6)
    assert spend.reserved == pytest.approx(0.4)
    assert (spend.period, spend.currency) == ("2026-11-21", "USD")
    assert "budget of 1 USD per day" in held.value.message


async def test_a_spent_budget_frees_when_the_period_ends(
    limiter: Limiter, clock: FakeClock
) -> None:
    quota = [Quota(KEY, budget=budget(1.0))]
    await (await limiter.admit(quota, cost=0.5)).settle(cost=1.0)
    with pytest.raises(BudgetExceeded) as denied:
        await limiter.admit(quota, cost=0.01)
    assert denied.value.retry_after == pytest.approx(12 * 3600)  # noon to midnight UTC
    clock.advance(12 * 3600)
    await limiter.admit(quota, cost=0.01)


async def test_a_monthly_budget_resets_on_the_first_in_utc(
    backend: str, request: pytest.FixtureRequest
) -> None:
    clock = FakeClock(datetime.datetime(2026, 12, 31, 23, 59, 58, tzinfo=datetime.UTC).timestamp())
    url = request.getfixturevalue("redis_srv").url if backend == "redis" else None
    async with limiter_on(backend, clock, url) as limiter:
        quota = [Quota(KEY, budget=budget(2.0, "month", "EUR"))]
        await (await limiter.admit(quota, cost=1.0, currency="EUR")).settle(cost=2.0)
        with pytest.raises(BudgetExceeded) as denied:
            await limiter.admit(quota, cost=1.0, currency="EUR")
        assert denied.value.retry_after == pytest.approx(2)
        clock.advance(2)
        admitted = await limiter.admit(quota, cost=1.0, currency="EUR")
        (status,) = await limiter.status(quota)
        assert status.limits[0].period == "2027-01"
        assert status.limits[0].reserved == pytest.approx(1.0)
        await admitted.settle(cost=0.0)


async def test_a_call_priced_in_another_currency_is_checked_but_not_charged(
    limiter: Limiter,
) -> None:
    quota = [Quota(KEY, budget=budget(1.0, currency="EUR"))]
    await (await limiter.admit(quota, cost=5.0, currency="USD")).settle(cost=5.0)
    (status,) = await limiter.status(quota)
    assert status.limits[0].used == 0
    assert limiter.stats.currency_mismatch == 1


async def test_all_quotas_of_a_call_are_taken_together_or_not_at_all(limiter: Limiter) -> None:
    quotas = [Quota(KEY, rpm=10), Quota(TENANT, rpm=2)]
    await limiter.admit(quotas)
    await limiter.admit(quotas)
    for _ in range(3):
        with pytest.raises(RateLimited) as denied:
            await limiter.admit(quotas)
        assert denied.value.subject == TENANT
    key_status, tenant_status = await limiter.status(quotas)
    assert key_status.limits[0].used == 2  # the tenant's denials took nothing from the key
    assert tenant_status.limits[0].used == 2
    assert limiter.stats.denied[("RATE_LIMITED", "tenant", "acme")] == 3


async def test_a_denial_names_the_limit_that_frees_last(limiter: Limiter) -> None:
    quotas = [Quota(KEY, rpm=1), Quota(TENANT, concurrency=1)]
    await limiter.admit(quotas, time_left=5)
    with pytest.raises(RateLimited) as denied:  # 60 s beats the lease's 1 s hint
        await limiter.admit(quotas, time_left=5)
    assert denied.value.subject == KEY


async def test_no_quota_means_no_backend_call(limiter: Limiter) -> None:
    admission = await limiter.admit([Quota(KEY)], tokens=10, cost=1.0)
    assert admission.checked
    assert admission.settled
    assert limiter.stats.admitted == 0
