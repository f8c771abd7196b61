"""What the limiter checks: subjects, their quotas, and the checks and settlements the
backends apply atomically."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

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


# The members as plain names: each admission compares kinds several times, and an Enum
# class attribute costs a descriptor call per lookup.
RPM, TPM, CONCURRENCY, BUDGET = (
    LimitKind.RPM,
    LimitKind.TPM,
    LimitKind.CONCURRENCY,
    LimitKind.BUDGET,
)


class Rule(NamedTuple):
    """One limit of a quota, prepared when the quota is made: what, whose, up to what, and
    where it is stored (for a budget, the start of it: the period's name follows)."""

    kind: LimitKind
    subject: Subject
    limit: int
    storage: str
    budget: BudgetConfig | None = None


@dataclass(frozen=True, slots=True)
class Quota:
    """One subject's limits and budget, as its configuration entry says. A call passes the
    quotas of every subject it counts against (its key, its tenant; or a provider). Make
    them once per configuration: each prepares its rules when it is made."""

    subject: Subject
    rpm: int | None = None
    tpm: int | None = None
    concurrency: int | None = None
    budget: BudgetConfig | None = None
    rules: tuple[Rule, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        subject, ref = self.subject, self.subject.ref
        rules = []
        if self.rpm is not None:
            rules.append(Rule(LimitKind.RPM, subject, self.rpm, f"rpm:{ref}"))
        if self.tpm is not None:
            rules.append(Rule(LimitKind.TPM, subject, self.tpm, f"tpm:{ref}"))
        if self.concurrency is not None:
            rules.append(Rule(LimitKind.CONCURRENCY, subject, self.concurrency, f"conc:{ref}"))
        if self.budget is not None:
            limit = round(self.budget.amount * NANOS)
            rules.append(Rule(LimitKind.BUDGET, subject, limit, f"budget:{ref}:", self.budget))
        object.__setattr__(self, "rules", tuple(rules))

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
    """A budget's calendar period in UTC: its storage name and its bounds."""

    name: str  # "d2026-11-21" or "m2026-11"
    starts_at: float  # epoch seconds
    ends_at: float


def period_of(kind: Literal["day", "month"], now: float) -> Period:
    day = datetime.datetime.fromtimestamp(now, datetime.UTC).date()
    if kind == "day":
        start, end = day, day + datetime.timedelta(days=1)
        name = f"d{day.isoformat()}"
    else:
        start = day.replace(day=1)
        end = datetime.date(day.year + day.month // 12, day.month % 12 + 1, 1)
        name = f"m{day.year:04d}-{day.month:02d}"
    return Period(name, _midnight(start), _midnight(end))


def _midnight(day: datetime.date) -> float:
    return datetime.datetime.combine(day, datetime.time(), datetime.UTC).timestamp()


class Check(NamedTuple):
    """One limit of one subject, for one call. `amount` is what the call takes (1 request,
    estimated tokens, 1 lease, estimated cost in nanos); `limit` is in the same unit;
    `storage` names its state under the backend's prefix."""

    kind: LimitKind
    subject: Subject
    limit: int
    amount: int
    storage: str
    period: Period | None = None  # budgets only


class Settlement(NamedTuple):
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
