"""Plain-text renderings of replies for the CLI: a metrics table, documents, a summary line."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf import duration_pb2

from orchestrator.v1 import (
    admin_pb2,
    common_pb2,
    generate_pb2,
    listing_pb2,
    metrics_pb2,
    retrieve_pb2,
)
from orchestrator_client.requests import struct_to_dict


def ms(duration: duration_pb2.Duration) -> str:
    nanos = duration.ToNanoseconds()
    return "-" if nanos == 0 else f"{nanos / 1e6:.0f} ms"


def enum_label(name: str, prefix: str) -> str:
    return name.removeprefix(prefix).lower().replace("_", "-")


def metrics_table(reply: metrics_pb2.GetMetricsResponse) -> str:
    strategy = enum_label(common_pb2.RoutingStrategy.Name(reply.strategy), "ROUTING_STRATEGY_")
    uptime = reply.uptime.ToTimedelta()
    header = f"strategy {strategy}, up {str(uptime).split('.')[0]}"
    columns = [
        "PROVIDER",
        "KIND",
        "MODEL",
        "HEALTH",
        "CIRCUIT",
        "REQUESTS",
        "OK",
        "FAILED",
        "SUCCESS",
        "P50",
        "P95",
        "TTFT",
        "TOKENS IN/OUT",
        "COST",
        "LAST ERROR",
    ]
    rows = [columns]
    for p in reply.providers:
        cost = f"{p.cost.amount:.4f} {p.cost.currency}" if p.cost.currency else "-"
        last = f"{p.last_error.code}: {p.last_error.message}" if p.last_error.code else ""
        rows.append(
            [
                p.name,
                enum_label(common_pb2.ProviderKind.Name(p.kind), "PROVIDER_KIND_"),
                p.model,
                enum_label(metrics_pb2.HealthStatus.Name(p.health), "HEALTH_STATUS_"),
                enum_label(metrics_pb2.CircuitState.Name(p.circuit_state), "CIRCUIT_STATE_"),
                str(p.requests_total),
                str(p.requests_ok),
                str(p.requests_failed),
                "-" if p.health == metrics_pb2.HEALTH_STATUS_NO_DATA else f"{p.success_rate:.0%}",
                ms(p.p50_latency),
                ms(p.p95_latency),
                ms(p.time_to_first_token),
                f"{p.prompt_tokens}/{p.completion_tokens}",
                cost,
                last,
            ]
        )
    return header + "\n" + _align(rows)


def models_table(reply: listing_pb2.ListModelsResponse) -> str:
    """One row per model, named as `--model` takes it; then where each listing came from."""
    rows = [["MODEL", "PROVIDER", "DEFAULT", "CONFIGURED"]]
    for m in reply.models:
        rows.append(
            [m.name, m.provider, "yes" if m.is_default else "", "yes" if m.configured else ""]
        )
    lines = [_align(rows)]
    for listing in reply.providers:
        source = enum_label(listing_pb2.ModelSource.Name(listing.source), "MODEL_SOURCE_")
        note = f" ({listing.error})" if listing.error else ""
        lines.append(f"{listing.provider}: listed by {source}{note}")
    for alias in reply.aliases:
        lines.append(f"alias {alias.name} -> {', '.join(alias.targets)}")
    return "\n".join(lines)


def _align(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def generation_summary(
    provider: str,
    model: str,
    usage: common_pb2.Usage | None,
    finish_reason: int,
    attempts: Sequence[common_pb2.Attempt],
    request_id: str,
) -> str:
    """One line about a finished generation, for stderr."""
    finish = enum_label(generate_pb2.FinishReason.Name(finish_reason), "FINISH_REASON_")
    parts = [f"{provider}/{model}", f"finish {finish}"]
    if usage is not None:
        estimated = " (estimated)" if usage.estimated else ""
        parts.append(f"tokens {usage.prompt_tokens} in, {usage.completion_tokens} out{estimated}")
    failed = [a.provider for a in attempts if a.outcome != common_pb2.ATTEMPT_OUTCOME_SUCCESS]
    if failed:
        parts.append("fell back from " + ", ".join(failed))
    if request_id:
        parts.append(f"request {request_id}")
    return "-- " + "; ".join(parts)


def documents_text(reply: retrieve_pb2.RetrieveResponse) -> str:
    if not reply.documents:
        return "no documents found"
    blocks = []
    for i, doc in enumerate(reply.documents, 1):
        metadata = struct_to_dict(doc.metadata)
        extra = "  " + ", ".join(f"{k}={v}" for k, v in metadata.items()) if metadata else ""
        blocks.append(f"{i}. [{doc.score:.3f}] {doc.id}{extra}\n   {doc.content.strip()}")
    return "\n".join(blocks)


def reload_summary(result: admin_pb2.ReloadResult) -> str:
    """What a reload changed, in one line per fact."""
    head = (
        f"reloaded: generation {result.generation}"
        if result.applied
        else f"valid, not applied (generation {result.generation} serves on)"
    )
    lines = [head]
    for label, names in (
        ("added", result.added),
        ("removed", result.removed),
        ("changed", result.changed),
        ("unchanged", result.unchanged),
    ):
        if names:
            lines.append(f"  {label:<10} {', '.join(names)}")
    if result.applied:
        lines.append(f"  stats      {'kept' if result.metrics_preserved else 'reset'}")
    if result.restart_required:
        lines.append(f"  restart required for: {', '.join(result.restart_required)}")
    return "\n".join(lines)
