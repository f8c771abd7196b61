"""Google Gemini API (generativelanguage), per the wire-format reference §6.

Streams are SSE `data:` frames with CRLF line ends and no sentinel: the body just ends.
Error bodies are Google's pretty-printed (multi-line) JSON, on the streaming endpoint too.

Function calls (`Behaviour.tool_calls`) are `functionCall` parts without ids, finishReason
STOP; a stream sends each call whole in its own frame. `gemini-3*` models sign the first
call of a reply (`thoughtSignature`) and refuse a replayed call turn without a signature
they issued (or Google's placeholder). Embeddings: `:embedContent` and
`:batchEmbedContents`, vectors normalized unless shortened by outputDimensionality.
Request checks are in gemini_rules.
"""

from __future__ import annotations

import base64
import json
import math
import secrets
from typing import Any

from aiohttp import web

from tests.emulators import gemini_rules as rules
from tests.emulators.base import Behaviour, Emulator
from tests.emulators.embeddings import DIMENSION, vector
from tests.emulators.tool_args import as_floats

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def google_error(code: int, status: str, message: str, reason: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reason is not None:
        error["details"] = [
            {
                "@type": ERROR_INFO,
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ]
    return {"error": error}


ERRORS: dict[int, dict[str, Any]] = {
    400: google_error(
        400,
        "INVALID_ARGUMENT",
        "* GenerateContentRequest.generation_config.temperature: must be in [0, 2]",
    ),
    401: google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."),
    403: google_error(
        403,
        "PERMISSION_DENIED",
        "Permission denied: Consumer 'api_key:{key}' has been suspended.",
        "CONSUMER_SUSPENDED",
    ),
    404: google_error(
        404,
        "NOT_FOUND",
        "models/{model} is not found for API version v1beta, or is not supported for "
        "generateContent. Call ListModels to see the list of available models.",
    ),
    429: google_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: google_error(
        500,
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    ),
    503: google_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: google_error(
        504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."
    ),
}
# GET /v1beta/models entries (reference §6), as the API describes each model.
MODELS: list[dict[str, Any]] = [
    {
        "name": "models/gemini-2.0-flash",
        "version": "2.0",
        "displayName": "Gemini 2.0 Flash",
        "description": "Gemini 2.0 Flash",
        "inputTokenLimit": 1048576,
        "outputTokenLimit": 8192,
        "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent"],
        "temperature": 1,
        "topP": 0.95,
        "topK": 40,
        "maxTemperature": 2,
    },
    {
        "name": "models/gemini-2.5-pro",
        "version": "2.5",
        "displayName": "Gemini 2.5 Pro",
        "description": "Stable release of Gemini 2.5 Pro",
        "inputTokenLimit": 1048576,
        "outputTokenLimit": 65536,
        "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent"],
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxTemperature": 2,
        "thinking": True,
    },
    {
        "name": "models/text-embedding-004",
        "version": "004",
        "displayName": "Text Embedding 004",
        "description": "Obtain a distributed representation of a text.",
        "inputTokenLimit": 2048,
        "outputTokenLimit": 1,
        "supportedGenerationMethods": ["embedContent"],
    },
]
API_KEY_INVALID = google_error(
    400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", "API_KEY_INVALID"
)
REGION_UNSUPPORTED = google_error(
    400, "FAILED_PRECONDITION", "User location is not supported for the API use."
)
IN_STREAM_ERROR = google_error(500, "INTERNAL", "An internal error has occurred.")


class GeminiEmulator(Emulator):
    """Emulator-specific switches, besides the Behaviour:
    - api_key: when set, a request whose x-goog-api-key differs gets 400 API_KEY_INVALID
      (403 PERMISSION_DENIED when there is no key at all);
    - finish_reason: the last candidate's finishReason;
    - block_reason: answer with promptFeedback.blockReason and no candidates;
    - model_version: modelVersion in replies (default: the requested model);
    - stream_error_body / stream_error_raw: the in-stream error of mode "stream_error", and
      whether it is written as bare multi-line JSON instead of a `data:` frame;
    - newline: the SSE line end;
    - reply_body: answer 200 with exactly these bytes (odd replies the adapter must judge);
    - models_listed: what GET /{version}/models pages through (pageSize, pageToken)."""

    def __init__(self) -> None:
        super().__init__()
        self.api_key: str | None = None
        self.finish_reason = "STOP"
        self.block_reason: str | None = None
        self.model_version: str | None = None
        self.stream_error_body: dict[str, Any] = IN_STREAM_ERROR
        self.stream_error_raw = False
        self.newline = b"\r\n"
        self.reply_body: bytes | None = None
        self.models_listed: list[dict[str, Any]] = [dict(m) for m in MODELS]
        self.signed: set[str] = set()  # thought signatures it issued

    def routes(self) -> list[web.RouteDef]:
        # "{target}" is "<model>:<method>": aiohttp matches the colon inside one segment.
        return [
            web.post("/{version}/models/{target}", self.models_call),
            web.post("/{version}/tunedModels/{target}", self.models_call),
            web.get("/{version}/models", self.models),
        ]

    def _error(self, behaviour: Behaviour, body: dict[str, Any], **fill: str) -> web.Response:
        text = json.dumps(body, indent=2)
        for name, value in fill.items():
            text = text.replace("{" + name + "}", value)
        return self.error_response(behaviour, text)

    def _auth_failure(self, request: web.Request) -> web.Response | None:
        if self.api_key is None:
            return None
        given = request.headers.get("x-goog-api-key")
        if given == self.api_key:
            return None
        behaviour = Behaviour(mode="error", status=400 if given else 403)
        if given:
            return self._error(behaviour, API_KEY_INVALID)
        return self._error(
            behaviour,
            google_error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity.",
            ),
        )

    async def models(self, request: web.Request) -> web.Response:
        behaviour = await self.record(request)
        failure = self._auth_failure(request)
        if failure is not None:
            return failure
        if behaviour.mode == "error":
            return self._error(
                behaviour,
                ERRORS.get(behaviour.status, ERRORS[500]),
                key=request.headers.get("x-goog-api-key", ""),
                model="",
            )
        # Pages of `pageSize` (default 50); `nextPageToken` only while more remain.
        try:
            start = int(request.query.get("pageToken") or 0)
            size = int(request.query.get("pageSize") or 50)
        except ValueError:
            start, size = -1, 0
        if start < 0 or not 1 <= size <= 1000:
            return self._error(
                Behaviour(mode="error", status=400),
                google_error(400, "INVALID_ARGUMENT", "Invalid page token or page size."),
            )
        page: dict[str, Any] = {"models": self.models_listed[start : start + size]}
        if start + size < len(self.models_listed):
            page["nextPageToken"] = str(start + size)
        return web.json_response(page)

    async def models_call(self, request: web.Request) -> web.StreamResponse:
        behaviour = await self.record(request)
        failure = self._auth_failure(request)
        if failure is not None:
            return failure
        model, _, method = request.match_info["target"].rpartition(":")
        if behaviour.mode == "error":
            return self._error(
                behaviour,
                ERRORS.get(behaviour.status, ERRORS[500]),
                key=request.headers.get("x-goog-api-key", ""),
                model=model,
            )
        if method in ("embedContent", "batchEmbedContents"):
            return await self._embed(request, behaviour, model, method)
        if method not in ("generateContent", "streamGenerateContent"):
            return self._error(
                Behaviour(mode="error", status=404), ERRORS[404], key="", model=model
            )
        if self.reply_body is not None:
            streaming = method == "streamGenerateContent"
            return web.Response(
                body=self.reply_body,
                content_type="text/event-stream" if streaming else "application/json",
            )
        version = self.model_version or model
        body = await request.json() if behaviour.mode != "malformed" else {}
        problem = rules.problem(body, self.signed, model.startswith("gemini-3"))
        if behaviour.mode != "malformed" and problem:
            return self._error(
                Behaviour(mode="error", status=400),
                google_error(400, "INVALID_ARGUMENT", problem),
            )
        calls = self._calls(behaviour, body, model)
        if method == "streamGenerateContent":
            if behaviour.mode == "malformed":
                return web.Response(
                    body=b'data: {"candidates": [{"content": ' + self.newline * 2,
                    content_type="text/event-stream",
                )
            frames = (
                self._call_frames(behaviour, version, calls)
                if calls
                else self._frames(behaviour, version)
            )
            return await self.stream(
                request,
                behaviour,
                frames,
                content_type="text/event-stream",
                error_frame=self._error_frame(),
            )
        if behaviour.mode == "malformed":
            return web.Response(text='{"candidates": [', content_type="application/json")
        if self.block_reason is not None:
            return web.json_response(self._blocked(version))
        reply = _response(behaviour.text, version, self.finish_reason, calls)
        if behaviour.usage:
            reply["usageMetadata"] = _usage(behaviour.text if not calls else json.dumps(calls))
        return web.json_response(reply)

    def _calls(self, behaviour: Behaviour, body: Any, model: str) -> list[dict[str, Any]]:
        """The scripted calls as functionCall parts, when functions are declared and the
        mode allows calls; a Gemini 3 model signs the first."""
        config = rules.get(rules.get(body, "toolConfig"), "functionCallingConfig")
        mode = str(rules.get(config, "mode") or "AUTO").upper()
        if not behaviour.tool_calls or not rules.declarations(body) or mode == "NONE":
            return []
        parts: list[dict[str, Any]] = [
            {"functionCall": {"name": c["name"], "args": as_floats(c["arguments"])}}
            for c in behaviour.tool_calls
        ]
        if model.startswith("gemini-3"):
            signature = base64.b64encode(secrets.token_bytes(48)).decode()
            self.signed.add(signature)
            parts[0]["thoughtSignature"] = signature
        return parts

    def _call_frames(
        self, behaviour: Behaviour, version: str, calls: list[dict[str, Any]]
    ) -> list[bytes]:
        frames = []
        for i, part in enumerate(calls):
            last = i == len(calls) - 1
            frame = _response("", version, self.finish_reason if last else None, [part])
            if behaviour.usage and last:
                frame["usageMetadata"] = _usage(json.dumps(calls))
            frames.append(self._frame(frame))
        return frames

    async def _embed(
        self, request: web.Request, behaviour: Behaviour, model: str, method: str
    ) -> web.Response:
        if behaviour.mode == "malformed":
            return web.Response(text='{"embeddings": [', content_type="application/json")
        body = await request.json()
        items = rules.get(body, "requests") if method == "batchEmbedContents" else [body]
        problem = rules.embed_problem(items, model)
        if problem:
            return self._error(
                Behaviour(mode="error", status=400),
                google_error(400, "INVALID_ARGUMENT", problem),
            )
        vectors = [_embedding(item) for item in items]
        if method == "embedContent":
            return web.json_response({"embedding": vectors[0]})
        return web.json_response({"embeddings": vectors})

    def _frame(self, obj: Any) -> bytes:
        return b"data: " + json.dumps(obj).encode() + self.newline * 2

    def _error_frame(self) -> bytes:
        if self.stream_error_raw:
            return json.dumps(self.stream_error_body, indent=2).encode() + b"\n"
        return self._frame(self.stream_error_body)

    def _blocked(self, version: str) -> dict[str, Any]:
        return {
            "promptFeedback": {
                "blockReason": self.block_reason,
                "safetyRatings": [
                    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}
                ],
            },
            "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
            "modelVersion": version,
        }

    def _frames(self, behaviour: Behaviour, version: str) -> list[bytes]:
        if self.block_reason is not None:
            return [self._frame(self._blocked(version))]
        pieces = behaviour.chunks()
        frames = []
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            frame = _response(piece, version, self.finish_reason if last else None)
            if behaviour.usage:
                # Early frames carry a partial usageMetadata; the last one is complete.
                frame["usageMetadata"] = (
                    _usage(behaviour.text)
                    if last
                    else {"promptTokenCount": 9, "totalTokenCount": 9}
                )
            frames.append(self._frame(frame))
        return frames


def _response(
    text: str, version: str, finish: str | None, calls: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    parts = calls or [{"text": text}]
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "modelVersion": version, "responseId": "emulated-1"}


def _embedding(item: Any) -> dict[str, Any]:
    text = " ".join(p["text"] for p in rules.get(rules.get(item, "content"), "parts"))
    size = rules.get(item, "outputDimensionality")
    values = vector(text, int(size or DIMENSION))
    if size is None:  # only full-size vectors come normalized
        norm = math.sqrt(sum(v * v for v in values)) or 1.0
        values = [v / norm for v in values]
    return {"values": values}


def _usage(text: str) -> dict[str, Any]:
    completion = len(text.split())
    return {
        "promptTokenCount": 9,
        "candidatesTokenCount": completion,
        "totalTokenCount": 9 + completion,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 9}],
    }
