"""GigaChat v1 shapes for functions, structured output and image attachments (reference:
tools-structured-images-embeddings §4).

Decisions where the API leaves a choice:
- GigaChat makes one call per message and has no ids. A call's id is made from the reply's
  `functions_state_id` (`call_` + its 32 hex digits), so a replayed call carries its state
  id back without the gateway keeping anything.
- A replayed assistant message with several calls (from another provider's history) is
  sent as one call message per call, each followed by its result: GigaChat matches a result
  to the call right before it.
- A result's content must be a JSON object as a string: JSON objects go as they are,
  anything else as `{"result": ...}`.
- There is no "call some function" mode. REQUIRED with one function forces that function;
  with several it is sent as "auto", as GigaChat's own LangChain integration does.
- Images are uploaded (`POST /files`) and named by id in the message's `attachments`; the
  files are deleted after the call. GigaChat takes one image per message, at most ten per
  request, JPEG or PNG here (of the formats the gateway accepts), at most 15 MB: anything
  else is refused before any upload as unsupported, so the router may try another provider.
- JSON mode is not documented; only a schema (`response_format.type: json_schema`, its
  schema flat beside the type) is sent.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

from orchestrator_server.domain.chat import ChatMessage, ChatRequest, ImagePart
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.domain.tools import (
    ResponseFormatType,
    ToolCall,
    ToolChoiceMode,
    arguments_text,
    new_call_id,
)
from orchestrator_server.providers.tool_wire import ToolResults, grouped, result_object

IMAGE_TYPES = ("image/jpeg", "image/png")
MAX_IMAGE_BYTES = 15 * 1024 * 1024
MAX_IMAGES = 10
_STATE_ID = re.compile(r"^call_([0-9a-f]{32})$")


def function_fields(request: ChatRequest) -> dict[str, Any]:
    """`functions` and `function_call`."""
    if not request.tools:
        return {}
    functions = []
    for tool in request.tools:
        function: dict[str, Any] = {"name": tool.name}
        if tool.description:
            function["description"] = tool.description
        function["parameters"] = tool.parameters_or_empty()  # required, even when empty
        functions.append(function)
    choice = request.tool_choice
    call: Any = "auto"
    if choice.mode is ToolChoiceMode.NONE:
        call = "none"
    elif choice.mode is ToolChoiceMode.TOOL:
        call = {"name": choice.name}
    elif choice.mode is ToolChoiceMode.REQUIRED and len(request.tools) == 1:
        call = {"name": request.tools[0].name}
    return {"functions": functions, "function_call": call}


def response_format(request: ChatRequest) -> dict[str, Any] | None:
    fmt = request.response_format
    if fmt.type is not ResponseFormatType.JSON_SCHEMA:
        return None
    out: dict[str, Any] = {"type": "json_schema", "schema": dict(fmt.schema)}
    if fmt.strict:
        out["strict"] = True
    return out


def messages(request: ChatRequest, attachments: Mapping[int, str]) -> list[dict[str, Any]]:
    """The messages; `attachments` maps a message's position to its uploaded image."""
    where = {id(m): i for i, m in enumerate(request.messages)}
    items = grouped(request.messages)
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(items):
        item = items[i]
        following = items[i + 1] if i + 1 < len(items) else None
        if isinstance(item, ToolResults):
            out += [_result(r) for r in item.results]
        elif item.tool_calls:
            answers = following.results if isinstance(following, ToolResults) else ()
            out += _paired(item, answers)
            i += 1 if answers else 0
        else:
            message: dict[str, Any] = {"role": item.role.value, "content": item.content}
            attachment = attachments.get(where[id(item)])
            if attachment is not None:
                message["attachments"] = [attachment]
            out.append(message)
        i += 1
    return out


def _paired(message: ChatMessage, results: tuple[ChatMessage, ...]) -> list[dict[str, Any]]:
    by_call = {r.tool_call_id: r for r in results}
    out: list[dict[str, Any]] = []
    for n, call in enumerate(message.tool_calls):
        said: dict[str, Any] = {
            "role": "assistant",
            "content": message.content if n == 0 else "",
            "function_call": {"name": call.name, "arguments": call.parsed() or {}},
        }
        state = state_id(call.id)
        if state is not None:
            said["functions_state_id"] = state
        out.append(said)
        result = by_call.pop(call.id, None)
        if result is not None:
            out.append(_result(result))
    return out + [_result(r) for r in by_call.values()]


def _result(result: ChatMessage) -> dict[str, Any]:
    content = json.dumps(result_object(result.content), ensure_ascii=False)
    return {"role": "function", "name": result.tool_name, "content": content}


def call_id(state: Any) -> str:
    """The id of a call whose reply had `functions_state_id` `state` (made up without one)."""
    try:
        return "call_" + uuid.UUID(str(state)).hex
    except ValueError:
        return new_call_id()


def state_id(call: str) -> str | None:
    """The `functions_state_id` a call id was made from, if it was."""
    match = _STATE_ID.match(call)
    return str(uuid.UUID(match.group(1))) if match else None


def reply_call(message: Any, state: Any = None) -> ToolCall | None:
    """The `function_call` of a reply message or a stream delta, if any."""
    if not isinstance(message, dict):
        return None
    function = message.get("function_call")
    if not isinstance(function, dict) or not function.get("name"):
        return None
    state = message.get("functions_state_id") or state
    return ToolCall(
        call_id(state), str(function["name"]), arguments_text(function.get("arguments"))
    )


def images_to_upload(request: ChatRequest) -> dict[int, ImagePart]:
    """The image of each message that has one, by position; what GigaChat cannot take is
    refused here, before anything is uploaded."""
    images = {i: m.images for i, m in enumerate(request.messages) if m.images}
    if len(images) > MAX_IMAGES:
        raise _unsupported(f"GigaChat takes at most {MAX_IMAGES} images per request")
    out: dict[int, ImagePart] = {}
    for i, found in images.items():
        if len(found) > 1:
            raise _unsupported("GigaChat takes one image per message")
        image = found[0]
        if image.url:
            raise _unsupported("GigaChat does not fetch image URLs")
        if image.media_type not in IMAGE_TYPES:
            raise _unsupported(f"GigaChat does not take {image.media_type} images")
        if len(image.data) > MAX_IMAGE_BYTES:
            raise _unsupported("GigaChat takes images of at most 15 MB")
        out[i] = image
    return out


def _unsupported(why: str) -> ProviderError:
    return ProviderError(ErrorKind.UNSUPPORTED, why)
