"""OpenAI Chat Completions (and Azure's deployment URLs), per the wire-format reference §4, §7."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

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


class OpenAIEmulator(Emulator):
    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/chat/completions", self.chat),
            web.post("/openai/deployments/{deployment}/chat/completions", self.chat),
            web.get("/v1/models", self.models),
            web.get("/openai/models", self.models),
        ]

    async def models(self, request: web.Request) -> web.Response:
        behaviour = await self.record(request)
        if behaviour.mode == "error":
            return self.error_response(behaviour, {"error": ERRORS.get(behaviour.status, {})})
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"id": "gpt-4o-mini", "object": "model", "created": 1, "owned_by": "system"}
                ],
            }
        )

    async def chat(self, request: web.Request) -> web.StreamResponse:
        behaviour = await self.record(request)
        if behaviour.mode == "error":
            return self.error_response(behaviour, {"error": ERRORS.get(behaviour.status, {})})
        if behaviour.mode == "malformed":
            return web.Response(text='{"choices": [', content_type="application/json")
        body = await request.json()
        model = body.get("model", "gpt-4o-mini")
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
        reply: dict[str, Any] = {
            "id": "chatcmpl-emulated",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
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
        for piece in behaviour.chunks():
            frames.append(
                frame(
                    {
                        **base,
                        "choices": [
                            {"index": 0, "delta": {"content": piece}, "finish_reason": None}
                        ],
                    }
                )
            )
        frames.append(
            frame({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        )
        if behaviour.usage and (body.get("stream_options") or {}).get("include_usage"):
            frames.append(frame({**base, "choices": [], "usage": _usage(behaviour.text)}))
        frames.append(b"data: [DONE]\n\n")
        return frames


def _usage(text: str) -> dict[str, int]:
    completion = len(text.split())
    return {"prompt_tokens": 9, "completion_tokens": completion, "total_tokens": 9 + completion}
