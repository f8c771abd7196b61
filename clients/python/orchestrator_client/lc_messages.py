"""LangChain messages to the contract's and back: text and image content blocks, AI messages
with tool calls, ToolMessages, streamed tool-call chunks. Used by orchestrator_client
.langchain; needs langchain-core."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    InvalidToolCall,
    SystemMessage,
    ToolCall,
    ToolCallChunk,
    ToolMessage,
)
from langchain_core.messages.tool import invalid_tool_call, tool_call_chunk
from langchain_core.messages.tool import tool_call as lc_tool_call
from langchain_core.utils.function_calling import convert_to_openai_tool

from orchestrator.v1 import generate_pb2, tools_pb2
from orchestrator_client import tools as _tools

_ROLES: dict[type[BaseMessage], str] = {
    SystemMessage: "system",
    HumanMessage: "user",
    AIMessage: "assistant",
}


def to_contract(message: BaseMessage) -> generate_pb2.ChatMessage:
    if isinstance(message, ToolMessage):
        return _tools.tool_result(message.tool_call_id, _text(message.content))
    if isinstance(message, AIMessage) and message.tool_calls:
        return generate_pb2.ChatMessage(
            role=generate_pb2.ROLE_ASSISTANT,
            content=_text(message.content),
            tool_calls=[
                _tools.tool_call(str(c.get("id") or ""), c["name"], c.get("args") or {})
                for c in message.tool_calls
            ],
        )
    if isinstance(message, ChatMessage):
        role = message.role
    else:
        role = next((r for cls, r in _ROLES.items() if isinstance(message, cls)), "")
        if not role:
            raise ValueError(f"the gateway does not take {type(message).__name__} messages")
    out = generate_pb2.ChatMessage(role=_ROLE_VALUES[role])
    content = message.content
    if isinstance(content, str):
        out.content = content
    elif any(isinstance(b, dict) and b.get("type") != "text" for b in content):
        out.parts.extend(_part(block) for block in content)
    else:
        out.content = _text(content)
    return out


_ROLE_VALUES = {
    "system": generate_pb2.ROLE_SYSTEM,
    "user": generate_pb2.ROLE_USER,
    "human": generate_pb2.ROLE_USER,
    "assistant": generate_pb2.ROLE_ASSISTANT,
    "ai": generate_pb2.ROLE_ASSISTANT,
    "tool": generate_pb2.ROLE_TOOL,
}


def _text(content: str | list[str | dict[str, Any]]) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        else:
            raise ValueError(f"this message takes text only, not {block.get('type')!r} blocks")
    return "".join(parts)


def _part(block: str | dict[str, Any]) -> generate_pb2.ContentPart:
    """A content block: text; OpenAI's image_url; LangChain's image blocks (url, base64)."""
    if isinstance(block, str):
        return _tools.text_part(block)
    kind = block.get("type")
    if kind == "text":
        return _tools.text_part(str(block.get("text", "")))
    if kind == "image_url":
        image = block.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        detail = image.get("detail", "") if isinstance(image, dict) else ""
        return _tools.image_part(str(url), detail=detail or "")
    if kind == "image":
        media_type = str(block.get("mime_type") or block.get("media_type") or "")
        if block.get("url") or block.get("source_type") == "url":
            return _tools.image_part(str(block["url"]))
        data = block.get("base64") or block.get("data")
        if isinstance(data, str):
            return _tools.image_part(base64.b64decode(data), media_type=media_type)
    raise ValueError(f"the gateway does not take {kind!r} content blocks")


def ai_message_fields(
    calls: Sequence[tools_pb2.ToolCall],
) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    """The reply's calls as LangChain tool calls; arguments that are not a JSON object
    become invalid tool calls (LangChain's place for a model's broken JSON)."""
    valid: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for call in calls:
        try:
            args = _tools.arguments(call)
        except ValueError as exc:
            invalid.append(
                invalid_tool_call(name=call.name, args=call.arguments, id=call.id, error=str(exc))
            )
        else:
            valid.append(lc_tool_call(name=call.name, args=args, id=call.id))
    return valid, invalid


def chunks_of(deltas: Sequence[tools_pb2.ToolCallDelta]) -> list[ToolCallChunk]:
    """Fragments as LangChain's chunks, one per call index: LangChain merges chunks of
    successive messages by index, but not several of one index within one message."""
    merged: dict[int, dict[str, str]] = {}
    for d in deltas:
        entry = merged.setdefault(d.index, {"id": "", "name": "", "args": ""})
        entry["id"] = entry["id"] or d.id
        entry["name"] = entry["name"] or d.name
        entry["args"] += d.arguments
    return [
        tool_call_chunk(name=e["name"] or None, args=e["args"] or None, id=e["id"] or None, index=i)
        for i, e in sorted(merged.items())
    ]


def lc_tools(tools: Sequence[Any], *, strict: bool | None = None) -> list[tools_pb2.Tool]:
    """LangChain tools (BaseTool, functions, pydantic classes, TypedDicts, dicts) to Tools,
    through LangChain's own converter."""
    out = []
    for tool in tools:
        spec = convert_to_openai_tool(tool, strict=strict)
        out.append(_tools.to_tool(spec))
    return out


def lc_tool_choice(choice: Any, tools: Sequence[tools_pb2.Tool]) -> str | None:
    """LangChain's tool_choice: a name, "auto", "none", "any"/"required", True (the only
    tool), or OpenAI's {"type": "function", "function": {"name": ...}}."""
    if choice is None or choice is False:
        return None
    if choice is True:
        if len(tools) != 1:
            raise ValueError("tool_choice=True needs exactly one tool")
        return tools[0].name
    if isinstance(choice, dict):
        return str((choice.get("function") or {}).get("name") or choice.get("name"))
    return str(choice)
