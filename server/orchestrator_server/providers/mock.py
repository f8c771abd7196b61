"""A provider that needs no network: deterministic replies and injectable failures.

It serves `make run`, the tests and the benchmarks, through the same Provider protocol the
real adapters implement. Its tokens are whitespace-separated words, so its usage is exact.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

from orchestrator_server.config.providers import MockMode, MockOptions, MockProviderConfig
from orchestrator_server.domain.chat import (
    ChatRequest,
    Completion,
    FinishReason,
    StreamChunk,
    Usage,
)
from orchestrator_server.domain.embeddings import EmbeddingRequest, Embeddings
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.domain.tools import ResponseFormatType, ToolCall, ToolCallDelta
from orchestrator_server.providers import mock_replies
from orchestrator_server.providers.base import ProviderSpec

_FAILURES: dict[MockMode, tuple[ErrorKind, str, int]] = {
    MockMode.UNHEALTHY: (ErrorKind.UNAVAILABLE, "upstream answered 503 Service Unavailable", 503),
    MockMode.RATELIMIT: (ErrorKind.RATE_LIMITED, "upstream answered 429 Too Many Requests", 429),
    MockMode.AUTH_ERROR: (ErrorKind.AUTH, "upstream rejected the API key (401)", 401),
    MockMode.INVALID_REQUEST: (
        ErrorKind.INVALID_REQUEST,
        "upstream rejected the request (400)",
        400,
    ),
}


class MockProvider:
    def __init__(self, spec: ProviderSpec, options: MockOptions) -> None:
        self._spec = spec
        self.options = options
        self._rng = random.Random(options.seed)
        self._mode = options.mode
        # What tests observe: how often it was called, and whether a consumer walked away
        # from a stream (closed or cancelled it) before it ended.
        self.calls = 0
        self.active_streams = 0
        self.abandoned_streams = 0
        self.stream_abandoned = asyncio.Event()
        self.closed = False

    @property
    def spec(self) -> ProviderSpec:
        return self._spec

    async def generate(self, request: ChatRequest, *, timeout: float) -> Completion:
        self.calls += 1
        await self._wait(self.options.latency_ms)
        self._maybe_fail()
        if self.options.mode is MockMode.FAIL_AFTER_N_CHUNKS:
            raise ProviderError(
                ErrorKind.UNAVAILABLE, "upstream closed the connection mid-reply", http_status=None
            )
        calls = self._tool_calls(request)
        if calls:
            return Completion(
                text="",
                model=request.model or self._spec.model,
                usage=self._usage(request, _call_words(calls)),
                finish_reason=FinishReason.TOOL_CALL,
                tool_calls=calls,
            )
        words, finish = self._reply_words(request)
        return Completion(
            text=" ".join(words),
            model=request.model or self._spec.model,
            usage=self._usage(request, len(words)),
            finish_reason=finish,
        )

    async def stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamChunk]:
        self.calls += 1
        self.active_streams += 1
        ended = False  # finished, or failed on purpose: either way not abandoned
        try:
            await self._wait(self.options.latency_ms)
            self._maybe_fail()
            calls = self._tool_calls(request)
            if calls:
                for chunk in _call_chunks(calls, request.model or self._spec.model):
                    yield chunk
                yield StreamChunk(
                    finish_reason=FinishReason.TOOL_CALL,
                    usage=self._usage(request, _call_words(calls)),
                )
                ended = True
                return
            words, finish = self._reply_words(request)
            per_chunk = self.options.words_per_chunk
            chunk_delay = self.options.chunk_delay_ms
            model = request.model or self._spec.model
            fail_after = (
                self.options.fail_after_chunks
                if self.options.mode is MockMode.FAIL_AFTER_N_CHUNKS
                else None
            )
            for sent, start in enumerate(range(0, len(words), per_chunk)):
                if fail_after is not None and sent >= fail_after:
                    raise ProviderError(
                        ErrorKind.UNAVAILABLE, "upstream closed the stream mid-reply"
                    )
                if sent and chunk_delay:
                    await self._wait(chunk_delay)
                piece = " ".join(words[start : start + per_chunk])
                yield StreamChunk(text=piece if start == 0 else " " + piece, model=model)
            if fail_after is not None:
                raise ProviderError(ErrorKind.UNAVAILABLE, "upstream closed the stream mid-reply")
            yield StreamChunk(finish_reason=finish, usage=self._usage(request, len(words)))
            ended = True
        except ProviderError:
            ended = True
            raise
        finally:
            self.active_streams -= 1
            if not ended:
                self.abandoned_streams += 1
                self.stream_abandoned.set()

    async def embed(self, request: EmbeddingRequest, *, timeout: float) -> Embeddings:
        """The hashing embedder's vectors (same words, close vectors), so Embed and a
        collection embedding through the gateway work with no network."""
        self.calls += 1
        await self._wait(self.options.latency_ms)
        self._maybe_fail()
        size = request.dimensions or self.options.embedding_dimensions
        return Embeddings(
            vectors=mock_replies.vectors(request.inputs, size),
            model=request.model or self._spec.embedding_model or "mock-embedding",
            usage=Usage.of(sum(len(t.split()) for t in request.inputs), 0),
        )

    async def check_health(self) -> None:
        if self.options.mode in _FAILURES:
            kind, message, status = _FAILURES[self.options.mode]
            raise ProviderError(kind, message, http_status=status)

    async def list_models(self, *, timeout: float) -> list[str]:
        await self.check_health()  # fails as its mode says; error_rate is for generation only
        return list(dict.fromkeys((self._spec.model, *self._spec.models)))

    async def aclose(self) -> None:
        self.closed = True

    async def _wait(self, ms: float) -> None:
        if self._mode is MockMode.TIMEOUT:
            await asyncio.Event().wait()  # forever; ended by the router's timeout or a cancel
        if ms > 0:
            await asyncio.sleep(ms / 1000.0)

    def _maybe_fail(self) -> None:
        failure = _FAILURES.get(self.options.mode)
        if failure is not None:
            kind, message, status = failure
            retry_after = self.options.retry_after_s if kind is ErrorKind.RATE_LIMITED else None
            raise ProviderError(kind, message, retry_after=retry_after, http_status=status)
        if self.options.error_rate and self._rng.random() < self.options.error_rate:
            raise ProviderError(
                ErrorKind.UNAVAILABLE, "upstream answered 502 Bad Gateway", http_status=502
            )

    @staticmethod
    def _tool_calls(request: ChatRequest) -> tuple[ToolCall, ...]:
        """Given tools it may call, the mock calls them, unless the conversation ends with
        tool results: then it answers them in text, so an agent loop ends."""
        if not request.offers_tools or mock_replies.tool_results(request) is not None:
            return ()
        return mock_replies.tool_calls(request)

    def _reply_words(self, request: ChatRequest) -> tuple[list[str], FinishReason]:
        prompt = mock_replies.last_user_text(request)
        results = mock_replies.tool_results(request)
        if self.options.reply is not None:
            text = self.options.reply.replace("{prompt}", prompt)
        elif results is not None:
            text = results
        else:
            model = request.model or self._spec.model
            text = f"This is {self._spec.name} ({model}) answering: {prompt}"
        if self.options.reply is None and request.response_format.type is not (
            ResponseFormatType.TEXT
        ):
            text = mock_replies.json_reply(request, text)
        params = request.params
        finish = FinishReason.STOP
        for stop in params.stop:
            cut = text.find(stop)
            if cut >= 0:
                text = text[:cut]
        words = text.split()
        if params.max_tokens is not None and len(words) > params.max_tokens:
            words = words[: params.max_tokens]
            finish = FinishReason.LENGTH
        return words, finish

    @staticmethod
    def _usage(request: ChatRequest, completion_words: int) -> Usage:
        prompt = sum(len(m.content.split()) for m in request.messages)
        return Usage.of(prompt, completion_words)


def _call_words(calls: tuple[ToolCall, ...]) -> int:
    return sum(1 + len(c.arguments.split()) for c in calls)


def _call_chunks(calls: tuple[ToolCall, ...], model: str) -> list[StreamChunk]:
    """OpenAI's way: a fragment with id and name, then the arguments in two pieces, so a
    consumer must assemble them by index."""
    chunks = []
    for index, call in enumerate(calls):
        half = len(call.arguments) // 2
        chunks.append(
            StreamChunk(tool_calls=(ToolCallDelta(index, call.id, call.name, ""),), model=model)
        )
        for piece in (call.arguments[:half], call.arguments[half:]):
            chunks.append(StreamChunk(tool_calls=(ToolCallDelta(index, arguments=piece),)))
    return chunks


def from_config(
    spec: ProviderSpec, config: MockProviderConfig, api_key: str | None
) -> MockProvider:
    """The registry's factory for the mock kind (it has no key)."""
    return MockProvider(spec, config.mock)
