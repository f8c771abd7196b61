"""What the Anthropic Messages API refuses about tools, tool results, images and structured
output (reference: tools-structured-images-embeddings §2), with its messages. Each check
returns the 400 message, or "" when the body passes."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
MAX_IMAGE_BYTES = 5 * 1024 * 1024
CHOICES = ("auto", "any", "tool", "none")


def problem(body: dict[str, Any]) -> str:
    return (
        _tools(body.get("tools"))
        or _choice(body.get("tool_choice"), body.get("tools"))
        or _output(body.get("output_config"))
        or _messages(body["messages"])
    )


def _tools(tools: Any) -> str:
    if tools is None:
        return ""
    if not isinstance(tools, list):
        return "tools: Input should be a valid list"
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not NAME.match(str(tool.get("name", ""))):
            return f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return f"tools.{i}.custom.input_schema.type: Input should be 'object'"
    return ""


def _choice(choice: Any, tools: Any) -> str:
    if choice is None:
        return ""
    if not isinstance(choice, dict) or choice.get("type") not in CHOICES:
        return "tool_choice: Input tag does not match any of the expected tags"
    if choice["type"] == "none" and "disable_parallel_tool_use" in choice:
        return "tool_choice.none.disable_parallel_tool_use: Extra inputs are not permitted"
    names = {t.get("name") for t in tools or () if isinstance(t, dict)}
    if choice["type"] == "tool" and choice.get("name") not in names:
        return f"tool_choice.tool.name: Tool '{choice.get('name')}' not found in provided tools"
    if choice["type"] in ("any", "tool") and not names:
        return "tool_choice: tool_choice may only be specified while providing tools."
    return ""


def _output(config: Any) -> str:
    if config is None:
        return ""
    fmt = config.get("format") if isinstance(config, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return "output_config.format.type: Input tag does not match any of the expected tags"
    if not isinstance(fmt.get("schema"), dict):
        return "output_config.format.json_schema.schema: Field required"
    return ""


def _messages(messages: list[dict[str, Any]]) -> str:
    previous_calls: list[str] = []
    for i, message in enumerate(messages):
        content = message.get("content")
        blocks = content if isinstance(content, list) else []
        for j, block in enumerate(blocks):
            wrong = _block(block, message["role"], f"messages.{i}.content.{j}")
            if wrong:
                return wrong
        answered = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        orphans = [a for a in answered if a not in previous_calls]
        if orphans:
            j = next(k for k, b in enumerate(blocks) if b.get("tool_use_id") == orphans[0])
            return (
                f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` "
                f"blocks: {orphans[0]}. Each `tool_result` block must have a corresponding "
                "`tool_use` block in the previous message."
            )
        unanswered = [c for c in previous_calls if c not in answered]
        if unanswered:
            return (
                f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {unanswered[0]}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )
        previous_calls = [b.get("id") for b in blocks if b.get("type") == "tool_use"]
    return ""


def _block(block: Any, role: str, where: str) -> str:
    if not isinstance(block, dict):
        return f"{where}: Input should be a valid dictionary"
    kind = block.get("type")
    if kind == "text" and not block.get("text"):
        return "messages: text content blocks must be non-empty"
    if kind == "tool_use" and role != "assistant":
        return f"{where}: tool_use blocks may only appear in assistant messages"
    if kind == "tool_result" and role != "user":
        return f"{where}: tool_result blocks may only appear in user messages"
    if kind == "tool_use" and not isinstance(block.get("input"), dict):
        return f"{where}.tool_use.input: Input should be a valid dictionary"
    if kind == "image":
        return _image(block.get("source"), f"{where}.image.source")
    return ""


def _image(source: Any, where: str) -> str:
    if not isinstance(source, dict):
        return f"{where}: Field required"
    if source.get("type") == "url":
        url = str(source.get("url", ""))
        return "" if url.startswith(("http://", "https://")) else f"{where}.url: invalid URL"
    if source.get("type") != "base64":
        return f"{where}: Input tag does not match any of the expected tags"
    if source.get("media_type") not in MEDIA_TYPES:
        return (
            f"{where}.base64.media_type: Input should be 'image/jpeg', 'image/png', "
            "'image/gif' or 'image/webp'"
        )
    try:
        data = base64.b64decode(str(source.get("data", "")), validate=True)
    except (binascii.Error, ValueError):
        return f"{where}.base64.data: invalid base64 data"
    if len(data) > MAX_IMAGE_BYTES:
        return (
            f"{where}.base64: image exceeds 5 MB maximum: {len(data)} bytes > "
            f"{MAX_IMAGE_BYTES} bytes"
        )
    return ""
