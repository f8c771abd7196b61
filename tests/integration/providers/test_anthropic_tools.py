"""Tools, structured output and images through the Anthropic adapter, against the emulator,
through the real gRPC server; each test asserts the exact request the emulator received.
Anthropic has no embeddings: Embed never reaches it."""

from __future__ import annotations

import base64
import json
from typing import Any

import grpc
import pytest

from orchestrator.v1 import generate_pb2, tools_pb2
from tests.emulators.anthropic import AnthropicEmulator
from tests.helpers import error_reason, make_config, mock_provider, running
from tests.integration.providers.contract import ANTHROPIC, emulator_fixture
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

emulator = emulator_fixture(ANTHROPIC)
anthropic = ANTHROPIC.entry
MESSAGES = ANTHROPIC.chat_path
WEATHER_WIRE = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": WEATHER_SCHEMA,
}
TIME_WIRE = {
    "name": "get_time",
    "description": "Current time in a zone",
    "input_schema": TIME_SCHEMA,
}
TWO_CALLS = [
    {"name": "get_weather", "arguments": {"city": "Paris"}},
    {"name": "get_time", "arguments": {"zone": "Europe/Paris"}},
]


def bodies(emulator: AnthropicEmulator) -> list[dict[str, Any]]:
    return [r.json() for r in emulator.calls(MESSAGES)]


async def test_tool_round_trip(emulator: AnthropicEmulator) -> None:
    emulator.preamble = "Let me check the weather."
    emulator.set(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}], times=1)
    async with running(make_config(anthropic(emulator))) as server:
        first = await server.stub.Generate(
            generate_pb2.GenerateRequest(messages=[user("Weather in Paris?")], tools=[WEATHER])
        )
        assert first.finish_reason == generate_pb2.FINISH_REASON_TOOL_CALL
        assert first.text == "Let me check the weather."
        [made] = first.tool_calls
        assert made.id.startswith("toolu_01")
        assert (made.name, parsed(made)) == ("get_weather", {"city": "Paris"})
        emulator.set(text="It is 18 degrees in Paris.")
        second = await server.stub.Generate(
            generate_pb2.GenerateRequest(
                messages=[
                    user("Weather in Paris?"),
                    generate_pb2.ChatMessage(
                        role=generate_pb2.ROLE_ASSISTANT,
                        content=first.text,
                        tool_calls=first.tool_calls,
                    ),
                    tool_result(made.id, '{"temp_c": 18}'),
                ],
                tools=[WEATHER],
            )
        )
    assert (second.text, second.finish_reason) == (
        "It is 18 degrees in Paris.",
        generate_pb2.FINISH_REASON_STOP,
    )
    asked, answered = bodies(emulator)
    assert asked["tools"] == [WEATHER_WIRE]
    assert "tool_choice" not in asked
    assert asked["messages"] == [{"role": "user", "content": "Weather in Paris?"}]
    assert answered["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check the weather."},
                {
                    "type": "tool_use",
                    "id": made.id,
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": made.id, "content": '{"temp_c": 18}'}
            ],
        },
    ]


async def test_parallel_calls_answered_in_one_user_turn(emulator: AnthropicEmulator) -> None:
    emulator.set(tool_calls=TWO_CALLS)
    async with running(make_config(anthropic(emulator))) as server:
        reply = await server.stub.Generate(
            generate_pb2.GenerateRequest(
                prompt="Weather and time in Paris?", tools=[WEATHER, TIME], parallel_tool_calls=True
            )
        )
        a, b = reply.tool_calls
        emulator.set(text="18 degrees, noon.")
        await server.stub.Generate(
            generate_pb2.GenerateRequest(
                messages=[
                    user("Weather and time in Paris?"),
                    assistant_calls(a, b),
                    # Answered out of order, followed by a remark: results come first.
                    tool_result(b.id, "12:00"),
                    tool_result(a.id, "18"),
                    user("Be brief."),
                ],
                tools=[WEATHER, TIME],
            )
        )
    assert [(c.name, parsed(c)) for c in reply.tool_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"zone": "Europe/Paris"}),
    ]
    first, second = bodies(emulator)
    assert first["tools"] == [WEATHER_WIRE, TIME_WIRE]
    assert "tool_choice" not in first  # parallel use is Anthropic's default
    assert second["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": a.id, "name": "get_weather", "input": {"city": "Paris"}},
                {
                    "type": "tool_use",
                    "id": b.id,
                    "name": "get_time",
                    "input": {"zone": "Europe/Paris"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": b.id, "content": "12:00"},
                {"type": "tool_result", "tool_use_id": a.id, "content": "18"},
                {"type": "text", "text": "Be brief."},
            ],
        },
    ]


async def test_one_call_at_a_time(emulator: AnthropicEmulator) -> None:
    emulator.set(tool_calls=TWO_CALLS)
    async with running(make_config(anthropic(emulator))) as server:
        reply = await server.stub.Generate(
            generate_pb2.GenerateRequest(
                prompt="Weather and time?", tools=[WEATHER, TIME], parallel_tool_calls=False
            )
        )
    assert [c.name for c in reply.tool_calls] == ["get_weather"]
    [body] = bodies(emulator)
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


async def test_streamed_calls_are_assembled(emulator: AnthropicEmulator) -> None:
    emulator.preamble = "Checking both."
    emulator.set(
        tool_calls=[
            {"name": "get_weather", "arguments": {"city": "Saint Petersburg"}},
            {"name": "get_time", "arguments": {"zone": "Europe/Moscow"}},
        ]
    )
    request = generate_pb2.GenerateStreamRequest(prompt="Weather and time?", tools=[WEATHER, TIME])
    async with running(make_config(anthropic(emulator))) as server:
        events = [e async for e in server.stub.GenerateStream(request)]
    text = "".join(e.delta.text for e in events if e.HasField("delta"))
    assert text == "Checking both."
    fragments = [f for d in stream_calls(events) for f in d.tool_calls]
    # Content blocks 1 and 2 are calls 0 and 1; arguments come in 7-character pieces.
    assert {f.index for f in fragments} == {0, 1}
    assert len(fragments) > 8
    end = events[-1].end
    assert end.finish_reason == generate_pb2.FINISH_REASON_TOOL_CALL
    assert [(c.name, parsed(c)) for c in end.tool_calls] == [
        ("get_weather", {"city": "Saint Petersburg"}),
        ("get_time", {"zone": "Europe/Moscow"}),
    ]
    for index, assembled in enumerate(end.tool_calls):
        mine = [f for f in fragments if f.index == index]
        assert assembled.id == mine[0].id
        assert assembled.id.startswith("toolu_01")
        assert mine[0].name == assembled.name
        assert not mine[0].arguments
        assert all(not f.id and not f.name for f in mine[1:])
        assert assembled.arguments == "".join(f.arguments for f in mine)
    [body] = bodies(emulator)
    assert body["stream"] is True
    assert body["tools"] == [WEATHER_WIRE, TIME_WIRE]


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        (tools_pb2.ToolChoice(name="get_time"), {"type": "tool", "name": "get_time"}),
        (tools_pb2.ToolChoice(mode=tools_pb2.TOOL_CHOICE_MODE_REQUIRED), {"type": "any"}),
        (tools_pb2.ToolChoice(mode=tools_pb2.TOOL_CHOICE_MODE_NONE), {"type": "none"}),
    ],
)
async def test_tool_choice(
    emulator: AnthropicEmulator, choice: tools_pb2.ToolChoice, wire: dict[str, Any]
) -> None:
    emulator.preamble = "Never shown when a call is forced."
    emulator.set(tool_calls=[{"name": "get_time", "arguments": {"zone": "UTC"}}])
    request = generate_pb2.GenerateRequest(
        prompt="What time is it?", tools=[WEATHER, TIME], tool_choice=choice
    )
    async with running(make_config(anthropic(emulator))) as server:
        reply = await server.stub.Generate(request)
    [body] = bodies(emulator)
    assert body["tool_choice"] == wire
    if wire["type"] == "none":
        assert not reply.tool_calls
        assert reply.text == "Hello from the emulator"
    else:
        assert [c.name for c in reply.tool_calls] == ["get_time"]
        assert reply.text == ""


async def test_json_schema_reply(emulator: AnthropicEmulator) -> None:
    emulator.set(text='{"name": "Paris", "population": 2102650}')
    request = generate_pb2.GenerateRequest(
        prompt="A city as JSON", response_format=schema_format(CITY_SCHEMA)
    )
    async with running(make_config(anthropic(emulator))) as server:
        reply = await server.stub.Generate(request)
    assert json.loads(reply.text) == {"name": "Paris", "population": 2102650}
    [body] = bodies(emulator)
    # The schema narrowed to what constrained decoding takes: `minimum` is said in words.
    assert body["output_config"] == {
        "format": {
            "type": "json_schema",
            "schema": {
                "type": "object",
                "required": ["name", "population"],
                "properties": {
                    "name": {"type": "string"},
                    "population": {"type": "integer", "description": "{minimum: 0}"},
                },
                "additionalProperties": False,
            },
        }
    }


async def test_json_schema_mismatch_falls_back(emulator: AnthropicEmulator) -> None:
    # Within the narrowed schema, but below the caller's minimum.
    emulator.set(text='{"name": "Paris", "population": -1}')
    config = make_config(anthropic(emulator), mock_provider("backup"))
    request = generate_pb2.GenerateRequest(
        prompt="A city as JSON", response_format=schema_format(CITY_SCHEMA)
    )
    async with running(config) as server:
        reply = await server.stub.Generate(request)
    assert reply.provider == "backup"
    first = reply.attempts[0]
    assert (first.provider, first.error_code) == (ANTHROPIC.name, "malformed_response")
    assert "population" in first.message


async def test_image_input(emulator: AnthropicEmulator) -> None:
    emulator.set(text="A cat and a dog.")
    message = image_message(
        "What is in these pictures?",
        generate_pb2.ImagePart(data=PNG),
        generate_pb2.ImagePart(url="https://example.com/dog.jpg"),
    )
    async with running(make_config(anthropic(emulator))) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(messages=[message]))
    assert reply.text == "A cat and a dog."
    [body] = bodies(emulator)
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these pictures?"},
                {
                    "type": "image",
                    "source": {
                        "type": "base64",
                        "media_type": "image/png",
                        "data": base64.b64encode(PNG).decode(),
                    },
                },
                {"type": "image", "source": {"type": "url", "url": "https://example.com/dog.jpg"}},
            ],
        }
    ]


async def test_a_missing_tool_result_is_refused_upstream(emulator: AnthropicEmulator) -> None:
    a = call("toolu_01A", "get_weather", {"city": "Paris"})
    b = call("toolu_01B", "get_time", {"zone": "UTC"})
    request = generate_pb2.GenerateRequest(
        messages=[user("both"), assistant_calls(a, b), tool_result("toolu_01A", "18")],
        tools=[WEATHER, TIME],
    )
    config = make_config(anthropic(emulator), mock_provider("backup"))
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(request)
        assert server.mock("backup").calls == 0
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(caught.value) == "PROVIDER_REJECTED_REQUEST"
    assert "toolu_01B" in caught.value.details()


async def test_embed_never_reaches_anthropic(emulator: AnthropicEmulator) -> None:
    async with running(make_config(anthropic(emulator))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Embed(embed_request("red apples", model="claude/voyage-3"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(caught.value) == "UNSUPPORTED_FEATURE"
    assert "embeddings" in caught.value.details()
    assert not emulator.requests
