"""What the limiter checks: subjects, their quotas, and the checks and settlements the
backends apply atomically."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass
from typing import Literal

from orchestrator_server.config.state import BudgetConfig, CallerLimits, ProviderLimits

WINDOW = 60.0  # rpm and tpm count over any sliding window of this many seconds
NANOS = 1_000_000_000  # money is counted in integer billionths of its currency


class SubjectKind(enum.Enum):
    KEY = "key"
    TENANT = "tenant"
    PROVIDER = "provider"


@dataclass(frozen=True, slots=True)
class Subject:
    """Whose quota: a caller key, a tenant or a provider deployment, named as configured."""

    kind: SubjectKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind.value} {self.name!r}"

    @property
    def ref(self) -> str:
        """The subject's part of storage keys; configured names only, so bounded."""
        return f"{self.kind.value}:{self.name}"


class LimitKind(enum.Enum):
    """Which limit; the value is the ErrorInfo reason a denial carries."""

    RPM = "RATE_LIMITED"
    TPM = "TOKEN_LIMITED"
    CONCURRENCY = "CONCURRENCY_LIMITED"
    BUDGET = "BUDGET_EXCEEDED"


@dataclass(frozen=True, slots=True)
class Quota:
    """One subject's limits and budget, as its configuration entry says. A call passes the
    quotas of every subject it counts against (its key, its tenant; or a provider)."""

    subject: Subject
    rpm: int | None = None
    tpm: int | None = None
    concurrency: int | None = None
    budget: BudgetConfig | None = None

    @staticmethod
    def of(
        subject: Subject,
        limits: CallerLimits | ProviderLimits | None = None,
        budget: BudgetConfig | None = None,
    ) -> Quota:
        if limits is None:
            return Quota(subject, budget=budget)
        concurrency = limits.concurrency if isinstance(limits, CallerLimits) else None
        return Quota(subject, limits.rpm, limits.tpm, concurrency, budget)


@dataclass(frozen=True, slots=True)
class Period:
    """A budget's calendar period in UTC: its storage name and when it ends."""

    name: str  # "d2026-11-21" or "m2026-11"
    ends_at: float  # epoch seconds


def period_of(kind: Literal["day", "month"], now: float) -> Period:
    day = datetime.datetime.fromtimestamp(now, datetime.UTC).date()
    if kind == "day":
        end = day + datetime.timedelta(days=1)
        name = f"d{day.isoformat()}"
    else:
        end = datetime.date(day.year + day.month // 12, day.month % 12 + 1, 1)
        name = f"m{day.year:04d}-{day.month:02d}"
    midnight = datetime.datetime.combine(end, datetime.time(), datetime.UTC)
    return Period(name, midnight.timestamp())


@dataclass(frozen=True, slots=True)
class Check:
    """One limit of one subject, for one call. `amount` is what the call takes (1 request,
    estimated tokens, 1 lease, estimated cost in nanos); `limit` is in the same unit."""

    kind: LimitKind
    subject: Subject
    limit: int
    amount: int
    period: Period | None = None  # budgets only

    @property
    def storage(self) -> str:
        """The check's storage name, under the backend's prefix."""
        if self.kind is LimitKind.BUDGET:
            assert self.period is not None
            return f"budget:{self.subject.ref}:{self.period.name}"
        return f"{_STORAGE[self.kind]}:{self.subject.ref}"


_STORAGE = {LimitKind.RPM: "rpm", LimitKind.TPM: "tpm", LimitKind.CONCURRENCY: "conc"}


@dataclass(frozen=True, slots=True)
class Settlement:
    """What an admitted check's call really consumed: tokens for TPM, nanos for a budget;
    a concurrency lease is released (amount unused); a request stays counted."""

    check: Check
    amount: int = 0


@dataclass(frozen=True, slots=True)
class Denial:
    """The backend's answer when a check does not fit: which one, and seconds until it may."""

    check: Check
    retry_after: float


@dataclass(frozen=True, slots=True)
class CheckState:
    """A check's current use, read without taking anything. For budgets `used` is the spend
    and `reserved` what calls in flight hold; for the others `reserved` is 0 (in-flight
    token estimates are part of `used`)."""

    check: Check
    used: int
    reserved: int = 0

    @property
    def remaining(self) -> int:
        return max(0, self.check.limit - self.used - self.reserved)
