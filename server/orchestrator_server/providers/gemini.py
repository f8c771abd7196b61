"""Google Gemini API (the Developer API at generativelanguage.googleapis.com), per the
wire-format reference §6.

Decisions where the API leaves a choice:
- Each message is its own `contents` entry, even two in a row with one role: Gemini accepts
  that, and merging them would change the conversation the caller sent.
- A blocked prompt (`promptFeedback.blockReason`, no candidates) is an answer, not an error:
  empty text with finish CONTENT_FILTER, as for a candidate stopped by SAFETY. Retrying gets
  the same verdict, and steering around a safety filter to another provider is a policy
  choice the gateway should not make silently.
- Thinking tokens (`thoughtsTokenCount`) count as completion tokens: they are billed as output.
- A stream has no sentinel: its end marker is the frame whose candidate has a
  `finishReason` (or a blocked prompt's `blockReason`). A body that ends before one, even
  politely, was cut (the router's rule for every adapter).
- Function calls arrive whole (in a reply, or in one stream frame each) with finishReason
  STOP; the calls themselves make the finish TOOL_CALL. Gemini has no switch for one call at
  a time, so with parallel_tool_calls false only the first is passed on.
- Embeddings always go to `:batchEmbedContents` (as the official SDK does, even for one
  text), at most 100 texts per call, several calls side by side for a larger batch.

Function calling, structured output and images are mapped in gemini_wire.py.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import replace
from typing import Any

from orchestrator_server.config.providers import GeminiProviderConfig
from orchestrator_server.domain.chat import (
    ChatRequest,
    Completion,
    FinishReason,
    Role,
    StreamChunk,
    Usage,
    estimate_usage,
)
from orchestrator_server.domain.embeddings import EmbeddingRequest, Embeddings, InputType
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.domain.tools import ToolCall, ToolCallDelta
from orchestrator_server.providers import gemini_wire as wire
from orchestrator_server.providers.base import ProviderSpec
from orchestrator_server.providers.http.adapter import HttpAdapter
from orchestrator_server.providers.http.embeddings import prompt_usage, vector_rows
from orchestrator_server.providers.http.errors import (
    error_body,
    http_error,
    kind_for_status,
    message_of,
    retry_after,
)
from orchestrator_server.providers.http.params import wire_params
from orchestrator_server.providers.http.streams import read_sse, sse_json
from orchestrator_server.providers.listing import MAX_PAGES, ids_of
from orchestrator_server.providers.tool_wire import WholeCalls

FINISH_REASONS = {
    "STOP": FinishReason.STOP,
    "MAX_TOKENS": FinishReason.LENGTH,
    "SAFETY": FinishReason.CONTENT_FILTER,
    "RECITATION": FinishReason.CONTENT_FILTER,
    "BLOCKLIST": FinishReason.CONTENT_FILTER,
    "PROHIBITED_CONTENT": FinishReason.CONTENT_FILTER,
    "SPII": FinishReason.CONTENT_FILTER,
    "IMAGE_SAFETY": FinishReason.CONTENT_FILTER,
    # Everything else (MALFORMED_FUNCTION_CALL, OTHER, LANGUAGE, future values) is OTHER.
}
# google.rpc status names, for error objects that carry no usable HTTP code (in-stream frames).
RPC_STATUS_KINDS: Mapping[str, ErrorKind] = {
    "INVALID_ARGUMENT": ErrorKind.INVALID_REQUEST,
    "OUT_OF_RANGE": ErrorKind.INVALID_REQUEST,
    "FAILED_PRECONDITION": ErrorKind.PERMISSION,
    "UNAUTHENTICATED": ErrorKind.AUTH,
    "PERMISSION_DENIED": ErrorKind.PERMISSION,
    "NOT_FOUND": ErrorKind.NOT_FOUND,
    "RESOURCE_EXHAUSTED": ErrorKind.RATE_LIMITED,
    "DEADLINE_EXCEEDED": ErrorKind.TIMEOUT,
    "INTERNAL": ErrorKind.UNAVAILABLE,
    "UNAVAILABLE": ErrorKind.UNAVAILABLE,
}
# Lines an SSE parser understands; anything else in a 200 stream is raw JSON (an error the
# server wrote without `data:` framing) or junk.
_SSE_LINE = re.compile(rb"(?:data|event|id|retry)?(?::|\r?\n?$)")
_STRAY_LIMIT = 64 * 1024  # an error object is small; junk beyond this tells nothing more
EMBED_BATCH = 100  # texts per batchEmbedContents call (a third-party figure; UNVERIFIED)
TASK_TYPES = {InputType.QUERY: "RETRIEVAL_QUERY", InputType.DOCUMENT: "RETRIEVAL_DOCUMENT"}


# repetition_penalty has no Gemini equivalent (presencePenalty differs in meaning).
PARAM_NAMES = {
    "temperature": "temperature",
    "top_p": "topP",
    "max_tokens": "maxOutputTokens",
    "stop": "stopSequences",
    "seed": "seed",
}


class GeminiProvider(HttpAdapter):
    def __init__(
        self, spec: ProviderSpec, config: GeminiProviderConfig, api_key: str | None
    ) -> None:
        super().__init__(spec, config, default_base_url="https://generativelanguage.googleapis.com")
        self._root = f"{self.base_url}/{config.api_version.strip('/')}"
        # A header, never `?key=`: URLs end up in logs and error reports.
        self._headers = {"x-goog-api-key": api_key} if api_key else {}
        self.signatures = wire.Signatures()

    def url(self, model: str | None, method: str) -> str:
        name = model or self.spec.model
        # "models/x" and "tunedModels/x" are already resource names.
        resource = name if "/" in name else f"models/{name}"
        return f"{self._root}/{resource}:{method}"

    def body(self, request: ChatRequest) -> dict[str, Any]:
        system = [{"text": m.content} for m in request.messages if m.role is Role.SYSTEM]
        body: dict[str, Any] = {"contents": wire.contents(request.messages, self.signatures)}
        if system:
            body["systemInstruction"] = {"parts": system}
        body.update(wire.tools(request))
        config = wire_params(request.params, PARAM_NAMES) | wire.response_config(request)
        if config:
            body["generationConfig"] = config
        return body

    async def generate(self, request: ChatRequest, *, timeout: float) -> Completion:
        reply = await self.call(
            "POST",
            self.url(request.model, "generateContent"),
            json_body=self.body(request),
            headers=self._headers,
            timeout=timeout,
        )
        data = reply.json()
        if not isinstance(data, dict):
            raise ProviderError(ErrorKind.MALFORMED_RESPONSE, "upstream reply is not an object")
        if "error" in data:
            raise self.error(None, {}, data)
        chunk = parse_chunk(data, self._numbering(request), self.signatures)
        if not data.get("candidates") and chunk.finish_reason is None:
            raise ProviderError(
                ErrorKind.MALFORMED_RESPONSE, "upstream reply has neither candidates nor a block"
            )
        return Completion(
            text=chunk.text,
            model=chunk.model or request.model or self.spec.model,
            usage=chunk.usage or estimate_usage(request.messages, chunk.text),
            finish_reason=chunk.finish_reason or FinishReason.UNSPECIFIED,
            tool_calls=tuple(ToolCall(c.id, c.name, c.arguments) for c in chunk.tool_calls),
        )

    @staticmethod
    def _numbering(request: ChatRequest) -> WholeCalls:
        return WholeCalls(single=request.parallel_tool_calls is False)

    async def stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamChunk]:
        async with self.open_stream(
            self.url(request.model, "streamGenerateContent"),
            json_body=self.body(request),
            headers=self._headers,
            params={"alt": "sse"},
            timeout=timeout,
        ) as response:
            body = SseLines(response.content)
            calls = self._numbering(request)
            async for event in read_sse(body):
                data = sse_json(event)
                if not isinstance(data, dict):
                    continue
                if "error" in data:
                    raise self.error(None, {}, data)
                chunk = parse_chunk(data, calls, self.signatures)
                if calls.count and chunk.finish_reason is FinishReason.STOP:
                    chunk = replace(chunk, finish_reason=FinishReason.TOOL_CALL)
                yield chunk
            if body.stray:
                raise self.stray_error(bytes(body.stray))

    async def embed(self, request: EmbeddingRequest, *, timeout: float) -> Embeddings:
        """`:batchEmbedContents`; no usage is reported, so it is estimated. A shortened
        vector (`dimensions`) is normalized again, as Google advises."""
        model = request.model or self.spec.embedding_model or ""
        batches = [
            request.inputs[i : i + EMBED_BATCH] for i in range(0, len(request.inputs), EMBED_BATCH)
        ]
        replies = await asyncio.gather(
            *(self._embed_batch(texts, model, request, timeout) for texts in batches)
        )
        rows = [row for reply in replies for row in reply]
        vectors = vector_rows(rows, len(request.inputs))
        if request.dimensions is not None:
            vectors = [wire.normalized(v) for v in vectors]
        return Embeddings(vectors, model, prompt_usage(None, request.inputs))

    async def _embed_batch(
        self, texts: tuple[str, ...], model: str, request: EmbeddingRequest, timeout: float
    ) -> list[Any]:
        resource = model if "/" in model else f"models/{model}"
        # Unspecified embeds as a document, the domain's rule where the kind matters.
        task = TASK_TYPES.get(request.input_type, TASK_TYPES[InputType.DOCUMENT])
        item: dict[str, Any] = {"model": resource, "taskType": task}
        if request.dimensions is not None:
            item["outputDimensionality"] = request.dimensions
        body = {"requests": [{**item, "content": {"parts": [{"text": t}]}} for t in texts]}
        reply = await self.call(
            "POST",
            self.url(model, "batchEmbedContents"),
            json_body=body,
            headers=self._headers,
            timeout=timeout,
        )
        data = reply.json()
        items = data.get("embeddings") if isinstance(data, dict) else None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ProviderError(ErrorKind.MALFORMED_RESPONSE, "embedding reply has no embeddings")
        return [i.get("values") for i in items]

    async def check_health(self) -> None:
        await self.call("GET", f"{self._root}/models", headers=self._headers, timeout=10.0)

    async def list_models(self, *, timeout: float) -> list[str]:
        """Models that can generate content (embedders are listed too), all pages; ids
        without the `models/` prefix, as generateContent URLs take them."""
        models: list[str] = []
        params = {"pageSize": "1000"}
        for _ in range(MAX_PAGES):
            reply = await self.call(
                "GET", f"{self._root}/models", headers=self._headers, params=params, timeout=timeout
            )
            data = reply.json()
            if not isinstance(data, dict):
                break
            models += ids_of(data.get("models"), "name", keep=_generates, strip_prefix="models/")
            token = data.get("nextPageToken")
            if not isinstance(token, str) or not token:
                break
            params = {"pageSize": "1000", "pageToken": token}
        return list(dict.fromkeys(models))

    @classmethod
    def stray_error(cls, raw: bytes) -> ProviderError:
        body = error_body(raw)
        if error_object(body) is not None:
            return cls.error(None, {}, body)
        return ProviderError(ErrorKind.MALFORMED_RESPONSE, "upstream sent a stream line not SSE")

    @staticmethod
    def error(status: int | None, headers: Mapping[str, str], body: Any) -> ProviderError:
        """The Gemini error table: the HTTP status as usual, except that a 400 may be a bad
        key (ErrorInfo reason API_KEY_INVALID) or a region without access
        (FAILED_PRECONDITION). In-stream errors are classified by their body's code."""
        error = error_object(body) or {}
        code = error.get("code")
        reasons = {str(d.get("reason")) for d in _details(error)}
        if "API_KEY_INVALID" in reasons:
            kind = ErrorKind.AUTH
        elif error.get("status") == "FAILED_PRECONDITION":
            kind = ErrorKind.PERMISSION
        elif status is not None:
            kind = kind_for_status(status)
        elif isinstance(code, int) and 400 <= code < 600:
            kind = kind_for_status(code)
        else:
            kind = RPC_STATUS_KINDS.get(str(error.get("status")), ErrorKind.UNAVAILABLE)
        wait = retry_after(headers)
        if wait is None:
            wait = _retry_delay(error)
        detail = message_of({"error": error} if error else body)
        return http_error(kind, status, detail, retry_after_s=wait)


class SseLines:
    """A stream body's lines for read_sse, minus lines that are not SSE at all; those are
    kept in `stray` to be looked at once the body has ended (Gemini may write an error as
    bare JSON, which an SSE parser would silently drop)."""

    def __init__(self, body: AsyncIterable[bytes]) -> None:
        self._body = body
        self.stray = bytearray()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for line in self._body:
            if _SSE_LINE.match(line) or not line.strip():
                yield line
            elif len(self.stray) < _STRAY_LIMIT:
                self.stray += line


def _generates(model: dict[str, Any]) -> bool:
    methods = model.get("supportedGenerationMethods")
    return not isinstance(methods, list) or "generateContent" in methods


def parse_chunk(
    data: dict[str, Any],
    calls: WholeCalls | None = None,
    signatures: wire.Signatures | None = None,
) -> StreamChunk:
    """One GenerateContentResponse (a unary reply or one stream frame) as a chunk; its
    function calls as whole fragments, numbered on from the stream's earlier ones."""
    candidates = data.get("candidates")
    text = ""
    finish: FinishReason | None = None
    fragments: tuple[ToolCallDelta, ...] = ()
    if candidates:
        if not isinstance(candidates, list) or not isinstance(candidates[0], dict):
            raise ProviderError(ErrorKind.MALFORMED_RESPONSE, "upstream sent bad candidates")
        content = candidates[0].get("content")
        text = _text(content)
        made = wire.reply_calls(content, signatures or wire.Signatures())
        fragments = (calls or WholeCalls()).fragments(made)
        reason = candidates[0].get("finishReason")
        if reason:
            finish = FINISH_REASONS.get(str(reason), FinishReason.OTHER)
        if fragments and finish is FinishReason.STOP:
            finish = FinishReason.TOOL_CALL
    else:
        feedback = data.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            finish = FinishReason.CONTENT_FILTER
    model = data.get("modelVersion")
    return StreamChunk(
        text=text,
        finish_reason=finish,
        usage=parse_usage(data.get("usageMetadata")),
        model=model if isinstance(model, str) and model else None,
        tool_calls=fragments,
    )


def _text(content: Any) -> str:
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        return ""
    # Thought summaries (`thought: true`) are the model's reasoning, not its answer.
    return "".join(
        part["text"]
        for part in content["parts"]
        if isinstance(part, dict) and isinstance(part.get("text"), str) and not part.get("thought")
    )


def parse_usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict) or not raw:
        return None
    try:
        prompt = int(raw.get("promptTokenCount") or 0)
        completion = int(raw.get("candidatesTokenCount") or 0) + int(
            raw.get("thoughtsTokenCount") or 0
        )
        total = int(raw.get("totalTokenCount") or prompt + completion)
    except (TypeError, ValueError):
        return None
    return Usage(prompt, completion, total)


def error_object(body: Any) -> dict[str, Any] | None:
    """The `error` object of a body; some Google endpoints wrap it in a one-element list."""
    if isinstance(body, list) and body:
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def _details(error: dict[str, Any]) -> list[dict[str, Any]]:
    details = error.get("details")
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _retry_delay(error: dict[str, Any]) -> float | None:
    """A google.rpc.RetryInfo detail's delay ("19s", "0.5s"), for 429s without Retry-After."""
    for detail in _details(error):
        delay = detail.get("retryDelay")
        if str(detail.get("@type", "")).endswith("RetryInfo") and isinstance(delay, str):
            try:
                return max(0.0, float(delay.removesuffix("s")))
            except ValueError:
                return None
    return None
