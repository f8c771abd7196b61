"""The attempts of one request, and the error to raise when none of them succeeded."""

from __future__ import annotations

from orchestrator_server.domain.attempts import Attempt, AttemptOutcome
from orchestrator_server.domain.errors import (
    AllProvidersFailed,
    AllRateLimited,
    DeadlineExceeded,
    ErrorKind,
    GatewayError,
    NotFound,
    ProviderError,
    ServerShuttingDown,
)

CIRCUIT_OPEN = "circuit_open"
# Why an attempt was cancelled: its error_code everywhere it is shown (trail, metrics, usage
# events, logs, traces).
CANCELLED_BY_CALLER = "cancelled"
CANCELLED_BY_DEADLINE = "deadline_exceeded"
CANCELLED_BY_SHUTDOWN = "shutdown"
CANCEL_MESSAGES = {
    CANCELLED_BY_CALLER: "the caller went away",
    CANCELLED_BY_DEADLINE: "the request deadline ran out during this attempt",
    CANCELLED_BY_SHUTDOWN: "the server shut down before this attempt ended",
}
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

    def cancelled(self, provider: str, model: str, latency: float, retry: int, cause: str) -> None:
        message = CANCEL_MESSAGES[cause]
        self.attempts.append(
            Attempt(provider, model, AttemptOutcome.CANCELLED, cause, message, latency, retry)
        )

    def deadline_exceeded(self, *, partial: bool = False) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"the deadline ran out after {len(self.attempts)} attempt(s)",
            self.frozen(),
            partial=partial,
        )

    def shutting_down(self, *, partial: bool = False) -> ServerShuttingDown:
        return ServerShuttingDown(
            "the server shut down before the call ended"
            + ("; the output is partial" if partial else ""),
            self.frozen(),
            partial=partial,
        )

    def exhausted(self, model: str = "", listing: str = "") -> GatewayError:
        """The error for a request whose every candidate failed or was skipped. `model` is
        the model the caller named, if any: when every provider said it does not know it,
        the caller's typo is NOT_FOUND (with `listing`, what exists), not an outage worth
        retrying."""
        attempts = self.frozen()
        if not attempts:
            return AllProvidersFailed("no provider is available for this request", attempts)
        if model and all(a.error_code == ErrorKind.NOT_FOUND.value for a in attempts):
            providers = ", ".join(dict.fromkeys(a.provider for a in attempts))
            return unknown_model(
                f"no provider knows model {model!r} (asked {providers})",
                model,
                listing=listing,
                attempts=attempts,
            )
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


# Where a caller finds the models it may name; every unknown-model answer says so.
LIST_MODELS_HINT = "ListModels (`orchestrator models`) lists the models each provider serves"


def unknown_model(
    message: str, model: str, *, listing: str = "", attempts: tuple[Attempt, ...] = ()
) -> NotFound:
    """The one answer to a model no provider serves or knows: NOT_FOUND naming it, what
    exists (`listing`, dropped for a key that may not see it all) and where to list models."""
    return NotFound(
        message,
        field="model",
        resource_type="model",
        name=model,
        listing=listing,
        hint=LIST_MODELS_HINT,
        attempts=attempts,
    )
