"""Requests and values the per-provider tool, format, image and embedding tests share, so
each provider's file holds only what its wire format says."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format, struct_pb2

from orchestrator.v1 import embed_pb2, generate_pb2, tools_pb2

WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "City name"}},
    "required": ["city"],
}
TIME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"zone": {"type": "string"}},
    "required": ["zone"],
}
CITY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "population": {"type": "integer", "minimum": 0}},
    "required": ["name", "population"],
    "additionalProperties": False,
}
# The smallest valid PNG (1x1, transparent), and a JPEG's first bytes.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(32)


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out


def tool(name: str, schema: dict[str, Any], description: str = "") -> tools_pb2.Tool:
    return tools_pb2.Tool(name=name, description=description, parameters=struct(schema))


WEATHER = tool("get_weather", WEATHER_SCHEMA, "Current weather in a city")
TIME = tool("get_time", TIME_SCHEMA, "Current time in a zone")


def user(text: str) -> generate_pb2.ChatMessage:
    return generate_pb2.ChatMessage(role=generate_pb2.ROLE_USER, content=text)


def assistant_calls(*calls: tools_pb2.ToolCall) -> generate_pb2.ChatMessage:
    return generate_pb2.ChatMessage(role=generate_pb2.ROLE_ASSISTANT, tool_calls=list(calls))


def tool_result(call_id: str, content: str) -> generate_pb2.ChatMessage:
    return generate_pb2.ChatMessage(
        role=generate_pb2.ROLE_TOOL, tool_call_id=call_id, content=content
    )


def call(call_id: str, name: str, arguments: dict[str, Any]) -> tools_pb2.ToolCall:
    return tools_pb2.ToolCall(id=call_id, name=name, arguments=json.dumps(arguments))


def image_message(text: str, *images: generate_pb2.ImagePart) -> generate_pb2.ChatMessage:
    parts = [generate_pb2.ContentPart(text=text)]
    parts += [generate_pb2.ContentPart(image=image) for image in images]
    return generate_pb2.ChatMessage(role=generate_pb2.ROLE_USER, parts=parts)


def schema_format(schema: dict[str, Any], *, strict: bool = True) -> tools_pb2.ResponseFormat:
    return tools_pb2.ResponseFormat(
        type=tools_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA,
        json_schema=tools_pb2.JsonSchemaFormat(name="city", schema=struct(schema), strict=strict),
    )


def embed_request(*texts: str, **fields: Any) -> embed_pb2.EmbedRequest:
    return embed_pb2.EmbedRequest(inputs=list(texts), **fields)


def parsed(call: tools_pb2.ToolCall) -> dict[str, Any]:
    return json_format.MessageToDict(call.parsed_arguments)


def stream_calls(events: list[Any]) -> list[generate_pb2.StreamDelta]:
    return [e.delta for e in events if e.HasField("delta") and e.delta.tool_calls]
