"""Tools, tool choice, response formats and tool calls: protobuf to domain (naming every bad
field) and back."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, TypeAlias

from google.protobuf import json_format, struct_pb2

from orchestrator.v1 import generate_pb2, tools_pb2
from orchestrator_server.domain.errors import FieldViolation
from orchestrator_server.domain.schemas import BadSchema, check_schema
from orchestrator_server.domain.tools import (
    AUTO,
    TEXT,
    ResponseFormat,
    ResponseFormatType,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolChoiceMode,
    ToolDefinition,
)

AnyGenerateRequest: TypeAlias = generate_pb2.GenerateRequest | generate_pb2.GenerateStreamRequest

# OpenAI's and Anthropic's rule; Gemini's and GigaChat's allow a superset of it.
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TOOLS = 128
MAX_DESCRIPTION_CHARS = 8192
MAX_CALL_ID_CHARS = 256
_MODES = {
    tools_pb2.TOOL_CHOICE_MODE_UNSPECIFIED: ToolChoiceMode.AUTO,
    tools_pb2.TOOL_CHOICE_MODE_AUTO: ToolChoiceMode.AUTO,
    tools_pb2.TOOL_CHOICE_MODE_NONE: ToolChoiceMode.NONE,
    tools_pb2.TOOL_CHOICE_MODE_REQUIRED: ToolChoiceMode.REQUIRED,
}
_FORMATS = {
    tools_pb2.RESPONSE_FORMAT_TYPE_UNSPECIFIED: ResponseFormatType.TEXT,
    tools_pb2.RESPONSE_FORMAT_TYPE_TEXT: ResponseFormatType.TEXT,
    tools_pb2.RESPONSE_FORMAT_TYPE_JSON_OBJECT: ResponseFormatType.JSON_OBJECT,
    tools_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA: ResponseFormatType.JSON_SCHEMA,
}


def struct_to_json(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as plain JSON. Struct keeps every number as a double; integral ones become
    ints again, so a schema's `"maxItems": 3` reaches providers as 3, not 3.0."""
    return _ints(json_format.MessageToDict(struct))  # type: ignore[no-any-return]


def checked_schema(
    struct: struct_pb2.Struct, *, object_root: bool = False
) -> tuple[dict[str, Any], str | None]:
    """A schema Struct as JSON, and why it is not a valid schema (None when it is). Agents
    send the same tools with every call, so each distinct one is converted and checked once;
    the dict is shared between requests and never changed."""
    return _checked(struct.SerializeToString(deterministic=True), object_root)


@lru_cache(maxsize=1024)
def _checked(serialized: bytes, object_root: bool) -> tuple[dict[str, Any], str | None]:
    schema = struct_to_json(struct_pb2.Struct.FromString(serialized))
    try:
        check_schema(schema, object_root=object_root)
    except BadSchema as exc:
        return schema, str(exc)
    return schema, None


def json_to_struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def _ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def tools_of(
    request: AnyGenerateRequest, problems: list[FieldViolation]
) -> tuple[ToolDefinition, ...]:
    if len(request.tools) > MAX_TOOLS:
        problems.append(FieldViolation("tools", f"at most {MAX_TOOLS} tools"))
        return ()
    out: list[ToolDefinition] = []
    seen: set[str] = set()
    for i, tool in enumerate(request.tools):
        where = f"tools[{i}]"
        if not NAME.match(tool.name):
            problems.append(FieldViolation(f"{where}.name", "must be 1 to 64 of A-Z a-z 0-9 _ -"))
        elif tool.name in seen:
            problems.append(FieldViolation(f"{where}.name", f"{tool.name!r} is declared twice"))
        seen.add(tool.name)
        if len(tool.description) > MAX_DESCRIPTION_CHARS:
            problems.append(
                FieldViolation(
                    f"{where}.description", f"at most {MAX_DESCRIPTION_CHARS} characters"
                )
            )
        parameters: dict[str, Any] = {}
        if tool.HasField("parameters"):
            parameters, problem = checked_schema(tool.parameters, object_root=True)
            if problem is not None:
                problems.append(FieldViolation(f"{where}.parameters", problem))
        out.append(ToolDefinition(tool.name, tool.description, parameters, tool.strict))
    return tuple(out)


def tool_choice_of(
    request: AnyGenerateRequest, tools: tuple[ToolDefinition, ...], problems: list[FieldViolation]
) -> ToolChoice:
    if not request.HasField("tool_choice"):
        return AUTO
    choice = request.tool_choice
    which = choice.WhichOneof("choice")
    if which == "name":
        if choice.name not in {t.name for t in tools}:
            problems.append(
                FieldViolation("tool_choice.name", f"{choice.name!r} is not one of tools")
            )
        return ToolChoice(ToolChoiceMode.TOOL, choice.name)
    mode = _MODES.get(choice.mode) if which == "mode" else ToolChoiceMode.AUTO
    if mode is None:
        problems.append(FieldViolation("tool_choice.mode", f"unknown mode {choice.mode}"))
        return AUTO
    if mode is ToolChoiceMode.REQUIRED and not tools:
        problems.append(FieldViolation("tool_choice.mode", "REQUIRED needs tools"))
    return ToolChoice(mode)


def response_format_of(
    request: AnyGenerateRequest, problems: list[FieldViolation]
) -> ResponseFormat:
    if not request.HasField("response_format"):
        return TEXT
    given = request.response_format
    kind = _FORMATS.get(given.type)
    if kind is None:
        problems.append(FieldViolation("response_format.type", f"unknown type {given.type}"))
        return TEXT
    if kind is not ResponseFormatType.JSON_SCHEMA:
        if given.HasField("json_schema"):
            problems.append(
                FieldViolation(
                    "response_format.json_schema", "only with RESPONSE_FORMAT_TYPE_JSON_SCHEMA"
                )
            )
        return TEXT if kind is ResponseFormatType.TEXT else ResponseFormat(kind)
    spec = given.json_schema
    if not NAME.match(spec.name):
        problems.append(
            FieldViolation("response_format.json_schema.name", "must be 1 to 64 of A-Z a-z 0-9 _ -")
        )
    schema: dict[str, Any] = {}
    if not spec.HasField("schema") or not spec.schema.fields:
        problems.append(FieldViolation("response_format.json_schema.schema", "is required"))
    else:
        schema, problem = checked_schema(spec.schema)
        if problem is not None:
            problems.append(FieldViolation("response_format.json_schema.schema", problem))
    return ResponseFormat(kind, spec.name, spec.description, schema, spec.strict)


def tool_calls_of(
    calls: Iterable[tools_pb2.ToolCall], where: str, problems: list[FieldViolation]
) -> tuple[ToolCall, ...]:
    """An assistant message's replayed calls: each with an id, a name and object arguments
    (`arguments` text, or `parsed_arguments` when the text is empty)."""
    out: list[ToolCall] = []
    ids: set[str] = set()
    for j, call in enumerate(calls):
        at = f"{where}.tool_calls[{j}]"
        if not call.id or len(call.id) > MAX_CALL_ID_CHARS or call.id in ids:
            problems.append(
                FieldViolation(f"{at}.id", f"must be a unique id of 1 to {MAX_CALL_ID_CHARS}")
            )
        ids.add(call.id)
        if not call.name:
            problems.append(FieldViolation(f"{at}.name", "must not be empty"))
        arguments = call.arguments
        if not arguments.strip():
            parsed = {}
            if call.HasField("parsed_arguments"):
                parsed = struct_to_json(call.parsed_arguments)
            arguments = json.dumps(parsed, ensure_ascii=False)
        else:
            try:
                value = json.loads(arguments)
            except ValueError:
                value = None
            if not isinstance(value, dict):
                problems.append(FieldViolation(f"{at}.arguments", "must be a JSON object"))
        out.append(ToolCall(call.id, call.name, arguments))
    return tuple(out)


def tool_calls_to_proto(calls: Iterable[ToolCall]) -> list[tools_pb2.ToolCall]:
    out = []
    for call in calls:
        message = tools_pb2.ToolCall(id=call.id, name=call.name, arguments=call.arguments)
        parsed = call.parsed()
        if parsed is not None:
            # Arguments a Struct cannot hold stay text only.
            with contextlib.suppress(ValueError, TypeError):
                message.parsed_arguments.CopyFrom(json_to_struct(parsed))
        out.append(message)
    return out


def tool_deltas_to_proto(fragments: Iterable[ToolCallDelta]) -> list[tools_pb2.ToolCallDelta]:
    return [
        tools_pb2.ToolCallDelta(index=f.index, id=f.id, name=f.name, arguments=f.arguments)
        for f in fragments
    ]
