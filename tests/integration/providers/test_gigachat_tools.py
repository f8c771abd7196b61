"""Functions, structured output, image attachments and embeddings through the GigaChat
adapter, against the emulator (OAuth host and API in one), through the real gRPC server;
each test asserts the exact request the emulator received."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from functools import partial
from typing import Any

import grpc
import pytest

from orchestrator.v1 import generate_pb2, tools_pb2
from tests.emulators.embeddings import GIGACHAT_EMBEDDINGS_PATH, GigaChatEmbeddingsEmulator
from tests.emulators.gigachat import CHAT, FILES
from tests.helpers import error_reason, make_config, mock_provider, running
from tests.integration.providers.contract import GIGACHAT, emulator_fixture
from tests.integration.providers.tools_common import (
    CITY_SCHEMA,
    JPEG,
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

CASE = dataclasses.replace(
    GIGACHAT,
    emulator=partial(GigaChatEmbeddingsEmulator, GIGACHAT.key, scope="GIGACHAT_API_PERS"),
)
emulator = emulator_fixture(CASE)
gigachat = CASE.entry
WEATHER_WIRE = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": WEATHER_SCHEMA,
}
TIME_WIRE = {"name": "get_time", "description": "Current time in a zone", "parameters": TIME_SCHEMA}
# A real WEBP's first bytes: a format GigaChat does not take.
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(24)


def bodies(emulator: GigaChatEmbeddingsEmulator) -> list[dict[str, Any]]:
    return [r.json() for r in emulator.calls(CHAT)]


async def test_function_round_trip(emulator: GigaChatEmbeddingsEmulator) -> None:
    emulator.set(tool_calls=[{"name": "get_weather", "arguments": {"city": "Манжерок"}}], times=1)
    async with running(make_config(gigachat(emulator))) as server:
        first = await server.stub.Generate(
            generate_pb2.GenerateRequest(messages=[user("Погода в Манжероке?")], tools=[WEATHER])
        )
        assert first.finish_reason == generate_pb2.FINISH_REASON_TOOL_CALL
        [made] = first.tool_calls
        [state] = emulator.state_ids
        # GigaChat gives no id: the call's id carries its functions_state_id.
        assert made.id == "call_" + uuid.UUID(state).hex
        assert (made.name, parsed(made)) == ("get_weather", {"city": "Манжерок"})
        emulator.set(text="Солнечно, +27.")
        second = await server.stub.Generate(
            generate_pb2.GenerateRequest(
                messages=[
                    user("Погода в Манжероке?"),
                    assistant_calls(made),
                    tool_result(made.id, '{"temperature": 27}'),
                ],
                tools=[WEATHER],
            )
        )
    assert (second.text, second.finish_reason) == (
        "Солнечно, +27.",
        generate_pb2.FINISH_REASON_STOP,
    )
    asked, answered = bodies(emulator)
    assert asked["functions"] == [WEATHER_WIRE]
    assert asked["function_call"] == "auto"
    assert answered["messages"] == [
        {"role": "user", "content": "Погода в Манжероке?"},
        {
            "role": "assistant",
            "content": "",
            "function_call": {"name": "get_weather", "arguments": {"city": "Манжерок"}},
            "functions_state_id": state,
        },
        {"role": "function", "name": "get_weather", "content": '{"temperature": 27}'},
    ]


async def test_parallel_calls_from_another_provider_are_replayed_one_by_one(
    emulator: GigaChatEmbeddingsEmulator,
) -> None:
    a = call("call_A", "get_weather", {"city": "Paris"})
    b = call("call_B", "get_time", {"zone": "UTC"})
    request = generate_pb2.GenerateRequest(
        messages=[
            user("Weather and time?"),
            generate_pb2.ChatMessage(
                role=generate_pb2.ROLE_ASSISTANT, content="Checking.", tool_calls=[a, b]
            ),
            tool_result("call_B", "12:00"),
            tool_result("call_A", "18"),
        ],
        tools=[WEATHER, TIME],
    )
    async with running(make_config(gigachat(emulator))) as server:
        await server.stub.Generate(request)
    [body] = bodies(emulator)
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": "Checking.",
            "function_call": {"name": "get_weather", "arguments": {"city": "Paris"}},
        },
        {"role": "function", "name": "get_weather", "content": '{"result": 18}'},
        {
            "role": "assistant",
            "content": "",
            "function_call": {"name": "get_time", "arguments": {"zone": "UTC"}},
        },
        {"role": "function", "name": "get_time", "content": '{"result": "12:00"}'},
    ]


async def test_parallel_calls_asked_for_skip_gigachat(emulator: GigaChatEmbeddingsEmulator) -> None:
    request = generate_pb2.GenerateRequest(
        prompt="Weather and time?", tools=[WEATHER, TIME], parallel_tool_calls=True
    )
    async with running(make_config(gigachat(emulator), mock_provider("backup"))) as server:
        reply = await server.stub.Generate(request)
    assert reply.provider == "backup"
    assert not emulator.calls(CHAT)


async def test_streamed_call_comes_whole(emulator: GigaChatEmbeddingsEmulator) -> None:
    emulator.set(tool_calls=[{"name": "get_time", "arguments": {"zone": "Europe/Moscow"}}])
    request = generate_pb2.GenerateStreamRequest(prompt="Время?", tools=[WEATHER, TIME])
    async with running(make_config(gigachat(emulator))) as server:
        events = [e async for e in server.stub.GenerateStream(request)]
    [delta] = stream_calls(events)
    [fragment] = delta.tool_calls
    [state] = emulator.state_ids
    assert (fragment.index, fragment.id, fragment.name) == (
        0,
        "call_" + uuid.UUID(state).hex,
        "get_time",
    )
    end = events[-1].end
    assert end.finish_reason == generate_pb2.FINISH_REASON_TOOL_CALL
    assert [(c.id, c.name, parsed(c)) for c in end.tool_calls] == [
        (fragment.id, "get_time", {"zone": "Europe/Moscow"})
    ]
    [body] = bodies(emulator)
    assert body["stream"] is True
    assert body["functions"] == [WEATHER_WIRE, TIME_WIRE]


@pytest.mark.parametrize(
    ("tools", "choice", "wire"),
    [
        ([WEATHER, TIME], tools_pb2.ToolChoice(name="get_time"), {"name": "get_time"}),
        # No "call some function" mode: forced when there is only one to call ...
        (
            [TIME],
            tools_pb2.ToolChoice(mode=tools_pb2.TOOL_CHOICE_MODE_REQUIRED),
            {"name": "get_time"},
        ),
        # ... else auto, as GigaChat's own LangChain integration does.
        ([WEATHER, TIME], tools_pb2.ToolChoice(mode=tools_pb2.TOOL_CHOICE_MODE_REQUIRED), "auto"),
        ([WEATHER, TIME], tools_pb2.ToolChoice(mode=tools_pb2.TOOL_CHOICE_MODE_NONE), "none"),
    ],
)
async def test_function_call_modes(
    emulator: GigaChatEmbeddingsEmulator,
    tools: list[tools_pb2.Tool],
    choice: tools_pb2.ToolChoice,
    wire: Any,
) -> None:
    emulator.set(tool_calls=[{"name": "get_time", "arguments": {"zone": "UTC"}}])
    request = generate_pb2.GenerateRequest(
        prompt="What time is it?", tools=tools, tool_choice=choice
    )
    async with running(make_config(gigachat(emulator))) as server:
        reply = await server.stub.Generate(request)
    [body] = bodies(emulator)
    assert body["function_call"] == wire
    assert [c.name for c in reply.tool_calls] == ([] if wire == "none" else ["get_time"])


async def test_json_schema_reply(emulator: GigaChatEmbeddingsEmulator) -> None:
    emulator.set(text='{"name": "Paris", "population": 2102650}')
    request = generate_pb2.GenerateRequest(
        prompt="A city as JSON", response_format=schema_format(CITY_SCHEMA)
    )
    async with running(make_config(gigachat(emulator))) as server:
        reply = await server.stub.Generate(request)
    # GigaChat pretty-prints it; the gateway passes the text on and checks it.
    assert reply.text.startswith("{\n    ")
    assert json.loads(reply.text) == {"name": "Paris", "population": 2102650}
    [body] = bodies(emulator)
    assert body["response_format"] == {"type": "json_schema", "schema": CITY_SCHEMA, "strict": True}


async def test_json_schema_mismatch_falls_back(emulator: GigaChatEmbeddingsEmulator) -> None:
    emulator.set(text='{"name": "Paris", "population": "many"}')
    request = generate_pb2.GenerateRequest(
        prompt="A city as JSON", response_format=schema_format(CITY_SCHEMA, strict=False)
    )
    async with running(make_config(gigachat(emulator), mock_provider("backup"))) as server:
        reply = await server.stub.Generate(request)
    assert reply.provider == "backup"
    assert (reply.attempts[0].provider, reply.attempts[0].error_code) == (
        "giga",
        "malformed_response",
    )
    [body] = bodies(emulator)
    assert body["response_format"] == {"type": "json_schema", "schema": CITY_SCHEMA}


async def test_images_are_uploaded_attached_and_deleted(
    emulator: GigaChatEmbeddingsEmulator,
) -> None:
    emulator.set(text="Кот и собака.")
    request = generate_pb2.GenerateRequest(
        messages=[
            image_message("Кто здесь?", generate_pb2.ImagePart(data=PNG)),
            generate_pb2.ChatMessage(role=generate_pb2.ROLE_ASSISTANT, content="Кот."),
            image_message("Что здесь?", generate_pb2.ImagePart(data=JPEG)),
            image_message("И снова?", generate_pb2.ImagePart(data=PNG)),
        ]
    )
    async with running(make_config(gigachat(emulator))) as server:
        reply = await server.stub.Generate(request)
        assert reply.text == "Кот и собака."
        await asyncio.wait_for(_all_deleted(emulator, 2), 5)
    # The same PNG twice is uploaded once.
    assert [(u["filename"], u["content_type"], u["data"]) for u in emulator.uploads] == [
        ("image.png", "image/png", PNG),
        ("image.jpg", "image/jpeg", JPEG),
    ]
    assert all(r.headers["authorization"].startswith("Bearer ") for r in emulator.calls(FILES))
    [body] = bodies(emulator)
    png = body["messages"][0]["attachments"][0]
    jpeg = body["messages"][2]["attachments"][0]
    assert body["messages"] == [
        {"role": "user", "content": "Кто здесь?", "attachments": [png]},
        {"role": "assistant", "content": "Кот."},
        {"role": "user", "content": "Что здесь?", "attachments": [jpeg]},
        {"role": "user", "content": "И снова?", "attachments": [png]},
    ]
    assert sorted(emulator.deleted) == sorted([png, jpeg])
    assert not emulator.files  # nothing left behind


async def _all_deleted(emulator: GigaChatEmbeddingsEmulator, count: int) -> None:
    while len(emulator.deleted) < count:
        emulator.file_deleted.clear()
        await emulator.file_deleted.wait()


async def test_an_image_gigachat_cannot_take_falls_back_before_any_upload(
    emulator: GigaChatEmbeddingsEmulator,
) -> None:
    request = generate_pb2.GenerateRequest(
        messages=[image_message("What is it?", generate_pb2.ImagePart(data=WEBP))]
    )
    async with running(make_config(gigachat(emulator), mock_provider("backup"))) as server:
        reply = await server.stub.Generate(request)
    assert reply.provider == "backup"
    first = reply.attempts[0]
    assert (first.provider, first.error_code) == ("giga", "unsupported")
    assert "image/webp" in first.message
    assert not emulator.uploads
    assert not emulator.calls(CHAT)


async def test_a_function_gigachat_refuses_is_the_callers_error(
    emulator: GigaChatEmbeddingsEmulator,
) -> None:
    # Names with dashes pass the gateway's (OpenAI's) rule, not GigaChat's: its 422.
    dashed = tools_pb2.Tool(name="get-weather", parameters=WEATHER.parameters)
    request = generate_pb2.GenerateRequest(prompt="hi", tools=[dashed])
    async with running(make_config(gigachat(emulator), mock_provider("backup"))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(request)
        assert server.mock("backup").calls == 0
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(caught.value) == "PROVIDER_REJECTED_REQUEST"
    assert "functions[0].name" in caught.value.details()


async def test_embeddings_batch(emulator: GigaChatEmbeddingsEmulator) -> None:
    entry = gigachat(emulator, embedding_model="Embeddings")
    texts = ["red apples", "blue ocean"]
    async with running(make_config(entry)) as server:
        reply = await server.stub.Embed(embed_request(*texts))
    assert [e.index for e in reply.embeddings] == [0, 1]
    assert (reply.provider, reply.model, reply.usage.prompt_tokens) == ("giga", "Embeddings", 4)
    [sent] = emulator.calls(GIGACHAT_EMBEDDINGS_PATH)
    assert sent.json() == {"model": "Embeddings", "input": texts}


async def test_an_upload_refused_for_an_expired_token_is_sent_again(
    emulator: GigaChatEmbeddingsEmulator,
) -> None:
    request = generate_pb2.GenerateRequest(
        messages=[image_message("Кто здесь?", generate_pb2.ImagePart(data=PNG))]
    )
    async with running(make_config(gigachat(emulator))) as server:
        emulator.reject_next = 1  # the upload's token was revoked early
        await server.stub.Generate(request)
        await asyncio.wait_for(_all_deleted(emulator, 1), 5)
    # A multipart body is built anew for the second try.
    assert len(emulator.calls(FILES)) == 2
    assert [u["data"] for u in emulator.uploads] == [PNG]
    assert len(emulator.oauth_calls) == 2
