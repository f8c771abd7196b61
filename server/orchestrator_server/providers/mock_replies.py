"""What the mock provider answers beyond plain text: tool calls whose arguments fill the
tool's schema, JSON that matches a response schema, deterministic embeddings. Everything is
a function of the request, so tests and `make run` see the same answer every time."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from orchestrator_server.domain.chat import ChatRequest, Role
from orchestrator_server.domain.tools import ToolCall, ToolChoiceMode, ToolDefinition
from orchestrator_server.retrieval.embedders.base import Purpose
from orchestrator_server.retrieval.embedders.hashing import V1, HashingEmbedder

_WORD = re.compile(r"\w+", re.UNICODE)
_FORMATS = {
    "date": "2025-01-01",
    "date-time": "2025-01-01T12:00:00Z",
    "time": "12:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def last_user_text(request: ChatRequest) -> str:
    return next((m.content for m in reversed(request.messages) if m.role is Role.USER), "")


def hint_of(request: ChatRequest) -> str:
    """The word string arguments are filled with: the last word of the last user message
    ("What is the weather in Paris?" -> "Paris")."""
    words = _WORD.findall(last_user_text(request))
    return words[-1] if words else "example"


def tool_results(request: ChatRequest) -> str | None:
    """The text answering the tool results that end the conversation, if they do."""
    results = []
    for message in reversed(request.messages):
        if message.role is not Role.TOOL:
            break
        results.append(f"{message.tool_name or message.tool_call_id} returned {message.content}")
    if not results:
        return None
    return "Tool results: " + "; ".join(reversed(results))


def tool_calls(request: ChatRequest) -> tuple[ToolCall, ...]:
    """The calls the mock makes: the named tool when the choice names one, else the first
    tool, or every tool when parallel calls were asked for explicitly."""
    choice = request.tool_choice
    if choice.mode is ToolChoiceMode.TOOL:
        chosen = tuple(t for t in request.tools if t.name == choice.name)
    elif request.parallel_tool_calls:
        chosen = request.tools
    else:
        chosen = request.tools[:1]
    hint = hint_of(request)
    return tuple(_call(tool, hint, i, len(request.messages)) for i, tool in enumerate(chosen))


def _call(tool: ToolDefinition, hint: str, index: int, turn: int) -> ToolCall:
    arguments = json.dumps(fill(tool.parameters, hint) if tool.parameters else {})
    digest = hashlib.blake2b(f"{turn}:{index}:{tool.name}:{arguments}".encode(), digest_size=12)
    return ToolCall("call_" + digest.hexdigest(), tool.name, arguments)


def fill(schema: Mapping[str, Any], hint: str, depth: int = 0) -> Any:
    """A value valid for common schemas: const, enum or default when given; objects with
    their required properties (all properties when none are required); one array item."""
    if depth > 8:
        return None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options and isinstance(options[0], Mapping):
            return fill(options[0], hint, depth + 1)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") or {}
        names = schema.get("required") or list(properties)
        return {n: fill(properties.get(n) or {}, hint, depth + 1) for n in names}
    if kind == "array":
        item = schema.get("items")
        count = max(1, int(schema.get("minItems") or 1))
        return [fill(item if isinstance(item, Mapping) else {}, hint, depth + 1)] * count
    return _scalar(kind, schema, hint)


def _scalar(kind: str, schema: Mapping[str, Any], hint: str) -> Any:
    if kind == "integer":
        return max(1, int(schema.get("minimum") or 1))
    if kind == "number":
        return float(max(1, schema.get("minimum") or 1))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _FORMATS.get(str(schema.get("format")), hint)


def json_reply(request: ChatRequest, text: str) -> str:
    """JSON mode: the reply as an object; a schema: an instance of it."""
    schema = request.response_format.schema
    if schema:
        return json.dumps(fill(schema, hint_of(request)))
    return json.dumps({"answer": text})


def vectors(inputs: tuple[str, ...], dimensions: int) -> list[list[float]]:
    """The hashing embedder's vectors: texts sharing words are close, and a collection built
    with the hashing embedder of the same size finds the same passages through them. Its
    first generation, which needs no IDF fitted on a collection (a provider has none)."""
    rows = HashingEmbedder(dimensions, model=V1).embed_sync(inputs, Purpose.DOCUMENT)
    return [[float(x) for x in row] for row in rows]
