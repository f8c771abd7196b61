"""Gemini API shapes for function calling, structured output and images (reference:
tools-structured-images-embeddings §3).

Decisions where the API leaves a choice:
- Schemas travel as JSON Schema (`parametersJsonSchema`, `responseJsonSchema`), not as the
  OpenAPI-subset `Schema` with upper-case types: no lossy conversion (the official SDK's
  raises on `additionalProperties`, which JSON Schema mode takes). Keywords outside the
  documented set are left out (`const` becomes a one-value enum); the gateway checks the
  reply against the caller's whole schema.
- Function results are matched by name and position: one `functionResponse` part per call,
  in call order, in one user turn. A result that is a JSON object is the response itself,
  anything else is wrapped as `{"result": ...}` (the SDK's wrapping). Call ids are never
  sent: Gemini's calls usually have none (the gateway makes them up), and a replayed
  history may hold other providers' ids; calls and responses then match by position.
- Thought signatures (mandatory on Gemini 3 when replaying calls) are kept by call id in a
  bounded in-process table. A replayed turn whose signature is unknown (another process, a
  history from another provider) carries Google's documented placeholder instead, so the
  request is accepted; the model then reasons without its earlier thoughts.
- `tool_choice` NONE is sent as mode NONE (the tools stay declared, as the caller sent
  them); a named tool is mode ANY restricted to that name.
- Images go inline (base64). URLs are not sent: `fileData` takes Files API URIs only.
"""

from __future__ import annotations

import math
from collections import OrderedDict
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
from orchestrator_server.providers.tool_wire import (
    ToolResults,
    grouped,
    integral_numbers,
    result_object,
)

# Google's documented placeholder for a replayed call that has no thought signature.
UNSIGNED = "skip_thought_signature_validator"
SIGNATURES_KEPT = 4096
# The keywords `responseJsonSchema` documents (the SDK's docstring); others are left out.
SCHEMA_KEYWORDS = frozenset(
    {
        "$id", "$defs", "$ref", "$anchor", "type", "format", "title", "description", "enum",
        "items", "prefixItems", "minItems", "maxItems", "minimum", "maximum", "anyOf",
        "oneOf", "properties", "additionalProperties", "required", "propertyOrdering",
    }
)  # fmt: skip


class Signatures:
    """Thought signatures by call id, the most recent SIGNATURES_KEPT."""

    def __init__(self, size: int = SIGNATURES_KEPT) -> None:
        self._size = size
        self._by_call: OrderedDict[str, str] = OrderedDict()

    def keep(self, call_id: str, signature: str) -> None:
        self._by_call[call_id] = signature
        self._by_call.move_to_end(call_id)
        while len(self._by_call) > self._size:
            self._by_call.popitem(last=False)

    def get(self, call_id: str) -> str | None:
        return self._by_call.get(call_id)


def json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` with only the documented keywords, in every subschema."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "const":
            out["enum"] = [value]
        elif key not in SCHEMA_KEYWORDS:
            continue
        elif key in ("properties", "$defs") and isinstance(value, dict):
            out[key] = {k: _sub(v) for k, v in value.items()}
        elif key in ("anyOf", "oneOf", "prefixItems") and isinstance(value, list):
            out[key] = [_sub(v) for v in value]
        elif key in ("items", "additionalProperties"):
            out[key] = _sub(value)
        else:
            out[key] = value
    return out


def _sub(value: Any) -> Any:
    return json_schema(value) if isinstance(value, dict) else value


def tools(request: ChatRequest) -> dict[str, Any]:
    """`tools` (all declarations in one Tool, as the SDK sends them) and `toolConfig`."""
    if not request.tools:
        return {}
    out: dict[str, Any] = {
        "tools": [{"functionDeclarations": [_declaration(t) for t in request.tools]}]
    }
    choice = request.tool_choice
    config: dict[str, Any] | None = None
    if choice.mode is ToolChoiceMode.NONE:
        config = {"mode": "NONE"}
    elif choice.mode is ToolChoiceMode.REQUIRED:
        config = {"mode": "ANY"}
    elif choice.mode is ToolChoiceMode.TOOL:
        config = {"mode": "ANY", "allowedFunctionNames": [choice.name]}
    if config is not None:
        out["toolConfig"] = {"functionCallingConfig": config}
    return out


def _declaration(tool: ToolDefinition) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name}
    if tool.description:
        out["description"] = tool.description
    if tool.parameters:  # none: a function without arguments
        out["parametersJsonSchema"] = json_schema(tool.parameters)
    return out


def response_config(request: ChatRequest) -> dict[str, Any]:
    """generationConfig fields for JSON mode or a response schema."""
    fmt = request.response_format
    if fmt.type is ResponseFormatType.JSON_OBJECT:
        return {"responseMimeType": "application/json"}
    if fmt.type is ResponseFormatType.JSON_SCHEMA:
        return {
            "responseMimeType": "application/json",
            "responseJsonSchema": json_schema(fmt.schema),
        }
    return {}


def contents(messages: tuple[ChatMessage, ...], signatures: Signatures) -> list[dict[str, Any]]:
    """Every message but the system prompt as a Content; a run of tool results as one."""
    out: list[dict[str, Any]] = []
    for item in grouped(m for m in messages if m.role is not Role.SYSTEM):
        if isinstance(item, ToolResults):
            out.append({"role": "user", "parts": [_response(r) for r in item.results]})
        elif item.role is Role.ASSISTANT:
            out.append({"role": "model", "parts": _model_parts(item, signatures)})
        else:
            out.append({"role": "user", "parts": _user_parts(item)})
    return out


def _user_parts(message: ChatMessage) -> list[dict[str, Any]]:
    if not message.images:
        return [{"text": message.content}]
    return [_part(p) for p in message.parts if not isinstance(p, TextPart) or p.text]


def _part(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    return {"inlineData": {"mimeType": part.media_type, "data": part.base64()}}


def _model_parts(message: ChatMessage, signatures: Signatures) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"text": message.content}] if message.content else []
    for i, call in enumerate(message.tool_calls):
        function = {"name": call.name, "args": call.parsed() or {}}
        part: dict[str, Any] = {"functionCall": function}
        signature = signatures.get(call.id) or (UNSIGNED if i == 0 else None)
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _response(result: ChatMessage) -> dict[str, Any]:
    response = {"name": result.tool_name, "response": result_object(result.content)}
    return {"functionResponse": response}


def reply_calls(content: Any, signatures: Signatures) -> list[ToolCall]:
    """The `functionCall` parts of a candidate's content, ids made up where Gemini gave none;
    their thought signatures are kept for the replay."""
    parts = content.get("parts") if isinstance(content, dict) else None
    calls: list[ToolCall] = []
    for part in parts if isinstance(parts, list) else ():
        function = part.get("functionCall") if isinstance(part, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            continue
        given = function.get("id")
        call_id = given if isinstance(given, str) and given else new_call_id()
        arguments = arguments_text(integral_numbers(function.get("args") or {}))
        calls.append(ToolCall(call_id, str(function["name"]), arguments))
        signature = part.get("thoughtSignature")
        if isinstance(signature, str) and signature:
            signatures.keep(call_id, signature)
    return calls


def normalized(vector: list[float]) -> list[float]:
    """L2-normalized: only full-size Gemini embeddings come normalized, and a shortened one
    (outputDimensionality) should be too before cosine or inner-product search."""
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector
