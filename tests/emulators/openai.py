"""OpenAI Chat Completions (and Azure's deployment URLs), per the wire-format reference §4, §7,
and the model listing (`GET /v1/models`, `GET /v1/models/{model}`).

Switches besides the Behaviour: `api_key` answers 401 invalid_api_key to any other
`Authorization: Bearer` key; `models` is what the listing holds."""

from __future__ import annotations

import json
import random
import string
import uuid
from typing import Any

from aiohttp import web

from tests.emulators import openai_rules
from tests.emulators.base import Behaviour, Emulator

ERRORS: dict[int, dict[str, Any]] = {
    400: {"message": "Invalid value for 'temperature'", "type": "invalid_request_error"},
    401: {
        "message": "Incorrect API key provided: sk-****",
        "type": "invalid_request_error",
        "code": "invalid_api_key",
    },
    403: {"message": "Project does not have access to model", "type": "invalid_request_error"},
    404: {
        "message": "The model does not exist",
        "type": "invalid_request_error",
        "code": "model_not_found",
    },
    429: {
        "message": "Rate limit reached for requests",
        "type": "requests",
        "code": "rate_limit_exceeded",
    },
    500: {
        "message": "The server had an error while processing your request.",
        "type": "server_error",
    },
    503: {"message": "The engine is currently overloaded", "type": "server_error"},
}
QUOTA_ERROR = {
    "error": {
        "message": "You exceeded your current quota",
        "type": "insufficient_quota",
        "code": "insufficient_quota",
    }
}


# Model objects as GET /v1/models lists them (reference §4: id, object, created, owned_by).
MODELS: list[dict[str, Any]] = [
    {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
    {"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system"},
    {
        "id": "text-embedding-3-small",
        "object": "model",
        "created": 1705948997,
        "owned_by": "system",
    },
]


class OpenAIEmulator(Emulator):
    def __init__(self) -> None:
        super().__init__()
        self.api_key: str | None = None
        self.models_listed: list[dict[str, Any]] = [dict(m) for m in MODELS]

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/chat/completions", self.chat),
            web.post("/openai/deployments/{deployment}/chat/completions", self.chat),
            web.get("/v1/models", self.models),
            web.get("/openai/models", self.models),
            web.get("/v1/models/{model}", self.model),
        ]

    def _refused(self, request: web.Request, behaviour: Behaviour) -> web.Response | None:
        if behaviour.mode == "error":
            return self.error_response(behaviour, {"error": ERRORS.get(behaviour.status, {})})
        expected = f"Bearer {self.api_key}"
        if self.api_key is not None and request.headers.get("Authorization") != expected:
            return web.json_response({"error": ERRORS[401]}, status=401, headers=_ids())
        return None

    async def models(self, request: web.Request) -> web.Response:
        behaviour = await self.record(request)
        refused = self._refused(request, behaviour)
        if refused is not None:
            return refused
        return web.json_response({"object": "list", "data": self.models_listed}, headers=_ids())

    async def model(self, request: web.Request) -> web.Response:
        behaviour = await self.record(request)
        refused = self._refused(request, behaviour)
        if refused is not None:
            return refused
        name = request.match_info["model"]
        found = next((m for m in self.models_listed if m["id"] == name), None)
        if found is None:
            error = {
                "message": f"The model '{name}' does not exist",
                "type": "invalid_request_error",
                "param": "model",
                "code": "model_not_found",
            }
            return web.json_response({"error": error}, status=404, headers=_ids())
        return web.json_response(found, headers=_ids())

    async def chat(self, request: web.Request) -> web.StreamResponse:
        behaviour = await self.record(request)
        refused = self._refused(request, behaviour)
        if refused is not None:
            return refused
        if behaviour.mode == "malformed":
            return web.Response(text='{"choices": [', content_type="application/json")
        body = await request.json()
        model = body.get("model", "gpt-4o-mini")
        rejected = openai_rules.problem(body)
        if rejected is not None:
            param, message = rejected
            error = {"message": message, "type": "invalid_request_error", "param": param}
            return web.json_response({"error": {**error, "code": None}}, status=400)
        if body.get("stream"):
            return await self.stream(
                request,
                behaviour,
                self._frames(behaviour, model, body),
                content_type="text/event-stream",
                error_frame=b'data: {"error": {"message": "The server had an error", '
                b'"type": "server_error"}}\n\n',
            )
        text = behaviour.text
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        finish = "stop"
        if behaviour.tool_calls:
            message["content"] = None
            message["tool_calls"] = [
                {"id": call_id(), "type": "function", "function": _function(call)}
                for call in behaviour.tool_calls
            ]
            finish = "tool_calls"
        reply: dict[str, Any] = {
            "id": "chatcmpl-emulated",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
        }
        if behaviour.usage:
            reply["usage"] = _usage(text)
        return web.json_response(reply)

    def _frames(self, behaviour: Behaviour, model: str, body: dict[str, Any]) -> list[bytes]:
        def frame(obj: Any) -> bytes:
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        base = {
            "id": "chatcmpl-emulated",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
        }
        frames = [
            frame(
                {
                    **base,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": ""},
                            "finish_reason": None,
                        }
                    ],
                }
            )
        ]
        deltas = (
            _call_deltas(behaviour.tool_calls)
            if behaviour.tool_calls
            else [{"content": piece} for piece in behaviour.chunks()]
        )
        for delta in deltas:
            frames.append(
                frame({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
            )
        finish = "tool_calls" if behaviour.tool_calls else "stop"
        frames.append(
            frame({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        )
        if behaviour.usage and (body.get("stream_options") or {}).get("include_usage"):
            frames.append(frame({**base, "choices": [], "usage": _usage(behaviour.text)}))
        frames.append(b"data: [DONE]\n\n")
        return frames


def call_id() -> str:
    """`call_` and 24 alphanumerics, as recorded from the live API."""
    return "call_" + "".join(random.choices(string.ascii_letters + string.digits, k=24))


def _function(call: dict[str, Any]) -> dict[str, Any]:
    arguments = call.get("arguments", {})
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"name": call["name"], "arguments": text}


def _call_deltas(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """As recorded: per call a fragment with index, id, type and name and empty arguments,
    then argument pieces of a few characters (split anywhere, inside strings too) that carry
    only the index."""
    deltas = []
    for index, call in enumerate(calls):
        function = _function(call)
        head = {"index": index, "id": call_id(), "type": "function"}
        deltas.append(
            {"tool_calls": [{**head, "function": {"name": function["name"], "arguments": ""}}]}
        )
        text = function["arguments"]
        for start in range(0, len(text), 5):
            piece = {"index": index, "function": {"arguments": text[start : start + 5]}}
            deltas.append({"tool_calls": [piece]})
    return deltas


def _ids() -> dict[str, str]:
    return {"x-request-id": f"req_{uuid.uuid4().hex}", "openai-version": "2020-10-01"}


def _usage(text: str) -> dict[str, int]:
    completion = len(text.split())
    return {"prompt_tokens": 9, "completion_tokens": completion, "total_tokens": 9 + completion}
