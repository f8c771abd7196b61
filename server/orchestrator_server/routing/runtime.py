"""What the unary and the streaming paths of the router share: injected time, the retry
policy, the plan of candidates for a request, the requests in flight, and the
classification of odd failures."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator_server.domain.chat import ChatRequest, FinishReason
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.domain.schemas import structured_reply_problem
from orchestrator_server.domain.tools import ResponseFormatType
from orchestrator_server.routing.candidates import Candidate
from orchestrator_server.routing.observer import NO_OBSERVER, AttemptObserver
from orchestrator_server.routing.retry import RetryPolicy
from orchestrator_server.routing.slot import Slot
from orchestrator_server.routing.trail import CANCELLED_BY_SHUTDOWN
from orchestrator_server.routing.types import RouteOptions

if TYPE_CHECKING:
    from orchestrator_server.routing.run import Run

log = logging.getLogger(__name__)


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
    # What exists, for an unknown-model answer (routing/candidates.py says it once).
    model_listing: str = ""
    runs: set[Run[Any]] = field(default_factory=set)  # requests in flight, for `interrupt`

    def reply_error(
        self, request: ChatRequest, text: str, finish: FinishReason | None, has_calls: bool
    ) -> ProviderError | None:
        """A reply breaking the requested JSON format, as a malformed reply (retried and
        fallen back from like any other), or None."""
        if not self.check_structured or request.response_format.type is ResponseFormatType.TEXT:
            return None
        problem = structured_reply_problem(request, text, finish, has_calls)
        return None if problem is None else ProviderError(ErrorKind.MALFORMED_RESPONSE, problem)

    def interrupt(self, cause: str = CANCELLED_BY_SHUTDOWN) -> int:
        """Cuts every request in flight short (the shutdown grace ran out); returns how many."""
        runs = list(self.runs)
        for run in runs:
            run.interrupt(cause)
        return len(runs)

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


def unexpected_failure(provider: str, exc: BaseException) -> ProviderError:
    """A provider raised something other than ProviderError: a bug in the adapter. Its text
    may hold anything (a URL with a key, a request body), so only the log sees it."""
    log.error("provider %s raised an unexpected %s", provider, type(exc).__name__, exc_info=exc)
    return ProviderError(ErrorKind.UNAVAILABLE, "the provider adapter failed unexpectedly")
