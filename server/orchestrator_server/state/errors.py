"""The limiter's refusals, as domain errors the API border maps to statuses (one row each)."""

from __future__ import annotations

from orchestrator_server.domain.errors import GatewayError, GatewayRateLimited
from orchestrator_server.state.types import LimitKind, Subject


class LimitExceeded(GatewayRateLimited):
    """A key's, tenant's or provider's own limit or budget is reached. `reason` is the
    ErrorInfo reason; `retry_after` the seconds until the limit frees (RetryInfo)."""

    kind: LimitKind

    def __init__(self, subject: Subject, limit: str, *, retry_after: float) -> None:
        super().__init__(
            f"{self.kind.value}: {subject} is over its {limit}; retry in {retry_after:.1f} s",
            retry_after=retry_after,
        )
        self.subject = subject
        self.limit = limit

    @property
    def reason(self) -> str:
        return self.kind.value

    @staticmethod
    def of(kind: LimitKind, subject: Subject, limit: str, retry_after: float) -> LimitExceeded:
        return _BY_KIND[kind](subject, limit, retry_after=retry_after)


class RateLimited(LimitExceeded):
    kind = LimitKind.RPM


class TokenLimited(LimitExceeded):
    kind = LimitKind.TPM


class ConcurrencyLimited(LimitExceeded):
    kind = LimitKind.CONCURRENCY


class BudgetExceeded(LimitExceeded):
    kind = LimitKind.BUDGET


_BY_KIND: dict[LimitKind, type[LimitExceeded]] = {
    cls.kind: cls for cls in (RateLimited, TokenLimited, ConcurrencyLimited, BudgetExceeded)
}


class StateUnavailable(GatewayError):
    """The shared state backend cannot be reached and `state.on_error` is `closed`: a call
    with limits is refused rather than served unchecked (UNAVAILABLE)."""
