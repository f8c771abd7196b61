"""Anthropic Messages API, per the wire-format reference §5: x-api-key and anthropic-version
headers, the request checks the real API makes (max_tokens required, user/assistant turns
that start with the user and alternate; tools, tool results and images in anthropic_rules),
named SSE events with `ping`s and no [DONE], and `{"type":"error","error":{...}}` bodies.

Tool calls (`Behaviour.tool_calls`) come back as recorded from the live API: `tool_use`
blocks with `toolu_` ids, object `input` and a `caller`, `stop_reason: "tool_use"`; streamed
as a `content_block_start` with `input: {}`, a first `input_json_delta` of "" and the JSON in
small pieces, and a `content_block_stop` frame with extra spaces inside its JSON."""

from __future__ import annotations

import json
import secrets
import string
from typing import Any

from aiohttp import web

from tests.emulators import anthropic_rules
from tests.emulators.base import Behaviour, Emulator

ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "temperature: range: 0..1"),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your account has a billing problem"),
    403: ("permission_error", "Your API key does not have permission to use this resource"),
    404: ("not_found_error", "model: claude-nonexistent"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}
# GET /v1/models entries (reference §5), newest first as the API lists them.
MODELS: list[dict[str, Any]] = [
    {
        "type": "model",
        "id": "claude-sonnet-4-5",
        "display_name": "Claude Sonnet 4.5",
        "created_at": "2025-09-29T00:00:00Z",
    },
    {
        "type": "model",
        "id": "claude-opus-4-1",
        "display_name": "Claude Opus 4.1",
        "created_at": "2025-08-05T00:00:00Z",
    },
    {
        "type": "model",
        "id": "claude-3-5-haiku-20241022",
        "display_name": "Claude Haiku 3.5",
        "created_at": "2024-10-22T00:00:00Z",
    },
]
# An empty prepaid balance comes back as a 400, not a 402 (public reports, e.g.
# anthropics/claude-code#4684).
CREDIT_MESSAGE = (
    "Your credit balance is too low to access the Anthropic API. "
    "Please go to Plans & Billing to upgrade or purchase credits."
)
OVERLOADED_EVENT = (
    b"event: error\n"
    b'data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
)
# message_start, content_block_start and a ping come before the first text_delta.
FRAMES_BEFORE_TEXT = 3
# Streamed tool input is cut into pieces this long (the live API's are a few characters).
JSON_PIECE = 7
_BASE62 = string.ascii_letters + string.digits


def error_body(status: int) -> dict[str, Any]:
    return error_obj(*ERRORS.get(status, ("api_error", "Internal server error")))


def error_obj(kind: str, message: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": "req_emulated",
    }


CREDIT_ERROR = error_obj("invalid_request_error", CREDIT_MESSAGE)


def event(obj: dict[str, Any]) -> bytes:
    return f"event: {obj['type']}\ndata: {json.dumps(obj)}\n\n".encode()


class AnthropicEmulator(Emulator):
    """Extra switches: `stop_reason` for replies, `thinking` to put a thinking block (which
    is not text) before the text, `ping_every` text deltas a ping, `send_message_stop`
    False to end a stream cleanly but without its terminator, `expected_key` to answer 401
    to any other x-api-key, `models_listed` for what GET /v1/models pages through,
    `preamble` for the text a reply with tool calls has before them (none when forced)."""

    def __init__(self) -> None:
        super().__init__()
        self.stop_reason = "end_turn"
        self.thinking = False
        self.ping_every = 2
        self.send_message_stop = True
        self.input_tokens = 11
        self.expected_key: str | None = None
        self.models_listed: list[dict[str, Any]] = [dict(m) for m in MODELS]
        self.preamble = ""

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/messages", self.messages), web.get("/v1/models", self.models)]

    async def models(self, request: web.Request) -> web.Response:
        behaviour = await self.record(request)
        if behaviour.mode == "error":
            return self._error(behaviour)
        rejected = self._check_headers(request)
        if rejected is not None:
            return rejected
        # Pages as the real listing does: newest first, `limit` (default 20) per page,
        # `after_id` for the next one.
        models = self.models_listed
        after = request.query.get("after_id")
        if after is not None:
            ids = [m["id"] for m in models]
            models = models[ids.index(after) + 1 :] if after in ids else []
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            return self._json(
                error_obj("invalid_request_error", "limit: Input should be between 1 and 1000"),
                status=400,
            )
        page = models[:limit]
        return self._json(
            {
                "data": page,
                "has_more": len(models) > limit,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
            }
        )

    async def messages(self, request: web.Request) -> web.StreamResponse:
        behaviour = await self.record(request)
        if behaviour.mode == "error":
            return self._error(behaviour)
        rejected = self._check_headers(request)
        if rejected is not None:
            return rejected
        body = await request.json()
        problem = _invalid(body) or anthropic_rules.problem(body)
        if problem:
            return self._json(error_obj("invalid_request_error", problem), status=400)
        model = body["model"]
        calls = _calls(behaviour, body)
        if body.get("stream"):
            if behaviour.mode == "malformed":
                return web.Response(
                    body=b'event: message_start\ndata: {"type": "message_start", "mess\n\n',
                    content_type="text/event-stream",
                )
            return await self.stream(
                request,
                behaviour,
                self._frames(behaviour, model, calls, self._preamble(body, calls)),
                content_type="text/event-stream; charset=utf-8",
                error_frame=OVERLOADED_EVENT,
            )
        if behaviour.mode == "malformed":
            return web.Response(text='{"content": [', content_type="application/json")
        content: list[dict[str, Any]] = []
        if self.thinking:
            content.append({"type": "thinking", "thinking": "Hmm.", "signature": "sig"})
        text = self._preamble(body, calls) if calls else behaviour.text
        if text:
            content.append({"type": "text", "text": text})
        content += [_tool_use(call) for call in calls]
        reply: dict[str, Any] = {
            "id": "msg_emulated",
            "type": "message",
            "role": "assistant",
            "content": content,
            "model": model,
            "stop_reason": "tool_use" if calls else self.stop_reason,
            "stop_sequence": None,
        }
        if behaviour.usage:
            reply["usage"] = {
                "input_tokens": self.input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": _output_tokens(text + json.dumps(calls)),
            }
        return self._json(reply)

    def _preamble(self, body: dict[str, Any], calls: list[dict[str, Any]]) -> str:
        # A forced choice prefills the assistant turn: no text precedes the tool_use.
        forced = (body.get("tool_choice") or {}).get("type") in ("any", "tool")
        return "" if forced or not calls else self.preamble

    def _frames(
        self, behaviour: Behaviour, model: str, calls: list[dict[str, Any]], preamble: str
    ) -> list[bytes]:
        message: dict[str, Any] = {
            "id": "msg_emulated",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": model,
            "stop_reason": None,
            "stop_sequence": None,
        }
        if behaviour.usage:
            # The real API reports a token or so of output here already; the total in
            # message_delta includes it.
            message["usage"] = {"input_tokens": self.input_tokens, "output_tokens": 1}
        frames = [event({"type": "message_start", "message": message})]
        index = 0
        if self.thinking:
            frames += [
                event(
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "thinking", "thinking": ""},
                    }
                ),
                event(_delta(0, {"type": "thinking_delta", "thinking": "Let me see."})),
                event(_delta(0, {"type": "signature_delta", "signature": "sig"})),
                event({"type": "content_block_stop", "index": 0}),
            ]
            index = 1
        text = preamble if calls else behaviour.text
        if text:
            frames += self._text_block(index, text, behaviour.words_per_chunk)
            index += 1
        for call in calls:
            frames += _tool_block(index, _tool_use(call))
            index += 1
        delta: dict[str, Any] = {
            "type": "message_delta",
            "delta": {
                "stop_reason": "tool_use" if calls else self.stop_reason,
                "stop_sequence": None,
            },
        }
        if behaviour.usage:
            delta["usage"] = {"output_tokens": _output_tokens(text + json.dumps(calls))}
        frames.append(event(delta))
        if self.send_message_stop:
            frames.append(event({"type": "message_stop"}))
        return frames

    def _text_block(self, index: int, text: str, words_per_chunk: int) -> list[bytes]:
        start = {
            "type": "content_block_start",
            "index": index,
            "content_block": {"type": "text", "text": ""},
        }
        frames = [event(start), event({"type": "ping"})]
        pieces = Behaviour(text=text, words_per_chunk=words_per_chunk).chunks()
        for i, piece in enumerate(pieces, 1):
            frames.append(event(_delta(index, {"type": "text_delta", "text": piece})))
            if self.ping_every and i % self.ping_every == 0:
                frames.append(event({"type": "ping"}))
        frames.append(event({"type": "content_block_stop", "index": index}))
        return frames

    def _check_headers(self, request: web.Request) -> web.Response | None:
        key = request.headers.get("x-api-key")
        if not key:
            return self._json(
                error_obj("authentication_error", "x-api-key header is required"), status=401
            )
        if self.expected_key is not None and key != self.expected_key:
            return self._json(error_obj("authentication_error", "invalid x-api-key"), 401)
        if not request.headers.get("anthropic-version"):
            return self._json(
                error_obj("invalid_request_error", "anthropic-version: header is required"), 400
            )
        return None

    def _error(self, behaviour: Behaviour) -> web.Response:
        response = self.error_response(behaviour, error_body(behaviour.status))
        response.headers["request-id"] = "req_emulated"
        return response

    @staticmethod
    def _json(obj: Any, status: int = 200) -> web.Response:
        return web.json_response(obj, status=status, headers={"request-id": "req_emulated"})


def _delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def _calls(behaviour: Behaviour, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The scripted calls, when tools are offered; one with disable_parallel_tool_use."""
    choice = body.get("tool_choice") or {}
    if not behaviour.tool_calls or not body.get("tools") or choice.get("type") == "none":
        return []
    calls = behaviour.tool_calls
    return calls[:1] if choice.get("disable_parallel_tool_use") else calls


def _tool_use(call: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": "toolu_01" + "".join(secrets.choice(_BASE62) for _ in range(22)),
        "name": call["name"],
        "input": call["arguments"],
        "caller": {"type": "direct"},
    }


def _tool_block(index: int, block: dict[str, Any]) -> list[bytes]:
    arguments = block["input"]
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    frames = [
        event(
            {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}}
        ),
        event(_delta(index, {"type": "input_json_delta", "partial_json": ""})),
        event({"type": "ping"}),
    ]
    for i in range(0, len(text), JSON_PIECE):
        piece = text[i : i + JSON_PIECE]
        frames.append(event(_delta(index, {"type": "input_json_delta", "partial_json": piece})))
    # As recorded: spaces inside the frame's JSON.
    stop = f'{{"type":"content_block_stop","index":{index}        }}'
    frames.append(f"event: content_block_stop\ndata: {stop}\n\n".encode())
    return frames


def _invalid(body: Any) -> str:
    """What the real API would reject in this body, or ""."""
    if not isinstance(body, dict):
        return "body: must be an object"
    for field in ("model", "max_tokens", "messages"):
        if field not in body:
            return f"{field}: Field required"
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
        return "max_tokens: must be a positive integer"
    if "system" in body and not isinstance(body["system"], str | list):
        return "system: Input should be a valid string or list"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if i == 0 and role != "user":
            return 'messages: first message must use the "user" role'
        if i and messages[i - 1]["role"] == role:
            return 'messages: roles must alternate between "user" and "assistant"'
    return ""


def _output_tokens(text: str) -> int:
    return len(text.split())
