"""What GigaChat's v1 chat refuses about functions, function results, structured output and
attachments (reference: tools-structured-images-embeddings §4). The exact texts of these
errors are undocumented; the shape is the API's `422 Invalid params: ...`. Each check
returns the message, or "" when the body passes."""

from __future__ import annotations

import json
import re
from typing import Any

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ROLES = ("system", "user", "assistant", "function")
MAX_IMAGES = 10


def problem(body: dict[str, Any], files: set[str]) -> str:
    return (
        _functions(body.get("functions"), body.get("function_call"))
        or _format(body.get("response_format"))
        or _messages(body.get("messages"), files)
    )


def _functions(functions: Any, call: Any) -> str:
    names = set()
    for i, function in enumerate(functions or ()):
        if not isinstance(function, dict) or not NAME.match(str(function.get("name", ""))):
            return f"Invalid params: functions[{i}].name must be Latin letters, digits and _"
        if not isinstance(function.get("parameters"), dict):
            return f"Invalid params: functions[{i}].parameters is required"
        names.add(function["name"])
    if call is None or call in ("auto", "none"):
        return ""
    if not isinstance(call, dict) or "name" not in call:
        return "Invalid params: function_call must be 'auto', 'none' or {\"name\": ...}"
    if call["name"] not in names:
        return f"Invalid params: function {call['name']} is not in functions"
    return ""


def _format(fmt: Any) -> str:
    if fmt is None:
        return ""
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return "Invalid params: response_format.type must be json_schema"
    if not isinstance(fmt.get("schema"), dict):
        return "Invalid params: response_format.schema is required"
    return ""


def _messages(messages: Any, files: set[str]) -> str:
    if not isinstance(messages, list) or not messages:
        return "Invalid params: messages is required"
    images = 0
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ROLES:
            return f"Invalid params: messages[{i}].role is not one of {', '.join(ROLES)}"
        if role == "system" and i:
            return "Invalid params: system message must be the first message"
        if role == "function":
            wrong = _result(message, i)
            if wrong:
                return wrong
        attachments = message.get("attachments") or []
        if len(attachments) > 1:
            return f"Invalid params: messages[{i}]: only one image per message"
        unknown = [a for a in attachments if a not in files]
        if unknown:
            return f"Invalid params: messages[{i}].attachments: file {unknown[0]} not found"
        images += len(attachments)
    if images > MAX_IMAGES:
        return f"Invalid params: at most {MAX_IMAGES} images per request"
    return ""


def _result(message: dict[str, Any], i: int) -> str:
    try:
        value = json.loads(message.get("content", ""))
    except ValueError:
        value = None
    if not isinstance(value, dict):
        return f"Invalid params: messages[{i}].content must be a JSON object"
    return ""
