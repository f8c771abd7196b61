"""Tools, structured output, images and embeddings through the native Ollama adapter,
against the emulator, through the real gRPC server; each test asserts the exact request the
emulator received. Ollama has no tool_choice and cannot fetch image URLs, so routing keeps
such requests away from it."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2

from orchestrator.v1 import generate_pb2, metrics_pb2, tools_pb2
from tests.emulators.embeddings import OllamaEmbeddingsEmulator, vector
from tests.helpers import detail, error_reason, make_config, mock_provider, running
from tests.integration.providers.contract import OLLAMA, OLLAMA_KEY, switched
from tests.integration.providers.tools_common import (
    CITY_SCHEMA,
    PNG,
    TIME,
    WEATHER,
    WEATHER_SCHEMA,
    assistant_calls,
    embed_request,
    image_message,
    parsed,
    schema_format,
    stream_calls,
    tool_result,
    user,
)

CASE = dataclasses.replace(
    OLLAMA, emulator=switched(OllamaEmbeddingsEmulator, require_key=OLLAMA_KEY)
)
CHAT = "/api/chat"
WEATHER_WIRE = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": WEATHER_SCHEMA,
    },
}
PARIS = {"name": "get_weather", "arguments": {"city": "Paris"}}
UTC = {"name": "get_time", "arguments": {"zone": "UTC"}}


@pytest.fixture
async def emulator(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[OllamaEmbeddingsEmulator]:
    async with CASE.running(monkeypatch) as running_emulator:
        yield running_emulator


def bodies(emulator: OllamaEmbeddingsEmulator) -> list[dict[str, object]]:
    return [r.json() for r in emulator.calls(CHAT)]


async def test_tool_round_trip(emulator: OllamaEmbeddingsEmulator) -> None:
    emulator.set(tool_calls=[PARIS], times=1)
    async with running(make_config(CASE.entry(emulator))) as server:
        first = await server.stub.Generate(
            generate_pb2.GenerateRequest(messages=[user("Weather in Paris?")], tools=[WEATHER])
        )
        assert first.finish_reason == generate_pb2.FINISH_REASON_TOOL_CALL
        [made] = first.tool_calls
        assert made.id.startswith("call_")
        assert len(made.id) == len("call_") + 8
        assert parsed(made) == {"city": "Paris"}
        emulator.set(text="It is 18 degrees.")
        second = await server.stub.Generate(
            generate_pb2.GenerateRequest(
                messages=[
                    user("Weather in Paris?"),
                    assistant_calls(made),
                    tool_result(made.id, "18 degrees celsius"),
                ],
                tools=[WEATHER],
            )
        )
    assert second.text == "It is 18 degrees."
    asked, answered = bodies(emulator)
    assert asked["tools"] == [WEATHER_WIRE]
    assert answered["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}}}
            ],
        },
        {
            "role": "tool",
            "content": "18 degrees celsius",
            "tool_name": "get_weather",
            "tool_call_id": made.id,
        },
    ]


async def test_parallel_calls_and_the_single_call_promise(
    emulator: OllamaEmbeddingsEmulator,
) -> None:
    emulator.set(tool_calls=[PARIS, UTC])
    async with running(make_config(CASE.entry(emulator))) as server:
        both = await server.stub.Generate(
            generate_pb2.GenerateRequest(prompt="both", tools=[WEATHER, TIME])
        )
        one = await server.stub.Generate(
            generate_pb2.GenerateRequest(
                prompt="both", tools=[WEATHER, TIME], parallel_tool_calls=False
            )
        )
    assert [c.name for c in both.tool_calls] == ["get_weather", "get_time"]
    # Ollama has no switch, so the gateway keeps the first call only.
    assert [c.name for c in one.tool_calls] == ["get_weather"]
    assert all("parallel_tool_calls" not in body for body in bodies(emulator))


async def test_streamed_calls_come_whole_from_several_lines(
    emulator: OllamaEmbeddingsEmulator,
) -> None:
    emulator.set(tool_calls=[PARIS, UTC])
    emulator.call_ids = False  # an older server: the gateway makes the ids
    request = generate_pb2.GenerateStreamRequest(prompt="both", tools=[WEATHER, TIME])
    async with running(make_config(CASE.entry(emulator))) as server:
        events = [e async for e in server.stub.GenerateStream(request)]
    deltas = stream_calls(events)
    assert [[(f.index, f.name) for f in d.tool_calls] for d in deltas] == [
        [(0, "get_weather")],
        [(1, "get_time")],
    ]
    end = events[-1].end
    assert end.finish_reason == generate_pb2.FINISH_REASON_TOOL_CALL
    assert [(c.name, parsed(c)) for c in end.tool_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"zone": "UTC"}),
    ]
    assert all(c.id.startswith("call_") and len(c.id) == 29 for c in end.tool_calls)
    assert [c.id for c in end.tool_calls] == [d.tool_calls[0].id for d in deltas]


async def test_forced_tool_choice_goes_elsewhere(emulator: OllamaEmbeddingsEmulator) -> None:
    request = generate_pb2.GenerateRequest(
        prompt="Weather in Oslo",
        tools=[WEATHER],
        tool_choice=tools_pb2.ToolChoice(name="get_weather"),
    )
    config = make_config(CASE.entry(emulator), mock_provider("backup"))
    async with running(config) as server:
        reply = await server.stub.Generate(request)
    assert reply.provider == "backup"
    assert reply.tool_calls[0].name == "get_weather"
    assert parsed(reply.tool_calls[0]) == {"city": "Oslo"}
    assert [a.provider for a in reply.attempts] == ["backup"]
    assert bodies(emulator) == []


async def test_forced_tool_choice_alone_is_refused_before_any_call(
    emulator: OllamaEmbeddingsEmulator,
) -> None:
    request = generate_pb2.GenerateRequest(
        prompt="x",
        tools=[WEATHER],
        tool_choice=tools_pb2.ToolChoice(mode=tools_pb2.TOOL_CHOICE_MODE_REQUIRED),
    )
    async with running(make_config(CASE.entry(emulator))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(caught.value) == "UNSUPPORTED_FEATURE"
    [violation] = detail(caught.value, error_details_pb2.BadRequest).field_violations
    assert violation.field == "tool_choice"
    assert "tool_choice" in violation.description
    assert "local (ollama; lacks tool_choice)" in violation.description
    assert emulator.requests == []


async def test_tool_choice_none_leaves_the_tools_out(emulator: OllamaEmbeddingsEmulator) -> None:
    request = generate_pb2.GenerateRequest(
        prompt="hi",
        tools=[WEATHER],
        tool_choice=tools_pb2.ToolChoice(mode=tools_pb2.TOOL_CHOICE_MODE_NONE),
    )
    async with running(make_config(CASE.entry(emulator))) as server:
        reply = await server.stub.Generate(request)
    assert reply.text == "Hello from the emulator"
    [body] = bodies(emulator)
    assert "tools" not in body


async def test_json_schema_valid_and_invalid(emulator: OllamaEmbeddingsEmulator) -> None:
    request = generate_pb2.GenerateRequest(
        prompt="A city as JSON", response_format=schema_format(CITY_SCHEMA)
    )
    config = make_config(CASE.entry(emulator), mock_provider("backup"))
    async with running(config) as server:
        emulator.set(text='{"name": "Oslo", "population": 709037}')
        good = await server.stub.Generate(request)
        emulator.set(text='{"name": "Oslo"}')
        bad = await server.stub.Generate(request)
        json_mode = await server.stub.Generate(
            generate_pb2.GenerateRequest(
                prompt="JSON please",
                response_format=tools_pb2.ResponseFormat(
                    type=tools_pb2.RESPONSE_FORMAT_TYPE_JSON_OBJECT
                ),
            )
        )
    assert (good.provider, json.loads(good.text)["population"]) == ("local", 709037)
    assert bad.provider == "backup"
    assert (bad.attempts[0].provider, bad.attempts[0].error_code) == ("local", "malformed_response")
    assert "population" in bad.attempts[0].message
    assert (json_mode.provider, json_mode.text) == ("local", '{"name": "Oslo"}')
    first, second, third = bodies(emulator)
    assert first["format"] == CITY_SCHEMA == second["format"]
    assert third["format"] == "json"


async def test_image_input(emulator: OllamaEmbeddingsEmulator) -> None:
    emulator.set(text="A tiny transparent pixel.")
    message = image_message("Describe it.", generate_pb2.ImagePart(data=PNG))
    async with running(make_config(CASE.entry(emulator))) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(messages=[message]))
    assert reply.text == "A tiny transparent pixel."
    [body] = bodies(emulator)
    assert body["messages"] == [
        {"role": "user", "content": "Describe it.", "images": [base64.b64encode(PNG).decode()]}
    ]


async def test_image_urls_go_to_providers_that_fetch_them(
    emulator: OllamaEmbeddingsEmulator,
) -> None:
    message = image_message("Describe it.", generate_pb2.ImagePart(url="https://example.com/a.png"))
    config = make_config(CASE.entry(emulator), mock_provider("backup"))
    async with running(config) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(messages=[message]))
    assert reply.provider == "backup"
    assert bodies(emulator) == []


async def test_a_model_without_tools_falls_back(emulator: OllamaEmbeddingsEmulator) -> None:
    emulator.no_tools = {"llama3.2"}
    config = make_config(CASE.entry(emulator), mock_provider("backup"))
    request = generate_pb2.GenerateRequest(prompt="Weather in Rome", tools=[WEATHER])
    async with running(config) as server:
        reply = await server.stub.Generate(request)
        metrics = await server.stub.GetMetrics(metrics_pb2.GetMetricsRequest(providers=["local"]))
    assert reply.provider == "backup"
    assert reply.attempts[0].error_code == "unsupported"
    assert "does not support tools" in reply.attempts[0].message
    # The model's limit is not an outage: no failure counts against the provider's health,
    # whose window therefore holds no outcome yet.
    [local] = metrics.providers
    assert local.health == metrics_pb2.HEALTH_STATUS_NO_DATA
    assert local.circuit_state == metrics_pb2.CIRCUIT_STATE_CLOSED


async def test_embeddings_batch(emulator: OllamaEmbeddingsEmulator) -> None:
    entry = CASE.entry(emulator, embedding_model="nomic-embed-text")
    texts = ["red apples", "blue ocean"]
    async with running(make_config(entry)) as server:
        reply = await server.stub.Embed(embed_request(*texts, dimensions=32))
    assert [list(e.values) for e in reply.embeddings] == [
        pytest.approx(vector(t, 32)) for t in texts
    ]
    assert (reply.model, reply.dimensions, reply.usage.prompt_tokens) == ("nomic-embed-text", 32, 4)
    [sent] = emulator.calls("/api/embed")
    assert sent.json() == {
        "model": "nomic-embed-text",
        "input": texts,
        "truncate": True,
        "dimensions": 32,
    }
    assert sent.headers["authorization"] == f"Bearer {OLLAMA_KEY}"
