"""Limits and budgets per key, tenant and provider: a call is admitted against every quota it
counts against at once, reserving its estimated tokens and cost, and settles with what it
consumed when it ends.

    admission = await limiter.admit(quotas, tokens=estimate, cost=price, time_left=left)
    try:
        ...the call...
    finally:
        await admission.settle(tokens=used, cost=spent)  # also for cancelled and cut calls
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, TypeVar

from orchestrator_server.domain.chat import ChatRequest, estimate_usage
from orchestrator_server.domain.errors import DeadlineExceeded
from orchestrator_server.state.backend import LimitBackend
from orchestrator_server.state.errors import LimitExceeded, StateUnavailable
from orchestrator_server.state.guard import BackendFailed, Guard
from orchestrator_server.state.types import (
    BUDGET,
    CONCURRENCY,
    NANOS,
    RPM,
    TPM,
    Check,
    CheckState,
    LimitKind,
    Period,
    Quota,
    Settlement,
    Subject,
    period_of,
)

log = logging.getLogger("orchestrator_server.state")
T = TypeVar("T")
OnError = Literal["open", "closed"]
LEASE_GRACE = 30.0  # a lease outlives its call's deadline by this much before it expires
NO_DEADLINE_LEASE = 600.0  # a call without a deadline holds its lease at most this long


@dataclass(slots=True)
class LimiterStats:
    """Counts since start, for metrics; subject names come from configuration."""

    admitted: int = 0
    denied: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # reason, kind, name
    skipped: int = 0  # admissions served unchecked (backend down, on_error: open)
    refused: int = 0  # admissions refused (backend down, on_error: closed)
    unsettled: int = 0  # settlements the backend did not take (backend down)
    currency_mismatch: int = 0  # budget checks whose call is priced in another currency


@dataclass(frozen=True, slots=True)
class LimitStatus:
    """One limit of one subject now. Money in the budget's currency; `resets_at` (epoch
    seconds) for budgets, whose use resets with the period; windows free continuously."""

    kind: LimitKind
    limit: float
    used: float
    reserved: float
    remaining: float
    period: str | None = None
    currency: str | None = None
    resets_at: float | None = None


@dataclass(frozen=True, slots=True)
class QuotaStatus:
    subject: Subject
    limits: tuple[LimitStatus, ...]


def _nanos(amount: float) -> int:
    return max(0, round(amount * NANOS))


def _describe(check: Check, quota: Quota) -> str:
    if check.kind is BUDGET:
        assert quota.budget is not None
        budget = quota.budget
        return f"budget of {budget.amount:g} {budget.currency} per {budget.period}"
    unit = {
        RPM: "requests per minute",
        TPM: "tokens per minute",
        CONCURRENCY: "calls at once",
    }[check.kind]
    return f"limit of {check.limit} {unit}"


class Limiter:
    def __init__(
        self,
        backend: LimitBackend,
        *,
        on_error: OnError = "open",
        guard: Guard | None = None,
        default_max_tokens: int = 1024,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """`clock` (epoch seconds) replaces the backend's own (Redis: its server time) and
        names budget periods; for tests. `guard` bounds and counts a remote backend's calls."""
        self._backend = backend
        self._on_error = on_error
        self._guard = guard if guard is not None else Guard(0.1) if backend.remote else None
        self._default_max_tokens = default_max_tokens
        self._clock = clock
        self._rid_prefix = secrets.token_hex(6)
        self._rids = itertools.count()
        self._pending: set[asyncio.Task[None]] = set()
        self._periods: dict[str, Period] = {}
        self.stats = LimiterStats()

    @property
    def guard(self) -> Guard | None:
        return self._guard

    def estimate_tokens(self, request: ChatRequest) -> int:
        """Tokens a call reserves: its prompt's estimate and its max_tokens (or the default)."""
        prompt = estimate_usage(request.messages, "").prompt_tokens
        return prompt + (request.params.max_tokens or self._default_max_tokens)

    async def admit(
        self,
        quotas: Sequence[Quota],
        *,
        tokens: int = 0,
        cost: float = 0.0,
        currency: str = "USD",
        time_left: float | None = None,
    ) -> Admission:
        """Admits a call against every quota, or raises the LimitExceeded that frees last
        (nothing is taken then). `tokens` and `cost` are the call's estimates; an estimate
        above a whole limit is capped at it (the call then needs that window or period to
        itself). `time_left`: seconds to the caller's deadline; bounds the backend call and
        the concurrency lease (DeadlineExceeded when none is left). Backend down: an
        unchecked Admission (on_error: open) or StateUnavailable (closed)."""
        now = self._clock() if self._clock is not None else None
        wall = time.time() if now is None else now
        checks, uncharged = self._checks(quotas, tokens, cost, currency, wall)
        if not checks:
            return Admission(self, "", (), (), checked=True)
        if time_left is not None and time_left <= 0:
            raise DeadlineExceeded("the deadline passed before the call's limits were checked")
        rid = f"{self._rid_prefix}:{next(self._rids)}"
        lease = (NO_DEADLINE_LEASE if time_left is None else max(0.0, time_left)) + LEASE_GRACE
        try:
            denial = await self._call(
                "admit", lambda: self._backend.admit(rid, checks, lease, now), time_left
            )
        except BackendFailed as exc:
            if self._on_error == "closed":
                self.stats.refused += 1
                raise StateUnavailable(
                    "limits cannot be checked: the shared state backend is unavailable"
                ) from exc
            self.stats.skipped += 1
            return Admission(self, "", (), (), checked=False)
        if denial is not None:
            check = denial.check
            self.stats.denied[(check.kind.value, check.subject.kind.value, check.subject.name)] += 1
            quota = next(q for q in quotas if q.subject == check.subject)
            raise LimitExceeded.of(
                check.kind, check.subject, _describe(check, quota), denial.retry_after
            )
        self.stats.admitted += 1
        return Admission(self, rid, tuple(checks), uncharged, checked=True)

    def _checks(
        self, quotas: Sequence[Quota], tokens: int, cost: float, currency: str, now: float
    ) -> tuple[list[Check], tuple[int, ...]]:
        """The checks of every quota (each subject's limit once), and the positions of the
        budget checks the call cannot be charged to (priced in another currency: there are
        no exchange rates here, so such a budget is checked for exhaustion only)."""
        checks: list[Check] = []
        uncharged: tuple[int, ...] = ()
        seen: set[str] | None = set() if len(quotas) > 1 else None
        tokens = max(0, tokens)
        for quota in quotas:
            for kind, subject, limit, storage, budget in quota.rules:
                if seen is not None:
                    if storage in seen:
                        continue
                    seen.add(storage)
                if kind is TPM:
                    checks.append(Check(kind, subject, limit, min(tokens, limit), storage))
                elif kind is not BUDGET:
                    checks.append(Check(kind, subject, limit, 1, storage))
                else:
                    assert budget is not None
                    period = self._period(budget.period, now)
                    if budget.currency == currency:
                        amount = min(_nanos(cost), limit)
                    else:
                        amount = 0
                        uncharged += (len(checks),)
                        if cost > 0:
                            self.stats.currency_mismatch += 1
                    checks.append(
                        Check(kind, subject, limit, amount, storage + period.name, period)
                    )
        return checks, uncharged

    def _period(self, kind: Literal["day", "month"], now: float) -> Period:
        period = self._periods.get(kind)
        if period is None or not period.starts_at <= now < period.ends_at:
            period = self._periods[kind] = period_of(kind, now)
        return period

    async def _call(
        self, operation: str, call: Callable[[], Awaitable[T]], time_left: float | None
    ) -> T:
        if self._guard is None:
            return await call()
        return await self._guard.run(operation, call, time_left)

    async def _settle(self, rid: str, settlements: list[Settlement]) -> None:
        """Runs to its end even when the caller is cancelled meanwhile (the lease must go)."""
        now = self._clock() if self._clock is not None else None
        if self._guard is None:
            await self._backend.settle(rid, settlements, now)
            return
        task = asyncio.ensure_future(self._settle_remote(rid, settlements, now))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        await asyncio.shield(task)

    async def _settle_remote(
        self, rid: str, settlements: list[Settlement], now: float | None
    ) -> None:
        try:
            await self._call("settle", lambda: self._backend.settle(rid, settlements, now), None)
        except BackendFailed:
            # The reservation stays as estimated: tokens leave with the window, leases and
            # budget holds expire after their call's deadline.
            self.stats.unsettled += 1

    async def status(self, quotas: Sequence[Quota]) -> list[QuotaStatus]:
        """Each quota's use now (remaining rpm, tpm, concurrency; budget spend and holds).
        StateUnavailable when the backend cannot answer, whatever `on_error` says."""
        now = self._clock() if self._clock is not None else None
        wall = time.time() if now is None else now
        checks, _ = self._checks(quotas, 0, 0.0, "", wall)
        if not checks:
            return [QuotaStatus(q.subject, ()) for q in quotas]
        try:
            states = await self._call("read", lambda: self._backend.read(checks, now), None)
        except BackendFailed as exc:
            raise StateUnavailable("limits cannot be read: the backend is unavailable") from exc
        currencies = {q.subject: q.budget.currency for q in quotas if q.budget is not None}
        by_subject: dict[Subject, list[LimitStatus]] = {}
        for state in states:
            subject = state.check.subject
            by_subject.setdefault(subject, []).append(_status(state, currencies.get(subject)))
        return [QuotaStatus(q.subject, tuple(by_subject.get(q.subject, ()))) for q in quotas]

    async def aclose(self) -> None:
        """Waits for settlements still on their way (each bounded by the backend timeout)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self._backend.aclose()


def _status(state: CheckState, currency: str | None) -> LimitStatus:
    check = state.check
    if check.kind is not BUDGET:
        return LimitStatus(check.kind, check.limit, state.used, 0, state.remaining)
    assert check.period is not None
    return LimitStatus(
        check.kind,
        check.limit / NANOS,
        state.used / NANOS,
        state.reserved / NANOS,
        state.remaining / NANOS,
        check.period.name[1:],
        currency,
        check.period.ends_at,
    )


class Admission:
    """An admitted call's reservation. Settle it exactly once when the call ends, with what
    it consumed; `async with` settles with the estimates if the body did not. An unchecked
    admission (backend down, on_error: open) holds nothing and settles to nothing."""

    __slots__ = ("_checks", "_limiter", "_rid", "_settled", "_uncharged", "checked")

    def __init__(
        self,
        limiter: Limiter,
        rid: str,
        checks: tuple[Check, ...],
        uncharged: tuple[int, ...],
        *,
        checked: bool,
    ) -> None:
        self._limiter = limiter
        self._rid = rid
        self._checks = checks
        self._uncharged = uncharged
        self._settled = not checks
        self.checked = checked

    @property
    def settled(self) -> bool:
        return self._settled

    async def settle(self, *, tokens: int | None = None, cost: float | None = None) -> None:
        """Records what the call consumed (None: keep the estimate) and releases its
        concurrency lease. Later calls do nothing. Never raises for a backend failure."""
        if self._settled:
            return
        self._settled = True
        settlements = []
        for i, check in enumerate(self._checks):
            kind = check.kind
            if kind is TPM:
                amount = check.amount if tokens is None else max(0, tokens)
                settlements.append(Settlement(check, amount))
            elif kind is CONCURRENCY:
                settlements.append(Settlement(check))
            elif kind is BUDGET:
                if i in self._uncharged:
                    amount = 0
                else:
                    amount = check.amount if cost is None else _nanos(cost)
                settlements.append(Settlement(check, amount))
        if settlements:
            await self._limiter._settle(self._rid, settlements)

    async def __aenter__(self) -> Admission:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.settle()
