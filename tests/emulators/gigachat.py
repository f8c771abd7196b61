"""GigaChat: its OAuth host and its v1 API in one app, per the wire-format reference §1.

The OAuth side issues a fresh token per call and checks what the real one checks (Basic key,
a uuid RqUID, the form body and its scope); the API side accepts only tokens it issued that
have not expired by `clock`. `Behaviour` drives the API routes only; OAuth has its own
switches (`oauth_error`, `oauth_delay`, `scope_failures`, `token_lifetime`, `expiry_unit`,
`token_shape`).

Function calls (`Behaviour.tool_calls`, the first only: GigaChat makes one per message) come
back as the docs show them: `function_call` with object arguments, empty content, a uuid
`functions_state_id`, `finish_reason: "function_call"`; streamed whole in one delta. A reply
under a `response_format` schema is pretty-printed JSON, as recorded. Images are uploaded
to `/files` (multipart) and named in `attachments`; `/files/{id}/delete` removes them.
Request checks are in gigachat_rules."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from tests.emulators import gigachat_rules
from tests.emulators.base import Behaviour, Emulator, Recorded

OAUTH = "/api/v2/oauth"
CHAT = "/api/v1/chat/completions"
MODELS = "/api/v1/models"
FILES = "/api/v1/files"
FILE_TYPES = ("image/jpeg", "image/png", "image/tiff", "image/bmp")
MAX_FILE_BYTES = 15 * 1024 * 1024
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
        self.files: dict[str, tuple[str, bytes]] = {}  # uploaded: id -> (media type, bytes)
        self.uploads: list[dict[str, Any]] = []  # each upload's filename, content_type, data
        self.deleted: list[str] = []
        self.file_deleted = asyncio.Event()
        self.state_ids: list[str] = []  # functions_state_id of each call it made

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(OAUTH, self.oauth),
            web.post(CHAT, self.chat),
            web.get(MODELS, self.models),
            web.post(FILES, self.upload),
            web.post(FILES + "/{id}/delete", self.delete),
        ]

    async def upload(self, request: web.Request) -> web.Response:
        """`POST /files`, multipart: `file` (an image) and `purpose`. What was sent is kept
        in `uploads` (the multipart body is parsed, not recorded as bytes)."""
        form = await request.post()
        upload, purpose = form.get("file"), form.get("purpose")
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Recorded(request.method, request.path, {}, headers, b""))
        if not self._authorized(request):
            return web.json_response(ERRORS[401], status=401)
        if not isinstance(upload, web.FileField) or purpose != "general":
            return web.json_response({"status": 400, "message": "Bad request"}, status=400)
        data = upload.file.read()
        self.uploads.append(
            {"filename": upload.filename, "content_type": upload.content_type, "data": data}
        )
        if upload.content_type not in FILE_TYPES:
            message = f"Invalid params: unsupported file type {upload.content_type}"
            return web.json_response({"status": 422, "message": message}, status=422)
        if len(data) > MAX_FILE_BYTES:
            return web.json_response(ERRORS[413], status=413)
        file_id = str(uuid.uuid4())
        self.files[file_id] = (upload.content_type, data)
        reply = {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": 1715768909,
            "filename": upload.filename,
            "purpose": "general",
        }
        return web.json_response(reply)

    async def delete(self, request: web.Request) -> web.Response:
        await self.record(request)
        if not self._authorized(request):
            return web.json_response(ERRORS[401], status=401)
        file_id = request.match_info["id"]
        if self.files.pop(file_id, None) is None:
            return web.json_response({"status": 404, "message": "File not found"}, status=404)
        self.deleted.append(file_id)
        self.file_deleted.set()
        return web.json_response({"id": file_id, "deleted": True})

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
        problem = gigachat_rules.problem(body, set(self.files))
        if problem:
            return web.json_response({"status": 422, "message": problem}, status=422)
        call = self._call(behaviour, body)
        text = _formatted(behaviour.text) if body.get("response_format") else behaviour.text
        if body.get("stream"):
            return await self.stream(
                request,
                behaviour,
                self._call_frames(behaviour, model, call)
                if call
                else self._frames(replace(behaviour, text=text), model),
                content_type="text/event-stream",
                error_frame=STREAM_ERROR,
            )
        message: dict[str, Any] = {"content": text, "role": "assistant"}
        if call:
            message = {"content": "", "role": "assistant", **call}
        reply: dict[str, Any] = {
            "choices": [
                {
                    "message": message,
                    "index": 0,
                    "finish_reason": "function_call" if call else "stop",
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

    def _call(self, behaviour: Behaviour, body: dict[str, Any]) -> dict[str, Any]:
        """The first scripted call (`function_call` and `functions_state_id`), when functions
        are offered; {} otherwise."""
        if (
            not behaviour.tool_calls
            or not body.get("functions")
            or body.get("function_call") == "none"
        ):
            return {}
        first = behaviour.tool_calls[0]
        state = str(uuid.uuid4())
        self.state_ids.append(state)
        function = {"name": first["name"], "arguments": first["arguments"]}
        return {"function_call": function, "functions_state_id": state}

    def _call_frames(self, behaviour: Behaviour, model: str, call: dict[str, Any]) -> list[bytes]:
        delta = {"content": "", "role": "assistant", **call}
        last: dict[str, Any] = {
            "choices": [{"delta": delta, "index": 0, "finish_reason": "function_call"}],
            "created": 1768996178,
            "model": model,
            "object": "chat.completion",
        }
        if behaviour.usage:
            last["usage"] = _usage(json.dumps(call))
        return [_frame(last), b"data: [DONE]\n\n"]

    def _frames(self, behaviour: Behaviour, model: str) -> list[bytes]:
        frame = _frame

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


def _frame(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


def _formatted(text: str) -> str:
    """JSON replies come pretty-printed under a response_format (as recorded)."""
    try:
        return json.dumps(json.loads(text), indent=4, ensure_ascii=False)
    except ValueError:
        return text


def _usage(text: str) -> dict[str, int]:
    completion = len(text.split())
    return {
        "prompt_tokens": 17,
        "completion_tokens": completion,
        "total_tokens": 17 + completion,
        "precached_prompt_tokens": 2,
    }
