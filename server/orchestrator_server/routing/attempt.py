"""One call to one provider for one request, and the one place its outcome is settled.

The unary, the streaming and the Embed paths all make their calls through an Attempt (a
stream's is a StreamAttempt, routing/relay.py; an Embed call's an EmbedAttempt,
routing/embedding.py). Creating it starts the call's bookkeeping (in flight, the
observer's start); the call itself runs inside `with attempt:` (a stream's: `async with`),
whose exit settles the outcome exactly once, whatever ended it (an answer, an error, a
timeout, a cancellation, a closed stream), and always in one order: the provider's stats and
circuit (the Slot), the request's trail, then the observer (metrics, traces, usage events,
logs). Every one of them sees the same verdict: SUCCESS; FAILED with the error kind; or
CANCELLED with its cause (the caller, the deadline, the shutdown) as the code.

After a failure worth a retry or the next candidate, `error` holds it and the block ends
normally; when the request as a whole must end, the exit raises its answer (DeadlineExceeded,
StreamInterrupted, ProviderRejectedRequest). Two attempts of one request may run at once
(hedging): each settles itself, and a loser cancelled on purpose says why in `cancel_cause`.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Generic

from orchestrator_server.domain.attempts import AttemptOutcome
from orchestrator_server.domain.chat import ChatRequest, Completion, FinishReason, Usage
from orchestrator_server.domain.errors import (
    ErrorKind,
    ProviderError,
    ProviderRejectedRequest,
    StreamInterrupted,
)
from orchestrator_server.providers.base import Price
from orchestrator_server.routing.observer import AttemptRecord
from orchestrator_server.routing.run import RequestT, Run
from orchestrator_server.routing.runtime import unexpected_failure
from orchestrator_server.routing.trail import CANCELLED_BY_DEADLINE
from orchestrator_server.routing.turns import Turn
from orchestrator_server.routing.types import RoutedCompletion


class Attempt(Generic[RequestT]):
    __slots__ = (
        "_clock",
        "_settled",
        "cancel_cause",
        "candidate",
        "completion",
        "deadline_bound",
        "error",
        "probe",
        "record",
        "retry",
        "run",
        "slot",
        "spec",
        "start",
        "timeout",
    )

    def __init__(self, run: Run[RequestT], turn: Turn, *, streaming: bool = False) -> None:
        candidate = turn.candidate
        self.run: Run[RequestT] = run
        self.candidate = candidate
        self.slot = slot = candidate.slot
        self.spec = spec = slot.spec
        self.probe = turn.probe
        self.retry = turn.retry
        self.error: ProviderError | None = None
        self.completion: Completion | None = None
        self.cancel_cause: str | None = None  # set by whoever cancels this attempt on purpose
        self._settled = False
        runtime = run.runtime
        self._clock = runtime.clock
        self.start = start = runtime.clock()
        left = run.deadline - start
        # Cut short by the caller's deadline rather than the provider's own timeout.
        self.deadline_bound = left < spec.timeout
        self.timeout = left if self.deadline_bound else spec.timeout
        slot.stats.on_start()
        self.record = AttemptRecord(run.request, spec, candidate.model_name, streaming, turn.retry)
        runtime.observer.attempt_started(self.record)

    async def complete(self: Attempt[ChatRequest]) -> RoutedCompletion | None:
        """The unary call: the answer, or None after a failure worth a retry or the next
        candidate (`error` says which). Raises when the request as a whole must end."""
        run = self.run
        request = run.request
        with self:
            async with asyncio.timeout(self.timeout):
                self.completion = completion = await self.slot.provider.generate(
                    request.with_model(self.candidate.model), timeout=self.timeout
                )
            # A reply breaking the requested JSON format is malformed: retried, fallen back from.
            bad = run.runtime.reply_error(
                request, completion.text, completion.finish_reason, bool(completion.tool_calls)
            )
            if bad is not None:
                raise bad
        if self.error is not None:
            return None
        answer = self.completion
        assert answer is not None
        record = self.record
        return RoutedCompletion(
            text=answer.text,
            finish_reason=answer.finish_reason,
            provider=self.slot.name,
            model=answer.model,
            usage=answer.usage,
            cost=record.cost,
            currency=record.currency,
            attempts=run.trail.frozen(),
            latency=run.runtime.clock() - run.started,
            tool_calls=answer.tool_calls,
        )

    def __enter__(self) -> Attempt[RequestT]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        return self._exit(exc)

    def _exit(self, exc: BaseException | None) -> bool:
        """Settles the call as `exc` (None: it ended without raising) says; True when the
        failure is to be swallowed (`error` holds it), False to let `exc` go on."""
        if exc is None:
            exc = self._ended_cleanly()
            if exc is None:
                return False
        if not isinstance(exc, Exception):  # cancelled, or a stream closed by its consumer
            self._cancelled(self.cancel_cause or self.run.cancel_cause())
            return False
        self._fail(self._provider_error(exc))
        return True

    # -- what a stream (routing/relay.py) or an Embed call does differently -------------

    def _ended_cleanly(self) -> ProviderError | None:
        """Settles a call that ended without raising as a success; or, when it is not
        complete after all, returns the error to settle it with instead."""
        completion = self.completion
        assert completion is not None
        self._settle_success(completion.model, completion.usage, completion.finish_reason)
        return None

    def _price(self) -> Price:
        return self.spec.price_for(self.candidate.model_name)

    def _consumed(self) -> None:
        """Fills in what a call that did not succeed consumed (a cut stream is billed too)."""

    def _timeout_message(self) -> str:
        return f"no answer within {self.timeout:.3g} s"

    @property
    def served_model(self) -> str:
        """The model this call is recorded under in the trail."""
        return self.candidate.model_name

    # -- settling: one order for every outcome -------------------------------------------

    def _provider_error(self, exc: Exception) -> ProviderError:
        if isinstance(exc, TimeoutError):
            # Ours or the adapter's own read timeout: the same verdict.
            return ProviderError(ErrorKind.TIMEOUT, self._timeout_message())
        if isinstance(exc, ProviderError):
            return exc
        return unexpected_failure(self.slot.name, exc)

    def _fail(self, error: ProviderError) -> None:
        """Settles a failed call; raises when the request as a whole must end."""
        run = self.run
        if self.deadline_bound and error.kind is ErrorKind.TIMEOUT:
            # The caller's deadline, shorter than the provider's timeout, cut the call short:
            # no verdict on the provider.
            self._cancelled(CANCELLED_BY_DEADLINE)
            raise run.trail.deadline_exceeded(partial=run.partial)
        if self._settled:
            return
        latency = self._clock() - self.start
        self.slot.failed(error, probe=self.probe)
        run.trail.failed(self.slot.name, self.served_model, error, latency, self.retry)
        record = self.record
        record.outcome = AttemptOutcome.FAILED
        record.error_kind = error.kind.value
        self._ended(latency)
        if run.partial:
            raise StreamInterrupted(
                f"provider {self.slot.name} failed mid-stream ({error.kind.value}); "
                "the output is partial",
                run.trail.frozen(),
            )
        if not error.policy.fallback:
            raise ProviderRejectedRequest(
                f"provider {self.slot.name} rejected the request: {error.message}",
                run.trail.frozen(),
            )
        self.error = error

    def _cancelled(self, cause: str) -> None:
        if self._settled:
            return
        latency = self._clock() - self.start
        self.slot.cancelled(probe=self.probe)
        self.run.trail.cancelled(self.slot.name, self.served_model, latency, self.retry, cause)
        record = self.record
        record.outcome = AttemptOutcome.CANCELLED
        record.error_kind = cause
        self._ended(latency)

    def _settle_success(
        self,
        model: str,
        usage: Usage,
        finish: FinishReason | None,
        ttft: float | None = None,
    ) -> None:
        if self._settled:
            return
        latency = self._clock() - self.start
        price = self._price()
        cost = self.slot.succeeded(
            probe=self.probe, latency=latency, usage=usage, price=price, ttft=ttft
        )
        self.run.trail.succeeded(self.slot.name, model, latency, self.retry)
        record = self.record
        record.response_model = model
        record.usage = usage
        record.cost = cost
        record.currency = price.currency
        record.finish_reason = finish
        record.time_to_first_token = ttft
        record.latency = latency
        self._settled = True
        self.run.runtime.observer.attempt_ended(record)

    def _ended(self, latency: float) -> None:
        """The end of a call that did not succeed."""
        self._settled = True
        self.record.latency = latency
        self._consumed()
        self.run.runtime.observer.attempt_ended(self.record)
