"""A streamed call to one provider: an Attempt that relays the provider's text (and tool-call
fragments) chunk by chunk.

`delta()` is the stream's hot path: one await per chunk, no allocation but the event it
returns. It bounds
each wait with one timer per attempt, not one per chunk (a fresh asyncio.timeout around every
chunk cost about half of the router's streaming time): a single timer handle is armed for
the current limit and, when it fires early because the limit has since moved on (a chunk
arrived), re-arms itself for the new limit. It cancels the task only while the attempt waits
on the provider, never while the consumer holds a yielded event (a slow gRPC write is the
caller's flow control, not a provider timeout). Time to first token is one budget from the
start of the call, however many empty chunks (role headers, keep-alives) come first; later
chunks get `timeout` each.

A provider stream is complete only once a chunk has said why it finished (`finish_reason`,
the adapters' rendering of their provider's end marker). One that simply stops before that
was cut upstream: the attempt fails UNAVAILABLE, whichever adapter it was. A complete stream
asked for JSON is then held to the requested format like a unary reply (Runtime.reply_error).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import TracebackType

from orchestrator_server.domain.chat import (
    ChatRequest,
    FinishReason,
    StreamChunk,
    Usage,
    estimate_usage,
)
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.domain.tools import ResponseFormatType, ToolCallAssembler
from orchestrator_server.routing.attempt import Attempt
from orchestrator_server.routing.run import Run
from orchestrator_server.routing.turns import Turn
from orchestrator_server.routing.types import StreamFinished, StreamStarted, StreamText


class StreamAttempt(Attempt[ChatRequest]):
    __slots__ = (
        "_chunk_timeout",
        "_chunks",
        "_deadline",
        "_expired",
        "_handle",
        "_loop",
        "_task",
        "_waiting",
        "_when",
        "calls",
        "finish",
        "first_at",
        "first_limit",
        "first_token_timeout",
        "model",
        "parts",
        "usage",
    )

    def __init__(self, run: Run[ChatRequest], turn: Turn) -> None:
        super().__init__(run, turn, streaming=True)
        self.first_token_timeout = self.spec.first_token_timeout or self.spec.timeout
        self.first_limit = self.start + self.first_token_timeout
        self.model = self.candidate.model_name  # until the provider names the one serving
        self.finish: FinishReason | None = None
        self.usage: Usage | None = None
        self.parts: list[str] = []
        self.calls = ToolCallAssembler()
        self.first_at: float | None = None
        self._chunks: AsyncIterator[StreamChunk] | None = None
        # The timer: loop time by which the awaited chunk must arrive, the handle armed for
        # it, and whether the attempt is waiting on the provider right now.
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None, "a stream attempt needs a running task"
        self._task = task
        self._handle: asyncio.TimerHandle | None = None
        self._when = 0.0
        self._waiting = False
        self._expired = False
        # What the hot path reads on every chunk, one attribute away.
        self._deadline = run.deadline
        self._chunk_timeout = self.spec.timeout

    async def __aenter__(self) -> StreamAttempt:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        await self._close()
        return self._exit(exc)

    async def first_delta(self) -> StreamText | None:
        """Opens the provider's stream; its first text or tool-call fragments (None: it had
        neither)."""
        spec = self.spec
        left = self.run.deadline - self.start
        self._chunks = self.slot.provider.stream(
            self.run.request.with_model(self.candidate.model),
            timeout=min(max(self.first_token_timeout, spec.timeout), left),
        )
        return await self.delta()

    async def delta(self) -> StreamText | None:
        """The next text or tool-call fragments, or None once the provider's stream has
        ended."""
        chunks = self._chunks
        assert chunks is not None
        clock = self._clock
        deadline = self._deadline
        loop = self._loop
        while True:
            now = clock()
            first_at = self.first_at
            limit = self.first_limit if first_at is None else now + self._chunk_timeout
            self.deadline_bound = bound = deadline < limit
            self._when = when = loop.time() + ((deadline if bound else limit) - now)
            handle = self._handle
            if handle is None or handle.when() > when:
                self._arm(when)
            self._waiting = True
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                return None
            except asyncio.CancelledError:
                self._raise_if_expired()
                raise
            finally:
                self._waiting = False
            if chunk.finish_reason is not None:
                self.finish = chunk.finish_reason
            if chunk.usage is not None:
                self.usage = chunk.usage
            text = chunk.text
            fragments = chunk.tool_calls
            if first_at is None:
                if chunk.model:
                    self.model = chunk.model
                if not text and not fragments:
                    continue
                self.first_at = clock()
                self.run.partial = True  # from here on the caller holds this provider's output
            elif not text and not fragments:
                continue
            self.parts.append(text)
            if fragments:
                self.calls.add(fragments)
                return StreamText(text, fragments)
            return StreamText(text)

    def started(self) -> StreamStarted:
        return StreamStarted(self.slot.name, self.model)

    def finished(self) -> StreamFinished:
        """The end event of a stream that succeeded."""
        record = self.record
        run = self.run
        assert record.usage is not None
        first_at = self.first_at
        calls = self.calls
        return StreamFinished(
            finish_reason=self.finish or FinishReason.UNSPECIFIED,
            usage=record.usage,
            cost=record.cost,
            currency=record.currency,
            attempts=run.trail.frozen(),
            latency=run.runtime.clock() - run.started,
            time_to_first_token=0.0 if first_at is None else first_at - run.started,
            tool_calls=calls.calls() if calls else (),
        )

    # -- the timer ------------------------------------------------------------------------

    def _arm(self, when: float) -> None:
        """A handle for `when`, sooner than the one armed (a later limit needs none: the
        armed handle re-arms itself when it fires early)."""
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        if self._loop.time() < self._when:
            self._handle = self._loop.call_at(self._when, self._fire)
        elif self._waiting and not self._expired:
            self._expired = True
            self._task.cancel()
        # Not waiting: the consumer holds an event; the next wait arms a new timer.

    def _raise_if_expired(self) -> None:
        """A cancellation of the timer's making is a timeout, once nobody else has cancelled
        the task too."""
        if self._expired:
            self._expired = False
            if self._task.uncancel() == 0:
                raise TimeoutError from None

    # -- settling (see Attempt) -------------------------------------------------------------

    async def _close(self) -> None:
        """Releases the timer and the provider's stream, before the outcome is settled."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        # Closing the provider's stream aborts its upstream request at once.
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()

    def _ended_cleanly(self) -> ProviderError | None:
        if self.finish is None:
            return ProviderError(
                ErrorKind.UNAVAILABLE, "the upstream stream ended before its end marker"
            )
        request = self.run.request
        if request.response_format.type is not ResponseFormatType.TEXT:
            text = "".join(self.parts)
            bad = self.run.runtime.reply_error(request, text, self.finish, bool(self.calls))
            if bad is not None:
                return bad
        first_at = self.first_at
        usage = self.usage
        if usage is None:
            usage = estimate_usage(request.messages, "".join(self.parts) + self.calls.text())
        ttft = None if first_at is None else first_at - self.start
        self._settle_success(self.model, usage, self.finish, ttft)
        return None

    def _consumed(self) -> None:
        """The usage the provider reported, else an estimate from the prompt and the text
        received (a provider bills a cut stream too)."""
        record = self.record
        usage = self.usage
        if usage is None and (self.parts or self.calls):
            usage = estimate_usage(
                self.run.request.messages, "".join(self.parts) + self.calls.text()
            )
        if usage is not None:
            price = self._price()
            record.usage = usage
            record.cost = price.cost(usage.prompt_tokens, usage.completion_tokens)
            record.currency = price.currency
        if self.first_at is not None:
            record.time_to_first_token = self.first_at - self.start
            record.response_model = self.model

    def _timeout_message(self) -> str:
        if self.first_at is None:
            return f"no first token within {self.first_token_timeout:.3g} s"
        return f"no chunk within {self.spec.timeout:.3g} s"

    @property
    def served_model(self) -> str:
        return self.model
