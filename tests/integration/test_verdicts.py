"""One attempt, one verdict: how a call ended is settled once and every view of it agrees
(the attempt trail, GetMetrics, Prometheus, usage events, logs, traces); and a stream that
is cut after it sent text, by the caller's deadline or by the end of the shutdown grace,
says its output is partial."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from orchestrator.v1 import common_pb2, generate_pb2
from orchestrator_client import AsyncOrchestratorClient, DeadlineExceeded, StreamInterrupted
from orchestrator_server.domain.chat import ChatRequest, Completion, StreamChunk
from orchestrator_server.providers.base import ProviderSpec
from orchestrator_server.telemetry.setup import Telemetry
from tests.helpers import Running, error_reason, make_config, mock_provider, running, trail
from tests.integration.telemetry.test_metrics import scrape, value
from tests.integration.telemetry.test_usage import Collected

PARTIAL = ("orchestrator-partial-output", "true")
WORDS = " ".join(f"w{i}" for i in range(400))
SLOW = {"reply": WORDS, "chunk_delay_ms": 25}  # about ten seconds of stream
CANCELLED = common_pb2.ATTEMPT_OUTCOME_CANCELLED


async def first_deltas(call: Any, n: int) -> list[str]:
    texts: list[str] = []
    while len(texts) < n:
        event = await call.read()
        if event.HasField("delta"):
            texts.append(event.delta.text)
    return texts


async def read_to_the_end(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        while await call.read() is not grpc.aio.EOF:
            pass
    return caught.value


def stream(server: Running, timeout: float | None = None) -> Any:
    request = generate_pb2.GenerateStreamRequest(prompt="go")
    return server.stub.GenerateStream(
        request, timeout=timeout, metadata=[("x-request-id", "verdict-1")]
    )


# --- defect 2: partial output on a cut ------------------------------------------------------


# The router's deadline is the caller's (less a margin for the answer to get back) or, when
# the caller sets none, router.request_timeout: the tests that look at the server's answer use
# the latter, so that no race with the client's own deadline timer can hide it.
CUT_AT_HALF_A_SECOND = {"router": {"request_timeout": 0.5}}


async def test_a_stream_cut_by_the_deadline_after_text_is_partial() -> None:
    config = make_config(mock_provider("slow", **SLOW), **CUT_AT_HALF_A_SECOND)
    async with running(config) as server:
        call = stream(server)
        await first_deltas(call, 3)
        error = await read_to_the_end(call)
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert error_reason(error) == "DEADLINE_EXCEEDED"
    assert PARTIAL in tuple(error.trailing_metadata())
    cut = trail(error)
    assert cut is not None
    assert cut.partial_output
    assert [(a.outcome, a.error_code) for a in cut.attempts] == [(CANCELLED, "deadline_exceeded")]


async def test_the_python_client_reports_a_deadline_cut_stream_as_partial() -> None:
    async with running(make_config(mock_provider("slow", **SLOW))) as server:
        client = AsyncOrchestratorClient(server.target, timeout=1.0)  # the caller's deadline
        texts: list[str] = []
        with pytest.raises(DeadlineExceeded) as caught:
            async with client.stream("go") as deltas:
                async for text in deltas:
                    texts.append(text)
        await client.close()
    assert len(texts) >= 5
    assert caught.value.partial_output


async def test_a_stream_cut_at_the_end_of_the_shutdown_grace_is_partial() -> None:
    async with running(make_config(mock_provider("slow", **SLOW))) as server:
        call = stream(server)
        await first_deltas(call, 3)
        stopping = asyncio.ensure_future(server.app.stop(grace=0.2))
        error = await read_to_the_end(call)
        await stopping
        assert server.mock("slow").active_streams == 0
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(error) == "SHUTTING_DOWN"
    assert PARTIAL in tuple(error.trailing_metadata())
    cut = trail(error)
    assert cut is not None
    assert cut.partial_output
    assert [(a.provider, a.outcome, a.error_code) for a in cut.attempts] == [
        ("slow", CANCELLED, "shutdown")
    ]


async def test_the_python_client_reports_a_shutdown_cut_stream_as_partial() -> None:
    async with running(make_config(mock_provider("slow", **SLOW))) as server:
        client = AsyncOrchestratorClient(server.target)
        texts: list[str] = []
        stopping: list[asyncio.Future[None]] = []
        with pytest.raises(StreamInterrupted) as caught:
            async with client.stream("go") as deltas:
                async for text in deltas:
                    texts.append(text)
                    if len(texts) == 5:
                        stopping.append(asyncio.ensure_future(server.app.stop(grace=0)))
        await asyncio.gather(*stopping)
        await client.close()
    assert caught.value.partial_output
    assert caught.value.reason == "SHUTTING_DOWN"


class Stuck:
    """A provider whose calls never end; `entered` is set once one has begun."""

    def __init__(self) -> None:
        self.spec = ProviderSpec(name="stuck", kind="mock", model="m")
        self.entered = asyncio.Event()

    async def generate(self, request: ChatRequest, *, timeout: float) -> Completion:
        self.entered.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    def stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamChunk]:
        raise NotImplementedError

    async def check_health(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


async def test_a_unary_call_cut_by_shutdown_says_so() -> None:
    stuck = Stuck()
    async with running(make_config(mock_provider("stuck")), providers=[stuck]) as server:
        call = server.stub.Generate(generate_pb2.GenerateRequest(prompt="go"))
        await asyncio.wait_for(stuck.entered.wait(), timeout=5)
        await server.app.stop(grace=0)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(caught.value) == "SHUTTING_DOWN"
    assert PARTIAL not in tuple(caught.value.trailing_metadata())
    cut = trail(caught.value)
    assert cut is not None
    assert [a.error_code for a in cut.attempts] == ["shutdown"]


# --- defect 3: one verdict, seen the same everywhere -----------------------------------------


async def test_a_deadline_cut_attempt_has_one_verdict_everywhere(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="orchestrator.attempts")
    config = make_config(
        mock_provider("slow", "m-1", **SLOW),
        telemetry={"metrics": {"address": "127.0.0.1:0"}},
        **CUT_AT_HALF_A_SECOND,
    )
    exporter = Spans()
    usage = Collected(1)
    telemetry = Telemetry(config, span_exporter=exporter, usage_hooks=[usage])
    async with running(config, telemetry=telemetry) as server:
        call = stream(server)
        await first_deltas(call, 2)
        error = await read_to_the_end(call)
        await asyncio.wait_for(usage.arrived.wait(), timeout=5)
        snapshot = server.app.router.snapshot()[0]
        _, samples = await scrape(server.app.telemetry.metrics_port)

    cut = trail(error)
    assert cut is not None
    assert [(a.outcome, a.error_code) for a in cut.attempts] == [(CANCELLED, "deadline_exceeded")]
    # GetMetrics: a cancelled attempt counts in the total only, never as a failure.
    assert (snapshot.requests_total, snapshot.requests_failed) == (1, 0)
    # Prometheus: cancelled, not "timeout".
    assert value(samples, "llm_requests_total", provider="slow", status="cancelled") == 1
    assert value(samples, "llm_requests_total", provider="slow", status="timeout") == 0
    # The usage event.
    [event] = usage.events
    assert (event.outcome, event.error_type) == ("cancelled", "deadline_exceeded")
    assert event.completion_tokens > 0  # what the cut stream consumed
    # The log line.
    [line] = [r.getMessage() for r in caplog.records if r.name == "orchestrator.attempts"]
    assert "cancelled (deadline_exceeded)" in line
    # The attempt's span.
    [span] = exporter.of_kind(SpanKind.CLIENT)
    assert span.attributes is not None
    assert span.attributes["orchestrator.attempt.outcome"] == "cancelled"
    assert span.attributes["error.type"] == "deadline_exceeded"


async def test_a_caller_cancelled_stream_is_cancelled_in_rpc_metrics_and_its_span() -> None:
    config = make_config(
        mock_provider("slow", **SLOW), telemetry={"metrics": {"address": "127.0.0.1:0"}}
    )
    exporter = Spans()
    usage = Collected(1)
    telemetry = Telemetry(config, span_exporter=exporter, usage_hooks=[usage])
    async with running(config, telemetry=telemetry) as server:
        call = stream(server)
        await first_deltas(call, 2)
        call.cancel()
        await asyncio.wait_for(server.mock("slow").stream_abandoned.wait(), timeout=5)
        await asyncio.wait_for(usage.arrived.wait(), timeout=5)
        await asyncio.wait_for(exporter.server_ended.wait(), timeout=5)
        server_spans = exporter.of_kind(SpanKind.SERVER)
        _, samples = await scrape(server.app.telemetry.metrics_port)
    rpc = {"rpc_method": "GenerateStream"}
    assert value(samples, "rpc_server_call_duration_seconds_count", **rpc) == 1
    assert (
        value(
            samples,
            "rpc_server_call_duration_seconds_count",
            rpc_response_status_code="CANCELLED",
            **rpc,
        )
        == 1
    )
    [span] = server_spans
    assert span.attributes is not None
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.CANCELLED.value[0]
    [event] = usage.events
    assert (event.outcome, event.error_type) == ("cancelled", "cancelled")
    assert value(samples, "llm_requests_total", provider="slow", status="cancelled") == 1


class Spans(InMemorySpanExporter):
    """Keeps every span; `server_ended` is set when a SERVER span ends (an RPC's task ends a
    moment after its cancellation reached the provider)."""

    def __init__(self) -> None:
        super().__init__()
        self.server_ended = asyncio.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = super().export(spans)
        if any(span.kind is SpanKind.SERVER for span in spans):
            self.server_ended.set()
        return result

    def of_kind(self, kind: SpanKind) -> list[ReadableSpan]:
        return [span for span in self.get_finished_spans() if span.kind is kind]
