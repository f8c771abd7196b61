"""YandexGPT's native tools, tool results and structured output (reference:
tools-structured-images-embeddings §5).

Decisions where the API leaves a choice:
- A message holds exactly one of text, a call list or a result list: an assistant message
  with text and calls is sent as two messages, the text first.
- Calls have no ids on Yandex (the gateway makes them up); results are matched by function
  name and position, so a run of results goes as one `toolResultList` in call order, in a
  user message as the docs and the SDK send it.
- Integer arguments come back as floats (5.0); they are passed on as integers.
- Yandex's completion API takes no images (its vision models are batch-only).
"""

from __future__ import annotations

from typing import Any

from orchestrator_server.domain.chat import ChatMessage, ChatRequest, Role
from orchestrator_server.domain.tools import (
    ResponseFormatType,
    ToolCall,
    ToolChoiceMode,
    arguments_text,
    new_call_id,
)
from orchestrator_server.providers.tool_wire import ToolResults, grouped, integral_numbers


def request_fields(request: ChatRequest) -> dict[str, Any]:
    """`tools`, `toolChoice`, `parallelToolCalls`, and `jsonObject` or `jsonSchema`."""
    out: dict[str, Any] = {}
    if request.tools:
        tools = []
        for tool in request.tools:
            function: dict[str, Any] = {"name": tool.name}
            if tool.description:
                function["description"] = tool.description
            function["parameters"] = tool.parameters_or_empty()
            if tool.strict:
                function["strict"] = True
            tools.append({"function": function})
        out["tools"] = tools
        choice = request.tool_choice
        if choice.mode is ToolChoiceMode.TOOL:
            out["toolChoice"] = {"functionName": choice.name}
        elif choice.mode is not ToolChoiceMode.AUTO:
            out["toolChoice"] = {"mode": choice.mode.name}  # NONE, REQUIRED
        if request.parallel_tool_calls is not None and request.offers_tools:
            out["parallelToolCalls"] = request.parallel_tool_calls
    fmt = request.response_format
    if fmt.type is ResponseFormatType.JSON_OBJECT:
        out["jsonObject"] = True
    elif fmt.type is ResponseFormatType.JSON_SCHEMA:
        out["jsonSchema"] = {"schema": dict(fmt.schema)}
    return out


def messages(request: ChatRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in grouped(request.messages):
        if isinstance(item, ToolResults):
            out.append({"role": Role.USER.value, "toolResultList": _results(item)})
            continue
        if item.content or not item.tool_calls:
            out.append({"role": item.role.value, "text": item.content})
        if item.tool_calls:
            out.append({"role": Role.ASSISTANT.value, "toolCallList": _calls(item)})
    return out


def _calls(message: ChatMessage) -> dict[str, Any]:
    calls = [
        {"functionCall": {"name": c.name, "arguments": c.parsed() or {}}}
        for c in message.tool_calls
    ]
    return {"toolCalls": calls}


def _results(results: ToolResults) -> dict[str, Any]:
    found = [
        {"functionResult": {"name": r.tool_name, "content": r.content}} for r in results.results
    ]
    return {"toolResults": found}


def reply_calls(message: Any) -> tuple[ToolCall, ...]:
    """The calls of an alternative's message (`toolCallList`), ids made up."""
    listed = message.get("toolCallList") if isinstance(message, dict) else None
    raw = listed.get("toolCalls") if isinstance(listed, dict) else None
    calls: list[ToolCall] = []
    for entry in raw if isinstance(raw, list) else ():
        function = entry.get("functionCall") if isinstance(entry, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            continue
        arguments = arguments_text(integral_numbers(function.get("arguments") or {}))
        calls.append(ToolCall(new_call_id(), str(function["name"]), arguments))
    return tuple(calls)
