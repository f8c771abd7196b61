"""The attempts of one request, and the error to raise when none of them succeeded."""

from __future__ import annotations

from orchestrator_server.domain.attempts import Attempt, AttemptOutcome
from orchestrator_server.domain.errors import (
    AllProvidersFailed,
    AllRateLimited,
    DeadlineExceeded,
    ErrorKind,
    ProviderError,
)

CIRCUIT_OPEN = "circuit_open"
_LIMITED = frozenset({ErrorKind.RATE_LIMITED, ErrorKind.QUOTA})


class Trail:
    __slots__ = ("_failed", "_limited_only", "_probe_wait", "_retry_after", "attempts")

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []
        self._failed = 0
        self._limited_only = True
        self._retry_after: float | None = None  # smallest Retry-After of a limited failure
        self._probe_wait: float | None = None  # soonest half-open probe of a skipped provider

    def frozen(self) -> tuple[Attempt, ...]:
        return tuple(self.attempts)

    def succeeded(self, provider: str, model: str, latency: float, retry: int) -> None:
        self.attempts.append(
            Attempt(provider, model, AttemptOutcome.SUCCESS, latency=latency, retry=retry)
        )

    def skipped(self, provider: str, model: str, probe_in: float) -> None:
        self.attempts.append(Attempt(provider, model, AttemptOutcome.SKIPPED, CIRCUIT_OPEN))
        if self._probe_wait is None or probe_in < self._probe_wait:
            self._probe_wait = probe_in

    def failed(
        self, provider: str, model: str, error: ProviderError, latency: float, retry: int
    ) -> None:
        self.attempts.append(
            Attempt(
                provider,
                model,
                AttemptOutcome.FAILED,
                error.kind.value,
                error.message,
                latency,
                retry,
            )
        )
        self._failed += 1
        if error.kind not in _LIMITED:
            self._limited_only = False
        elif error.retry_after is not None and (
            self._retry_after is None or error.retry_after < self._retry_after
        ):
            self._retry_after = error.retry_after

    def cancelled(
        self, provider: str, model: str, latency: float, retry: int, *, deadline: bool
    ) -> None:
        code, message = (
            (ErrorKind.TIMEOUT.value, "the request deadline ran out during this attempt")
            if deadline
            else ("", "the caller went away")
        )
        self.attempts.append(
            Attempt(provider, model, AttemptOutcome.CANCELLED, code, message, latency, retry)
        )

    def deadline_exceeded(self) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"the deadline ran out after {len(self.attempts)} attempt(s)", self.frozen()
        )

    def exhausted(self) -> AllProvidersFailed:
        """The error for a request whose every candidate failed or was skipped."""
        attempts = self.frozen()
        if not attempts:
            return AllProvidersFailed("no provider is available for this request", attempts)
        summary = ", ".join(f"{a.provider}: {a.error_code}" for a in attempts)
        if self._failed and self._limited_only:
            return AllRateLimited(
                f"every provider is rate-limited or out of quota ({summary})",
                attempts,
                retry_after=self._retry_after
                if self._retry_after is not None
                else self._probe_wait,
            )
        return AllProvidersFailed(
            f"every provider failed ({summary})",
            attempts,
            retry_after=self._probe_wait if not self._failed else None,
        )
