"""Helpers for tools, structured output and images: plain Python values (dicts, pydantic
models, bytes) to the contract's messages.

    from orchestrator_client import tool, json_schema_format, image_part

    weather = tool("get_weather", {"type": "object", "properties": {...}}, "Current weather")
    reply = client.generate("Weather in Paris?", tools=[weather])
    reply = client.generate("A city", response_format=City)  # a pydantic model class
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import json_format, struct_pb2

from orchestrator.v1 import generate_pb2, tools_pb2

# A tool: a Tool message, a pydantic model class (its fields are the arguments), or a dict
# {"name", "description", "parameters"} (OpenAI's {"type": "function", "function": {...}}
# works too).
ToolLike = tools_pb2.Tool | Mapping[str, Any] | type
# A response format: "text", "json_object", a JSON Schema dict, a pydantic model class, or a
# ResponseFormat message.
ResponseFormatLike = tools_pb2.ResponseFormat | str | Mapping[str, Any] | type

_DETAILS = {
    "": generate_pb2.IMAGE_DETAIL_UNSPECIFIED,
    "auto": generate_pb2.IMAGE_DETAIL_AUTO,
    "low": generate_pb2.IMAGE_DETAIL_LOW,
    "high": generate_pb2.IMAGE_DETAIL_HIGH,
}
_MODES = {
    "auto": tools_pb2.TOOL_CHOICE_MODE_AUTO,
    "none": tools_pb2.TOOL_CHOICE_MODE_NONE,
    "required": tools_pb2.TOOL_CHOICE_MODE_REQUIRED,
    "any": tools_pb2.TOOL_CHOICE_MODE_REQUIRED,  # LangChain's and Anthropic's word
}


def struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(dict(value))
    return out


def schema_of(model: type) -> dict[str, Any]:
    """The JSON Schema of a pydantic model class (pydantic v2)."""
    schema = getattr(model, "model_json_schema", None)
    if schema is None:
        raise TypeError(f"{model!r} is not a pydantic model class")
    result: dict[str, Any] = schema()
    return result


def strict_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A schema as OpenAI's strict mode wants it (what its SDK does before sending): every
    object closed (`additionalProperties: false`) with every property required; properties
    that were optional may then be null."""
    out = copy.deepcopy(dict(schema))
    _close(out)
    return out


def _close(node: Any) -> None:
    if not isinstance(node, dict):
        return
    if "default" in node and node["default"] is None:
        del node["default"]
    properties = node.get("properties")
    if node.get("type") == "object" or isinstance(properties, dict):
        properties = node.setdefault("properties", {})
        required = set(node.get("required", ()))
        for name, prop in list(properties.items()):
            _close(prop)
            if name not in required and isinstance(prop, dict):
                properties[name] = {"anyOf": [prop, {"type": "null"}]}
        node["required"] = list(properties)
        node["additionalProperties"] = False
    for key in ("items", "additionalItems", "not"):
        _close(node.get(key))
    for key in ("anyOf", "allOf", "oneOf", "prefixItems"):
        for item in node.get(key) or ():
            _close(item)
    for key in ("$defs", "definitions"):
        for item in (node.get(key) or {}).values():
            _close(item)


def tool(
    name_or_model: str | type,
    parameters: Mapping[str, Any] | type | None = None,
    description: str = "",
    *,
    strict: bool = False,
) -> tools_pb2.Tool:
    """A Tool. `tool("get_weather", {...schema...}, "...")`, or `tool(WeatherArgs)` for a
    pydantic model (its name and docstring become the tool's)."""
    if isinstance(name_or_model, type):
        model = name_or_model
        return tool(
            model.__name__,
            schema_of(model),
            description or (model.__doc__ or "").strip(),
            strict=strict,
        )
    if isinstance(parameters, type):
        parameters = schema_of(parameters)
    message = tools_pb2.Tool(name=name_or_model, description=description, strict=strict)
    if parameters:
        message.parameters.CopyFrom(struct(strict_schema(parameters) if strict else parameters))
    return message


def to_tool(value: ToolLike) -> tools_pb2.Tool:
    if isinstance(value, tools_pb2.Tool):
        return value
    if isinstance(value, type):
        return tool(value)
    spec = value.get("function", value) if value.get("type") == "function" else value
    return tool(
        str(spec["name"]),
        spec.get("parameters") or spec.get("input_schema"),
        str(spec.get("description") or ""),
        strict=bool(spec.get("strict", False)),
    )


def tool_choice(value: str | tools_pb2.ToolChoice) -> tools_pb2.ToolChoice:
    """ "auto", "none", "required" (or "any"), or the name of the one tool to call."""
    if isinstance(value, tools_pb2.ToolChoice):
        return value
    mode = _MODES.get(value.lower())
    return tools_pb2.ToolChoice(mode=mode) if mode is not None else tools_pb2.ToolChoice(name=value)


def json_schema_format(
    name: str, schema: Mapping[str, Any] | type, *, strict: bool = True, description: str = ""
) -> tools_pb2.ResponseFormat:
    """JSON output matching `schema` (a dict or a pydantic model class). With `strict` the
    schema is closed the way OpenAI's strict mode requires."""
    body = schema_of(schema) if isinstance(schema, type) else dict(schema)
    return tools_pb2.ResponseFormat(
        type=tools_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA,
        json_schema=tools_pb2.JsonSchemaFormat(
            name=name,
            description=description,
            schema=struct(strict_schema(body) if strict else body),
            strict=strict,
        ),
    )


def response_format(value: ResponseFormatLike) -> tools_pb2.ResponseFormat:
    if isinstance(value, tools_pb2.ResponseFormat):
        return value
    if isinstance(value, str):
        kinds = {
            "text": tools_pb2.RESPONSE_FORMAT_TYPE_TEXT,
            "json_object": tools_pb2.RESPONSE_FORMAT_TYPE_JSON_OBJECT,
            "json": tools_pb2.RESPONSE_FORMAT_TYPE_JSON_OBJECT,
        }
        if value not in kinds:
            raise ValueError(f"unknown response format {value!r}; use text or json_object")
        return tools_pb2.ResponseFormat(type=kinds[value])
    if isinstance(value, type):
        return json_schema_format(value.__name__, value)
    if value.get("type") == "json_schema" and "json_schema" in value:  # OpenAI's shape
        spec = value["json_schema"]
        return json_schema_format(
            spec["name"], spec["schema"], strict=bool(spec.get("strict", False))
        )
    return json_schema_format(str(value.get("title", "response")), value, strict=False)


def text_part(text: str) -> generate_pb2.ContentPart:
    return generate_pb2.ContentPart(text=text)


def image_part(
    image: bytes | str, *, media_type: str = "", detail: str = ""
) -> generate_pb2.ContentPart:
    """An image: bytes (PNG, JPEG, GIF, WEBP), or an https or `data:` URL."""
    part = generate_pb2.ImagePart(media_type=media_type, detail=_DETAILS[detail.lower()])
    if isinstance(image, bytes):
        part.data = image
    else:
        part.url = image
    return generate_pb2.ContentPart(image=part)


def tool_result(call_id: str, content: Any) -> generate_pb2.ChatMessage:
    """The answer to one tool call; anything but a string is sent as JSON."""
    text = content if isinstance(content, str) else json.dumps(content)
    return generate_pb2.ChatMessage(role=generate_pb2.ROLE_TOOL, tool_call_id=call_id, content=text)


def assistant_message(reply: generate_pb2.GenerateResponse) -> generate_pb2.ChatMessage:
    """A reply replayed as the assistant's turn, with its tool calls."""
    return generate_pb2.ChatMessage(
        role=generate_pb2.ROLE_ASSISTANT, content=reply.text, tool_calls=list(reply.tool_calls)
    )


def arguments(call: tools_pb2.ToolCall) -> dict[str, Any]:
    """A call's arguments as a dict (raises ValueError when the model's JSON is broken)."""
    if call.HasField("parsed_arguments"):
        return json_format.MessageToDict(call.parsed_arguments)
    value = json.loads(call.arguments or "{}")
    if not isinstance(value, dict):
        raise ValueError(f"the arguments of {call.name} are not a JSON object")
    return value


def tool_call(call_id: str, name: str, args: Mapping[str, Any] | str) -> tools_pb2.ToolCall:
    return tools_pb2.ToolCall(
        id=call_id, name=name, arguments=args if isinstance(args, str) else json.dumps(args)
    )


def tool_calls_of(calls: Sequence[Any]) -> list[tools_pb2.ToolCall]:
    """ToolCall messages, or dicts {"id", "name", "arguments"|"args"} (LangChain's shape)."""
    out = []
    for call in calls:
        if isinstance(call, tools_pb2.ToolCall):
            out.append(call)
        else:
            args = call.get("arguments", call.get("args", {}))
            out.append(tool_call(str(call["id"]), str(call["name"]), args))
    return out
