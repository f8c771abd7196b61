"""Anthropic Messages API shapes for tools, tool results, structured output and images
(reference: tools-structured-images-embeddings §2).

Decisions where the API leaves a choice:
- Tool results travel in the next user turn, one `tool_result` block per call, ahead of any
  text in that turn (the docs' rule; the API refuses a turn that answers calls late).
- Schemas for structured output and strict tools are narrowed to the subset the API
  constrains generation with, as the official SDK does before sending them: every object
  closed (`additionalProperties: false`), `oneOf` as `anyOf`, `const` as a one-value enum,
  and keywords outside the subset (`minimum`, `pattern`, ...) moved into the description,
  where the model still reads them. The gateway checks the reply against the caller's own
  schema, so nothing the narrowing loosens goes unnoticed.
- There is no JSON mode: a JSON_OBJECT request never reaches Anthropic (capabilities).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator_server.domain.chat import ChatMessage, ChatRequest, ImagePart, Role, TextPart
from orchestrator_server.domain.tools import (
    ResponseFormatType,
    ToolCall,
    ToolChoiceMode,
    ToolDefinition,
    arguments_text,
    new_call_id,
)

Content = str | list[dict[str, Any]]

# String formats the structured-output grammar knows (the SDK's list).
STRING_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)
# Identifiers and comments that say nothing to the model.
_DROPPED = frozenset({"$schema", "$id", "$comment"})


def tool_fields(request: ChatRequest) -> dict[str, Any]:
    """`tools` and `tool_choice`; the parallel switch lives inside the choice."""
    if not request.tools:
        return {}
    fields: dict[str, Any] = {"tools": [_tool(t) for t in request.tools]}
    choice = request.tool_choice
    single = request.parallel_tool_calls is False
    wire: dict[str, Any] | None
    if choice.mode is ToolChoiceMode.NONE:
        wire = {"type": "none"}
    elif choice.mode is ToolChoiceMode.REQUIRED:
        wire = {"type": "any"}
    elif choice.mode is ToolChoiceMode.TOOL:
        wire = {"type": "tool", "name": choice.name}
    else:
        wire = {"type": "auto"} if single else None
    if wire is not None and single and choice.mode is not ToolChoiceMode.NONE:
        wire["disable_parallel_tool_use"] = True
    if wire is not None:
        fields["tool_choice"] = wire
    return fields


def _tool(tool: ToolDefinition) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", **tool.parameters_or_empty()}
    out: dict[str, Any] = {"name": tool.name}
    if tool.description:
        out["description"] = tool.description
    if tool.strict:
        out["input_schema"] = constrained_schema(schema)
        out["strict"] = True
    else:
        out["input_schema"] = schema
    return out


def output_config(request: ChatRequest) -> dict[str, Any] | None:
    fmt = request.response_format
    if fmt.type is not ResponseFormatType.JSON_SCHEMA:
        return None
    return {"format": {"type": "json_schema", "schema": constrained_schema(fmt.schema)}}


def constrained_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` narrowed to what constrained generation accepts (module docstring)."""
    node = {k: v for k, v in schema.items() if k not in _DROPPED}
    out: dict[str, Any] = {}
    defs = node.pop("$defs", None)
    if isinstance(defs, dict):
        out["$defs"] = {name: constrained_schema(d) for name, d in defs.items()}
    if "$ref" in node:
        out["$ref"] = node["$ref"]  # siblings of a $ref are not allowed
        return out
    for key, as_key in (("anyOf", "anyOf"), ("oneOf", "anyOf"), ("allOf", "allOf")):
        variants = node.pop(key, None)
        if isinstance(variants, list):
            out[as_key] = [constrained_schema(v) if isinstance(v, dict) else v for v in variants]
    if "const" in node:
        out["enum"] = [node.pop("const")]
    for key in ("type", "enum", "title", "description", "required"):
        if key in node:
            out[key] = node.pop(key)
    kind = out.get("type")
    if kind is None and "properties" in node and not out.keys() & {"anyOf", "allOf", "enum"}:
        kind = out["type"] = "object"
    if kind == "object":
        properties = node.pop("properties", {})
        out["properties"] = {
            name: constrained_schema(p) if isinstance(p, dict) else p
            for name, p in (properties.items() if isinstance(properties, dict) else ())
        }
        node.pop("additionalProperties", None)
        out["additionalProperties"] = False
    elif kind == "array":
        if isinstance(node.get("items"), dict):
            out["items"] = constrained_schema(node.pop("items"))
        if node.get("minItems") in (0, 1):
            out["minItems"] = node.pop("minItems")
    elif kind == "string" and node.get("format") in STRING_FORMATS:
        out["format"] = node.pop("format")
    if node:  # what the grammar cannot enforce, said in words
        said = ", ".join(f"{key}: {value}" for key, value in node.items())
        described = out.get("description")
        out["description"] = (f"{described}\n\n" if described else "") + "{" + said + "}"
    return out


def content(message: ChatMessage) -> Content:
    """A message's content: its text as a string, or blocks when it carries calls, a result
    or images."""
    if message.role is Role.TOOL:
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
        if message.content:
            block["content"] = message.content
        return [block]
    if message.tool_calls:
        return _text_blocks(message.content) + [
            {"type": "tool_use", "id": c.id, "name": c.name, "input": c.parsed() or {}}
            for c in message.tool_calls
        ]
    if message.images:
        return [_part(p) for p in message.parts if not isinstance(p, TextPart) or p.text]
    return message.content


def merged(first: Content, second: Content) -> Content:
    """Two messages of one role as one turn (the API wants roles to alternate): texts
    joined by a blank line, or their blocks in order with tool results first."""
    if isinstance(first, str) and isinstance(second, str):
        return f"{first}\n\n{second}"
    blocks = _blocks(first) + _blocks(second)
    return sorted(blocks, key=lambda b: b.get("type") != "tool_result")


def _blocks(value: Content) -> list[dict[str, Any]]:
    return _text_blocks(value) if isinstance(value, str) else value


def _text_blocks(text: str) -> list[dict[str, Any]]:
    # The API refuses empty text blocks.
    return [{"type": "text", "text": text}] if text else []


def _part(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if part.url:
        return {"type": "image", "source": {"type": "url", "url": part.url}}
    source = {"type": "base64", "media_type": part.media_type, "data": part.base64()}
    return {"type": "image", "source": source}


def reply_calls(blocks: list[Any]) -> tuple[ToolCall, ...]:
    """The `tool_use` blocks of a reply. Their `input` is an object; unknown keys
    (`caller`, ...) are not needed to replay them."""
    return tuple(
        ToolCall(
            str(block.get("id") or new_call_id()),
            str(block["name"]),
            arguments_text(block.get("input")),
        )
        for block in blocks
        if isinstance(block, dict) and block.get("type") == "tool_use" and block.get("name")
    )
