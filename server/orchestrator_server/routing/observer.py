"""What the router tells observers (metrics, traces, usage events, logs) about each call it
makes to a provider. Plain data and a protocol: the router knows nothing of OpenTelemetry.

The router fills one AttemptRecord per call: the start fields before it calls the provider
(`attempt_started`, while the call has not begun, so a tracer can make its span current for
it), the outcome fields once the call is over (`attempt_ended`, before the router decides
what comes next). Observers must not raise and must not block: they run on the request path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from orchestrator_server.domain.attempts import AttemptOutcome
from orchestrator_server.domain.chat import ChatRequest, FinishReason, Usage
from orchestrator_server.domain.embeddings import EmbeddingRequest
from orchestrator_server.providers.base import ProviderSpec


@dataclass(slots=True)
class AttemptRecord:
    request: ChatRequest | EmbeddingRequest  # carries request_id and the caller's RequestMeta
    provider: ProviderSpec  # name, kind
    model: str  # the model asked of the provider (configured name)
    streaming: bool
    retry: int  # 0 for the first call to this provider within the request
    # Set when the call is over.
    outcome: AttemptOutcome = AttemptOutcome.SUCCESS
    # FAILED: an ErrorKind value; CANCELLED: its cause (routing/trail.py); "" on success.
    # The attempt trail shows the same code.
    error_kind: str = ""
    response_model: str = ""  # the model the provider says served it ("" when unknown)
    latency: float = 0.0  # seconds spent on this call
    usage: Usage | None = None  # tokens consumed, estimated for a cut or cancelled stream
    cost: float = 0.0
    currency: str = ""
    finish_reason: FinishReason | None = None
    time_to_first_token: float | None = None  # streams: seconds from the call to its first text
    # Per-attempt state an observer keeps between its two callbacks (a span, a timer).
    scope: object = None

    @property
    def operation(self) -> str:
        """The GenAI operation name: "chat" or "embeddings"."""
        return "embeddings" if isinstance(self.request, EmbeddingRequest) else "chat"


class AttemptObserver(Protocol):
    def attempt_started(self, record: AttemptRecord) -> None: ...

    def attempt_ended(self, record: AttemptRecord) -> None: ...


class NoObserver:
    """The default: no telemetry, no cost."""

    __slots__ = ()

    def attempt_started(self, record: AttemptRecord) -> None:
        pass

    def attempt_ended(self, record: AttemptRecord) -> None:
        pass


NO_OBSERVER = NoObserver()
