"""What YandexGPT's completion refuses about messages, tools, tool results and structured
output (reference: tools-structured-images-embeddings §5; the texts of tool and schema
errors are undocumented, the envelope is the grpc-gateway 400). Each check returns the
message, or "" when the body passes."""

from __future__ import annotations

from typing import Any

MODES = ("TOOL_CHOICE_MODE_UNSPECIFIED", "NONE", "AUTO", "REQUIRED")
CONTENT = ("text", "toolCallList", "toolResultList")


def problem(body: dict[str, Any]) -> str:
    return (
        _tools(body.get("tools"), body.get("toolChoice"))
        or _format(body)
        or _messages(body.get("messages"))
    )


def declared(body: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in body.get("tools") or ()]


def _tools(tools: Any, choice: Any) -> str:
    names = []
    for i, tool in enumerate(tools or ()):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            return f"tools[{i}].function.name: required"
        if not isinstance(function.get("parameters"), dict):
            return f"tools[{i}].function.parameters: must be a JSON Schema object"
        names.append(function["name"])
    if choice is None:
        return ""
    if not isinstance(choice, dict) or len(choice) != 1:
        return "toolChoice: exactly one of mode, functionName"
    if "mode" in choice and choice["mode"] not in MODES:
        return f"toolChoice.mode: invalid value {choice['mode']!r}"
    if "functionName" in choice and choice["functionName"] not in names:
        return f"toolChoice.functionName: no tool named {choice['functionName']!r}"
    return ""


def _format(body: dict[str, Any]) -> str:
    if "jsonObject" in body and "jsonSchema" in body:
        return "jsonObject and jsonSchema are mutually exclusive"
    schema = body.get("jsonSchema")
    if schema is not None and not isinstance(schema.get("schema"), dict):
        return "jsonSchema.schema: must be an object"
    return ""


def _messages(messages: Any) -> str:
    if not messages:
        return "messages: each needs a role and a text"
    called: list[str] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in (
            "system",
            "user",
            "assistant",
        ):
            return "messages: each needs a role and a text"
        held = [key for key in CONTENT if key in message]
        if len(held) != 1:
            return f"messages[{i}]: exactly one of text, toolCallList, toolResultList"
        if held == ["toolCallList"]:
            if message["role"] != "assistant":
                return f"messages[{i}].toolCallList: only assistant messages call tools"
            called = [c["functionCall"]["name"] for c in message["toolCallList"]["toolCalls"]]
        elif held == ["toolResultList"]:
            for result in message["toolResultList"]["toolResults"]:
                function = result.get("functionResult") or {}
                if function.get("name") not in called:
                    return f"messages[{i}].toolResultList: no call of {function.get('name')!r}"
                if not isinstance(function.get("content"), str):
                    return f"messages[{i}].toolResultList: content must be a string"
    return ""
