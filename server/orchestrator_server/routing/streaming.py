"""The streaming path of the router.

Until a provider has produced non-empty text, a stream fails over exactly like a unary call.
From the first text on, the caller holds part of one provider's answer, so a failure ends the
stream with StreamInterrupted: text from a second provider would not continue it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from orchestrator_server.domain.chat import ChatRequest, FinishReason, Usage, estimate_usage
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.domain.tools import ResponseFormatType, ToolCallAssembler
from orchestrator_server.routing.chunk_timer import ChunkTimer
from orchestrator_server.routing.observer import AttemptRecord
from orchestrator_server.routing.runtime import (
    Runtime,
    closing,
    observe_cancel,
    observe_failure,
    observe_success,
    settle_cancel,
    settle_failure,
    unexpected_failure,
)
from orchestrator_server.routing.trail import Trail
from orchestrator_server.routing.turns import Turns
from orchestrator_server.routing.types import (
    RouteOptions,
    StreamEvent,
    StreamFinished,
    StreamStarted,
    StreamText,
)


async def stream_events(
    runtime: Runtime, request: ChatRequest, route: RouteOptions, deadline: float | None
) -> AsyncGenerator[StreamEvent, None]:
    clock = runtime.clock
    started = clock()
    if deadline is None:
        deadline = started + runtime.request_timeout
    trail = Trail()
    turns = Turns(runtime, runtime.plan(route), trail, deadline)
    structured = request.response_format.type is not ResponseFormatType.TEXT
    while (turn := turns.next()) is not None:
        candidate, probe, retry = turn.candidate, turn.probe, turn.retry
        slot = candidate.slot
        spec = slot.spec
        first_token_timeout = spec.first_token_timeout or spec.timeout
        start = clock()

        # Time to first token is one budget from the start of the call, however many
        # empty chunks (role headers, keep-alives) arrive before the text does.
        first_limit = start + first_token_timeout
        model = candidate.model_name
        finish: FinishReason | None = None
        usage: Usage | None = None
        parts: list[str] = []
        calls = ToolCallAssembler()
        first_at: float | None = None
        deadline_bound = False
        error: ProviderError | None = None
        slot.stats.on_start()
        observer = runtime.observer
        record = AttemptRecord(request, spec, candidate.model_name, True, retry)
        observer.attempt_started(record)
        try:
            chunks = slot.provider.stream(
                request.with_model(candidate.model),
                timeout=min(max(first_token_timeout, spec.timeout), deadline - start),
            )
            async with closing(chunks):
                timer = ChunkTimer()
                try:
                    while True:
                        now = clock()
                        limit = first_limit if first_at is None else now + spec.timeout
                        deadline_bound = deadline < limit
                        try:
                            chunk = await timer.next(
                                chunks, (deadline if deadline_bound else limit) - now
                            )
                        except StopAsyncIteration:
                            break
                        if chunk.finish_reason is not None:
                            finish = chunk.finish_reason
                        if chunk.usage is not None:
                            usage = chunk.usage
                        text = chunk.text
                        fragments = chunk.tool_calls
                        if first_at is None:
                            if chunk.model:
                                model = chunk.model
                            if not text and not fragments:
                                continue
                            first_at = clock()
                            yield StreamStarted(slot.name, model)
                        elif not text and not fragments:
                            continue
                        parts.append(text)
                        if fragments:
                            calls.add(fragments)
                            yield StreamText(text, fragments)
                        else:
                            yield StreamText(text)
                finally:
                    timer.close()
                if structured:
                    bad = runtime.reply_error(request, "".join(parts), finish, bool(calls))
                    if bad is not None:
                        raise bad
        except TimeoutError:
            error = ProviderError(
                ErrorKind.TIMEOUT,
                f"no first token within {first_token_timeout:.3g} s"
                if first_at is None
                else f"no chunk within {spec.timeout:.3g} s",
            )
        except ProviderError as exc:
            error = exc
        except (asyncio.CancelledError, GeneratorExit):
            # The consumer went away; `closing` has already aborted the upstream call.
            latency = clock() - start
            _consumed(record, request, usage, parts, first_at, start, model)
            observe_cancel(observer, record, latency)
            settle_cancel(
                slot,
                trail,
                model,
                latency=latency,
                retry=retry,
                probe=probe,
                deadline=False,
            )
            raise
        except Exception as exc:
            error = unexpected_failure(slot.name, exc)

        latency = clock() - start
        if error is None:
            if usage is None:
                usage = estimate_usage(request.messages, "".join(parts) + calls.text())
            ttft = None if first_at is None else first_at - start
            price = spec.price_for(candidate.model_name)
            cost = slot.succeeded(probe=probe, latency=latency, usage=usage, price=price, ttft=ttft)
            currency = price.currency
            trail.succeeded(slot.name, model, latency, retry)
            observe_success(
                observer,
                record,
                model=model,
                latency=latency,
                usage=usage,
                cost=cost,
                currency=currency,
                finish_reason=finish,
                ttft=ttft,
            )
            if first_at is None:
                yield StreamStarted(slot.name, model)
            yield StreamFinished(
                finish_reason=finish or FinishReason.UNSPECIFIED,
                usage=usage,
                cost=cost,
                currency=currency,
                attempts=trail.frozen(),
                latency=clock() - started,
                time_to_first_token=0.0 if first_at is None else first_at - started,
                tool_calls=calls.calls() if calls else (),
            )
            return

        _consumed(record, request, usage, parts, first_at, start, model)
        observe_failure(observer, record, error, latency)
        settle_failure(
            slot,
            trail,
            model,
            error,
            latency=latency,
            retry=retry,
            probe=probe,
            deadline_bound=deadline_bound,
            partial=first_at is not None,
        )
        await turns.failed(error)
    raise trail.exhausted()


def _consumed(
    record: AttemptRecord,
    request: ChatRequest,
    usage: Usage | None,
    parts: list[str],
    first_at: float | None,
    start: float,
    model: str,
) -> None:
    """What a stream that did not finish consumed: the usage the provider reported, else an
    estimate from the prompt and the text received (a provider bills a cut stream too)."""
    if usage is None and parts:
        usage = estimate_usage(request.messages, "".join(parts))
    if usage is not None:
        price = record.provider.price_for(record.model)
        record.usage = usage
        record.cost = price.cost(usage.prompt_tokens, usage.completion_tokens)
        record.currency = price.currency
    if first_at is not None:
        record.time_to_first_token = first_at - start
        record.response_model = model
