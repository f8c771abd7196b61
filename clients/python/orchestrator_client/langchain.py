"""LangChain integration: a chat model over Generate/GenerateStream (with tools, structured
output and images), a retriever over Retrieve, embeddings over Embed.

    from orchestrator_client.langchain import (
        ChatOrchestrator, OrchestratorEmbeddings, OrchestratorRetriever)

    llm = ChatOrchestrator(target="localhost:50051", model="small", max_tokens=256)
    llm.invoke("Hello")                     # also ainvoke, stream, astream, batch, abatch
    llm.bind_tools([get_weather]).invoke("Weather in Paris?").tool_calls
    llm.with_structured_output(City).invoke("A city")  # a City instance
    docs = OrchestratorRetriever(target="localhost:50051", collection="docs", k=4).invoke("q")
    vectors = OrchestratorEmbeddings(target="localhost:50051").embed_documents(["a", "b"])

Needs langchain-core: `pip install 'llm-orchestrator-client[langchain]'`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, Literal

try:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForLLMRun,
        AsyncCallbackManagerForRetrieverRun,
        CallbackManagerForLLMRun,
        CallbackManagerForRetrieverRun,
    )
    from langchain_core.documents import Document
    from langchain_core.language_models import BaseChatModel, LanguageModelInput
    from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
    from langchain_core.messages.ai import UsageMetadata
    from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
    from langchain_core.utils.function_calling import convert_to_json_schema
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "orchestrator_client.langchain needs langchain-core: pip install 'orchestrator[langchain]'"
    ) from exc
from pydantic import BaseModel

from orchestrator.v1 import common_pb2, generate_pb2, retrieve_pb2
from orchestrator_client import lc_messages
from orchestrator_client import tools as _tools
from orchestrator_client.lc_connection import Connected as _Connected
from orchestrator_client.lc_embeddings import OrchestratorEmbeddings
from orchestrator_client.requests import GenerateOptions, RetrieveOptions, struct_to_dict
from orchestrator_client.streaming import StreamState

__all__ = ["ChatOrchestrator", "OrchestratorEmbeddings", "OrchestratorRetriever"]

# Keyword arguments LangChain itself passes to the model through bind(); not request fields.
_LANGCHAIN_KWARGS = frozenset({"ls_structured_output_format"})
_GENERATION_PARAMS = ("temperature", "top_p", "max_tokens", "repetition_penalty", "seed")


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
            sent = 0
            for text in stream:
                chunk, sent = _chunk(text, stream, sent)
                if run_manager is not None:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
            yield _last_chunk(stream, sent)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        async with self.async_client().stream(**self._options(messages, stop, kwargs)) as stream:
            sent = 0
            async for text in stream:
                chunk, sent = _chunk(text, stream, sent)
                if run_manager is not None:
                    await run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
            yield _last_chunk(stream, sent)

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: str | bool | dict[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """The model with tools it may call (LangChain tools, functions, pydantic classes or
        dicts). `tool_choice`: "auto", "none", "any"/"required", a tool's name, or True for
        the only tool."""
        converted = lc_messages.lc_tools(tools, strict=strict)
        bound: dict[str, Any] = {"tools": converted, **kwargs}
        choice = lc_messages.lc_tool_choice(tool_choice, converted)
        if choice is not None:
            bound["tool_choice"] = choice
        if parallel_tool_calls is not None:
            bound["parallel_tool_calls"] = parallel_tool_calls
        return self.bind(**bound)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        method: Literal["json_schema", "function_calling", "json_mode"] = "json_schema",
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Replies parsed into `schema` (a pydantic class gives instances, a JSON Schema or
        TypedDict gives dicts). `json_schema` (default) asks the gateway for JSON matching
        the schema, which it checks; `function_calling` forces a tool call instead;
        `json_mode` asks for any JSON object."""
        if method == "function_calling":
            return super().with_structured_output(schema, include_raw=include_raw, **kwargs)
        if kwargs:
            raise ValueError(f"unsupported arguments: {', '.join(sorted(kwargs))}")
        pydantic_class = isinstance(schema, type) and issubclass(schema, BaseModel)
        if method == "json_mode":
            llm = self.bind(response_format="json_object")
        else:
            json_schema = convert_to_json_schema(schema)
            name = str(json_schema.get("title") or "response").replace(" ", "_")
            body = {k: v for k, v in json_schema.items() if k not in ("title", "description")}
            llm = self.bind(
                response_format=_tools.json_schema_format(
                    name,
                    body,
                    strict=bool(strict),
                    description=str(json_schema.get("description") or ""),
                )
            )
        parser: Runnable[Any, Any] = (
            PydanticOutputParser(pydantic_object=schema)  # type: ignore[arg-type]
            if pydantic_class
            else JsonOutputParser()
        )
        if not include_raw:
            return llm | parser
        parsed = RunnablePassthrough.assign(
            parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
        )
        empty = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parsed.with_fallbacks([empty], exception_key="parsing_error")

    def _options(
        self, messages: list[BaseMessage], stop: list[str] | None, overrides: Mapping[str, Any]
    ) -> GenerateOptions:
        options = GenerateOptions(messages=[lc_messages.to_contract(m) for m in messages])
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
        fields.update({k: v for k, v in overrides.items() if k not in _LANGCHAIN_KWARGS})
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
    calls, invalid = lc_messages.ai_message_fields(reply.tool_calls)
    message = AIMessage(
        content=reply.text,
        response_metadata=metadata,
        usage_metadata=_usage(reply.usage),
        tool_calls=calls,
        invalid_tool_calls=invalid,
    )
    return ChatResult(
        generations=[ChatGeneration(message=message)],
        llm_output={"model_name": reply.model, "provider": reply.provider},
    )


def _chunk(text: str, stream: StreamState, sent: int) -> tuple[ChatGenerationChunk, int]:
    """A text chunk carrying the tool-call fragments that arrived since the last one."""
    deltas = stream.tool_call_deltas[sent:]
    message = AIMessageChunk(content=text, tool_call_chunks=lc_messages.chunks_of(deltas))
    return ChatGenerationChunk(message=message), sent + len(deltas)


def _last_chunk(stream: StreamState, sent: int) -> ChatGenerationChunk:
    """An empty chunk with the figures of the end event and the fragments not yet sent;
    merging the chunks keeps them, and LangChain assembles the calls by index."""
    metadata = _metadata(
        stream.provider, stream.model, stream.finish_reason, stream.request_id, stream.attempts
    )
    usage = _usage(stream.usage) if stream.usage is not None else None
    chunks = lc_messages.chunks_of(stream.tool_call_deltas[sent:])
    return ChatGenerationChunk(
        message=AIMessageChunk(
            content="", response_metadata=metadata, usage_metadata=usage, tool_call_chunks=chunks
        )
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
