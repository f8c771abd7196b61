"""What the unary and the streaming paths of the router share: injected time, the retry
policy, the plan of candidates for a request, and the classification of odd failures."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, TypeVar

from orchestrator_server.domain.attempts import AttemptOutcome
from orchestrator_server.domain.chat import ChatRequest, FinishReason, Usage
from orchestrator_server.domain.errors import (
    ErrorKind,
    ProviderError,
    ProviderRejectedRequest,
    StreamInterrupted,
)
from orchestrator_server.domain.schemas import structured_reply_problem
from orchestrator_server.routing.candidates import Candidate
from orchestrator_server.routing.observer import NO_OBSERVER, AttemptObserver, AttemptRecord
from orchestrator_server.routing.retry import RetryPolicy
from orchestrator_server.routing.slot import Slot
from orchestrator_server.routing.trail import Trail
from orchestrator_server.routing.types import RouteOptions

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Plan:
    candidates: Sequence[Candidate]  # in strategy order: the pick, then the fallback chain
    single: bool  # no fallback: only the first admitted candidate is called


@dataclass(frozen=True, slots=True)
class Runtime:
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    retry: RetryPolicy
    request_timeout: float
    plan: Callable[[RouteOptions], Plan]
    observer: AttemptObserver = NO_OBSERVER
    check_structured: bool = True  # replies must match the requested JSON format

    def reply_error(
        self, request: ChatRequest, text: str, finish: FinishReason | None, has_calls: bool
    ) -> ProviderError | None:
        """A reply breaking the requested JSON format, as a malformed reply (retried and
        fallen back from like any other), or None."""
        if not self.check_structured:
            return None
        problem = structured_reply_problem(request, text, finish, has_calls)
        return None if problem is None else ProviderError(ErrorKind.MALFORMED_RESPONSE, problem)

    def retry_delay(
        self, error: ProviderError, slot: Slot, retry: int, deadline: float, plan: Plan, index: int
    ) -> float | None:
        """Seconds to wait before calling `slot` again, or None to move on."""
        if plan.single:
            has_next = _never
        else:
            rest = plan.candidates[index + 1 :]

            # Asked only when a long Retry-After makes failing over worth considering.
            def has_next() -> bool:
                return any(c.slot.breaker.may_allow() for c in rest)

        return self.retry.delay(
            error,
            retry=retry,
            max_retries=slot.spec.retries,
            time_left=deadline - self.clock(),
            has_next=has_next,
        )


def _never() -> bool:
    return False


def settle_failure(
    slot: Slot,
    trail: Trail,
    model: str,
    error: ProviderError,
    *,
    latency: float,
    retry: int,
    probe: bool,
    deadline_bound: bool,
    partial: bool = False,
) -> None:
    """Records a failed call. Raises when the request as a whole must end; returns when the
    router may retry or fail over."""
    if deadline_bound and error.kind is ErrorKind.TIMEOUT:
        # The caller's deadline, shorter than the provider's timeout, cut the call short:
        # no verdict on the provider.
        settle_cancel(slot, trail, model, latency=latency, retry=retry, probe=probe, deadline=True)
        raise trail.deadline_exceeded()
    slot.failed(error, probe=probe)
    trail.failed(slot.name, model, error, latency, retry)
    if partial:
        raise StreamInterrupted(
            f"provider {slot.name} failed mid-stream ({error.kind.value}); the output is partial",
            trail.frozen(),
        )
    if not error.policy.fallback:
        raise ProviderRejectedRequest(
            f"provider {slot.name} rejected the request: {error.message}",
            trail.frozen(),
        )


def settle_cancel(
    slot: Slot,
    trail: Trail,
    model: str,
    *,
    latency: float,
    retry: int,
    probe: bool,
    deadline: bool,
) -> None:
    slot.cancelled(probe=probe)
    trail.cancelled(slot.name, model, latency, retry, deadline=deadline)


def observe_success(
    observer: AttemptObserver,
    record: AttemptRecord,
    *,
    model: str,
    latency: float,
    usage: Usage,
    cost: float,
    currency: str,
    finish_reason: FinishReason | None,
    ttft: float | None = None,
) -> None:
    record.response_model = model
    record.latency = latency
    record.usage = usage
    record.cost = cost
    record.currency = currency
    record.finish_reason = finish_reason
    record.time_to_first_token = ttft
    observer.attempt_ended(record)


def observe_failure(
    observer: AttemptObserver, record: AttemptRecord, error: ProviderError, latency: float
) -> None:
    record.outcome = AttemptOutcome.FAILED
    record.error_kind = error.kind.value
    record.latency = latency
    observer.attempt_ended(record)


def observe_cancel(observer: AttemptObserver, record: AttemptRecord, latency: float) -> None:
    record.outcome = AttemptOutcome.CANCELLED
    record.latency = latency
    observer.attempt_ended(record)


def unexpected_failure(provider: str, exc: BaseException) -> ProviderError:
    """A provider raised something other than ProviderError: a bug in the adapter. Its text
    may hold anything (a URL with a key, a request body), so only the log sees it."""
    log.error("provider %s raised an unexpected %s", provider, type(exc).__name__, exc_info=exc)
    return ProviderError(ErrorKind.UNAVAILABLE, "the provider adapter failed unexpectedly")


class closing(Generic[T]):  # noqa: N801 - reads like contextlib.aclosing, which it stands in for
    """contextlib.aclosing for the Provider protocol's plain AsyncIterator: closes the
    provider's stream on every way out, which aborts its upstream HTTP request."""

    __slots__ = ("_iterator",)

    def __init__(self, iterator: AsyncIterator[T]) -> None:
        self._iterator = iterator

    async def __aenter__(self) -> AsyncIterator[T]:
        return self._iterator

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        aclose = getattr(self._iterator, "aclose", None)
        if aclose is not None:
            await aclose()
