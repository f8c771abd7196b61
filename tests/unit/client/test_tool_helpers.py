"""The client's helpers for tools, formats, images and messages: what they put in a request."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format
from pydantic import BaseModel

from orchestrator.v1 import generate_pb2, tools_pb2
from orchestrator_client import (
    arguments,
    image_part,
    json_schema_format,
    strict_schema,
    tool,
    tool_result,
)
from orchestrator_client.requests import GenerateOptions, embed_request, generate_request
from tests.integration.providers.tools_common import PNG


class Weather(BaseModel):
    """Current weather in a city."""

    city: str
    units: str = "c"


def as_dict(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def test_tool_from_a_pydantic_model_and_from_dicts() -> None:
    made = tool(Weather)
    assert (made.name, made.description) == ("Weather", "Current weather in a city.")
    assert as_dict(made.parameters)["required"] == ["city"]
    openai_shape = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    request = generate_request(None, GenerateOptions(tools=[openai_shape, Weather]))
    assert [t.name for t in request.tools] == ["f", "Weather"]


def test_strict_schema_closes_objects_and_makes_optionals_nullable() -> None:
    schema = strict_schema(Weather.model_json_schema())
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["city", "units"]
    assert schema["properties"]["units"]["anyOf"][1] == {"type": "null"}
    nested = strict_schema(
        {
            "type": "object",
            "properties": {
                "a": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"b": {"type": "integer"}}},
                }
            },
        }
    )
    item = nested["properties"]["a"]["anyOf"][0]["items"]
    assert item["additionalProperties"] is False
    assert item["required"] == ["b"]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("json_object", tools_pb2.RESPONSE_FORMAT_TYPE_JSON_OBJECT),
        ("text", tools_pb2.RESPONSE_FORMAT_TYPE_TEXT),
        (Weather, tools_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA),
        ({"type": "object"}, tools_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA),
        (
            {
                "type": "json_schema",
                "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": True},
            },
            tools_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA,
        ),
    ],
)
def test_response_formats(value: Any, kind: int) -> None:
    request = generate_request("x", GenerateOptions(response_format=value))
    assert request.response_format.type == kind


def test_json_schema_format_is_strict_by_default() -> None:
    fmt = json_schema_format("weather", Weather)
    assert fmt.json_schema.strict
    assert as_dict(fmt.json_schema.schema)["additionalProperties"] is False


def test_tool_choice_words() -> None:
    def choice(value: str) -> tools_pb2.ToolChoice:
        return generate_request(
            "x", GenerateOptions(tools=[Weather], tool_choice=value)
        ).tool_choice

    assert choice("required").mode == tools_pb2.TOOL_CHOICE_MODE_REQUIRED
    assert choice("any").mode == tools_pb2.TOOL_CHOICE_MODE_REQUIRED
    assert choice("none").mode == tools_pb2.TOOL_CHOICE_MODE_NONE
    assert choice("Weather").name == "Weather"


def test_messages_with_parts_calls_results_and_replies() -> None:
    reply = generate_pb2.GenerateResponse(
        text="", tool_calls=[tools_pb2.ToolCall(id="c1", name="f", arguments='{"a": 1}')]
    )
    request = generate_request(
        None,
        GenerateOptions(
            messages=[
                {
                    "role": "user",
                    "parts": ["look", PNG, image_part("https://e.com/a.png", detail="high")],
                },
                reply,
                tool_result("c1", {"ok": True}),
                {"role": "assistant", "tool_calls": [{"id": "c2", "name": "g", "args": {"b": 2}}]},
            ]
        ),
    )
    user, replayed, result, assistant = request.messages
    assert [p.WhichOneof("part") for p in user.parts] == ["text", "image", "image"]
    assert user.parts[1].image.data == PNG
    assert user.parts[2].image.detail == generate_pb2.IMAGE_DETAIL_HIGH
    assert (replayed.role, replayed.tool_calls[0].id) == (generate_pb2.ROLE_ASSISTANT, "c1")
    assert (result.role, result.tool_call_id, result.content) == (
        generate_pb2.ROLE_TOOL,
        "c1",
        '{"ok": true}',
    )
    assert arguments(assistant.tool_calls[0]) == {"b": 2}


def test_embed_requests() -> None:
    request = embed_request(["a", "b"], {"model": "m", "dimensions": 8, "input_type": "query"})
    assert (list(request.inputs), request.model, request.dimensions) == (["a", "b"], "m", 8)
    with pytest.raises(TypeError):
        embed_request("not a list", {})
    with pytest.raises(ValueError, match="input type"):
        embed_request(["a"], {"input_type": "poem"})  # type: ignore[typeddict-item]
