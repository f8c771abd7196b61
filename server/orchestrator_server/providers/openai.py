"""OpenAI-compatible chat completions (OpenAI, OpenRouter, vLLM, LiteLLM, xAI, Yandex /v1,
Ollama /v1) and Azure OpenAI, which differs only in URL shape and key header."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any

from orchestrator_server.config.providers import AzureOpenAIProviderConfig, OpenAIProviderConfig
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
from orchestrator_server.domain.tools import ToolCallDelta
from orchestrator_server.providers import openai_wire as wire
from orchestrator_server.providers.base import ProviderSpec
from orchestrator_server.providers.http.adapter import HttpAdapter
from orchestrator_server.providers.http.embeddings import indexed_data, prompt_usage
from orchestrator_server.providers.http.errors import (
    error_body,
    http_error,
    kind_for_status,
    message_of,
    retry_after,
)
from orchestrator_server.providers.http.params import wire_params
from orchestrator_server.providers.http.streams import read_sse, sse_json
from orchestrator_server.providers.listing import ids_of

FINISH_REASONS = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "content_filter": FinishReason.CONTENT_FILTER,
    "tool_calls": FinishReason.TOOL_CALL,
    "function_call": FinishReason.TOOL_CALL,
}
# 429 means "slow down" unless the body says the account is out of credit.
QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached"})


class OpenAIProvider(HttpAdapter):
    def __init__(
        self,
        spec: ProviderSpec,
        config: OpenAIProviderConfig | AzureOpenAIProviderConfig,
        api_key: str | None,
    ) -> None:
        super().__init__(spec, config, default_base_url="https://api.openai.com/v1")
        self._include_usage = config.include_usage
        headers: dict[str, str] = {}
        if isinstance(config, AzureOpenAIProviderConfig):
            deployment = config.deployment or spec.model
            self._chat_url = f"{self.base_url}/openai/deployments/{deployment}/chat/completions"
            self._azure = True
            self._models_url = f"{self.base_url}/openai/models"
            self._params: dict[str, str] = {"api-version": config.api_version}
            self._max_tokens_field = "max_tokens"
            if api_key:
                headers["api-key"] = api_key
        else:
            self._chat_url = f"{self.base_url}/chat/completions"
            self._azure = False
            self._models_url = f"{self.base_url}/models"
            self._params = {}
            self._max_tokens_field = config.max_tokens_field
            if api_key:
                headers["Authorization"] = f"Bearer {api_key}"
            if config.organization:
                headers["OpenAI-Organization"] = config.organization
            if config.project:
                headers["OpenAI-Project"] = config.project
        self._headers = headers
        # repetition_penalty has no OpenAI equivalent (frequency_penalty differs in scale).
        self._param_names = {
            "temperature": "temperature",
            "top_p": "top_p",
            "max_tokens": self._max_tokens_field,
            "stop": "stop",
            "seed": "seed",
        }

    def body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model or self.spec.model,
            "messages": wire.messages(request),
        }
        body.update(wire_params(request.params, self._param_names))
        body.update(wire.tool_fields(request))
        response_format = wire.response_format(request)
        if response_format is not None:
            body["response_format"] = response_format
        if stream:
            body["stream"] = True
            if self._include_usage:
                body["stream_options"] = {"include_usage": True}
        return body

    async def generate(self, request: ChatRequest, *, timeout: float) -> Completion:
        reply = await self.call(
            "POST",
            self._chat_url,
            json_body=self.body(request, stream=False),
            headers=self._headers,
            params=self._params,
            timeout=timeout,
        )
        data = reply.json()
        try:
            choice = data["choices"][0]
            message = choice["message"]
            text = message.get("content") or ""
            finish = FINISH_REASONS.get(choice.get("finish_reason") or "", FinishReason.OTHER)
            model = str(data.get("model") or request.model or self.spec.model)
            calls = wire.reply_calls(message)
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ProviderError(
                ErrorKind.MALFORMED_RESPONSE, "upstream reply has no choices[0].message"
            ) from None
        if calls:
            # Whether a forced call reports "tool_calls" or "stop" is unverified: the calls
            # themselves decide.
            finish = FinishReason.TOOL_CALL
        elif not text and message.get("refusal"):
            text, finish = str(message["refusal"]), FinishReason.CONTENT_FILTER
        usage = openai_usage(data.get("usage")) or estimate_usage(request.messages, text)
        return Completion(
            text=text, model=model, usage=usage, finish_reason=finish, tool_calls=calls
        )

    async def stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamChunk]:
        async with self.open_stream(
            self._chat_url,
            json_body=self.body(request, stream=True),
            headers=self._headers,
            params=self._params,
            timeout=timeout,
        ) as response:
            if response.content_type == "application/json":
                raise self.not_a_stream(await response.read())
            # The end marker is [DONE], or a finish_reason (some compatible servers omit
            # [DONE] after one). A body that ends with neither was cut: the router's rule.
            finished = calling = False
            async for event in read_sse(response.content):
                if event.data.strip() == "[DONE]":
                    if not finished:
                        yield StreamChunk(
                            finish_reason=FinishReason.TOOL_CALL
                            if calling
                            else FinishReason.UNSPECIFIED
                        )
                    return
                chunk = sse_json(event)
                if not isinstance(chunk, dict):
                    continue
                if "error" in chunk:
                    raise self.error(None, {}, chunk)
                piece = _chunk(chunk)
                calling = calling or bool(piece.tool_calls)
                if calling and piece.finish_reason is FinishReason.STOP:
                    piece = replace(piece, finish_reason=FinishReason.TOOL_CALL)
                finished = finished or piece.finish_reason is not None
                yield piece

    async def embed(self, request: EmbeddingRequest, *, timeout: float) -> Embeddings:
        """`POST /embeddings` (Azure: the model's deployment). Floats are asked for
        explicitly: without `encoding_format` some servers answer base64."""
        model = request.model or self.spec.embedding_model or ""
        url = (
            f"{self.base_url}/openai/deployments/{model}/embeddings"
            if self._azure
            else f"{self.base_url}/embeddings"
        )
        body: dict[str, Any] = {
            "model": model,
            "input": list(request.inputs),
            "encoding_format": "float",
        }
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        reply = await self.call(
            "POST", url, json_body=body, headers=self._headers, params=self._params, timeout=timeout
        )
        data = reply.json()
        usage = data.get("usage") if isinstance(data, dict) else None
        return Embeddings(
            vectors=indexed_data(data, len(request.inputs)),
            model=str((data.get("model") if isinstance(data, dict) else None) or model),
            usage=prompt_usage(
                usage.get("prompt_tokens") if isinstance(usage, dict) else None, request.inputs
            ),
        )

    async def check_health(self) -> None:
        await self.call(
            "GET", self._models_url, headers=self._headers, params=self._params, timeout=10.0
        )

    async def list_models(self, *, timeout: float) -> list[str]:
        reply = await self.call(
            "GET", self._models_url, headers=self._headers, params=self._params, timeout=timeout
        )
        data = reply.json()
        return ids_of(data.get("data") if isinstance(data, dict) else None)

    @classmethod
    def not_a_stream(cls, raw: bytes) -> ProviderError:
        """A 200 JSON document where a stream was asked for: an error object some servers
        send that way, or a reply from a server that ignored `stream`."""
        body = error_body(raw)
        if isinstance(body, dict) and "error" in body:
            return cls.error(None, {}, body)
        return ProviderError(
            ErrorKind.MALFORMED_RESPONSE, "upstream answered the stream with a JSON document"
        )

    @staticmethod
    def error(status: int | None, headers: Mapping[str, str], body: Any) -> ProviderError:
        """The OpenAI error table: statuses as usual, but a 429 out of credit is a quota."""
        kind = ErrorKind.UNAVAILABLE if status is None else kind_for_status(status)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code = error.get("code") or error.get("type")
            if code in QUOTA_CODES:
                kind = ErrorKind.QUOTA
            elif status is None and code in ("rate_limit_exceeded", "rate_limit_error"):
                kind = ErrorKind.RATE_LIMITED
        return http_error(kind, status, message_of(body), retry_after_s=retry_after(headers))


def _chunk(data: dict[str, Any]) -> StreamChunk:
    choices = data.get("choices") or []
    text = ""
    finish = None
    calls: tuple[ToolCallDelta, ...] = ()
    if choices and isinstance(choices[0], dict):
        delta = choices[0].get("delta") or {}
        text = delta.get("content") or delta.get("refusal") or ""
        calls = wire.delta_calls(delta)
        reason = choices[0].get("finish_reason")
        if reason:
            finish = FINISH_REASONS.get(reason, FinishReason.OTHER)
    return StreamChunk(
        text=text,
        finish_reason=finish,
        usage=openai_usage(data.get("usage")),
        model=data.get("model"),
        tool_calls=calls,
    )


def openai_usage(raw: Any) -> Usage | None:
    """Usage in OpenAI's shape (prompt_tokens, completion_tokens, total_tokens), which
    GigaChat shares. The reported total is kept: some providers bill below the sum."""
    if not isinstance(raw, dict):
        return None
    try:
        prompt = int(raw.get("prompt_tokens") or 0)
        completion = int(raw.get("completion_tokens") or 0)
        total = int(raw.get("total_tokens") or prompt + completion)
    except (TypeError, ValueError):
        return None
    return Usage(prompt, completion, total)
