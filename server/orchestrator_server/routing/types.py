"""What the router takes and gives back. Plain data; no grpc."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from orchestrator_server.config.models import StrategyName
from orchestrator_server.domain.attempts import Attempt
from orchestrator_server.domain.capabilities import NO_FEATURES, Feature
from orchestrator_server.domain.chat import FinishReason, Usage
from orchestrator_server.domain.tools import ToolCall, ToolCallDelta


@dataclass(frozen=True, slots=True)
class RouteOptions:
    """The caller's routing wishes for one request."""

    model: str = ""  # "provider/model", an alias, a bare model name, or "" for any
    provider: str = ""  # pin to this provider (implies no fallback to others)
    allow_fallback: bool = True
    strategy: StrategyName | None = None  # None: the configured strategy
    # What the request needs of a provider (tools, a schema, images): candidates lacking any
    # of it are left out before the strategy orders them.
    features: frozenset[Feature] = NO_FEATURES


@dataclass(frozen=True, slots=True)
class RoutedCompletion:
    text: str
    finish_reason: FinishReason
    provider: str
    model: str
    usage: Usage
    cost: float
    currency: str
    attempts: tuple[Attempt, ...]
    latency: float  # seconds, whole request
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class RoutedEmbeddings:
    vectors: list[list[float]]
    provider: str
    model: str
    usage: Usage
    cost: float
    currency: str
    attempts: tuple[Attempt, ...]
    latency: float  # seconds, whole request

    @property
    def dimensions(self) -> int:
        return len(self.vectors[0]) if self.vectors else 0


@dataclass(frozen=True, slots=True)
class StreamStarted:
    provider: str
    model: str


@dataclass(frozen=True, slots=True)
class StreamText:
    text: str
    tool_calls: tuple[ToolCallDelta, ...] = ()  # fragments, passed on as they came


@dataclass(frozen=True, slots=True)
class StreamFinished:
    finish_reason: FinishReason
    usage: Usage
    cost: float
    currency: str
    attempts: tuple[Attempt, ...]
    latency: float
    time_to_first_token: float
    tool_calls: tuple[ToolCall, ...] = ()  # assembled from the fragments


StreamEvent = StreamStarted | StreamText | StreamFinished


class HealthClass(enum.Enum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


class CircuitState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class LastError:
    code: str
    message: str
    at: float  # wall-clock UNIX time


@dataclass(frozen=True, slots=True)
class ProviderSnapshot:
    """One provider as GetMetrics reports it. Latencies in seconds, None when unknown."""

    name: str
    kind: str
    model: str
    weight: float
    health: HealthClass
    circuit_state: CircuitState
    requests_total: int
    requests_ok: int
    requests_failed: int
    success_rate: float
    average_latency: float | None
    rolling_latency: float | None
    p50_latency: float | None
    p95_latency: float | None
    time_to_first_token: float | None
    prompt_tokens: int
    completion_tokens: int
    cost: float
    currency: str
    consecutive_failures: int
    in_flight: int
    last_error: LastError | None
    recent_samples: int = 0  # outcomes in the health window; 0: health is a default, not data
