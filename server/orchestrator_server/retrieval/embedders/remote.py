"""Provider embedding endpoints, spoken by the provider adapters themselves: the embedder
calls its adapter's `embed`, so URL, key, TLS, OAuth tokens (GigaChat) and the provider's
HTTP error table are the ones chat traffic and the Embed RPC use.

Wire formats live in the adapters (OpenAI-compatible and GigaChat `POST /embeddings`,
Ollama `POST /api/embed`, Gemini `:batchEmbedContents`, YandexGPT `textEmbedding`, one text
per call, with doc and query models).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from orchestrator_server.config.providers import KINDS, ProviderConfig
from orchestrator_server.config.retrieval import ProviderEmbedderConfig
from orchestrator_server.domain.embeddings import EmbeddingRequest, InputType
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.providers.base import Provider
from orchestrator_server.providers.capabilities import capabilities_of
from orchestrator_server.providers.registry import ProviderSetupError, build_provider
from orchestrator_server.retrieval.embedders.base import (
    EmbedderInfo,
    Purpose,
    Vectors,
    unit_rows,
)

EMBEDDING_KINDS = tuple(kind.name for kind in KINDS if kind.capabilities.embeddings)
_INPUT_TYPES = {Purpose.DOCUMENT: InputType.DOCUMENT, Purpose.QUERY: InputType.QUERY}


class ProviderEmbedder:
    """Batches of `batch_size` texts, `concurrency` calls at once; every reply must have the
    same dimension, which the first one tells when the config does not."""

    def __init__(self, endpoint: Provider, kind: str, options: ProviderEmbedderConfig) -> None:
        self._endpoint = endpoint
        self._options = options
        self._gate = asyncio.Semaphore(options.concurrency)
        model = options.model + (f"+{options.query_model}" if options.query_model else "")
        self._info = EmbedderInfo(kind, model, options.dimensions)

    @property
    def info(self) -> EmbedderInfo:
        return self._info

    async def embed(self, texts: Sequence[str], purpose: Purpose, *, timeout: float) -> Vectors:
        model = self._options.model
        if purpose is Purpose.QUERY and self._options.query_model:
            model = self._options.query_model
        size = self._options.batch_size
        batches = [texts[i : i + size] for i in range(0, len(texts), size)]
        parts = await asyncio.gather(*(self._batch(b, model, purpose, timeout) for b in batches))
        rows = [row for part in parts for row in part]
        widths = {len(r) for r in rows}
        if len(widths) > 1:
            raise ProviderError(ErrorKind.MALFORMED_RESPONSE, "embeddings of unequal length")
        if rows and self._info.dimension is None:
            self._info = EmbedderInfo(self._info.kind, self._info.model, len(rows[0]))
        return unit_rows(rows) if rows else unit_rows([[0.0] * (self._info.dimension or 1)])[:0]

    async def _batch(
        self, texts: Sequence[str], model: str, purpose: Purpose, timeout: float
    ) -> list[list[float]]:
        request = EmbeddingRequest(
            tuple(texts), model, self._options.dimensions, _INPUT_TYPES[purpose]
        )
        async with self._gate:
            return (await self._endpoint.embed(request, timeout=timeout)).vectors

    async def aclose(self) -> None:
        await self._endpoint.aclose()


def build_provider_embedder(
    options: ProviderEmbedderConfig, providers: Sequence[ProviderConfig], where: str
) -> ProviderEmbedder:
    config = next((p for p in providers if p.name == options.provider), None)
    if config is None:
        raise ProviderSetupError(f"{where}.provider: no provider named {options.provider!r}")
    if not capabilities_of(config).embeddings:
        raise ProviderSetupError(
            f"{where}.provider: {config.name} is of kind {config.kind!r}, which has no "
            f"embedding endpoint here (kinds with one: {', '.join(EMBEDDING_KINDS)})"
        )
    # Its own adapter instance: the collection may outlive a reload of the chat providers.
    endpoint = build_provider(config, f"{where} (provider {config.name})")
    return ProviderEmbedder(endpoint, config.kind, options)
