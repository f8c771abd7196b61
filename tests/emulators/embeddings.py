"""Embedding endpoints of the provider emulators, as subclasses that add routes, so the
chat emulators stay as they are. Vectors are a deterministic bag of words (same words, close
vectors), `DIMENSION` long; each emulator's common Behaviour (errors, malformed) applies."""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from typing import Any

from aiohttp import web

from tests.emulators import gigachat, ollama, openai, yandexgpt
from tests.emulators.base import Behaviour

DIMENSION = 64
EMBEDDINGS_PATH = "/v1/embeddings"
OLLAMA_EMBED_PATH = "/api/embed"
GIGACHAT_EMBEDDINGS_PATH = "/api/v1/embeddings"
YANDEX_EMBEDDING_PATH = "/foundationModels/v1/textEmbedding"


def vector(text: str, dimension: int = DIMENSION) -> list[float]:
    out = [0.0] * dimension
    for word in re.findall(r"\w+", text.lower()):
        digest = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
        out[digest % dimension] += 1.0 if digest & (1 << 63) else -1.0
    return out


def _inputs(body: Any) -> list[str] | None:
    value = body.get("input") if isinstance(body, dict) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _malformed(behaviour: Behaviour) -> web.Response | None:
    if behaviour.mode == "malformed":
        return web.Response(text='{"data": [', content_type="application/json")
    return None


class OpenAIEmbeddingsEmulator(openai.OpenAIEmulator):
    def routes(self) -> list[web.RouteDef]:
        return [
            *super().routes(),
            web.post(EMBEDDINGS_PATH, self.embeddings),
            web.post("/openai/deployments/{deployment}/embeddings", self.embeddings),
        ]

    async def embeddings(self, request: web.Request) -> web.Response:
        behaviour = await self.record(request)
        if behaviour.mode == "error":
            body = {"error": openai.ERRORS.get(behaviour.status, {})}
            return self.error_response(behaviour, body)
        malformed = _malformed(behaviour)
        if malformed is not None:
            return malformed
        body = await request.json()
        texts = _inputs(body)
        refusal = _openai_refusal(body, texts)
        if refusal is not None:
            param, message = refusal
            error = {"message": message, "type": "invalid_request_error", "param": param}
            return web.json_response({"error": {**error, "code": None}}, status=400)
        assert texts is not None
        dimension = int(body.get("dimensions") or DIMENSION)
        # The API's default is float; the official SDK asks for base64 unless told otherwise
        # (reference §1.7): little-endian float32, base64-encoded.
        encode = body.get("encoding_format") == "base64"
        # Reversed on purpose: clients must order by `index`, not by position.
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": _base64(vector(t, dimension)) if encode else vector(t, dimension),
            }
            for i, t in reversed(list(enumerate(texts)))
        ]
        tokens = sum(len(t.split()) for t in texts)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


def _openai_refusal(body: Any, texts: list[str] | None) -> tuple[str, str] | None:
    if texts is None:
        return ("input", "'input' is required")
    if not texts or any(t == "" for t in texts):
        return ("input", "'$.input' is invalid. Please check the API reference")
    if len(texts) > 2048:
        return ("input", "Invalid 'input': maximum length 2048")
    model = str(body.get("model", ""))
    if "dimensions" in body and not model.startswith("text-embedding-3"):
        return ("dimensions", "This model does not support specifying dimensions.")
    return None


def _base64(values: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


class OllamaEmbeddingsEmulator(ollama.OllamaEmulator):
    def routes(self) -> list[web.RouteDef]:
        return [*super().routes(), web.post(OLLAMA_EMBED_PATH, self.embed)]

    async def embed(self, request: web.Request) -> web.Response:
        behaviour = await self.record(request)
        refused = self._refused(request, behaviour)
        if refused is not None:
            return refused
        malformed = _malformed(behaviour)
        if malformed is not None:
            return malformed
        body = await request.json()
        texts = _inputs(body)
        if texts is None:
            return web.json_response({"error": "invalid input type"}, status=400)
        if body.get("model") == "missing":
            return web.json_response({"error": "model 'missing' not found"}, status=404)
        dimension = int(body.get("dimensions") or DIMENSION)
        return web.json_response(
            {
                "model": body.get("model"),
                "embeddings": [vector(t, dimension) for t in texts],
                "total_duration": 14143917,
                "load_duration": 1019500,
                "prompt_eval_count": sum(len(t.split()) for t in texts),
            }
        )


class GigaChatEmbeddingsEmulator(gigachat.GigaChatEmulator):
    def routes(self) -> list[web.RouteDef]:
        return [*super().routes(), web.post(GIGACHAT_EMBEDDINGS_PATH, self.embeddings)]

    async def embeddings(self, request: web.Request) -> web.Response:
        behaviour = await self.record(request)
        if not self._authorized(request):
            return web.json_response(gigachat.ERRORS[401], status=401)
        if behaviour.mode == "error":
            return self.error_response(behaviour, gigachat.ERRORS.get(behaviour.status, {}))
        malformed = _malformed(behaviour)
        if malformed is not None:
            return malformed
        body = await request.json()
        texts = _inputs(body) or []
        # Usage sits inside each item; there is no top-level usage (reference, GigaChat table).
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": vector(t),
                "usage": {"prompt_tokens": len(t.split())},
            }
            for i, t in enumerate(texts)
        ]
        return web.json_response({"object": "list", "model": body.get("model"), "data": data})


class YandexEmbeddingsEmulator(yandexgpt.YandexGptEmulator):
    """One text per call; `quote_numbers` answers the floats as strings, as the REST
    reference types them (UNVERIFIED whether real replies do)."""

    def __init__(self) -> None:
        super().__init__()
        self.quote_numbers = False

    def routes(self) -> list[web.RouteDef]:
        return [*super().routes(), web.post(YANDEX_EMBEDDING_PATH, self.text_embedding)]

    async def text_embedding(self, request: web.Request) -> web.Response:
        behaviour = await self.record(request)
        rejected = self._reject(request, behaviour)
        if rejected is not None:
            return rejected
        malformed = _malformed(behaviour)
        if malformed is not None:
            return malformed
        body = await request.json()
        uri, text = body.get("modelUri", ""), body.get("text")
        if not str(uri).startswith("emb://") or not isinstance(text, str):
            return self.error_response(
                Behaviour(status=400), yandexgpt.error_body(400, "invalid model_uri")
            )
        values: list[Any] = vector(text, int(body.get("dim") or DIMENSION))
        if self.quote_numbers:
            values = [str(v) for v in values]
        return web.json_response(
            {
                "embedding": values,
                "numTokens": str(len(text.split())),
                "modelVersion": yandexgpt.MODEL_VERSION,
            }
        )
