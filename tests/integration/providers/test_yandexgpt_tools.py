"""Tools, structured output and embeddings through the YandexGPT native adapter, against the
emulator, through the real gRPC server; each test asserts the exact request the emulator
received. Yandex's completion takes no images: such requests never reach it."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import grpc
import pytest

from orchestrator.v1 import embed_pb2, generate_pb2, tools_pb2
from tests.emulators.embeddings import YANDEX_EMBEDDING_PATH, YandexEmbeddingsEmulator, vector
from tests.helpers import error_reason, make_config, mock_provider, running
from tests.integration.providers.contract import YANDEXGPT, emulator_fixture
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

CASE = dataclasses.replace(YANDEXGPT, emulator=YandexEmbeddingsEmulator)
emulator = emulator_fixture(CASE)
yandex = CASE.entry
COMPLETION = CASE.chat_path
FOLDER = CASE.fields["folder_id"]
WEATHER_WIRE = {
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": WEATHER_SCHEMA,
    }
}
TIME_WIRE = {
    "function": {
        "name": "get_time",
        "description": "Current time in a zone",
        "parameters": TIME_SCHEMA,
    }
}
TWO_CALLS = [
    {"name": "get_weather", "arguments": {"city": "Saint Petersburg"}},
    {"name": "get_time", "arguments": {"zone": "Europe/Moscow", "hours": 3}},
]


def bodies(emulator: YandexEmbeddingsEmulator) -> list[dict[str, Any]]:
    return [r.json() for r in emulator.calls(COMPLETION)]


async def test_tool_round_trip_by_name_and_position(emulator: YandexEmbeddingsEmulator) -> None:
    emulator.set(tool_calls=TWO_CALLS, times=1)
    async with running(make_config(yandex(emulator))) as server:
        first = await server.stub.Generate(
            generate_pb2.GenerateRequest(
                messages=[user("Погода и время в Петербурге?")], tools=[WEATHER, TIME]
            )
        )
        assert first.finish_reason == generate_pb2.FINISH_REASON_TOOL_CALL
        a, b = first.tool_calls
        # No ids on Yandex: the gateway's own. Integers come back as integers.
        assert a.id != b.id
        assert [(c.name, parsed(c)) for c in first.tool_calls] == [
            ("get_weather", {"city": "Saint Petersburg"}),
            ("get_time", {"zone": "Europe/Moscow", "hours": 3}),
        ]
        assert '"hours": 3}' in b.arguments
        emulator.set(text="8°C, 15:00.")
        second = await server.stub.Generate(
            generate_pb2.GenerateRequest(
                messages=[
                    user("Погода и время в Петербурге?"),
                    generate_pb2.ChatMessage(
                        role=generate_pb2.ROLE_ASSISTANT, content="Сейчас узнаю.", tool_calls=[a, b]
                    ),
                    tool_result(b.id, "15:00"),
                    tool_result(a.id, "8°C"),
                ],
                tools=[WEATHER, TIME],
            )
        )
    assert (second.text, second.finish_reason) == ("8°C, 15:00.", generate_pb2.FINISH_REASON_STOP)
    asked, answered = bodies(emulator)
    assert asked["tools"] == [WEATHER_WIRE, TIME_WIRE]
    assert "toolChoice" not in asked
    assert "parallelToolCalls" not in asked
    assert answered["messages"] == [
        {"role": "user", "text": "Погода и время в Петербурге?"},
        # A message holds text or calls, not both: the text goes first, on its own.
        {"role": "assistant", "text": "Сейчас узнаю."},
        {
            "role": "assistant",
            "toolCallList": {
                "toolCalls": [
                    {
                        "functionCall": {
                            "name": "get_weather",
                            "arguments": {"city": "Saint Petersburg"},
                        }
                    },
                    {
                        "functionCall": {
                            "name": "get_time",
                            "arguments": {"zone": "Europe/Moscow", "hours": 3},
                        }
                    },
                ]
            },
        },
        {
            "role": "user",
            "toolResultList": {
                "toolResults": [
                    # In call order, whatever order the caller answered in.
                    {"functionResult": {"name": "get_weather", "content": "8°C"}},
                    {"functionResult": {"name": "get_time", "content": "15:00"}},
                ]
            },
        },
    ]


@pytest.mark.parametrize("parallel", [True, False])
async def test_parallel_switch(emulator: YandexEmbeddingsEmulator, parallel: bool) -> None:
    emulator.set(tool_calls=TWO_CALLS)
    request = generate_pb2.GenerateRequest(
        prompt="Weather and time?", tools=[WEATHER, TIME], parallel_tool_calls=parallel
    )
    async with running(make_config(yandex(emulator))) as server:
        reply = await server.stub.Generate(request)
    assert len(reply.tool_calls) == (2 if parallel else 1)
    [body] = bodies(emulator)
    assert body["parallelToolCalls"] is parallel


async def test_streamed_calls_come_in_the_final_line(emulator: YandexEmbeddingsEmulator) -> None:
    emulator.set(tool_calls=TWO_CALLS)
    request = generate_pb2.GenerateStreamRequest(prompt="Weather and time?", tools=[WEATHER, TIME])
    async with running(make_config(yandex(emulator))) as server:
        events = [e async for e in server.stub.GenerateStream(request)]
    [delta] = stream_calls(events)
    assert [(f.index, f.name) for f in delta.tool_calls] == [(0, "get_weather"), (1, "get_time")]
    end = events[-1].end
    assert end.finish_reason == generate_pb2.FINISH_REASON_TOOL_CALL
    assert [(c.id, c.name, parsed(c)) for c in end.tool_calls] == [
        (f.id, f.name, json.loads(f.arguments)) for f in delta.tool_calls
    ]
    assert parsed(end.tool_calls[1]) == {"zone": "Europe/Moscow", "hours": 3}
    [body] = bodies(emulator)
    assert body["completionOptions"]["stream"] is True
    assert body["tools"] == [WEATHER_WIRE, TIME_WIRE]


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        (tools_pb2.ToolChoice(name="get_time"), {"functionName": "get_time"}),
        (tools_pb2.ToolChoice(mode=tools_pb2.TOOL_CHOICE_MODE_REQUIRED), {"mode": "REQUIRED"}),
        (tools_pb2.ToolChoice(mode=tools_pb2.TOOL_CHOICE_MODE_NONE), {"mode": "NONE"}),
    ],
)
async def test_tool_choice(
    emulator: YandexEmbeddingsEmulator, choice: tools_pb2.ToolChoice, wire: dict[str, Any]
) -> None:
    emulator.set(tool_calls=[{"name": "get_time", "arguments": {"zone": "UTC"}}])
    request = generate_pb2.GenerateRequest(
        prompt="What time is it?", tools=[WEATHER, TIME], tool_choice=choice
    )
    async with running(make_config(yandex(emulator))) as server:
        reply = await server.stub.Generate(request)
    [body] = bodies(emulator)
    assert body["toolChoice"] == wire
    assert [c.name for c in reply.tool_calls] == ([] if wire == {"mode": "NONE"} else ["get_time"])


async def test_json_schema_reply(emulator: YandexEmbeddingsEmulator) -> None:
    emulator.set(text='{"name": "Paris", "population": 2102650}')
    request = generate_pb2.GenerateRequest(
        prompt="A city as JSON", response_format=schema_format(CITY_SCHEMA)
    )
    async with running(make_config(yandex(emulator))) as server:
        reply = await server.stub.Generate(request)
    assert json.loads(reply.text) == {"name": "Paris", "population": 2102650}
    [body] = bodies(emulator)
    assert body["jsonSchema"] == {"schema": CITY_SCHEMA}
    assert "jsonObject" not in body


async def test_json_mode_mismatch_falls_back(emulator: YandexEmbeddingsEmulator) -> None:
    emulator.set(text="Sure! Here is some JSON: {}")
    request = generate_pb2.GenerateRequest(
        prompt="JSON please",
        response_format=tools_pb2.ResponseFormat(type=tools_pb2.RESPONSE_FORMAT_TYPE_JSON_OBJECT),
    )
    async with running(make_config(yandex(emulator), mock_provider("backup"))) as server:
        reply = await server.stub.Generate(request)
    assert reply.provider == "backup"
    assert (reply.attempts[0].provider, reply.attempts[0].error_code) == (
        "ya",
        "malformed_response",
    )
    [body] = bodies(emulator)
    assert body["jsonObject"] is True


async def test_json_schema_mismatch_in_a_stream_interrupts_it(
    emulator: YandexEmbeddingsEmulator,
) -> None:
    emulator.set(text='{"name": "Paris", "population": "many"}')
    request = generate_pb2.GenerateStreamRequest(
        prompt="A city as JSON", response_format=schema_format(CITY_SCHEMA)
    )
    async with running(make_config(yandex(emulator))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            _ = [e async for e in server.stub.GenerateStream(request)]
    assert error_reason(caught.value) == "STREAM_INTERRUPTED"
    [body] = bodies(emulator)
    assert body["jsonSchema"] == {"schema": CITY_SCHEMA}


async def test_images_never_reach_yandex(emulator: YandexEmbeddingsEmulator) -> None:
    message = image_message("What is it?", generate_pb2.ImagePart(data=PNG))
    async with running(make_config(yandex(emulator))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(generate_pb2.GenerateRequest(messages=[message]))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(caught.value) == "UNSUPPORTED_FEATURE"
    assert "images" in caught.value.details()
    assert not emulator.requests


async def test_a_result_is_named_by_its_call_not_by_the_declared_tools(
    emulator: YandexEmbeddingsEmulator,
) -> None:
    made = call("call_x", "get_weather", {"city": "Oslo"})
    request = generate_pb2.GenerateRequest(
        messages=[user("hi"), assistant_calls(made), tool_result("call_x", "3")],
        tools=[TIME],  # the caller dropped get_weather from the tools
    )
    async with running(make_config(yandex(emulator))) as server:
        reply = await server.stub.Generate(request)
    # Yandex matches results by name against the calls, not the declared tools: accepted.
    assert reply.text == "Hello from the emulator"
    [body] = bodies(emulator)
    assert body["messages"][2] == {
        "role": "user",
        "toolResultList": {
            "toolResults": [{"functionResult": {"name": "get_weather", "content": "3"}}]
        },
    }


async def test_embeddings_batch_with_doc_and_query_models(
    emulator: YandexEmbeddingsEmulator,
) -> None:
    entry = yandex(
        emulator, embedding_model="text-search-doc", embedding_models=["text-search-query"]
    )
    texts = ["red apples", "blue ocean"]
    async with running(make_config(entry)) as server:
        docs = await server.stub.Embed(embed_request(*texts, dimensions=32))
        query = await server.stub.Embed(
            embed_request(
                "apples", model="text-search-query", input_type=embed_pb2.EMBED_INPUT_TYPE_QUERY
            )
        )
    for text, embedding in zip(texts, docs.embeddings, strict=True):
        assert list(embedding.values) == pytest.approx(vector(text, 32))
    assert (docs.model, docs.dimensions, docs.usage.prompt_tokens) == ("text-search-doc", 32, 4)
    assert query.model == "text-search-query"
    sent = [r.json() for r in emulator.calls(YANDEX_EMBEDDING_PATH)]
    assert sorted(sent[:2], key=lambda b: b["text"]) == [
        {"modelUri": f"emb://{FOLDER}/text-search-doc/latest", "text": t, "dim": "32"}
        for t in sorted(texts)
    ]
    assert sent[2] == {"modelUri": f"emb://{FOLDER}/text-search-query/latest", "text": "apples"}
