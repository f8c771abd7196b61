"""Function calling, structured output, images and embeddings through the Gemini adapter,
against the emulator, through the real gRPC server; each test asserts the exact request the
emulator received."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import grpc
import pytest

from orchestrator.v1 import embed_pb2, generate_pb2, tools_pb2
from tests.emulators.embeddings import vector
from tests.emulators.gemini import GeminiEmulator
from tests.helpers import error_reason, make_config, mock_provider, running
from tests.integration.providers.contract import GEMINI, emulator_fixture
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

emulator = emulator_fixture(GEMINI)
gemini = GEMINI.entry
UNARY = GEMINI.chat_path
STREAM = GEMINI.stream_path
DECLARATIONS = {
    "functionDeclarations": [
        {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parametersJsonSchema": WEATHER_SCHEMA,
        },
        {
            "name": "get_time",
            "description": "Current time in a zone",
            "parametersJsonSchema": TIME_SCHEMA,
        },
    ]
}
TWO_CALLS = [
    {"name": "get_weather", "arguments": {"city": "Paris"}},
    {"name": "get_time", "arguments": {"zone": "Europe/Paris"}},
]


def bodies(emulator: GeminiEmulator, path: str | None = UNARY) -> list[dict[str, Any]]:
    assert path is not None
    return [r.json() for r in emulator.calls(path)]


async def test_function_round_trip_by_name_and_position(emulator: GeminiEmulator) -> None:
    emulator.set(tool_calls=TWO_CALLS, times=1)
    tools = [WEATHER, TIME]
    async with running(make_config(gemini(emulator))) as server:
        first = await server.stub.Generate(
            generate_pb2.GenerateRequest(messages=[user("Weather and time in Paris?")], tools=tools)
        )
        assert first.finish_reason == generate_pb2.FINISH_REASON_TOOL_CALL
        a, b = first.tool_calls
        assert [(c.name, parsed(c)) for c in first.tool_calls] == [
            ("get_weather", {"city": "Paris"}),
            ("get_time", {"zone": "Europe/Paris"}),
        ]
        # Gemini gives no ids: the gateway's own, distinct.
        assert a.id.startswith("call_")
        assert b.id.startswith("call_")
        assert a.id != b.id
        emulator.set(text="18 degrees at noon.")
        second = await server.stub.Generate(
            generate_pb2.GenerateRequest(
                messages=[
                    user("Weather and time in Paris?"),
                    assistant_calls(a, b),
                    # Answered out of order: sent in call order, matched by name.
                    tool_result(b.id, "12:00"),
                    tool_result(a.id, '{"temp_c": 18}'),
                ],
                tools=tools,
            )
        )
    assert (second.text, second.finish_reason) == (
        "18 degrees at noon.",
        generate_pb2.FINISH_REASON_STOP,
    )
    asked, answered = bodies(emulator)
    assert asked["tools"] == [DECLARATIONS]
    assert "toolConfig" not in asked
    assert answered["contents"] == [
        {"role": "user", "parts": [{"text": "Weather and time in Paris?"}]},
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                    # Not made by this model's thinking: Google's placeholder.
                    "thoughtSignature": "skip_thought_signature_validator",
                },
                {"functionCall": {"name": "get_time", "args": {"zone": "Europe/Paris"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp_c": 18}}},
                {"functionResponse": {"name": "get_time", "response": {"result": "12:00"}}},
            ],
        },
    ]


async def test_gemini_3_gets_its_thought_signature_back(emulator: GeminiEmulator) -> None:
    entry = gemini(emulator, model="gemini-3-pro-preview")
    emulator.set(tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}], times=1)
    async with running(make_config(entry)) as server:
        first = await server.stub.Generate(
            generate_pb2.GenerateRequest(prompt="Weather in Oslo?", tools=[WEATHER])
        )
        [made] = first.tool_calls
        await server.stub.Generate(
            generate_pb2.GenerateRequest(
                messages=[
                    user("Weather in Oslo?"),
                    assistant_calls(made),
                    tool_result(made.id, "3"),
                ],
                tools=[WEATHER],
            )
        )
    [signature] = emulator.signed
    _, answered = bodies(emulator, "/v1beta/models/gemini-3-pro-preview:generateContent")
    assert answered["contents"][1]["parts"][0]["thoughtSignature"] == signature


async def test_a_call_from_elsewhere_replays_with_the_placeholder(emulator: GeminiEmulator) -> None:
    # A call this process never saw (another provider's, or another worker's): Gemini 3
    # would refuse it unsigned, so it carries the documented placeholder.
    emulator.signed.add("real")
    request = generate_pb2.GenerateRequest(
        messages=[
            user("Weather in Oslo?"),
            assistant_calls(call("call_0123456789abcdef01234567", "get_weather", {"city": "Oslo"})),
            tool_result("call_0123456789abcdef01234567", "3"),
        ],
        tools=[WEATHER],
    )
    async with running(make_config(gemini(emulator, model="gemini-3-pro-preview"))) as server:
        reply = await server.stub.Generate(request)
    assert reply.text == "Hello from the emulator"
    [body] = bodies(emulator, "/v1beta/models/gemini-3-pro-preview:generateContent")
    assert body["contents"][1]["parts"][0]["thoughtSignature"] == "skip_thought_signature_validator"


async def test_integer_arguments_come_back_as_integers(emulator: GeminiEmulator) -> None:
    emulator.set(tool_calls=[{"name": "roll", "arguments": {"sides": 6, "times": [1, 2.5]}}])
    dice = tools_pb2.Tool(name="roll")
    async with running(make_config(gemini(emulator))) as server:
        reply = await server.stub.Generate(
            generate_pb2.GenerateRequest(prompt="Roll", tools=[dice])
        )
    # Gemini sent 6.0 and 1.0.
    assert json.loads(reply.tool_calls[0].arguments) == {"sides": 6, "times": [1, 2.5]}
    assert '"sides": 6,' in reply.tool_calls[0].arguments
    [body] = bodies(emulator)
    assert body["tools"] == [{"functionDeclarations": [{"name": "roll"}]}]


async def test_one_call_at_a_time_keeps_the_first(emulator: GeminiEmulator) -> None:
    emulator.set(tool_calls=TWO_CALLS)
    request = generate_pb2.GenerateRequest(
        prompt="Weather and time?", tools=[WEATHER, TIME], parallel_tool_calls=False
    )
    async with running(make_config(gemini(emulator))) as server:
        reply = await server.stub.Generate(request)
    assert [c.name for c in reply.tool_calls] == ["get_weather"]
    [body] = bodies(emulator)
    assert "parallelToolCalls" not in body
    assert "toolConfig" not in body


async def test_streamed_calls_are_assembled(emulator: GeminiEmulator) -> None:
    emulator.set(tool_calls=TWO_CALLS)
    request = generate_pb2.GenerateStreamRequest(prompt="Weather and time?", tools=[WEATHER, TIME])
    async with running(make_config(gemini(emulator))) as server:
        events = [e async for e in server.stub.GenerateStream(request)]
    deltas = stream_calls(events)
    # One frame per call, each whole: one fragment each, numbered across frames.
    assert [[(f.index, f.name, json.loads(f.arguments)) for f in d.tool_calls] for d in deltas] == [
        [(0, "get_weather", {"city": "Paris"})],
        [(1, "get_time", {"zone": "Europe/Paris"})],
    ]
    end = events[-1].end
    assert end.finish_reason == generate_pb2.FINISH_REASON_TOOL_CALL
    assert [c.id for c in end.tool_calls] == [d.tool_calls[0].id for d in deltas]
    assert [(c.name, parsed(c)) for c in end.tool_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"zone": "Europe/Paris"}),
    ]
    [body] = bodies(emulator, STREAM)
    assert body["tools"] == [DECLARATIONS]


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        (
            tools_pb2.ToolChoice(name="get_time"),
            {"mode": "ANY", "allowedFunctionNames": ["get_time"]},
        ),
        (tools_pb2.ToolChoice(mode=tools_pb2.TOOL_CHOICE_MODE_REQUIRED), {"mode": "ANY"}),
        (tools_pb2.ToolChoice(mode=tools_pb2.TOOL_CHOICE_MODE_NONE), {"mode": "NONE"}),
    ],
)
async def test_tool_choice(
    emulator: GeminiEmulator, choice: tools_pb2.ToolChoice, config: dict[str, Any]
) -> None:
    emulator.set(tool_calls=[{"name": "get_time", "arguments": {"zone": "UTC"}}])
    request = generate_pb2.GenerateRequest(
        prompt="What time is it?", tools=[WEATHER, TIME], tool_choice=choice
    )
    async with running(make_config(gemini(emulator))) as server:
        reply = await server.stub.Generate(request)
    [body] = bodies(emulator)
    assert body["toolConfig"] == {"functionCallingConfig": config}
    assert [c.name for c in reply.tool_calls] == ([] if config["mode"] == "NONE" else ["get_time"])


async def test_json_schema_reply(emulator: GeminiEmulator) -> None:
    # The recorded reply ends with whitespace after the JSON.
    emulator.set(text='{"name": "Paris", "population": 2102650} \n')
    schema = {**CITY_SCHEMA, "$schema": "https://json-schema.org/draft/2020-12/schema"}
    schema["properties"] = {**CITY_SCHEMA["properties"], "kind": {"const": "city", "default": "x"}}
    request = generate_pb2.GenerateRequest(
        prompt="A city as JSON", response_format=schema_format(schema)
    )
    async with running(make_config(gemini(emulator))) as server:
        reply = await server.stub.Generate(request)
    assert json.loads(reply.text) == {"name": "Paris", "population": 2102650}
    [body] = bodies(emulator)
    assert body["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": {
            **CITY_SCHEMA,
            "properties": {**CITY_SCHEMA["properties"], "kind": {"enum": ["city"]}},
        },
    }


async def test_json_mode(emulator: GeminiEmulator) -> None:
    emulator.set(text='["not", "an", "object"]')
    request = generate_pb2.GenerateRequest(
        prompt="JSON please",
        response_format=tools_pb2.ResponseFormat(type=tools_pb2.RESPONSE_FORMAT_TYPE_JSON_OBJECT),
    )
    config = make_config(gemini(emulator), mock_provider("backup"))
    async with running(config) as server:
        reply = await server.stub.Generate(request)
    assert reply.provider == "backup"  # an array is JSON, but not the object JSON mode means
    assert reply.attempts[0].error_code == "malformed_response"
    [body] = bodies(emulator)
    assert body["generationConfig"] == {"responseMimeType": "application/json"}


async def test_json_schema_mismatch_falls_back(emulator: GeminiEmulator) -> None:
    emulator.set(text='{"name": "Paris", "population": "many"}')
    config = make_config(gemini(emulator), mock_provider("backup"))
    request = generate_pb2.GenerateRequest(
        prompt="A city as JSON", response_format=schema_format(CITY_SCHEMA)
    )
    async with running(config) as server:
        reply = await server.stub.Generate(request)
    assert reply.provider == "backup"
    first = reply.attempts[0]
    assert (first.provider, first.error_code) == (GEMINI.name, "malformed_response")
    assert "population" in first.message


async def test_image_input(emulator: GeminiEmulator) -> None:
    emulator.set(text="A cat and a dog.")
    message = image_message(
        "What is in these pictures?",
        generate_pb2.ImagePart(data=PNG),
        generate_pb2.ImagePart(data=JPEG, media_type="image/jpeg"),
    )
    async with running(make_config(gemini(emulator))) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(messages=[message]))
    assert reply.text == "A cat and a dog."
    [body] = bodies(emulator)
    assert body["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": "What is in these pictures?"},
                {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}},
                {"inlineData": {"mimeType": "image/jpeg", "data": base64.b64encode(JPEG).decode()}},
            ],
        }
    ]


async def test_an_image_url_skips_gemini(emulator: GeminiEmulator) -> None:
    message = image_message("What is it?", generate_pb2.ImagePart(url="https://example.com/a.png"))
    config = make_config(gemini(emulator), mock_provider("backup"))
    async with running(config) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(messages=[message]))
    assert reply.provider == "backup"
    assert not emulator.requests


async def test_a_mismatched_response_count_is_the_callers_error(emulator: GeminiEmulator) -> None:
    a = call("call_a", "get_weather", {"city": "Paris"})
    b = call("call_b", "get_time", {"zone": "UTC"})
    request = generate_pb2.GenerateRequest(
        messages=[user("both"), assistant_calls(a, b), tool_result("call_a", "18")],
        tools=[WEATHER, TIME],
    )
    async with running(make_config(gemini(emulator), mock_provider("backup"))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(request)
        assert server.mock("backup").calls == 0
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(caught.value) == "PROVIDER_REJECTED_REQUEST"
    assert "number of function response parts" in caught.value.details()


async def test_embeddings_batch(emulator: GeminiEmulator) -> None:
    entry = gemini(emulator, embedding_model="gemini-embedding-001")
    texts = ["red apples", "blue ocean", "green forest"]
    async with running(make_config(entry)) as server:
        reply = await server.stub.Embed(
            embed_request(*texts, input_type=embed_pb2.EMBED_INPUT_TYPE_QUERY)
        )
        shortened = await server.stub.Embed(embed_request("red apples", dimensions=16))
    for text, embedding in zip(texts, reply.embeddings, strict=True):
        expected = vector(text)
        norm = math.sqrt(sum(v * v for v in expected))
        assert list(embedding.values) == pytest.approx([v / norm for v in expected])
    assert (reply.provider, reply.model, reply.dimensions) == (
        GEMINI.name,
        "gemini-embedding-001",
        64,
    )
    assert reply.usage.estimated  # Gemini reports no usage
    # A shortened vector comes back normalized, though Gemini's is not.
    assert math.sqrt(sum(v * v for v in shortened.embeddings[0].values)) == pytest.approx(1.0)
    first, second = [
        r.json() for r in emulator.calls("/v1beta/models/gemini-embedding-001:batchEmbedContents")
    ]
    assert first == {
        "requests": [
            {
                "model": "models/gemini-embedding-001",
                "taskType": "RETRIEVAL_QUERY",
                "content": {"parts": [{"text": t}]},
            }
            for t in texts
        ]
    }
    assert second["requests"][0]["outputDimensionality"] == 16
    assert second["requests"][0]["taskType"] == "RETRIEVAL_DOCUMENT"


async def test_a_large_batch_is_split(emulator: GeminiEmulator) -> None:
    entry = gemini(emulator, embedding_model="gemini-embedding-001")
    texts = [f"text number {i}" for i in range(230)]
    async with running(make_config(entry)) as server:
        reply = await server.stub.Embed(embed_request(*texts))
    assert len(reply.embeddings) == 230
    assert list(reply.embeddings[229].values) == pytest.approx(
        [v / math.sqrt(sum(x * x for x in vector(texts[229]))) for v in vector(texts[229])]
    )
    sizes = sorted(
        len(r.json()["requests"])
        for r in emulator.calls("/v1beta/models/gemini-embedding-001:batchEmbedContents")
    )
    assert sizes == [30, 100, 100]
