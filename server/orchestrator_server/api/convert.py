"""Domain results to protobuf messages."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import duration_pb2, timestamp_pb2

from orchestrator.v1 import common_pb2, generate_pb2, metrics_pb2
from orchestrator_server.api.tools import tool_calls_to_proto, tool_deltas_to_proto
from orchestrator_server.config.providers import KINDS
from orchestrator_server.domain.attempts import Attempt, AttemptOutcome
from orchestrator_server.domain.chat import FinishReason, Usage
from orchestrator_server.domain.tools import ToolCallDelta
from orchestrator_server.routing.types import (
    CircuitState,
    HealthClass,
    ProviderSnapshot,
    RoutedCompletion,
    StreamFinished,
)

FINISH_REASONS = {
    FinishReason.UNSPECIFIED: generate_pb2.FINISH_REASON_UNSPECIFIED,
    FinishReason.STOP: generate_pb2.FINISH_REASON_STOP,
    FinishReason.LENGTH: generate_pb2.FINISH_REASON_LENGTH,
    FinishReason.CONTENT_FILTER: generate_pb2.FINISH_REASON_CONTENT_FILTER,
    FinishReason.TOOL_CALL: generate_pb2.FINISH_REASON_TOOL_CALL,
    FinishReason.OTHER: generate_pb2.FINISH_REASON_OTHER,
}
OUTCOMES = {
    AttemptOutcome.SUCCESS: common_pb2.ATTEMPT_OUTCOME_SUCCESS,
    AttemptOutcome.FAILED: common_pb2.ATTEMPT_OUTCOME_FAILED,
    AttemptOutcome.SKIPPED: common_pb2.ATTEMPT_OUTCOME_SKIPPED,
    AttemptOutcome.CANCELLED: common_pb2.ATTEMPT_OUTCOME_CANCELLED,
}
HEALTH = {
    HealthClass.HEALTHY: metrics_pb2.HEALTH_STATUS_HEALTHY,
    HealthClass.DEGRADED: metrics_pb2.HEALTH_STATUS_DEGRADED,
    HealthClass.UNHEALTHY: metrics_pb2.HEALTH_STATUS_UNHEALTHY,
}


def health_status(snap: ProviderSnapshot) -> metrics_pb2.HealthStatus:
    """The snapshot's health class, or NO_DATA when nothing in the window backs a HEALTHY."""
    if snap.health is HealthClass.HEALTHY and snap.recent_samples == 0:
        return metrics_pb2.HEALTH_STATUS_NO_DATA
    return HEALTH[snap.health]


CIRCUIT = {
    CircuitState.CLOSED: metrics_pb2.CIRCUIT_STATE_CLOSED,
    CircuitState.OPEN: metrics_pb2.CIRCUIT_STATE_OPEN,
    CircuitState.HALF_OPEN: metrics_pb2.CIRCUIT_STATE_HALF_OPEN,
}
# Config kind -> proto enum, from the registry (config/providers.py KINDS).
PROVIDER_KINDS: dict[str, common_pb2.ProviderKind] = {
    kind.name: common_pb2.ProviderKind.Value(kind.proto)  # type: ignore[misc]
    for kind in KINDS
}


def duration(seconds: float | None) -> duration_pb2.Duration | None:
    if seconds is None:
        return None
    out = duration_pb2.Duration()
    out.FromNanoseconds(round(seconds * 1e9))
    return out


def cost_to_proto(amount: float, currency: str) -> common_pb2.Cost | None:
    """None (no `cost` in the reply) when the model has no price; a free model's is 0."""
    return common_pb2.Cost(amount=amount, currency=currency) if currency else None


def usage_to_proto(usage: Usage) -> common_pb2.Usage:
    return common_pb2.Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        estimated=usage.estimated,
    )


def attempts_to_proto(attempts: Iterable[Attempt]) -> list[common_pb2.Attempt]:
    return [
        common_pb2.Attempt(
            provider=a.provider,
            model=a.model,
            outcome=OUTCOMES[a.outcome],
            error_code=a.error_code,
            message=a.message,
            latency=duration(a.latency),
            retry=a.retry,
        )
        for a in attempts
    ]


def generate_response(result: RoutedCompletion, request_id: str) -> generate_pb2.GenerateResponse:
    return generate_pb2.GenerateResponse(
        text=result.text,
        finish_reason=FINISH_REASONS[result.finish_reason],
        provider=result.provider,
        model=result.model,
        usage=usage_to_proto(result.usage),
        cost=cost_to_proto(result.cost, result.currency),
        latency=duration(result.latency),
        attempts=attempts_to_proto(result.attempts),
        request_id=request_id,
        tool_calls=tool_calls_to_proto(result.tool_calls) if result.tool_calls else None,
    )


def stream_start(provider: str, model: str, request_id: str) -> generate_pb2.GenerateStreamResponse:
    return generate_pb2.GenerateStreamResponse(
        start=generate_pb2.StreamStart(provider=provider, model=model, request_id=request_id)
    )


def stream_delta(
    text: str, tool_calls: tuple[ToolCallDelta, ...] = ()
) -> generate_pb2.GenerateStreamResponse:
    if tool_calls:
        delta = generate_pb2.StreamDelta(text=text, tool_calls=tool_deltas_to_proto(tool_calls))
        return generate_pb2.GenerateStreamResponse(delta=delta)
    return generate_pb2.GenerateStreamResponse(delta=generate_pb2.StreamDelta(text=text))


def stream_end(event: StreamFinished) -> generate_pb2.GenerateStreamResponse:
    return generate_pb2.GenerateStreamResponse(
        end=generate_pb2.StreamEnd(
            finish_reason=FINISH_REASONS[event.finish_reason],
            usage=usage_to_proto(event.usage),
            cost=cost_to_proto(event.cost, event.currency),
            attempts=attempts_to_proto(event.attempts),
            latency=duration(event.latency),
            time_to_first_token=duration(event.time_to_first_token),
            tool_calls=tool_calls_to_proto(event.tool_calls) if event.tool_calls else None,
        )
    )


def provider_metrics(snap: ProviderSnapshot) -> metrics_pb2.ProviderMetrics:
    out = metrics_pb2.ProviderMetrics(
        name=snap.name,
        kind=PROVIDER_KINDS.get(snap.kind, common_pb2.PROVIDER_KIND_UNSPECIFIED),
        model=snap.model,
        health=health_status(snap),
        requests_total=snap.requests_total,
        requests_ok=snap.requests_ok,
        requests_failed=snap.requests_failed,
        success_rate=snap.success_rate,
        average_latency=duration(snap.average_latency),
        rolling_latency=duration(snap.rolling_latency),
        p50_latency=duration(snap.p50_latency),
        p95_latency=duration(snap.p95_latency),
        time_to_first_token=duration(snap.time_to_first_token),
        prompt_tokens=snap.prompt_tokens,
        completion_tokens=snap.completion_tokens,
        cost=cost_to_proto(snap.cost, snap.currency),
        circuit_state=CIRCUIT[snap.circuit_state],
        consecutive_failures=snap.consecutive_failures,
        weight=snap.weight,
        in_flight=snap.in_flight,
    )
    if snap.last_error is not None:
        at = timestamp_pb2.Timestamp()
        at.FromNanoseconds(int(snap.last_error.at * 1e9))
        out.last_error.CopyFrom(
            metrics_pb2.LastError(
                code=snap.last_error.code, message=snap.last_error.message, occurred_at=at
            )
        )
    return out
