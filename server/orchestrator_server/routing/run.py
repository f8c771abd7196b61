"""One request's way through the router: its deadline, its walk over the plan, its trail, and
how it ends when the server cuts it.

A Run is entered (`with Run(...) as run`) by the unary, the streaming and the Embed paths
alike.
While it lasts it is registered with its Runtime, so `Runtime.interrupt` can reach it: the
shutdown grace running out cancels its task with a cause. Wherever that cancellation lands
in the router (a provider call, a retry's wait, a stream's yield), the attempt in flight is
recorded as cancelled by that cause and the Run ends with the domain's answer for it (a
ServerShuttingDown with the trail) instead of a bare cancellation.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import TYPE_CHECKING, Generic, TypeVar

from orchestrator_server.domain.chat import ChatRequest
from orchestrator_server.domain.embeddings import EmbeddingRequest
from orchestrator_server.routing.trail import (
    CANCELLED_BY_CALLER,
    CANCELLED_BY_DEADLINE,
    CANCELLED_BY_SHUTDOWN,
    Trail,
)
from orchestrator_server.routing.turns import Turns
from orchestrator_server.routing.types import RouteOptions

if TYPE_CHECKING:
    from orchestrator_server.routing.runtime import Plan, Runtime

# What a Run carries: a chat request (Generate, GenerateStream) or a batch to embed.
RequestT = TypeVar("RequestT", ChatRequest, EmbeddingRequest)


class Run(Generic[RequestT]):
    __slots__ = (
        "_task",
        "cut",
        "deadline",
        "model",
        "partial",
        "request",
        "runtime",
        "started",
        "trail",
        "turns",
    )

    def __init__(
        self,
        runtime: Runtime,
        request: RequestT,
        route: RouteOptions,
        deadline: float | None,
        plan: Plan | None = None,
    ) -> None:
        """`plan`: the candidates to walk, when not the chat plan of `route` (Embed's)."""
        self.runtime = runtime
        self.request: RequestT = request
        self.started = started = runtime.clock()
        self.deadline = started + runtime.request_timeout if deadline is None else deadline
        self.model = route.model  # as the caller named it ("" for any)
        self.trail = Trail()
        self.turns = Turns(
            runtime, runtime.plan(route) if plan is None else plan, self.trail, self.deadline
        )
        self.partial = False  # a stream of this request has sent text
        self.cut: str | None = None  # why the server cut it short, once it has
        self._task = asyncio.current_task()

    def cancel_cause(self) -> str:
        """Why a cancellation that reached this request happened."""
        if self.cut is not None:
            return self.cut
        if self.runtime.clock() >= self.deadline:
            return CANCELLED_BY_DEADLINE  # grpc's own deadline, a hair before ours
        return CANCELLED_BY_CALLER

    def interrupt(self, cause: str = CANCELLED_BY_SHUTDOWN) -> None:
        """Cuts the request short: its task is cancelled, and the cancellation becomes the
        answer `__exit__` raises."""
        if self.cut is None and self._task is not None and not self._task.done():
            self.cut = cause
            self._task.cancel()

    def __enter__(self) -> Run[RequestT]:
        self.runtime.runs.add(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.runtime.runs.discard(self)
        if self.cut is None or not isinstance(exc, asyncio.CancelledError | GeneratorExit):
            return
        if isinstance(exc, asyncio.CancelledError) and self._task is not None:
            self._task.uncancel()  # answered below: the task goes on to send the status
        raise self.trail.shutting_down(partial=self.partial) from None
