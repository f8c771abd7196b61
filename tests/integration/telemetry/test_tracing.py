"""Traces through a real server: the caller's trace continued, one CLIENT span per provider
attempt under the SERVER span, gen_ai attributes, and traceparent at the provider."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from orchestrator.v1 import generate_pb2
from orchestrator_server.config import Config
from orchestrator_server.telemetry.setup import Telemetry
from tests.emulators.openai import OpenAIEmulator
from tests.helpers import http_provider, make_config, mock_provider, running

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
SECRET = "sk-test-never-in-a-span-0123456789"


@pytest.fixture
async def emulator() -> AsyncIterator[OpenAIEmulator]:
    async with OpenAIEmulator() as em:
        yield em


def traced(config: Config) -> tuple[Telemetry, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    return Telemetry(config, span_exporter=exporter), exporter


async def test_server_span_continues_the_caller_and_parents_one_span_per_attempt(
    emulator: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACE_TEST_KEY", SECRET)
    config = make_config(
        mock_provider("broken", mode="unhealthy"),  # retries: 1 -> two attempts
        http_provider(
            "openai", "oai", f"{emulator.base_url}/v1", model="gpt-x", api_key_env="TRACE_TEST_KEY"
        ),
    )
    telemetry, exporter = traced(config)
    async with running(config, telemetry=telemetry) as server:
        reply = await server.stub.Generate(
            generate_pb2.GenerateRequest(prompt="trace me"),
            metadata=(("traceparent", TRACEPARENT), ("x-request-id", "req-7")),
        )
    assert reply.provider == "oai"
    spans = exporter.get_finished_spans()
    [root] = [s for s in spans if s.kind is SpanKind.SERVER]
    assert root.name == "orchestrator.v1.OrchestratorService/Generate"
    assert f"{root.context.trace_id:032x}" == TRACE_ID
    assert root.parent is not None
    assert f"{root.parent.span_id:016x}" == CALLER_SPAN
    assert root.attributes["rpc.grpc.status_code"] == 0

    attempts = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert [s.attributes["orchestrator.provider"] for s in attempts] == ["broken", "broken", "oai"]
    for span in attempts:
        assert span.context.trace_id == root.context.trace_id
        assert span.parent is not None
        assert span.parent.span_id == root.context.span_id
        assert span.attributes["orchestrator.request_id"] == "req-7"
        assert span.attributes["gen_ai.operation.name"] == "chat"
    failed, _, served = attempts
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == "unavailable"
    assert failed.attributes["orchestrator.attempt.outcome"] == "failed"
    assert served.name == "chat gpt-x"
    assert served.attributes["gen_ai.system"] == "openai"
    assert served.attributes["gen_ai.request.model"] == "gpt-x"
    assert served.attributes["gen_ai.response.model"] == reply.model
    assert served.attributes["gen_ai.usage.input_tokens"] == reply.usage.prompt_tokens
    assert served.attributes["gen_ai.usage.output_tokens"] == reply.usage.completion_tokens
    assert served.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert served.status.status_code is StatusCode.UNSET

    [call] = emulator.calls("/v1/chat/completions")
    assert call.headers["traceparent"] == f"00-{TRACE_ID}-{served.context.span_id:016x}-01"
    for span in spans:
        assert SECRET not in str(dict(span.attributes or {}))


async def test_a_call_without_traceparent_starts_a_new_trace() -> None:
    config = make_config(mock_provider("alpha"))
    telemetry, exporter = traced(config)
    async with running(config, telemetry=telemetry) as server:
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
        events = server.stub.GenerateStream(generate_pb2.GenerateStreamRequest(prompt="hi"))
        assert [e async for e in events][-1].HasField("end")
    spans = exporter.get_finished_spans()
    roots = [s for s in spans if s.kind is SpanKind.SERVER]
    assert {s.name.rsplit("/", 1)[1] for s in roots} == {"Generate", "GenerateStream"}
    assert all(s.parent is None for s in roots)
    streamed = [s for s in spans if s.attributes.get("orchestrator.streaming")]
    assert len(streamed) == 1
    assert "orchestrator.time_to_first_token" in streamed[0].attributes


async def test_tracing_off_by_default_builds_nothing(emulator: OpenAIEmulator) -> None:
    config = make_config(http_provider("openai", "oai", f"{emulator.base_url}/v1", model="m"))
    async with running(config) as server:
        assert server.app.telemetry.tracer_provider is None
        await server.stub.Generate(
            generate_pb2.GenerateRequest(prompt="hi"), metadata=(("traceparent", TRACEPARENT),)
        )
    [call] = emulator.calls("/v1/chat/completions")
    assert "traceparent" not in call.headers
