"""OpenAI Chat Completions' shapes for tools, tool calls, structured output and image parts
(reference: tools-structured-images-embeddings §1), shared by the OpenAI-compatible adapter
and by adapters whose APIs copy parts of it (Ollama's tool definitions)."""

from __future__ import annotations

from typing import Any

from orchestrator_server.domain.chat import ChatMessage, ChatRequest, ImagePart, Role, TextPart
from orchestrator_server.domain.tools import (
    ResponseFormatType,
    ToolCall,
    ToolCallDelta,
    ToolChoiceMode,
    ToolDefinition,
    arguments_text,
    new_call_id,
)


def function_tools(tools: tuple[ToolDefinition, ...], *, strict: bool = True) -> list[Any]:
    """`[{"type": "function", "function": {name, description, parameters, strict}}]`."""
    out = []
    for tool in tools:
        function: dict[str, Any] = {"name": tool.name}
        if tool.description:
            function["description"] = tool.description
        function["parameters"] = tool.parameters_or_empty()
        if strict and tool.strict:
            function["strict"] = True
        out.append({"type": "function", "function": function})
    return out


def tool_fields(request: ChatRequest) -> dict[str, Any]:
    """tools, tool_choice and parallel_tool_calls, each only when it says something."""
    if not request.tools:
        return {}
    fields: dict[str, Any] = {"tools": function_tools(request.tools)}
    choice = request.tool_choice
    if choice.mode is ToolChoiceMode.TOOL:
        fields["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
    elif choice.mode is not ToolChoiceMode.AUTO:
        fields["tool_choice"] = choice.mode.value  # "none" or "required"
    if request.parallel_tool_calls is not None and request.offers_tools:
        fields["parallel_tool_calls"] = request.parallel_tool_calls
    return fields


def response_format(request: ChatRequest) -> dict[str, Any] | None:
    fmt = request.response_format
    if fmt.type is ResponseFormatType.JSON_OBJECT:
        return {"type": "json_object"}
    if fmt.type is ResponseFormatType.JSON_SCHEMA:
        spec: dict[str, Any] = {"name": fmt.name, "schema": dict(fmt.schema)}
        if fmt.description:
            spec["description"] = fmt.description
        if fmt.strict:
            spec["strict"] = True
        return {"type": "json_schema", "json_schema": spec}
    return None


def messages(request: ChatRequest) -> list[dict[str, Any]]:
    return [message(m) for m in request.messages]


def message(m: ChatMessage) -> dict[str, Any]:
    if m.role is Role.TOOL:
        return {"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content}
    if m.tool_calls:
        return {
            "role": "assistant",
            "content": m.content or None,
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in m.tool_calls
            ],
        }
    if m.images:
        return {"role": m.role.value, "content": [_part(p) for p in m.parts]}
    return {"role": m.role.value, "content": m.content}


def _part(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    image: dict[str, Any] = {"url": part.data_url()}
    if part.detail:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


def reply_calls(message: dict[str, Any]) -> tuple[ToolCall, ...]:
    """The calls of a reply message: `tool_calls` (function tools; other kinds are not
    mapped) or the deprecated `function_call`."""
    calls = []
    for raw in message.get("tool_calls") or ():
        function = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            continue
        calls.append(
            ToolCall(
                str(raw.get("id") or new_call_id()),
                str(function["name"]),
                arguments_text(function.get("arguments")),
            )
        )
    legacy = message.get("function_call")
    if not calls and isinstance(legacy, dict) and legacy.get("name"):
        calls.append(
            ToolCall(new_call_id(), str(legacy["name"]), arguments_text(legacy.get("arguments")))
        )
    return tuple(calls)


def delta_calls(delta: dict[str, Any]) -> tuple[ToolCallDelta, ...]:
    """Fragments of a streamed delta. Every field but `index` is optional in a fragment, and
    compatible servers send `""` for the ones they repeat."""
    out: list[ToolCallDelta] = []
    for raw in delta.get("tool_calls") or ():
        if not isinstance(raw, dict):
            continue
        function = raw.get("function")
        if not isinstance(function, dict):
            function = {}
        try:
            index = int(raw.get("index", len(out)))
        except (TypeError, ValueError):
            index = len(out)
        out.append(
            ToolCallDelta(
                index,
                str(raw.get("id") or ""),
                str(function.get("name") or ""),
                _fragment(function.get("arguments")),
            )
        )
    return tuple(out)


def _fragment(arguments: Any) -> str:
    return "" if arguments is None else arguments_text(arguments)
