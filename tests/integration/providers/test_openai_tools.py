"""Tools, structured output, images and embeddings through the OpenAI-compatible adapter
(and Azure's variant: the same bodies at deployment URLs), against the emulator, through
the real gRPC server; each test asserts the exact request the emulator received."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from orchestrator.v1 import generate_pb2, tools_pb2
from tests.emulators.embeddings import OpenAIEmbeddingsEmulator, vector
from tests.helpers import error_reason, make_config, mock_provider, running, trail
from tests.integration.providers.contract import AZURE_OPENAI, OPENAI, ProviderCase
from tests.integration.providers.tools_common import (
    CITY_SCHEMA,
    PNG,
    TIME,
    TIME_SCHEMA,
    WEATHER,
    WEATHER_SCHEMA,
    assistant_calls,
    call,
    embed_request,
    image_message,
    parsed,
    schema_format,
    stream_calls,
    tool_result,
    user,
)

CASES = [
    dataclasses.replace(OPENAI, emulator=OpenAIEmbeddingsEmulator),
    dataclasses.replace(AZURE_OPENAI, emulator=OpenAIEmbeddingsEmulator),
]
PATHS = {
    "openai": "/v1/chat/completions",
    "azure-openai": "/openai/deployments/prod-gpt4o/chat/completions",
}
WEATHER_WIRE = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": WEATHER_SCHEMA,
    },
}
TIME_WIRE = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a zone",
        "parameters": TIME_SCHEMA,
    },
}


@pytest.fixture(params=CASES, ids=lambda c: c.kind)
async def case(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[ProviderCase[Any], OpenAIEmbeddingsEmulator]]:
    chosen: ProviderCase[Any] = request.param
    async with chosen.running(monkeypatch) as emulator:
        yield chosen, emulator


def bodies(emulator: OpenAIEmbeddingsEmulator, kind: str) -> list[dict[str, Any]]:
    return [r.json() for r in emulator.calls(PATHS[kind])]


async def test_tool_round_trip(case: tuple[ProviderCase[Any], OpenAIEmbeddingsEmulator]) -> None:
    spec, emulator = case
    emulator.set(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}], times=1)
    async with running(make_config(spec.entry(emulator))) as server:
        first = await server.stub.Generate(
            generate_pb2.GenerateRequest(messages=[user("Weather in Paris?")], tools=[WEATHER])
        )
        assert first.finish_reason == generate_pb2.FINISH_REASON_TOOL_CALL
        [made] = first.tool_calls
        assert made.id.startswith("call_")
        assert made.name == "get_weather"
        assert json.loads(made.arguments) == {"city": "Paris"} == parsed(made)
        assert first.text == ""
        emulator.set(text="It is 18 degrees in Paris.")
        second = await server.stub.Generate(
            generate_pb2.GenerateRequest(
                messages=[
                    user("Weather in Paris?"),
                    assistant_calls(made),
                    tool_result(made.id, '{"temp_c": 18}'),
                ],
                tools=[WEATHER],
            )
        )
    assert second.text == "It is 18 degrees in Paris."
    assert second.finish_reason == generate_pb2.FINISH_REASON_STOP
    asked, answered = bodies(emulator, spec.kind)
    assert asked["tools"] == [WEATHER_WIRE]
    assert "tool_choice" not in asked
    assert "parallel_tool_calls" not in asked
    assert asked["messages"] == [{"role": "user", "content": "Weather in Paris?"}]
    assert answered["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": made.id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": made.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": made.id, "content": '{"temp_c": 18}'},
    ]


async def test_parallel_calls(case: tuple[ProviderCase[Any], OpenAIEmbeddingsEmulator]) -> None:
    spec, emulator = case
    emulator.set(
        tool_calls=[
            {"name": "get_weather", "arguments": {"city": "Paris"}},
            {"name": "get_time", "arguments": {"zone": "Europe/Paris"}},
        ]
    )
    request = generate_pb2.GenerateRequest(
        prompt="Weather and time in Paris?", tools=[WEATHER, TIME], parallel_tool_calls=True
    )
    async with running(make_config(spec.entry(emulator))) as server:
        reply = await server.stub.Generate(request)
    assert [(c.name, parsed(c)) for c in reply.tool_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"zone": "Europe/Paris"}),
    ]
    assert len({c.id for c in reply.tool_calls}) == 2
    [body] = bodies(emulator, spec.kind)
    assert body["tools"] == [WEATHER_WIRE, TIME_WIRE]
    assert body["parallel_tool_calls"] is True


async def test_streamed_calls_are_assembled(
    case: tuple[ProviderCase[Any], OpenAIEmbeddingsEmulator],
) -> None:
    spec, emulator = case
    emulator.set(
        tool_calls=[
            {"name": "get_weather", "arguments": {"city": "Saint Petersburg"}},
            {"name": "get_time", "arguments": {"zone": "Europe/Moscow"}},
        ]
    )
    request = generate_pb2.GenerateStreamRequest(
        prompt="Weather and time?", tools=[WEATHER, TIME], parallel_tool_calls=False
    )
    async with running(make_config(spec.entry(emulator))) as server:
        events = [e async for e in server.stub.GenerateStream(request)]
    assert events[0].HasField("start")
    fragments = [f for d in stream_calls(events) for f in d.tool_calls]
    # The emulator splits arguments every 5 characters: many fragments per call.
    assert len(fragments) > 6
    assert {f.index for f in fragments} == {0, 1}
    end = events[-1].end
    assert end.finish_reason == generate_pb2.FINISH_REASON_TOOL_CALL
    assert [(c.name, parsed(c)) for c in end.tool_calls] == [
        ("get_weather", {"city": "Saint Petersburg"}),
        ("get_time", {"zone": "Europe/Moscow"}),
    ]
    for index, assembled in enumerate(end.tool_calls):
        mine = [f for f in fragments if f.index == index]
        assert assembled.id == mine[0].id
        assert all(not f.id for f in mine[1:])
        assert assembled.arguments == "".join(f.arguments for f in mine)
    [body] = bodies(emulator, spec.kind)
    assert body["stream"] is True
    assert body["parallel_tool_calls"] is False


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        (
            tools_pb2.ToolChoice(name="get_time"),
            {"type": "function", "function": {"name": "get_time"}},
        ),
        (tools_pb2.ToolChoice(mode=tools_pb2.TOOL_CHOICE_MODE_REQUIRED), "required"),
        (tools_pb2.ToolChoice(mode=tools_pb2.TOOL_CHOICE_MODE_NONE), "none"),
    ],
)
async def test_tool_choice(
    case: tuple[ProviderCase[Any], OpenAIEmbeddingsEmulator],
    choice: tools_pb2.ToolChoice,
    wire: Any,
) -> None:
    spec, emulator = case
    emulator.set(tool_calls=[{"name": "get_time", "arguments": {"zone": "UTC"}}])
    request = generate_pb2.GenerateRequest(
        prompt="What time is it?", tools=[WEATHER, TIME], tool_choice=choice
    )
    async with running(make_config(spec.entry(emulator))) as server:
        reply = await server.stub.Generate(request)
    assert reply.tool_calls[0].name == "get_time"
    [body] = bodies(emulator, spec.kind)
    assert body["tool_choice"] == wire


async def test_json_schema_reply(case: tuple[ProviderCase[Any], OpenAIEmbeddingsEmulator]) -> None:
    spec, emulator = case
    emulator.set(text='{"name": "Paris", "population": 2102650}')
    request = generate_pb2.GenerateRequest(
        prompt="A city as JSON", response_format=schema_format(CITY_SCHEMA)
    )
    async with running(make_config(spec.entry(emulator))) as server:
        reply = await server.stub.Generate(request)
    assert json.loads(reply.text) == {"name": "Paris", "population": 2102650}
    [body] = bodies(emulator, spec.kind)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "city", "schema": CITY_SCHEMA, "strict": True},
    }


async def test_json_schema_mismatch_falls_back(
    case: tuple[ProviderCase[Any], OpenAIEmbeddingsEmulator],
) -> None:
    spec, emulator = case
    emulator.set(text='{"name": "Paris", "population": "two million"}')
    config = make_config(spec.entry(emulator), mock_provider("backup"))
    request = generate_pb2.GenerateRequest(
        prompt="A city as JSON", response_format=schema_format(CITY_SCHEMA)
    )
    async with running(config) as server:
        reply = await server.stub.Generate(request)
    assert reply.provider == "backup"
    # The mock fills the schema: strings with the prompt's last word.
    assert json.loads(reply.text) == {"name": "JSON", "population": 1}
    first = reply.attempts[0]
    assert (first.provider, first.error_code) == (spec.name, "malformed_response")
    assert "population" in first.message
    assert "two million" not in first.message


async def test_json_schema_mismatch_returned_when_configured(
    case: tuple[ProviderCase[Any], OpenAIEmbeddingsEmulator],
) -> None:
    spec, emulator = case
    emulator.set(text="not json at all")
    config = make_config(
        spec.entry(emulator),
        mock_provider("backup"),
        router={"structured_output": {"on_invalid": "return"}},
    )
    request = generate_pb2.GenerateRequest(
        prompt="A city as JSON", response_format=schema_format(CITY_SCHEMA)
    )
    async with running(config) as server:
        reply = await server.stub.Generate(request)
    assert (reply.provider, reply.text) == (spec.name, "not json at all")


async def test_schema_the_provider_refuses_is_the_callers_error(
    case: tuple[ProviderCase[Any], OpenAIEmbeddingsEmulator],
) -> None:
    spec, emulator = case
    loose = {k: v for k, v in CITY_SCHEMA.items() if k != "additionalProperties"}
    config = make_config(spec.entry(emulator), mock_provider("backup"))
    request = generate_pb2.GenerateRequest(
        prompt="A city as JSON", response_format=schema_format(loose, strict=True)
    )
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(request)
        assert server.mock("backup").calls == 0
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(caught.value) == "PROVIDER_REJECTED_REQUEST"
    attempts = trail(caught.value)
    assert attempts is not None
    assert attempts.attempts[0].error_code == "invalid_request"


async def test_a_missing_tool_result_is_refused_upstream(
    case: tuple[ProviderCase[Any], OpenAIEmbeddingsEmulator],
) -> None:
    spec, emulator = case
    a, b = (
        call("call_A", "get_weather", {"city": "Paris"}),
        call("call_B", "get_time", {"zone": "UTC"}),
    )
    request = generate_pb2.GenerateRequest(
        messages=[user("both"), assistant_calls(a, b), tool_result("call_A", "18")],
        tools=[WEATHER, TIME],
    )
    async with running(make_config(spec.entry(emulator))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(request)
    assert error_reason(caught.value) == "PROVIDER_REJECTED_REQUEST"
    [body] = bodies(emulator, spec.kind)
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "tool"]


async def test_image_input(case: tuple[ProviderCase[Any], OpenAIEmbeddingsEmulator]) -> None:
    spec, emulator = case
    emulator.set(text="A cat and a dog.")
    message = image_message(
        "What is in these pictures?",
        generate_pb2.ImagePart(data=PNG, detail=generate_pb2.IMAGE_DETAIL_LOW),
        generate_pb2.ImagePart(url="https://example.com/dog.jpg"),
    )
    async with running(make_config(spec.entry(emulator))) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(messages=[message]))
    assert reply.text == "A cat and a dog."
    [body] = bodies(emulator, spec.kind)
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these pictures?"},
                {
                    "type": "image_url",
                    "image_url": {
                        "url": "data:image/png;base64," + base64.b64encode(PNG).decode(),
                        "detail": "low",
                    },
                },
                {"type": "image_url", "image_url": {"url": "https://example.com/dog.jpg"}},
            ],
        }
    ]


async def test_embeddings_batch(case: tuple[ProviderCase[Any], OpenAIEmbeddingsEmulator]) -> None:
    spec, emulator = case
    entry = spec.entry(emulator, embedding_model="text-embedding-3-small")
    texts = ["red apples", "blue ocean", "green forest"]
    async with running(make_config(entry)) as server:
        reply = await server.stub.Embed(embed_request(*texts, dimensions=16))
    assert [e.index for e in reply.embeddings] == [0, 1, 2]
    for text, embedding in zip(texts, reply.embeddings, strict=True):
        assert list(embedding.values) == pytest.approx(vector(text, 16))
    assert (reply.provider, reply.model, reply.dimensions) == (
        spec.name,
        "text-embedding-3-small",
        16,
    )
    assert (reply.usage.prompt_tokens, reply.usage.estimated) == (6, False)
    path = (
        "/openai/deployments/text-embedding-3-small/embeddings"
        if spec.kind == "azure-openai"
        else "/v1/embeddings"
    )
    [sent] = emulator.calls(path)
    assert sent.json() == {
        "model": "text-embedding-3-small",
        "input": texts,
        "encoding_format": "float",
        "dimensions": 16,
    }
    if spec.kind == "azure-openai":
        assert sent.query == {"api-version": "2024-10-21"}
        assert sent.headers["api-key"] == spec.key


async def test_embeddings_error_is_named(
    case: tuple[ProviderCase[Any], OpenAIEmbeddingsEmulator],
) -> None:
    spec, emulator = case
    entry = spec.entry(emulator, embedding_model="text-embedding-ada-002")
    async with running(make_config(entry)) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Embed(embed_request("red apples", dimensions=16))
    assert error_reason(caught.value) == "PROVIDER_REJECTED_REQUEST"
