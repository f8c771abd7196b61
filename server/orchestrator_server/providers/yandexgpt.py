"""YandexGPT's native Foundation Models API (wire-format reference §2): unary and NDJSON
streaming completions at POST /foundationModels/v1/completion. Yandex's OpenAI-compatible
/v1 endpoint is served by the openai kind instead.

Parameters: temperature and max_tokens are mapped. The completion API has no top_p, stop,
seed or repetition_penalty, so those are not sent.

Tools, tool results and structured output are mapped in yandexgpt_wire.py. A stream's lines
are cumulative, so calls are taken from the last line that lists them, once, when the
stream ends (Yandex's streamed calls are undocumented; the expectation is one final line).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from orchestrator_server.config.providers import YandexCredential, YandexGptProviderConfig
from orchestrator_server.domain.chat import (
    ChatRequest,
    Completion,
    FinishReason,
    StreamChunk,
    Usage,
    estimate_usage,
)
from orchestrator_server.domain.embeddings import EmbeddingRequest, Embeddings
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.domain.tools import ToolCall
from orchestrator_server.providers.base import ProviderSpec
from orchestrator_server.providers.http.adapter import HttpAdapter
from orchestrator_server.providers.http.embeddings import prompt_usage, summed, vector_rows
from orchestrator_server.providers.http.errors import (
    DEFAULT_STATUS_KINDS,
    http_error,
    kind_for_status,
    message_of,
    retry_after,
)
from orchestrator_server.providers.http.params import wire_params
from orchestrator_server.providers.http.streams import read_ndjson
from orchestrator_server.providers.tool_wire import WholeCalls
from orchestrator_server.providers.yandexgpt_stream import CumulativeText, parse_alternative
from orchestrator_server.providers.yandexgpt_wire import messages, request_fields

log = logging.getLogger(__name__)

COMPLETION_PATH = "/foundationModels/v1/completion"
TOKENIZE_PATH = "/foundationModels/v1/tokenize"
TEXT_EMBEDDING_PATH = "/foundationModels/v1/textEmbedding"
# Every row Yandex documents (400, 401, 403, 429 RESOURCE_EXHAUSTED, 500, 503, 504) has its
# usual meaning, so the HTTP table is the default one.
STATUS_KINDS: Mapping[int, ErrorKind] = DEFAULT_STATUS_KINDS
# An error line inside a 200 stream has no HTTP status; its grpc-gateway body has grpcCode.
GRPC_KINDS: Mapping[int, ErrorKind] = {
    3: ErrorKind.INVALID_REQUEST,
    4: ErrorKind.TIMEOUT,
    5: ErrorKind.NOT_FOUND,
    7: ErrorKind.PERMISSION,
    8: ErrorKind.RATE_LIMITED,
    13: ErrorKind.UNAVAILABLE,
    14: ErrorKind.UNAVAILABLE,
    16: ErrorKind.AUTH,
}
# The gateway accepts temperatures up to 2 (OpenAI's scale); Yandex rejects anything above 1
# with a 400, which would stop fallback for a request every other provider takes.
MAX_TEMPERATURE = 1.0


# The completion API has no top_p, stop, seed or repetition penalty.
PARAM_NAMES = {"temperature": "temperature", "max_tokens": "maxTokens"}


class YandexGptProvider(HttpAdapter):
    def __init__(
        self, spec: ProviderSpec, config: YandexGptProviderConfig, api_key: str | None
    ) -> None:
        super().__init__(spec, config, default_base_url="https://llm.api.cloud.yandex.net")
        self._completion_url = f"{self.base_url}{COMPLETION_PATH}"
        self._tokenize_url = f"{self.base_url}{TOKENIZE_PATH}"
        self._folder_id = config.folder_id
        self._branch = config.branch
        headers: dict[str, str] = {}
        if api_key:
            scheme = "Api-Key" if config.credential is YandexCredential.API_KEY else "Bearer"
            headers["Authorization"] = f"{scheme} {api_key}"
        # Only user IAM tokens want the folder here; a service account's folder is implied
        # and a different one is a 400.
        if config.send_folder_header:
            headers["x-folder-id"] = config.folder_id
        # Prompts are not kept by Yandex unless the operator opts in through `headers`.
        if not any(name.lower() == "x-data-logging-enabled" for name in config.headers):
            headers["x-data-logging-enabled"] = "false"
        self._headers = headers

    def model_uri(self, model: str) -> str:
        """gpt://<folder>/<model>/<branch>; a full URI (gpt://, ds://) is used as it is, and
        a model naming its branch ("yandexgpt/rc") keeps it."""
        if "://" in model:
            return model
        if "/" in model:
            return f"gpt://{self._folder_id}/{model}"
        return f"gpt://{self._folder_id}/{model}/{self._branch}"

    def embedding_uri(self, model: str) -> str:
        """emb://<folder>/<model>/<branch>, as model_uri builds gpt:// ones."""
        if "://" in model:
            return model
        if "/" in model:
            return f"emb://{self._folder_id}/{model}"
        return f"emb://{self._folder_id}/{model}/{self._branch}"

    async def embed(self, request: EmbeddingRequest, *, timeout: float) -> Embeddings:
        """`textEmbedding` takes one text per call, so a batch is calls side by side. The
        caller picks the doc or query model (text-search-doc, text-search-query)."""
        model = request.model or self.spec.embedding_model or ""
        replies = await asyncio.gather(
            *(self._embed_one(text, model, request.dimensions, timeout) for text in request.inputs)
        )
        vectors = vector_rows([r.get("embedding") for r in replies], len(request.inputs))
        reported = summed([r.get("numTokens") for r in replies])  # int64: strings
        return Embeddings(vectors, model, prompt_usage(reported, request.inputs))

    async def _embed_one(
        self, text: str, model: str, dimensions: int | None, timeout: float
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"modelUri": self.embedding_uri(model), "text": text}
        if dimensions is not None:
            body["dim"] = str(dimensions)  # int64: a string in proto-JSON
        reply = await self.call(
            "POST",
            f"{self.base_url}{TEXT_EMBEDDING_PATH}",
            json_body=body,
            headers=self._headers,
            timeout=timeout,
        )
        data = reply.json()
        if not isinstance(data, dict):
            raise ProviderError(ErrorKind.MALFORMED_RESPONSE, "embedding reply is not an object")
        return data

    def body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        options: dict[str, Any] = {"stream": stream}
        options.update(wire_params(request.params, PARAM_NAMES))
        if "temperature" in options:
            options["temperature"] = min(options["temperature"], MAX_TEMPERATURE)
        if "maxTokens" in options:
            options["maxTokens"] = str(options["maxTokens"])  # int64: a string in proto-JSON
        return {
            "modelUri": self.model_uri(request.model or self.spec.model),
            "completionOptions": options,
            "messages": messages(request),
            **request_fields(request),
        }

    def headers(self, request: ChatRequest) -> dict[str, str]:
        """x-client-request-id lets Yandex support find a call. Yandex asks for a UUID, so
        the request id is sent only when it is one (generated ids are UUIDv7; a caller's
        x-request-id may be anything)."""
        try:
            client_id = str(uuid.UUID(request.request_id))
        except ValueError:
            return self._headers
        return {**self._headers, "x-client-request-id": client_id}

    async def generate(self, request: ChatRequest, *, timeout: float) -> Completion:
        reply = await self.call(
            "POST",
            self._completion_url,
            json_body=self.body(request, stream=False),
            headers=self.headers(request),
            timeout=timeout,
        )
        data = reply.json()
        if isinstance(data, dict) and "error" in data and "result" not in data:
            raise self.error(None, reply.headers, data)
        alternative = parse_alternative(data)
        return Completion(
            text=alternative.text,
            model=request.model or self.spec.model,
            usage=alternative.usage or estimate_usage(request.messages, alternative.text),
            finish_reason=alternative.finish_reason,
            tool_calls=alternative.calls,
        )

    async def stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamChunk]:
        async with self.open_stream(
            self._completion_url,
            json_body=self.body(request, stream=True),
            headers=self.headers(request),
            timeout=timeout,
        ) as response:
            deltas = CumulativeText()
            usage: Usage | None = None
            calls: tuple[ToolCall, ...] = ()
            async for line in read_ndjson(response.content):
                if isinstance(line, dict) and "error" in line:
                    raise self.error(None, {}, line)
                alternative = parse_alternative(line)
                usage = alternative.usage or usage  # on every line; the last is the total
                calls = alternative.calls or calls
                text = deltas.delta(alternative.text)
                if alternative.final:
                    if deltas.revisions:
                        log.warning(
                            "provider %s: the stream revised text already sent %d time(s); "
                            "the client keeps the first version",
                            self.spec.name,
                            deltas.revisions,
                        )
                    fragments = WholeCalls().fragments(calls)
                    finish = FinishReason.TOOL_CALL if calls else alternative.finish_reason
                    yield StreamChunk(text, finish, usage, tool_calls=fragments)
                    return
                if text:
                    yield StreamChunk(text)
        # No final status: the stream was cut (the router's rule for every adapter).

    async def check_health(self) -> None:
        """Tokenizing one word is free (it is not a completion) and still checks the key,
        the folder and the model URI, which a bare reachability probe would not."""
        await self.call(
            "POST",
            self._tokenize_url,
            json_body={"modelUri": self.model_uri(self.spec.model), "text": "ping"},
            headers=self._headers,
            timeout=10.0,
        )

    def error(self, status: int | None, headers: Mapping[str, str], body: Any) -> ProviderError:
        """The Yandex error table. Bodies are grpc-gateway style,
        {"error": {"grpcCode", "httpCode", "message", "httpStatus", "details"}}, or a bare
        {"code", "message"}; message_of reads both error.message and message."""
        message = message_of(body)
        if status is not None:
            kind = kind_for_status(status, STATUS_KINDS)
        else:
            kind = _in_stream_kind(body)
        # A folder mismatch is this provider's misconfiguration, not the caller's request:
        # another provider would take the request, so it must not stop fallback.
        if kind is ErrorKind.INVALID_REQUEST and "folder id" in message.lower():
            kind = ErrorKind.PERMISSION
        return http_error(kind, status, message, retry_after_s=retry_after(headers))


def _in_stream_kind(body: Any) -> ErrorKind:
    error = body.get("error") if isinstance(body, dict) else None
    fields = error if isinstance(error, dict) else body if isinstance(body, dict) else {}
    http_code = _int(fields.get("httpCode"))
    if http_code is not None and http_code >= 400:
        return kind_for_status(http_code, STATUS_KINDS)
    grpc_code = _int(fields.get("grpcCode", fields.get("code")))
    if grpc_code is not None:
        return GRPC_KINDS.get(grpc_code, ErrorKind.UNAVAILABLE)
    return ErrorKind.UNAVAILABLE


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
