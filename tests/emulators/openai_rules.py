"""What OpenAI's Chat Completions refuses in tool, format and image requests (reference:
tools-structured-images-embeddings §1.4-1.8), as (param, message) pairs for a 400
`invalid_request_error`. Wordings marked [3P] in the reference are used as they were
observed; the orphan-tool-message text is the one OpenAI answers today (UNVERIFIED)."""

from __future__ import annotations

import re
from typing import Any

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def problem(body: dict[str, Any]) -> tuple[str, str] | None:
    for check in (_tools, _tool_choice, _response_format, _messages):
        found = check(body)
        if found is not None:
            return found
    return None


def _tools(body: dict[str, Any]) -> tuple[str, str] | None:
    tools = body.get("tools")
    if "parallel_tool_calls" in body and not tools:
        return (
            "parallel_tool_calls",
            "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed "
            "when 'tools' are specified.",
        )
    for i, tool in enumerate(tools or ()):
        function = tool.get("function") if tool.get("type") == "function" else None
        if not isinstance(function, dict) or not NAME.match(str(function.get("name", ""))):
            return (f"tools[{i}].function.name", f"Invalid 'tools[{i}].function.name'.")
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            return (f"tools[{i}].function.parameters", "Invalid schema for function.")
    return None


def _tool_choice(body: dict[str, Any]) -> tuple[str, str] | None:
    choice = body.get("tool_choice")
    if choice is None:
        return None
    if choice not in ("none", "auto", "required") and not isinstance(choice, dict):
        return ("tool_choice", f"Invalid value: '{choice}'.")
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        names = {(t.get("function") or {}).get("name") for t in body.get("tools") or ()}
        if name not in names:
            return ("tool_choice", f"Invalid value for 'tool_choice': function '{name}' not found")
    return None


def _response_format(body: dict[str, Any]) -> tuple[str, str] | None:
    fmt = body.get("response_format")
    if fmt is None:
        return None
    if fmt.get("type") not in ("text", "json_object", "json_schema"):
        return ("response_format", f"Invalid value: '{fmt.get('type')}'.")
    if fmt.get("type") != "json_schema":
        return None
    spec = fmt.get("json_schema") or {}
    if not NAME.match(str(spec.get("name", ""))):
        return ("response_format.json_schema.name", "Invalid 'response_format.json_schema.name'.")
    schema = spec.get("schema")
    strict_object = (
        spec.get("strict") and isinstance(schema, dict) and schema.get("type") == "object"
    )
    if strict_object and schema.get("additionalProperties") is not False:
        return (
            "response_format",
            f"Invalid schema for response_format '{spec['name']}': In context=(), "
            "'additionalProperties' is required to be supplied and to be false.",
        )
    return None


def _messages(body: dict[str, Any]) -> tuple[str, str] | None:
    messages = body.get("messages") or []
    pending: list[str] = []  # call ids of the last assistant message still unanswered
    for n, message in enumerate(messages):
        role = message.get("role")
        if pending and role != "tool":
            return _unanswered(n, pending)
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                return (
                    f"messages.[{n}].role",
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                )
            pending.remove(call_id)
        elif role == "assistant":
            pending = [c.get("id") for c in message.get("tool_calls") or ()]
        found = _content(n, role, message.get("content"))
        if found is not None:
            return found
    if pending:
        return _unanswered(len(messages), pending)
    return None


def _unanswered(n: int, pending: list[str]) -> tuple[str, str]:
    return (
        f"messages.[{n}].role",
        "An assistant message with 'tool_calls' must be followed by tool messages responding "
        "to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
        + ", ".join(pending),
    )


def _content(n: int, role: Any, content: Any) -> tuple[str, str] | None:
    if not isinstance(content, list):
        return None
    for m, part in enumerate(content):
        kind = part.get("type")
        if kind == "image_url":
            if role != "user":
                return (
                    f"messages.[{n}].content.[{m}].type",
                    f"Invalid value: 'image_url'. Supported values are: 'text'"
                    f"{' and refusal' if role == 'assistant' else ''}.",
                )
            url = str((part.get("image_url") or {}).get("url", ""))
            if not (url.startswith(("http://", "https://", "data:image/"))):
                return (f"messages.[{n}].content.[{m}].image_url.url", "Invalid image URL.")
        elif kind != "text":
            return (f"messages.[{n}].content.[{m}].type", f"Invalid value: '{kind}'.")
    return None
