"""YandexGPT's native Foundation Models API, per the wire-format reference §2: completion
(unary, and NDJSON streams of cumulative text), tokenize, grpc-gateway error bodies.

Tokens are counted as words. `maxTokens` is honoured: a longer reply is cut to that many
words and ends ALTERNATIVE_STATUS_TRUNCATED_FINAL, as the real API does.

Emulator-specific switches (attributes):
- `final_status`: the status of a reply that was not truncated (default FINAL).
- `revise_after`: stream lines from this index on carry `revise(text)` instead of the
  cumulative text, i.e. a non-prefix update in the middle of a stream.
- `service_account_folder`: when set, an `x-folder-id` naming another folder is the real
  400 "Specified folder ID ... does not match with service account folder ID ...".
- `credentials`: the Authorization values it accepts (others: 401 UNAUTHENTICATED).
- `folders`: the folders the credential may use; tokenizing with another folder's model is
  403 PERMISSION_DENIED.

Tool calls (`Behaviour.tool_calls`) come back as a `toolCallList` without ids, integer
arguments as floats, status ALTERNATIVE_STATUS_TOOL_CALLS (one call with parallelToolCalls
false); a stream sends them in one final line. Tool, result and format checks are in
yandexgpt_rules.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from aiohttp import web

from tests.emulators import yandexgpt_rules
from tests.emulators.base import Behaviour, Emulator
from tests.emulators.tool_args import as_floats

MODEL_VERSION = "23.10.2024"
# (grpcCode, httpStatus, message) per HTTP status.
ERRORS: dict[int, tuple[int, str, str]] = {
    400: (3, "Bad Request", "Failed to parse model URI"),
    401: (16, "Unauthorized", "Unknown api key"),
    403: (7, "Forbidden", "Permission to [resource-manager.folder b1gemulated] denied"),
    404: (5, "Not Found", "Model not found"),
    429: (
        8,
        "Too Many Requests",
        "ai.textGenerationCompletionSessionsCount.count gauge quota limit exceed: allowed 1",
    ),
    500: (13, "Internal Server Error", "Internal error"),
    501: (12, "Not Implemented", "Method not implemented"),
    503: (14, "Service Unavailable", "Service is temporarily unavailable"),
    504: (4, "Gateway Timeout", "Deadline exceeded"),
}
STREAM_ERROR = {
    "error": {
        "grpcCode": 13,
        "httpCode": 500,
        "message": "Internal error",
        "httpStatus": "Internal Server Error",
        "details": [],
    }
}


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    grpc_code, http_status, default = ERRORS.get(status, (2, "Unknown", "Unknown error"))
    return {
        "error": {
            "grpcCode": grpc_code,
            "httpCode": status,
            "message": message or default,
            "httpStatus": http_status,
            "details": [],
        }
    }


class YandexGptEmulator(Emulator):
    def __init__(self) -> None:
        super().__init__()
        self.final_status = "ALTERNATIVE_STATUS_FINAL"
        self.revise_after: int | None = None
        self.revise: Callable[[str], str] = str.upper
        self.service_account_folder: str | None = None
        # Authorization values it accepts ("Api-Key <key>", "Bearer <IAM token>"); None: any.
        self.credentials: set[str] | None = None
        # Folders the credential holds ai.languageModels.user on; None: any. A modelUri
        # naming another folder is the real 403 PERMISSION_DENIED.
        self.folders: set[str] | None = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/foundationModels/v1/completion", self.completion),
            web.post("/foundationModels/v1/tokenize", self.tokenize),
        ]

    async def tokenize(self, request: web.Request) -> web.Response:
        behaviour = await self.record(request)
        rejected = self._reject(request, behaviour)
        if rejected is not None:
            return rejected
        body = await request.json()
        denied = self._folder_denied(body)
        if denied is not None:
            return denied
        tokens = [
            {"id": str(i + 1), "text": word, "special": False}
            for i, word in enumerate(str(body.get("text", "")).split())
        ]
        return web.json_response({"tokens": tokens, "modelVersion": MODEL_VERSION})

    async def completion(self, request: web.Request) -> web.StreamResponse:
        behaviour = await self.record(request)
        rejected = self._reject(request, behaviour)
        if rejected is not None:
            return rejected
        if behaviour.mode == "malformed":
            return web.Response(
                text='{"result": {"alternatives": [', content_type="application/json"
            )
        body = await request.json()
        invalid = _invalid(body) or yandexgpt_rules.problem(body)
        if invalid:
            return self.error_response(Behaviour(status=400), error_body(400, invalid))
        options = body.get("completionOptions") or {}
        prompt = sum(len(str(m.get("text", "")).split()) for m in body["messages"])
        calls = _calls(behaviour, body)
        if calls:
            reply = _result("", "ALTERNATIVE_STATUS_TOOL_CALLS", behaviour, prompt, calls)
            if options.get("stream"):
                line = json.dumps(reply, ensure_ascii=False).encode() + b"\n"
                return await self.stream(
                    request, behaviour, [line], content_type="application/json"
                )
            return web.json_response(reply)
        words, status = behaviour.text.split(" "), self.final_status
        limit = options.get("maxTokens")
        if limit is not None and len(words) > int(limit):
            words, status = words[: int(limit)], "ALTERNATIVE_STATUS_TRUNCATED_FINAL"
        pieces = replace(behaviour, text=" ".join(words)).chunks()
        if options.get("stream"):
            return await self.stream(
                request,
                behaviour,
                self._lines(behaviour, pieces, status, prompt),
                content_type="application/json",
                error_frame=json.dumps(STREAM_ERROR).encode() + b"\n",
            )
        return web.json_response(_result("".join(pieces), status, behaviour, prompt))

    def _reject(self, request: web.Request, behaviour: Behaviour) -> web.Response | None:
        if behaviour.mode == "error":
            return self.error_response(behaviour, error_body(behaviour.status))
        auth = request.headers.get("Authorization", "")
        scheme, _, credential = auth.partition(" ")
        if scheme not in ("Api-Key", "Bearer") or not credential:
            return self.error_response(Behaviour(status=401), error_body(401))
        if self.credentials is not None and auth not in self.credentials:
            return self.error_response(Behaviour(status=401), error_body(401))
        folder = request.headers.get("x-folder-id")
        own = self.service_account_folder
        if own is not None and folder is not None and folder != own:
            message = (
                f"Specified folder ID '{folder}' does not match with service account "
                f"folder ID '{own}'"
            )
            return self.error_response(Behaviour(status=400), error_body(400, message))
        return None

    def _folder_denied(self, body: Any) -> web.Response | None:
        uri = str(body.get("modelUri", "")) if isinstance(body, dict) else ""
        if not uri.startswith(("gpt://", "ds://")):
            return self.error_response(Behaviour(status=400), error_body(400))
        folder = uri.split("://", 1)[1].split("/", 1)[0]
        if self.folders is not None and folder not in self.folders:
            message = f"Permission to [resource-manager.folder {folder}] denied"
            return self.error_response(Behaviour(status=403), error_body(403, message))
        return None

    def _lines(
        self, behaviour: Behaviour, pieces: list[str], status: str, prompt: int
    ) -> list[bytes]:
        lines = []
        for i in range(len(pieces)):
            text = "".join(pieces[: i + 1])
            if self.revise_after is not None and i >= self.revise_after:
                text = self.revise(text)
            last = i == len(pieces) - 1
            reply = _result(
                text, status if last else "ALTERNATIVE_STATUS_PARTIAL", behaviour, prompt
            )
            lines.append(json.dumps(reply, ensure_ascii=False).encode() + b"\n")
        return lines


def _invalid(body: Any) -> str:
    """What the real API rejects with 400 INVALID_ARGUMENT, roughly."""
    if not isinstance(body, dict):
        return "request body is not an object"
    if not str(body.get("modelUri", "")).startswith(("gpt://", "ds://")):
        return "Failed to parse model URI"
    options = body.get("completionOptions") or {}
    temperature = options.get("temperature", 0.3)
    if not isinstance(temperature, int | float) or not 0 <= temperature <= 1:
        return "completionOptions.temperature must be in [0, 1]"
    # int64: a string in proto-JSON ("50"), but integers are accepted too.
    max_tokens = options.get("maxTokens", "0")
    if isinstance(max_tokens, bool) or not str(max_tokens).isdigit():
        return "completionOptions.maxTokens: invalid value"
    return ""


def _calls(behaviour: Behaviour, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The scripted calls as a toolCallList's entries, when tools are offered."""
    choice = body.get("toolChoice") or {}
    if not behaviour.tool_calls or not body.get("tools") or choice.get("mode") == "NONE":
        return []
    calls = [
        {"functionCall": {"name": c["name"], "arguments": as_floats(c["arguments"])}}
        for c in behaviour.tool_calls
    ]
    return calls[:1] if body.get("parallelToolCalls") is False else calls


def _result(
    text: str,
    status: str,
    behaviour: Behaviour,
    prompt: int,
    calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "text": text}
    if calls:
        message = {"role": "assistant", "toolCallList": {"toolCalls": calls}}
    result: dict[str, Any] = {
        "alternatives": [{"message": message, "status": status}],
        "modelVersion": MODEL_VERSION,
    }
    if behaviour.usage:
        completion = len(text.split()) + 3 * len(calls or ())
        result["usage"] = {
            "inputTextTokens": str(prompt),
            "completionTokens": str(completion),
            "totalTokens": str(prompt + completion),
            "completionTokensDetails": {"reasoningTokens": "0"},
        }
    return {"result": result}
