"""Ollama's native chat API (`/api/chat`), per the wire-format reference §3.

Ollama's OpenAI-compatible `/v1` is served by the openai kind; this adapter speaks the
native API, whose streams are NDJSON ending with a `"done": true` line rather than SSE.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Any

from orchestrator_server.config.providers import OllamaProviderConfig
from orchestrator_server.domain.chat import (
    ChatMessage,
    ChatRequest,
    Completion,
    FinishReason,
    Role,
    StreamChunk,
    Usage,
    estimate_tokens,
    estimate_usage,
)
from orchestrator_server.domain.embeddings import EmbeddingRequest, Embeddings
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.domain.tools import (
    ResponseFormatType,
    ToolCall,
    ToolCallDelta,
    arguments_text,
    new_call_id,
)
from orchestrator_server.providers.base import ProviderSpec
from orchestrator_server.providers.http.adapter import HttpAdapter
from orchestrator_server.providers.http.embeddings import prompt_usage, vector_rows
from orchestrator_server.providers.http.errors import (
    http_error,
    kind_for_status,
    message_of,
    retry_after,
)
from orchestrator_server.providers.http.params import wire_params
from orchestrator_server.providers.http.streams import read_ndjson
from orchestrator_server.providers.listing import ids_of
from orchestrator_server.providers.openai_wire import function_tools

# "load" and "unload" only answer empty-prompt calls, which the gateway never makes.
FINISH_REASONS = {"stop": FinishReason.STOP, "length": FinishReason.LENGTH}
# Current servers say "model 'x' not found", older ones "model "x" not found, try pulling it
# first"; some of those answered 400, so the message decides, not only the status.
MODEL_NOT_FOUND = re.compile(r"\bmodel\b.*\bnot found\b", re.IGNORECASE)
# "<model> does not support tools" (or thinking, vision): this model cannot, another may.
UNSUPPORTED = re.compile(r"\bdoes not support\b", re.IGNORECASE)
HEALTH_TIMEOUT = 10.0


OPTION_NAMES = {
    "temperature": "temperature",
    "top_p": "top_p",
    "max_tokens": "num_predict",
    "stop": "stop",
    "seed": "seed",
    "repetition_penalty": "repeat_penalty",
}


class OllamaProvider(HttpAdapter):
    def __init__(
        self, spec: ProviderSpec, config: OllamaProviderConfig, api_key: str | None
    ) -> None:
        super().__init__(spec, config, default_base_url="http://localhost:11434")
        self._chat_url = f"{self.base_url}/api/chat"
        self._tags_url = f"{self.base_url}/api/tags"
        self._embed_url = f"{self.base_url}/api/embed"
        self._keep_alive = config.keep_alive
        # A local Ollama has no auth; a key means an authenticating proxy in front of it.
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model or self.spec.model,
            "messages": [_message(m) for m in request.messages],
            # Always explicit: Ollama streams unless told otherwise.
            "stream": stream,
        }
        # No tool_choice on Ollama: NONE is met by not offering the tools.
        if request.offers_tools:
            body["tools"] = function_tools(request.tools, strict=False)
        fmt = request.response_format
        if fmt.type is ResponseFormatType.JSON_OBJECT:
            body["format"] = "json"
        elif fmt.type is ResponseFormatType.JSON_SCHEMA:
            body["format"] = dict(fmt.schema)
        options = wire_params(request.params, OPTION_NAMES)
        if options:
            body["options"] = options
        if self._keep_alive is not None:
            body["keep_alive"] = self._keep_alive
        return body

    async def generate(self, request: ChatRequest, *, timeout: float) -> Completion:
        reply = await self.call(
            "POST",
            self._chat_url,
            json_body=self.body(request, stream=False),
            headers=self._headers,
            timeout=timeout,
        )
        data = reply.json()
        if isinstance(data, dict) and "error" in data:
            raise self.error(None, {}, data)
        message = data.get("message") if isinstance(data, dict) else None
        text = message.get("content") if isinstance(message, dict) else None
        if not isinstance(data, dict) or not isinstance(text, str):
            raise ProviderError(
                ErrorKind.MALFORMED_RESPONSE, "upstream reply has no message.content"
            )
        assert isinstance(message, dict)
        calls = tuple(
            ToolCall(d.id or new_call_id(), d.name, d.arguments) for d in reply_calls(message, 0)
        )
        if request.parallel_tool_calls is False:
            calls = calls[:1]  # no switch on Ollama's side: the gateway keeps its promise
        return Completion(
            text=text,
            model=str(data.get("model") or request.model or self.spec.model),
            usage=usage_of(data, request.messages, text),
            finish_reason=FinishReason.TOOL_CALL if calls else finish_of(data),
            tool_calls=calls,
        )

    async def stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamChunk]:
        async with self.open_stream(
            self._chat_url,
            json_body=self.body(request, stream=True),
            headers=self._headers,
            timeout=timeout,
        ) as response:
            async for chunk in parse_stream(
                response.content, request.messages, single_call=request.parallel_tool_calls is False
            ):
                yield chunk

    async def embed(self, request: EmbeddingRequest, *, timeout: float) -> Embeddings:
        """`POST /api/embed`: a batch in one call; vectors come back L2-normalized."""
        model = request.model or self.spec.embedding_model or ""
        body: dict[str, Any] = {"model": model, "input": list(request.inputs), "truncate": True}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        if self._keep_alive is not None:
            body["keep_alive"] = self._keep_alive
        reply = await self.call(
            "POST", self._embed_url, json_body=body, headers=self._headers, timeout=timeout
        )
        data = reply.json()
        if not isinstance(data, dict):
            raise ProviderError(ErrorKind.MALFORMED_RESPONSE, "embedding reply is not an object")
        return Embeddings(
            vectors=vector_rows(data.get("embeddings"), len(request.inputs)),
            model=str(data.get("model") or model),
            usage=prompt_usage(data.get("prompt_eval_count"), request.inputs),
        )

    async def check_health(self) -> None:
        # Listing local models is free; a completion would load a model into memory.
        await self.call("GET", self._tags_url, headers=self._headers, timeout=HEALTH_TIMEOUT)

    async def list_models(self, *, timeout: float) -> list[str]:
        reply = await self.call("GET", self._tags_url, headers=self._headers, timeout=timeout)
        data = reply.json()
        return ids_of(data.get("models") if isinstance(data, dict) else None, "name")

    @staticmethod
    def error(status: int | None, headers: Mapping[str, str], body: Any) -> ProviderError:
        """Ollama's error table: the usual statuses, plus a missing model recognised by its
        message. An error line inside a 200 stream (status None) is the server failing
        mid-generation."""
        message = message_of(body)
        if status is None:
            kind = ErrorKind.UNAVAILABLE
        elif status in (400, 404) and MODEL_NOT_FOUND.search(message):
            kind = ErrorKind.NOT_FOUND
        elif status == 400 and UNSUPPORTED.search(message):
            kind = ErrorKind.UNSUPPORTED
        else:
            kind = kind_for_status(status)
        # Ollama itself sends no Retry-After, but a proxy in front of it may.
        return http_error(kind, status, message, retry_after_s=retry_after(headers))


async def parse_stream(
    body: AsyncIterable[bytes], messages: tuple[ChatMessage, ...], *, single_call: bool = False
) -> AsyncIterator[StreamChunk]:
    """Chunks of an NDJSON chat stream. The `"done": true` line is the end marker (its chunk
    carries the finish reason); a body that stops before one is a broken stream, even when
    the connection closed politely (the router's rule for every adapter). Tool calls come
    whole in `done: false` lines, possibly several lines of them."""
    parts: list[str] = []
    calls = 0
    async for line in read_ndjson(body):
        if not isinstance(line, dict):
            raise ProviderError(ErrorKind.MALFORMED_RESPONSE, "upstream sent a non-object line")
        if "error" in line:
            raise OllamaProvider.error(None, {}, line)
        message = line.get("message")
        text = message.get("content") if isinstance(message, dict) else None
        text = text if isinstance(text, str) else ""
        parts.append(text)
        model = line.get("model")
        model = model if isinstance(model, str) and model else None
        fragments = reply_calls(message, calls) if isinstance(message, dict) else ()
        if single_call:
            fragments = fragments[: max(0, 1 - calls)]
        calls += len(fragments)
        if line.get("done") is True:
            finish = finish_of(line)
            yield StreamChunk(
                text=text,
                finish_reason=FinishReason.TOOL_CALL if calls else finish,
                usage=usage_of(line, messages, "".join(parts)),
                model=model,
                tool_calls=fragments,
            )
            return
        yield StreamChunk(text=text, model=model, tool_calls=fragments)


def _message(m: ChatMessage) -> dict[str, Any]:
    """Ollama's message: images as raw base64 beside the text, calls with object arguments
    and no ids, results by tool name (and id, which newer servers read)."""
    out: dict[str, Any] = {"role": m.role.value, "content": m.content}
    if m.images:
        out["images"] = [image.base64() for image in m.images]
    if m.tool_calls:
        out["tool_calls"] = [
            {"function": {"index": i, "name": c.name, "arguments": c.parsed() or {}}}
            for i, c in enumerate(m.tool_calls)
        ]
    if m.role is Role.TOOL:
        out["tool_name"] = m.tool_name
        out["tool_call_id"] = m.tool_call_id
    return out


def reply_calls(message: Mapping[str, Any], first: int) -> tuple[ToolCallDelta, ...]:
    """Whole calls of a reply or stream line as fragments numbered from `first`. Arguments
    are an object; ids exist on current servers only (made up here otherwise)."""
    out: list[ToolCallDelta] = []
    for raw in message.get("tool_calls") or ():
        function = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            continue
        call_id = raw.get("id") if isinstance(raw.get("id"), str) else ""
        out.append(
            ToolCallDelta(
                first + len(out),
                call_id or new_call_id(),
                str(function["name"]),
                arguments_text(function.get("arguments")),
            )
        )
    return tuple(out)


def finish_of(data: Mapping[str, Any]) -> FinishReason:
    reason = data.get("done_reason")
    if not reason:
        # Servers before done_reason existed said only "done"; why is unknown.
        return FinishReason.UNSPECIFIED
    return FINISH_REASONS.get(str(reason), FinishReason.OTHER)


def usage_of(data: Mapping[str, Any], messages: tuple[ChatMessage, ...], completion: str) -> Usage:
    """Usage from the counts, estimating whichever is absent (and then marking it so). The
    counts are `omitempty` on the server, and servers before mid-2024 dropped
    `prompt_eval_count` for a cached prompt (ollama/ollama#2068), so one may be missing."""
    prompt = _count(data.get("prompt_eval_count"))
    output = _count(data.get("eval_count"))
    if prompt is not None and output is not None:
        return Usage.of(prompt, output)
    estimate = estimate_usage(messages, completion)
    return Usage.of(
        estimate.prompt_tokens if prompt is None else prompt,
        estimate_tokens(completion) if output is None else output,
        estimated=True,
    )


def _count(value: Any) -> int | None:
    # bool is an int subclass; `true` is not a token count.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None
