"""Checks that the load got real replies, since h2load counts only HTTP status.

A gRPC error is HTTP 200 with a trailers-only reply, that is no body. So the response body
bytes h2load received must lie between `ok` times the smallest and the largest size a full
reply can have (they vary only in their Duration fields); where the server reports its
outcomes (the gateway's GetMetrics), none of its calls may have failed; and where there is an
upstream (bench/upstream.py), it must have answered at least one call per reply counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.protobuf import duration_pb2
from google.protobuf.message import Message

import servers
import workload
from loadspec import LoadResult
from orchestrator.v1 import generate_pb2, metrics_pb2, orchestrator_service_pb2_grpc

CALL_TIMEOUT_S = 5.0


class ReplyError(RuntimeError):
    pass


@dataclass(frozen=True)
class SizeRange:
    low: int
    high: int


@dataclass(frozen=True)
class Replies:
    """What a real gRPC client saw from one server, every call OK with the expected text."""

    generate: SizeRange  # framed Generate reply
    stream: SizeRange  # framed messages of one GenerateStream call, together
    stream_messages: int


@dataclass(frozen=True)
class Outcomes:
    """Calls the server's own metrics counted (GetMetrics), summed over its providers."""

    ok: int
    failed: int


@dataclass(frozen=True)
class UpstreamCounts:
    """What the upstream served (its GET /stats)."""

    completions: int
    streams: int
    rejected: int


@dataclass(frozen=True)
class Verdict:
    messages: int
    verified: bool
    detail: str


def _with_durations(message: Message, seconds: int, nanos: int) -> Message:
    """A copy of `message` with every Duration that is set replaced by (seconds, nanos)."""
    copy = type(message)()
    copy.CopyFrom(message)
    _set_durations(copy, seconds, nanos)
    return copy


def _set_durations(message: Message, seconds: int, nanos: int) -> None:
    if isinstance(message, duration_pb2.Duration):
        message.seconds, message.nanos = seconds, nanos
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        for item in value if field.is_repeated else [value]:
            _set_durations(item, seconds, nanos)


def size_range(messages: list[Message]) -> SizeRange:
    """Framed size of these messages with the shortest and the longest Duration encodings
    (1 ns; 9.999999999 s, beyond any call's deadline here)."""

    def framed(seconds: int, nanos: int) -> int:
        return sum(
            len(workload.grpc_frame(_with_durations(m, seconds, nanos).SerializeToString()))
            for m in messages
        )

    return SizeRange(framed(0, 1), framed(9, 999_999_999))


def check_replies(address: str, calls: int = 20) -> Replies:
    """Calls Generate and GenerateStream `calls` times each with a real gRPC client."""
    with grpc.insecure_channel(address) as channel:
        stub = orchestrator_service_pb2_grpc.OrchestratorServiceStub(channel)
        try:
            replies = [_generate(stub) for _ in range(calls)]
            streams = [_stream(stub) for _ in range(calls)]
        except grpc.RpcError as exc:
            raise ReplyError(f"{address}: {exc.code().name}: {exc.details()}") from None
    if len({len(events) for events in streams}) != 1:
        raise ReplyError(f"{address}: streams differ in their number of messages")
    return Replies(size_range([replies[0]]), size_range(list(streams[0])), len(streams[0]))


def _generate(stub: orchestrator_service_pb2_grpc.OrchestratorServiceStub) -> Message:
    reply = stub.Generate(workload.generate_request(), timeout=CALL_TIMEOUT_S)
    if reply.text != workload.REPLY:
        raise ReplyError(f"unexpected Generate reply text {reply.text!r}")
    return reply


def _stream(stub: orchestrator_service_pb2_grpc.OrchestratorServiceStub) -> list[Message]:
    events: list[generate_pb2.GenerateStreamResponse] = list(
        stub.GenerateStream(workload.stream_request(), timeout=CALL_TIMEOUT_S)
    )
    kinds = [event.WhichOneof("event") for event in events]
    text = "".join(event.delta.text for event in events if event.HasField("delta"))
    if kinds[:1] != ["start"] or kinds[-1:] != ["end"] or text != workload.REPLY:
        raise ReplyError(f"unexpected stream: {kinds} {text!r}")
    return list(events)


def outcomes(address: str) -> Outcomes | None:
    """The server's own call counts, or None when it has no GetMetrics (the floor)."""
    with grpc.insecure_channel(address) as channel:
        stub = orchestrator_service_pb2_grpc.OrchestratorServiceStub(channel)
        try:
            reply = stub.GetMetrics(metrics_pb2.GetMetricsRequest(), timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                return None
            raise
    return Outcomes(
        ok=sum(p.requests_ok for p in reply.providers),
        failed=sum(p.requests_failed for p in reply.providers),
    )


def upstream_counts(address: str) -> UpstreamCounts:
    stats = servers.http_get_json(f"http://{address}/stats", timeout=CALL_TIMEOUT_S)
    if not isinstance(stats, dict):
        raise ReplyError(f"upstream {address}: /stats is not an object")
    return UpstreamCounts(int(stats["completions"]), int(stats["streams"]), int(stats["rejected"]))


def verdict(
    result: LoadResult,
    streaming: bool,
    replies: Replies,
    server: tuple[Outcomes, Outcomes] | None,
    upstream: tuple[UpstreamCounts, UpstreamCounts] | None = None,
) -> Verdict:
    per_call = replies.stream_messages if streaming else 1
    problems = [] if result.failed == 0 else [f"{result.failed} calls failed"]
    if result.data_bytes is not None:
        size = replies.stream if streaming else replies.generate
        if not result.ok * size.low <= result.data_bytes <= result.ok * size.high:
            problems.append(
                f"{result.data_bytes} body bytes for {result.ok} calls: not "
                f"{size.low}..{size.high} bytes each"
            )
        messages = result.ok * per_call
    else:
        messages = result.messages if result.messages is not None else result.ok * per_call
        if messages != result.ok * per_call:
            problems.append(f"{messages} messages in {result.ok} calls")
    if server is not None:
        before, after = server
        if after.failed != before.failed:
            problems.append(f"the server counted {after.failed - before.failed} failed calls")
        if after.ok - before.ok < result.ok:
            problems.append(f"the server counted only {after.ok - before.ok} ok calls")
    if upstream is not None:
        up_before, up_after = upstream
        field = "streams" if streaming else "completions"
        served = getattr(up_after, field) - getattr(up_before, field)
        if served < result.ok:
            problems.append(f"the upstream served {served} {field} for {result.ok} calls")
        if up_after.rejected != up_before.rejected:
            problems.append(f"the upstream rejected {up_after.rejected - up_before.rejected}")
    return Verdict(messages, not problems, "; ".join(problems))
