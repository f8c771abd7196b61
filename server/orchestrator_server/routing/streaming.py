"""The streaming path of the router.

Until a provider has produced non-empty text, a stream fails over exactly like a unary call.
From the first text (or tool-call fragment) on, the caller holds part of one provider's
answer, so a failure ends the stream with StreamInterrupted: text from a second provider
would not continue it. Each call is a StreamAttempt (routing/relay.py), which settles its own
outcome.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from orchestrator_server.domain.chat import ChatRequest
from orchestrator_server.routing.relay import StreamAttempt
from orchestrator_server.routing.run import Run
from orchestrator_server.routing.runtime import Runtime
from orchestrator_server.routing.types import RouteOptions, StreamEvent


async def stream_events(
    runtime: Runtime, request: ChatRequest, route: RouteOptions, deadline: float | None
) -> AsyncGenerator[StreamEvent, None]:
    with Run(runtime, request, route, deadline) as run:
        while (turn := run.turns.next()) is not None:
            attempt = StreamAttempt(run, turn)
            async with attempt:
                delta = await attempt.first_delta()
                if delta is not None:
                    yield attempt.started()
                while delta is not None:
                    yield delta
                    delta = await attempt.delta()
            if attempt.error is None:
                if attempt.first_at is None:
                    yield attempt.started()
                yield attempt.finished()
                return
            await run.turns.failed(attempt.error)
        raise run.trail.exhausted(run.model, runtime.model_listing)
