"""LangChain integration: a chat model over Generate/GenerateStream, a retriever over Retrieve.

    from orchestrator_client.langchain import ChatOrchestrator, OrchestratorRetriever

    llm = ChatOrchestrator(target="localhost:50051", model="small", max_tokens=256)
    llm.invoke("Hello")                     # also ainvoke, stream, astream, batch, abatch
    docs = OrchestratorRetriever(target="localhost:50051", collection="docs", k=4).invoke("q")

Needs langchain-core: `pip install 'llm-orchestrator-client[langchain]'`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

try:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForLLMRun,
        AsyncCallbackManagerForRetrieverRun,
        CallbackManagerForLLMRun,
        CallbackManagerForRetrieverRun,
    )
    from langchain_core.documents import Document
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import (
        AIMessage,
        AIMessageChunk,
        BaseMessage,
        ChatMessage,
        HumanMessage,
        SystemMessage,
    )
    from langchain_core.messages.ai import UsageMetadata
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
    from langchain_core.retrievers import BaseRetriever
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "orchestrator_client.langchain needs langchain-core: pip install 'orchestrator[langchain]'"
    ) from exc
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

from orchestrator.v1 import common_pb2, generate_pb2, retrieve_pb2
from orchestrator_client.aio import AsyncOrchestratorClient
from orchestrator_client.base import DEFAULT_TIMEOUT, ClientSettings
from orchestrator_client.connection import DEFAULT_TARGET, RetryPolicy
from orchestrator_client.requests import GenerateOptions, RetrieveOptions, struct_to_dict
from orchestrator_client.streaming import StreamState
from orchestrator_client.sync import OrchestratorClient

_ROLES: dict[type[BaseMessage], str] = {
    SystemMessage: "system",
    HumanMessage: "user",
    AIMessage: "assistant",
}
_GENERATION_PARAMS = ("temperature", "top_p", "max_tokens", "repetition_penalty", "seed")


class _Connected(BaseModel):
    """Where the gateway is; one sync client, and one async client per event loop."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    target: str = DEFAULT_TARGET
    tls: bool = False
    root_certificates: bytes | None = None
    auth_token: SecretStr | None = None
    grpc_metadata: dict[str, str] = Field(default_factory=dict)
    timeout: float | None = DEFAULT_TIMEOUT
    retry: RetryPolicy | None = None

    _client: OrchestratorClient | None = PrivateAttr(default=None)
    _aclient: AsyncOrchestratorClient | None = PrivateAttr(default=None)
    _aloop: asyncio.AbstractEventLoop | None = PrivateAttr(default=None)

    def _settings(self) -> ClientSettings:
        return ClientSettings(
            tls=self.tls,
            root_certificates=self.root_certificates,
            auth_token=self.auth_token.get_secret_value() if self.auth_token else None,
            metadata=self.grpc_metadata,
            timeout=self.timeout,
            retry=self.retry,
        )

    def sync_client(self) -> OrchestratorClient:
        if self._client is None:
            self._client = OrchestratorClient(self.target, **self._settings())
        return self._client

    def async_client(self) -> AsyncOrchestratorClient:
        # A grpc.aio channel belongs to the loop it was made on; asyncio.run() makes new ones.
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aloop is not loop:
            self._aclient = AsyncOrchestratorClient(self.target, **self._settings())
            self._aloop = loop
        return self._aclient

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        if self._aclient is not None and self._aloop is asyncio.get_running_loop():
            await self._aclient.close()
        self._aclient = self._aloop = None


class ChatOrchestrator(_Connected, BaseChatModel):
    """A LangChain chat model served by the orchestrator gateway.

    `model` is "provider/model", an alias, or a model name (empty: the router chooses);
    sampling fields are sent when set; per-call keyword arguments (`.bind(...)`,
    `invoke(..., temperature=0)`) override them. Replies carry `usage_metadata` and
    `response_metadata` (provider, model, finish_reason, request_id, attempts).
    """

    model: str = ""
    provider: str = ""
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    repetition_penalty: float | None = None
    seed: int | None = None
    strategy: str | None = None
    disable_fallback: bool = False
    tenant: str = ""
    user: str = ""

    @property
    def _llm_type(self) -> str:
        return "orchestrator"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"target": self.target, "model": self.model, "provider": self.provider}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self.sync_client().generate(**self._options(messages, stop, kwargs))
        return _chat_result(reply)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = await self.async_client().generate(**self._options(messages, stop, kwargs))
        return _chat_result(reply)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        with self.sync_client().stream(**self._options(messages, stop, kwargs)) as stream:
            for text in stream:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                if run_manager is not None:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
            yield _last_chunk(stream)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        async with self.async_client().stream(**self._options(messages, stop, kwargs)) as stream:
            async for text in stream:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                if run_manager is not None:
                    await run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
            yield _last_chunk(stream)

    def _options(
        self, messages: list[BaseMessage], stop: list[str] | None, overrides: Mapping[str, Any]
    ) -> GenerateOptions:
        options = GenerateOptions(messages=[_to_pair(m) for m in messages])
        fields: dict[str, Any] = {
            "model": self.model,
            "provider": self.provider,
            "strategy": self.strategy,
            "disable_fallback": self.disable_fallback,
            "tenant": self.tenant,
            "user": self.user,
            "stop": stop if stop is not None else self.stop,
            **{name: getattr(self, name) for name in _GENERATION_PARAMS},
        }
        fields.update(overrides)
        unknown = set(fields) - set(GenerateOptions.__annotations__)
        if unknown:
            raise TypeError(f"unsupported argument(s): {', '.join(sorted(unknown))}")
        options.update({k: v for k, v in fields.items() if v is not None})  # type: ignore[typeddict-item]
        return options


class OrchestratorRetriever(_Connected, BaseRetriever):
    """A LangChain retriever over the gateway's Retrieve RPC. Each Document has the passage
    as `page_content`, its stored metadata plus `score`, and the passage id as `id`."""

    collection: str
    k: int = 4
    search_type: str = "similarity"  # or "mmr"
    fetch_k: int | None = None
    lambda_mult: float | None = None
    filter: dict[str, Any] | None = None
    score_threshold: float | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        reply = self.sync_client().retrieve(self.collection, query, **self._options())
        return _documents(reply)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        reply = await self.async_client().retrieve(self.collection, query, **self._options())
        return _documents(reply)

    def _options(self) -> RetrieveOptions:
        options = RetrieveOptions(k=self.k, search_type=self.search_type)
        for name in ("fetch_k", "lambda_mult", "filter", "score_threshold"):
            value = getattr(self, name)
            if value is not None:
                options[name] = value
        return options


def _to_pair(message: BaseMessage) -> tuple[str, str]:
    if isinstance(message, ChatMessage):
        return message.role, _text(message.content)
    for cls, role in _ROLES.items():  # isinstance: chunks (AIMessageChunk, ...) count too
        if isinstance(message, cls):
            return role, _text(message.content)
    raise ValueError(f"the gateway does not take {type(message).__name__} messages")


def _text(content: str | list[str | dict[str, Any]]) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        else:
            raise ValueError(f"the gateway takes text only, not {block.get('type')!r} blocks")
    return "".join(parts)


def _usage(usage: common_pb2.Usage) -> UsageMetadata:
    return UsageMetadata(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
    )


def _metadata(
    provider: str,
    model: str,
    finish_reason: int,
    request_id: str,
    attempts: list[common_pb2.Attempt],
) -> dict[str, Any]:
    return {
        "provider": provider,
        "model_name": model,
        "finish_reason": generate_pb2.FinishReason.Name(finish_reason)
        .removeprefix("FINISH_REASON_")
        .lower(),
        "request_id": request_id,
        "attempts": [
            {"provider": a.provider, "model": a.model, "error_code": a.error_code} for a in attempts
        ],
    }


def _chat_result(reply: generate_pb2.GenerateResponse) -> ChatResult:
    metadata = _metadata(
        reply.provider, reply.model, reply.finish_reason, reply.request_id, list(reply.attempts)
    )
    message = AIMessage(
        content=reply.text, response_metadata=metadata, usage_metadata=_usage(reply.usage)
    )
    return ChatResult(
        generations=[ChatGeneration(message=message)],
        llm_output={"model_name": reply.model, "provider": reply.provider},
    )


def _last_chunk(stream: StreamState) -> ChatGenerationChunk:
    """An empty chunk with the figures of the end event; merging chunks keeps them."""
    metadata = _metadata(
        stream.provider, stream.model, stream.finish_reason, stream.request_id, stream.attempts
    )
    usage = _usage(stream.usage) if stream.usage is not None else None
    return ChatGenerationChunk(
        message=AIMessageChunk(content="", response_metadata=metadata, usage_metadata=usage)
    )


def _documents(reply: retrieve_pb2.RetrieveResponse) -> list[Document]:
    return [
        Document(
            id=doc.id or None,
            page_content=doc.content,
            metadata={**struct_to_dict(doc.metadata), "score": doc.score},
        )
        for doc in reply.documents
    ]
