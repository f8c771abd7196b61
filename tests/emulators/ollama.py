"""Ollama's native API (`/api/chat`, `/api/tags`, `/api/version`), per the wire-format
reference §3."""

from __future__ import annotations

import base64
import binascii
import json
import random
import string
from typing import Any

from aiohttp import web

from tests.emulators.base import Behaviour, Emulator

CREATED_AT = "2024-08-04T08:52:19.385406455-07:00"
# Bodies as Ollama sends them ({"error": "<message>"}); 404 is filled in per model.
ERRORS: dict[int, str] = {
    400: "invalid options: num_predict",
    401: "unauthorized",
    403: "access to cloud models is disabled",
    429: "too many requests",
    500: "the model failed to generate a response",
    502: "an error was encountered while running the model: connection refused",
    503: "server busy, please try again.  maximum pending requests exceeded",
}
STREAM_ERROR = "an error was encountered while running the model: unexpected EOF"
# Metrics are nanoseconds; their values matter to nobody here.
METRICS = {
    "total_duration": 5_043_500_667,
    "load_duration": 5_025_959,
    "prompt_eval_duration": 325_953_000,
    "eval_duration": 4_709_213_000,
}
PROMPT_EVAL_COUNT = 26


class OllamaEmulator(Emulator):
    """Besides the common Behaviour: `done_reason` names how replies finish, `send_done`
    False ends streams without their `"done": true` line, and `require_key` makes it answer
    401 like an authenticating proxy unless `Authorization: Bearer <key>` is sent.
    `no_tools` names models without the tools capability (400 "... does not support
    tools"); `call_ids` False answers calls without ids, as servers before ids did."""

    def __init__(self) -> None:
        super().__init__()
        self.done_reason = "stop"
        self.send_done = True
        self.require_key: str | None = None
        self.server_version = "0.12.6"  # what GET /api/version reports
        self.no_tools: set[str] = set()
        self.call_ids = True

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/chat", self.chat),
            web.get("/api/tags", self.tags),
            web.get("/api/version", self.version),
        ]

    def _refused(self, request: web.Request, behaviour: Behaviour) -> web.Response | None:
        if behaviour.mode == "error":
            return self.error_response(behaviour, {"error": ERRORS.get(behaviour.status, "")})
        expected = f"Bearer {self.require_key}"
        if self.require_key is not None and request.headers.get("Authorization") != expected:
            return web.json_response({"error": "unauthorized"}, status=401)
        return None

    async def version(self, request: web.Request) -> web.Response:
        behaviour = await self.record(request)
        refused = self._refused(request, behaviour)
        if refused is not None:
            return refused
        return web.json_response({"version": self.server_version})

    async def tags(self, request: web.Request) -> web.Response:
        behaviour = await self.record(request)
        refused = self._refused(request, behaviour)
        if refused is not None:
            return refused
        return web.json_response(
            {
                "models": [
                    {
                        "name": "llama3.2:latest",
                        "model": "llama3.2:latest",
                        "modified_at": "2024-09-25T13:04:29.212542006-07:00",
                        "size": 2019393189,
                        "digest": "a80c4f17" * 8,
                        "details": {
                            "parent_model": "",
                            "format": "gguf",
                            "family": "llama",
                            "families": ["llama"],
                            "parameter_size": "3.2B",
                            "quantization_level": "Q4_K_M",
                        },
                    }
                ]
            }
        )

    async def chat(self, request: web.Request) -> web.StreamResponse:
        behaviour = await self.record(request)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "invalid JSON"}, status=400)
        model = str(body.get("model") or "")
        if behaviour.mode == "error" and behaviour.status == 404:
            return self.error_response(behaviour, {"error": f"model '{model}' not found"})
        refused = self._refused(request, behaviour)
        if refused is not None:
            return refused
        problem = _problem(body, self.no_tools)
        if problem is not None:
            return web.json_response({"error": problem}, status=400)
        # Ollama streams unless the request says "stream": false.
        streaming = body.get("stream", True)
        if behaviour.mode == "malformed":
            if streaming:
                return web.Response(
                    text='{"model": "' + model + '", "message": {\n',
                    content_type="application/x-ndjson",
                )
            return web.Response(
                text='{"model": "' + model + '", "message": {', content_type="application/json"
            )
        if streaming:
            return await self.stream(
                request,
                behaviour,
                self._lines(behaviour, model),
                content_type="application/x-ndjson",
                error_frame=_line({"error": STREAM_ERROR}),
            )
        message: dict[str, Any] = {"role": "assistant", "content": behaviour.text}
        if behaviour.tool_calls:
            message = {"role": "assistant", "content": "", "tool_calls": self._calls(behaviour)}
        return web.json_response(
            {"model": model, "created_at": CREATED_AT, "message": message, **self._final(behaviour)}
        )

    def _calls(self, behaviour: Behaviour) -> list[dict[str, Any]]:
        """As the server sends them: `function.index` always, arguments as an object, and
        (current servers) an id of `call_` plus 8 characters."""
        out = []
        for index, call in enumerate(behaviour.tool_calls or ()):
            entry: dict[str, Any] = {
                "function": {"index": index, "name": call["name"], "arguments": call["arguments"]}
            }
            if self.call_ids:
                alphabet = string.ascii_lowercase + string.digits
                entry = {"id": "call_" + "".join(random.choices(alphabet, k=8)), **entry}
            out.append(entry)
        return out

    def _final(self, behaviour: Behaviour) -> dict[str, Any]:
        final: dict[str, Any] = {"done_reason": self.done_reason, "done": True, **METRICS}
        if behaviour.usage:
            final["prompt_eval_count"] = PROMPT_EVAL_COUNT
            final["eval_count"] = eval_count(behaviour.text)
        return final

    def _lines(self, behaviour: Behaviour, model: str) -> list[bytes]:
        messages: list[dict[str, Any]] = [
            {"role": "assistant", "content": piece} for piece in behaviour.chunks()
        ]
        if behaviour.tool_calls:
            # Content is held back while the parser reads a call; each call then comes whole
            # in a done: false line of its own.
            messages = [
                {"role": "assistant", "content": "", "tool_calls": [call]}
                for call in self._calls(behaviour)
            ]
        lines = [
            _line({"model": model, "created_at": CREATED_AT, "message": m, "done": False})
            for m in messages
        ]
        if self.send_done:
            lines.append(
                _line(
                    {
                        "model": model,
                        "created_at": CREATED_AT,
                        "message": {"role": "assistant", "content": ""},
                        **self._final(behaviour),
                    }
                )
            )
        return lines


def _problem(body: dict[str, Any], no_tools: set[str]) -> str | None:
    """What the server refuses: tools for a model without the capability, and images that
    are not raw standard base64 (a data: URL included), as Go's decoder words it."""
    model = str(body.get("model") or "")
    if body.get("tools") and model.split(":")[0] in no_tools:
        return f"registry.ollama.ai/library/{model}:latest does not support tools"
    for message in body.get("messages") or ():
        for image in message.get("images") or ():
            try:
                base64.b64decode(image, validate=True)
            except (binascii.Error, ValueError):
                return "illegal base64 data at input byte 4"
        for call in message.get("tool_calls") or ():
            if not isinstance((call.get("function") or {}).get("arguments"), dict):
                return "json: cannot unmarshal string into Go struct field"
    return None


def _line(obj: Any) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def eval_count(text: str) -> int:
    return len(text.split())
