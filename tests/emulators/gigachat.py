"""GigaChat: its OAuth host and its v1 API in one app, per the wire-format reference §1.

The OAuth side issues a fresh token per call and checks what the real one checks (Basic key,
a uuid RqUID, the form body and its scope); the API side accepts only tokens it issued that
have not expired by `clock`. `Behaviour` drives the API routes only; OAuth has its own
switches (`oauth_error`, `oauth_delay`, `scope_failures`, `token_lifetime`, `expiry_unit`,
`token_shape`)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from tests.emulators.base import Behaviour, Emulator, Recorded

OAUTH = "/api/v2/oauth"
CHAT = "/api/v1/chat/completions"
MODELS = "/api/v1/models"
MODEL_VERSION = "2.0.28.2"

ERRORS: dict[int, dict[str, Any]] = {
    400: {"status": 400, "message": "Bad request"},
    401: {"status": 401, "message": "Unauthorized"},
    402: {"status": 402, "message": "Payment Required"},
    403: {"status": 403, "message": "Forbidden"},
    404: {"status": 404, "message": "No such model"},
    413: {"status": 413, "message": "Request Entity Too Large"},
    422: {
        "status": 422,
        "message": "Invalid params: repetition_penalty must be in range (0, +inf)",
    },
    429: {"status": 429, "message": "Too many requests"},
    500: {"status": 500, "message": "Internal Server Error"},
    503: {"status": 503, "message": "Service Unavailable"},
}
# OAuth-host errors: (HTTP status, body). Code 7 is listed under 400 by the official page.
OAUTH_ERRORS: dict[str, tuple[int, dict[str, Any]]] = {
    "scope": (400, {"code": 7, "message": "scope from db not fully includes consumed scope"}),
    "credentials": (401, {"code": 6, "message": "credentials doesn't match db data"}),
    "bad_request": (400, {"message": "Bad Request"}),  # no RqUID, or a body it cannot read
    "rate": (429, {"code": 429, "message": "Too many requests"}),
    "server": (500, {"code": 500, "message": "Internal Server Error"}),
}
STREAM_ERROR = b'data: {"status": 500, "message": "Internal Server Error"}\n\n'


class GigaChatEmulator(Emulator):
    def __init__(self, key: str = "", *, scope: str | None = None) -> None:
        super().__init__()
        self.key = key  # the Basic key it accepts ("" accepts any)
        self.scope = scope  # the only scope the key covers (None: any)
        self.clock: Callable[[], float] = time.time
        self.token_lifetime = 1800.0
        self.expiry_unit = "ms"  # "ms" (documented) or "s"
        self.token_shape = "access_token"  # or "tok" ({"tok", "exp"})
        self.oauth_error: str | None = None  # a key of OAUTH_ERRORS, for every OAuth call
        self.oauth_retry_after: str | None = None
        self.oauth_delay = 0.0  # seconds before the OAuth reply
        # Per requested scope: a key of OAUTH_ERRORS to answer, or "hang" to never answer.
        self.scope_failures: dict[str, str] = {}
        self.reject_next = 0  # the next N API calls answer 401 whatever their token
        self.tokens: dict[str, float] = {}  # issued token -> expiry (epoch seconds)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(OAUTH, self.oauth),
            web.post(CHAT, self.chat),
            web.get(MODELS, self.models),
        ]

    @property
    def oauth_calls(self) -> list[Recorded]:
        return self.calls(OAUTH)

    async def oauth(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                dict(request.query),
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
        )
        if self.oauth_delay:
            await asyncio.sleep(self.oauth_delay)
        scripted = self.scope_failures.get(parse_qs(body.decode()).get("scope", [""])[0])
        if scripted == "hang":
            await asyncio.Event().wait()
        failure = scripted or self._oauth_failure(request, body)
        if failure is not None:
            status, error = OAUTH_ERRORS[failure]
            headers = {"Retry-After": self.oauth_retry_after} if self.oauth_retry_after else {}
            return web.json_response(error, status=status, headers=headers)
        token = f"giga-token-{len(self.tokens) + 1}-{uuid.uuid4().hex}"
        expires = self.clock() + self.token_lifetime
        self.tokens[token] = expires
        stamp = int(expires * 1000) if self.expiry_unit == "ms" else int(expires)
        if self.token_shape == "tok":
            return web.json_response({"tok": token, "exp": stamp})
        return web.json_response({"access_token": token, "expires_at": stamp})

    def _oauth_failure(self, request: web.Request, body: bytes) -> str | None:
        if self.oauth_error is not None:
            return self.oauth_error
        try:
            uuid.UUID(request.headers.get("RqUID", ""))
        except ValueError:
            return "bad_request"
        if self.key and request.headers.get("Authorization") != f"Basic {self.key}":
            return "credentials"
        if request.headers.get("Content-Type") != "application/x-www-form-urlencoded":
            return "bad_request"
        scope = parse_qs(body.decode()).get("scope", [""])[0]
        if not scope or (self.scope and scope != self.scope):
            return "scope"
        return None

    def _authorized(self, request: web.Request) -> bool:
        if self.reject_next > 0:
            self.reject_next -= 1
            return False
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        return auth.startswith("Bearer ") and self.tokens.get(token, 0.0) > self.clock()

    async def models(self, request: web.Request) -> web.Response:
        behaviour = await self.record(request)
        if not self._authorized(request):
            return web.json_response(ERRORS[401], status=401)
        if behaviour.mode == "error":
            return self.error_response(behaviour, ERRORS.get(behaviour.status, {}))
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {
                        "id": "GigaChat",
                        "object": "model",
                        "owned_by": "salutedevices",
                        "type": "chat",
                    }
                ],
            }
        )

    async def chat(self, request: web.Request) -> web.StreamResponse:
        behaviour = await self.record(request)
        if not self._authorized(request):
            return web.json_response(ERRORS[401], status=401)
        if behaviour.mode == "error":
            return self.error_response(behaviour, ERRORS.get(behaviour.status, {}))
        if behaviour.mode == "malformed":
            return web.Response(text='{"choices": [', content_type="application/json")
        body = await request.json()
        model = f"{body.get('model', 'GigaChat')}:{MODEL_VERSION}"
        if body.get("stream"):
            return await self.stream(
                request,
                behaviour,
                self._frames(behaviour, model),
                content_type="text/event-stream",
                error_frame=STREAM_ERROR,
            )
        reply: dict[str, Any] = {
            "choices": [
                {
                    "message": {"content": behaviour.text, "role": "assistant"},
                    "index": 0,
                    "finish_reason": "stop",
                }
            ],
            "created": 1768996174,
            "model": model,
            "object": "chat.completion",
        }
        if behaviour.usage:
            reply["usage"] = _usage(behaviour.text)
        return web.Response(
            text=json.dumps(reply, ensure_ascii=False),
            content_type="application/json",
            charset="utf-8",
        )

    def _frames(self, behaviour: Behaviour, model: str) -> list[bytes]:
        def frame(obj: Any) -> bytes:
            return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"

        base = {"created": 1768996178, "model": model, "object": "chat.completion"}
        frames = []
        for i, piece in enumerate(behaviour.chunks()):
            delta = {"content": piece, "role": "assistant"} if i == 0 else {"content": piece}
            frames.append(frame({"choices": [{"delta": delta, "index": 0}], **base}))
        last: dict[str, Any] = {
            "choices": [{"delta": {"content": ""}, "index": 0, "finish_reason": "stop"}],
            **base,
        }
        if behaviour.usage:
            last["usage"] = _usage(behaviour.text)
        frames.append(frame(last))
        frames.append(b"data: [DONE]\n\n")
        return frames


def _usage(text: str) -> dict[str, int]:
    completion = len(text.split())
    return {
        "prompt_tokens": 17,
        "completion_tokens": completion,
        "total_tokens": 17 + completion,
        "precached_prompt_tokens": 2,
    }
