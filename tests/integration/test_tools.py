"""Tools, structured output and images through the real server with mock providers: what
the mock answers (so `make run` shows it), every validation rule with the field it names,
and capability routing."""

from __future__ import annotations

import base64
import json
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from orchestrator.v1 import generate_pb2, tools_pb2
from tests.helpers import detail, error_reason, make_config, mock_provider, running
from tests.integration.providers.tools_common import (
    CITY_SCHEMA,
    JPEG,
    PNG,
    TIME,
    WEATHER,
    assistant_calls,
    call,
    image_message,
    parsed,
    schema_format,
    stream_calls,
    struct,
    tool,
    tool_result,
    user,
)


def without(name: str, **capabilities: bool) -> dict[str, Any]:
    return {**mock_provider(name), "capabilities": capabilities}


async def generate(config: Any, request: generate_pb2.GenerateRequest) -> Any:
    async with running(config) as server:
        return await server.stub.Generate(request)


async def refused(config: Any, request: generate_pb2.GenerateRequest) -> grpc.aio.AioRpcError:
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(request)
        assert all(p.calls == 0 for p in server.app.providers)  # type: ignore[attr-defined]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return caught.value


def fields(error: grpc.aio.AioRpcError) -> dict[str, str]:
    bad = detail(error, error_details_pb2.BadRequest)
    return {v.field: v.description for v in bad.field_violations}


# --- what the mock answers ------------------------------------------------------------------


async def test_mock_calls_the_first_tool_with_the_required_fields() -> None:
    reply = await generate(
        make_config(mock_provider("m")),
        generate_pb2.GenerateRequest(prompt="What is the weather in Paris?", tools=[WEATHER, TIME]),
    )
    assert reply.finish_reason == generate_pb2.FINISH_REASON_TOOL_CALL
    [made] = reply.tool_calls
    assert (made.name, parsed(made)) == ("get_weather", {"city": "Paris"})
    assert made.id.startswith("call_")


async def test_mock_calls_the_named_tool_or_every_tool_in_parallel() -> None:
    config = make_config(mock_provider("m"))
    named = generate_pb2.GenerateRequest(
        prompt="time in UTC",
        tools=[WEATHER, TIME],
        tool_choice=tools_pb2.ToolChoice(name="get_time"),
    )
    parallel = generate_pb2.GenerateRequest(
        prompt="both", tools=[WEATHER, TIME], parallel_tool_calls=True
    )
    async with running(config) as server:
        one = await server.stub.Generate(named)
        both = await server.stub.Generate(parallel)
    assert [(c.name, parsed(c)) for c in one.tool_calls] == [("get_time", {"zone": "UTC"})]
    assert [c.name for c in both.tool_calls] == ["get_weather", "get_time"]


async def test_mock_answers_tool_results_in_text_so_an_agent_loop_ends() -> None:
    made = call("call_1", "get_weather", {"city": "Paris"})
    reply = await generate(
        make_config(mock_provider("m")),
        generate_pb2.GenerateRequest(
            messages=[
                user("Weather in Paris?"),
                assistant_calls(made),
                tool_result("call_1", "18C"),
            ],
            tools=[WEATHER],
        ),
    )
    assert reply.finish_reason == generate_pb2.FINISH_REASON_STOP
    assert reply.text == "Tool results: get_weather returned 18C"
    assert not reply.tool_calls


async def test_mock_streams_a_call_in_fragments() -> None:
    request = generate_pb2.GenerateStreamRequest(prompt="Weather in Oslo", tools=[WEATHER])
    async with running(make_config(mock_provider("m"))) as server:
        events = [e async for e in server.stub.GenerateStream(request)]
    assert events[0].start.provider == "m"
    fragments = [f for d in stream_calls(events) for f in d.tool_calls]
    assert [bool(f.name) for f in fragments] == [True, False, False]
    end = events[-1].end
    assert end.finish_reason == generate_pb2.FINISH_REASON_TOOL_CALL
    [assembled] = end.tool_calls
    assert (assembled.id, parsed(assembled)) == (fragments[0].id, {"city": "Oslo"})
    assert assembled.arguments == "".join(f.arguments for f in fragments)


async def test_mock_answers_json_that_matches_the_schema() -> None:
    config = make_config(mock_provider("m"))
    async with running(config) as server:
        schema = await server.stub.Generate(
            generate_pb2.GenerateRequest(
                prompt="A city: Rome", response_format=schema_format(CITY_SCHEMA)
            )
        )
        mode = await server.stub.Generate(
            generate_pb2.GenerateRequest(
                prompt="hi",
                response_format=tools_pb2.ResponseFormat(
                    type=tools_pb2.RESPONSE_FORMAT_TYPE_JSON_OBJECT
                ),
            )
        )
    assert json.loads(schema.text) == {"name": "Rome", "population": 1}
    assert json.loads(mode.text) == {"answer": "This is m (mock-model) answering: hi"}


async def test_a_reply_that_breaks_the_schema_falls_back() -> None:
    config = make_config(mock_provider("broken", reply="not json"), mock_provider("good"))
    request = generate_pb2.GenerateRequest(
        prompt="A city: Riga", response_format=schema_format(CITY_SCHEMA)
    )
    async with running(config) as server:
        reply = await server.stub.Generate(request)
        assert server.mock("broken").calls == 2  # a malformed reply is retried once
    assert reply.provider == "good"
    assert json.loads(reply.text) == {"name": "Riga", "population": 1}
    assert [(a.provider, a.error_code) for a in reply.attempts] == [
        ("broken", "malformed_response"),
        ("broken", "malformed_response"),
        ("good", ""),
    ]
    assert reply.attempts[0].message == "the reply is not JSON"


async def test_a_stream_whose_json_breaks_the_schema_ends_interrupted() -> None:
    config = make_config(mock_provider("m", reply="not json"))
    request = generate_pb2.GenerateStreamRequest(
        prompt="x", response_format=schema_format(CITY_SCHEMA)
    )
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in server.stub.GenerateStream(request):
                pass
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(caught.value) == "STREAM_INTERRUPTED"


async def test_images_reach_the_provider_and_data_urls_are_decoded() -> None:
    data_url = "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()
    message = image_message(
        "Look", generate_pb2.ImagePart(data=PNG), generate_pb2.ImagePart(url=data_url)
    )
    reply = await generate(
        make_config(mock_provider("m")), generate_pb2.GenerateRequest(messages=[message])
    )
    assert reply.text == "This is m (mock-model) answering: Look"


# --- validation: every rule names its field, before any provider is called -----------------

BAD_SCHEMA = tool("broken", {"type": "object", "properties": {"x": {"type": "nonsense"}}})
ROWS: list[tuple[dict[str, Any], str, str]] = [
    ({"tools": [tool("bad name!", {})]}, "tools[0].name", "A-Z"),
    ({"tools": [WEATHER, WEATHER]}, "tools[1].name", "declared twice"),
    ({"tools": [tool("s", {"type": "string"})]}, "tools[0].parameters", "object"),
    ({"tools": [BAD_SCHEMA]}, "tools[0].parameters", "not a valid JSON Schema"),
    (
        {"tools": [WEATHER], "tool_choice": tools_pb2.ToolChoice(name="nope")},
        "tool_choice.name",
        "not one of tools",
    ),
    (
        {"tool_choice": tools_pb2.ToolChoice(mode=tools_pb2.TOOL_CHOICE_MODE_REQUIRED)},
        "tool_choice.mode",
        "needs tools",
    ),
    (
        {
            "response_format": tools_pb2.ResponseFormat(
                type=tools_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA
            )
        },
        "response_format.json_schema.schema",
        "required",
    ),
    (
        {
            "response_format": tools_pb2.ResponseFormat(
                type=tools_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA,
                json_schema=tools_pb2.JsonSchemaFormat(
                    name="x y", schema=struct({"type": "object"})
                ),
            )
        },
        "response_format.json_schema.name",
        "A-Z",
    ),
    (
        {
            "response_format": tools_pb2.ResponseFormat(
                type=tools_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA,
                json_schema=tools_pb2.JsonSchemaFormat(name="x", schema=struct({"type": 5})),
            )
        },
        "response_format.json_schema.schema",
        "not a valid JSON Schema",
    ),
    (
        {
            "response_format": tools_pb2.ResponseFormat(
                type=tools_pb2.RESPONSE_FORMAT_TYPE_TEXT,
                json_schema=tools_pb2.JsonSchemaFormat(name="x", schema=struct({"type": "object"})),
            )
        },
        "response_format.json_schema",
        "only with",
    ),
]
MESSAGE_ROWS: list[tuple[list[generate_pb2.ChatMessage], str, str]] = [
    (
        [
            generate_pb2.ChatMessage(
                role=generate_pb2.ROLE_USER, content="a", parts=[generate_pb2.ContentPart(text="b")]
            )
        ],
        "messages[0].parts",
        "not both",
    ),
    (
        [
            user("hi"),
            generate_pb2.ChatMessage(
                role=generate_pb2.ROLE_ASSISTANT,
                parts=[generate_pb2.ContentPart(image=generate_pb2.ImagePart(data=PNG))],
            ),
        ],
        "messages[1].parts[0].image",
        "only ROLE_USER",
    ),
    (
        [image_message("x", generate_pb2.ImagePart(data=b"GIF8"))],
        "messages[0].parts[1].image.data",
        "not a PNG",
    ),
    (
        [image_message("x", generate_pb2.ImagePart(data=PNG, media_type="image/jpeg"))],
        "messages[0].parts[1].image.data",
        "bytes are image/png",
    ),
    (
        [image_message("x", generate_pb2.ImagePart(url="file:///etc/passwd"))],
        "messages[0].parts[1].image.url",
        "http",
    ),
    (
        [image_message("x", generate_pb2.ImagePart(url="data:image/png;base64,!!!"))],
        "messages[0].parts[1].image.url",
        "base64",
    ),
    ([image_message("x", generate_pb2.ImagePart())], "messages[0].parts[1].image", "url or data"),
    ([user("hi"), tool_result("", "r")], "messages[1].tool_call_id", "names the call"),
    ([user("hi"), tool_result("call_x", "r")], "messages[1].tool_call_id", "matches no tool call"),
    (
        [
            generate_pb2.ChatMessage(
                role=generate_pb2.ROLE_USER, content="x", tool_calls=[call("c", "f", {})]
            )
        ],
        "messages[0].tool_calls",
        "only assistant",
    ),
    (
        [
            user("hi"),
            assistant_calls(tools_pb2.ToolCall(id="c", name="f", arguments="[1]")),
        ],
        "messages[1].tool_calls[0].arguments",
        "JSON object",
    ),
    (
        [user("hi"), assistant_calls(tools_pb2.ToolCall(name="f"))],
        "messages[1].tool_calls[0].id",
        "unique id",
    ),
    (
        [
            user("hi"),
            generate_pb2.ChatMessage(role=generate_pb2.ROLE_USER, content="x", tool_call_id="c"),
        ],
        "messages[1].tool_call_id",
        "only ROLE_TOOL",
    ),
]


@pytest.mark.parametrize(("extra", "field", "words"), ROWS, ids=[r[1] for r in ROWS])
async def test_request_rules(extra: dict[str, Any], field: str, words: str) -> None:
    error = await refused(
        make_config(mock_provider("m")), generate_pb2.GenerateRequest(prompt="x", **extra)
    )
    assert error_reason(error) == "INVALID_REQUEST"
    assert words in fields(error)[field]


@pytest.mark.parametrize(
    ("messages", "field", "words"), MESSAGE_ROWS, ids=[r[1] for r in MESSAGE_ROWS]
)
async def test_message_rules(
    messages: list[generate_pb2.ChatMessage], field: str, words: str
) -> None:
    error = await refused(
        make_config(mock_provider("m")), generate_pb2.GenerateRequest(messages=messages)
    )
    assert words in fields(error)[field]


async def test_image_limits() -> None:
    config = make_config(
        mock_provider("m"),
        server={"address": "127.0.0.1:0", "limits": {"max_images": 1, "max_image_bytes": 100}},
    )
    big = image_message("x", generate_pb2.ImagePart(data=PNG + bytes(200)))
    error = await refused(config, generate_pb2.GenerateRequest(messages=[big]))
    assert "bytes; the limit is 100" in fields(error)["messages[0].parts[1].image.data"]
    two = image_message("x", generate_pb2.ImagePart(data=PNG), generate_pb2.ImagePart(data=PNG))
    error = await refused(config, generate_pb2.GenerateRequest(messages=[two]))
    assert "2 images; the limit is 1" in fields(error)["messages"]


# --- capability routing ---------------------------------------------------------------------


async def test_tools_skip_a_provider_without_tool_support() -> None:
    config = make_config(without("plain", tools=False), mock_provider("agent"))
    async with running(config) as server:
        reply = await server.stub.Generate(
            generate_pb2.GenerateRequest(prompt="x", tools=[WEATHER])
        )
        plain = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="x"))
        assert server.mock("plain").calls == 1  # only the plain request
    assert reply.provider == "agent"
    assert [a.provider for a in reply.attempts] == ["agent"]
    assert plain.provider == "plain"


@pytest.mark.parametrize(
    ("extra", "messages", "feature", "field"),
    [
        ({"tools": [WEATHER]}, None, "tools", "tools"),
        (
            {"response_format": schema_format(CITY_SCHEMA)},
            None,
            "json_schema",
            "response_format.json_schema",
        ),
        (
            {
                "response_format": tools_pb2.ResponseFormat(
                    type=tools_pb2.RESPONSE_FORMAT_TYPE_JSON_OBJECT
                )
            },
            None,
            "json_object",
            "response_format.type",
        ),
        ({}, [image_message("x", generate_pb2.ImagePart(data=PNG))], "images", "messages"),
        (
            {},
            [image_message("x", generate_pb2.ImagePart(url="https://example.com/a.png"))],
            "image_urls",
            "messages",
        ),
        (
            {"tools": [WEATHER], "parallel_tool_calls": True},
            None,
            "parallel_tools",
            "parallel_tool_calls",
        ),
        (
            {"tools": [WEATHER], "tool_choice": tools_pb2.ToolChoice(name="get_weather")},
            None,
            "tool_choice",
            "tool_choice",
        ),
    ],
)
async def test_no_capable_candidate_names_the_feature_and_the_providers(
    extra: dict[str, Any], messages: list[Any] | None, feature: str, field: str
) -> None:
    config = make_config(without("a", **{feature: False}), without("b", **{feature: False}))
    request = generate_pb2.GenerateRequest(
        prompt="" if messages else "x", messages=messages or [], **extra
    )
    error = await refused(config, request)
    assert error_reason(error) == "UNSUPPORTED_FEATURE"
    description = fields(error)[field]
    assert f"({feature})" in description
    assert f"a (mock; lacks {feature})" in description
    assert f"b (mock; lacks {feature})" in description


async def test_features_split_across_providers_are_named_together() -> None:
    config = make_config(without("a", tools=False), without("b", images=False))
    request = generate_pb2.GenerateRequest(
        messages=[image_message("x", generate_pb2.ImagePart(data=PNG))], tools=[WEATHER]
    )
    error = await refused(config, request)
    assert set(fields(error)) == {"tools", "messages"}


async def test_a_pinned_provider_without_the_feature_is_refused() -> None:
    config = make_config(without("a", tools=False), mock_provider("b"))
    error = await refused(
        config, generate_pb2.GenerateRequest(prompt="x", provider="a", tools=[WEATHER])
    )
    assert "a (mock; lacks tools)" in fields(error)["tools"]
    assert "b (" not in fields(error)["tools"]


async def test_tool_choice_none_needs_no_forcing_and_replays_need_tools() -> None:
    config = make_config(without("a", tools=False, tool_choice=False), mock_provider("b"))
    async with running(config) as server:
        none = await server.stub.Generate(
            generate_pb2.GenerateRequest(
                prompt="x",
                tools=[WEATHER],
                tool_choice=tools_pb2.ToolChoice(mode=tools_pb2.TOOL_CHOICE_MODE_NONE),
            )
        )
        replay = await server.stub.Generate(
            generate_pb2.GenerateRequest(
                messages=[
                    user("x"),
                    assistant_calls(call("c1", "get_weather", {})),
                    tool_result("c1", "ok"),
                ]
            )
        )
    assert none.provider == "b"  # tools still declared: the provider must know them
    assert none.text.startswith("This is b")
    assert replay.provider == "b"
