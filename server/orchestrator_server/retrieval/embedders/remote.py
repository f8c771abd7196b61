"""Provider embedding endpoints, spoken by the provider adapters themselves: each embedder
here is its adapter with one more call, so URL, key, TLS, OAuth tokens (GigaChat) and the
provider's HTTP error table are the ones chat traffic uses.

Wire formats (reference §2.7, §3, §4, GigaChat table): OpenAI-compatible `POST /embeddings`
and GigaChat `POST /embeddings` take a list and answer `data[].embedding` with `index`;
Ollama `POST /api/embed` answers `embeddings`; YandexGPT `textEmbedding` takes one text per
call and needs doc and query models (`emb://<folder>/text-search-doc/latest`, ...).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

from orchestrator_server.config.providers import (
    KINDS,
    AzureOpenAIProviderConfig,
    GigaChatProviderConfig,
    HttpProviderBase,
    OllamaProviderConfig,
    OpenAIProviderConfig,
    ProviderConfig,
    YandexGptProviderConfig,
)
from orchestrator_server.config.retrieval import ProviderEmbedderConfig
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.providers.gigachat import GigaChatProvider
from orchestrator_server.providers.ollama import OllamaProvider
from orchestrator_server.providers.openai import OpenAIProvider
from orchestrator_server.providers.registry import ProviderSetupError, api_key, spec_of
from orchestrator_server.providers.yandexgpt import YandexGptProvider
from orchestrator_server.retrieval.embedders.base import (
    EmbedderInfo,
    Purpose,
    Vectors,
    unit_rows,
)

EMBEDDING_KINDS = tuple(kind.name for kind in KINDS if kind.embeddings)  # from the registry
TEXT_EMBEDDING_PATH = "/foundationModels/v1/textEmbedding"


class EmbeddingEndpoint(Protocol):
    async def embed_batch(
        self, texts: Sequence[str], model: str, *, timeout: float
    ) -> list[list[float]]: ...

    async def aclose(self) -> None: ...


class OpenAIEmbeddings(OpenAIProvider):
    def __init__(
        self,
        config: OpenAIProviderConfig | AzureOpenAIProviderConfig,
        key: str | None,
        dimensions: int | None,
    ) -> None:
        super().__init__(spec_of(config), config, key)
        self._dimensions = dimensions
        self._azure = isinstance(config, AzureOpenAIProviderConfig)

    async def embed_batch(
        self, texts: Sequence[str], model: str, *, timeout: float
    ) -> list[list[float]]:
        url = (
            f"{self.base_url}/openai/deployments/{model}/embeddings"
            if self._azure
            else f"{self.base_url}/embeddings"
        )
        body: dict[str, Any] = {"model": model, "input": list(texts), "encoding_format": "float"}
        if self._dimensions is not None:
            body["dimensions"] = self._dimensions
        reply = await self.call(
            "POST", url, json_body=body, headers=self._headers, params=self._params, timeout=timeout
        )
        return indexed_data(reply.json(), len(texts))


class GigaChatEmbeddings(GigaChatProvider):
    def __init__(self, config: GigaChatProviderConfig, key: str | None) -> None:
        super().__init__(spec_of(config), config, key)

    async def embed_batch(
        self, texts: Sequence[str], model: str, *, timeout: float
    ) -> list[list[float]]:
        body = {"model": model, "input": list(texts)}
        reply = await self._call("POST", f"{self.base_url}/embeddings", body, timeout)
        return indexed_data(reply.json(), len(texts))


class OllamaEmbeddings(OllamaProvider):
    def __init__(
        self, config: OllamaProviderConfig, key: str | None, dimensions: int | None
    ) -> None:
        super().__init__(spec_of(config), config, key)
        self._dimensions = dimensions

    async def embed_batch(
        self, texts: Sequence[str], model: str, *, timeout: float
    ) -> list[list[float]]:
        body: dict[str, Any] = {"model": model, "input": list(texts), "truncate": True}
        if self._dimensions is not None:
            body["dimensions"] = self._dimensions
        if self._keep_alive is not None:
            body["keep_alive"] = self._keep_alive
        reply = await self.call(
            "POST",
            f"{self.base_url}/api/embed",
            json_body=body,
            headers=self._headers,
            timeout=timeout,
        )
        data = reply.json()
        rows = data.get("embeddings") if isinstance(data, dict) else None
        return vector_rows(rows, len(texts))


class YandexEmbeddings(YandexGptProvider):
    def __init__(
        self, config: YandexGptProviderConfig, key: str | None, dimensions: int | None
    ) -> None:
        super().__init__(spec_of(config), config, key)
        self._dimensions = dimensions

    def embedding_uri(self, model: str) -> str:
        if "://" in model:
            return model
        if "/" in model:
            return f"emb://{self._folder_id}/{model}"
        return f"emb://{self._folder_id}/{model}/{self._branch}"

    async def embed_batch(
        self, texts: Sequence[str], model: str, *, timeout: float
    ) -> list[list[float]]:
        # One text per call, so a batch is a few calls side by side.
        replies = await asyncio.gather(*(self._one(t, model, timeout) for t in texts))
        return vector_rows(replies, len(texts))

    async def _one(self, text: str, model: str, timeout: float) -> Any:
        body: dict[str, Any] = {"modelUri": self.embedding_uri(model), "text": text}
        if self._dimensions is not None:
            body["dim"] = str(self._dimensions)  # int64: a string in proto-JSON
        reply = await self.call(
            "POST",
            f"{self.base_url}{TEXT_EMBEDDING_PATH}",
            json_body=body,
            headers=self._headers,
            timeout=timeout,
        )
        data = reply.json()
        return data.get("embedding") if isinstance(data, dict) else None


class ProviderEmbedder:
    """Batches of `batch_size` texts, `concurrency` calls at once; every reply must have the
    same dimension, which the first one tells when the config does not."""

    def __init__(
        self, endpoint: EmbeddingEndpoint, kind: str, options: ProviderEmbedderConfig
    ) -> None:
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
        parts = await asyncio.gather(*(self._batch(b, model, timeout) for b in batches))
        rows = [row for part in parts for row in part]
        widths = {len(r) for r in rows}
        if len(widths) > 1:
            raise ProviderError(ErrorKind.MALFORMED_RESPONSE, "embeddings of unequal length")
        if rows and self._info.dimension is None:
            self._info = EmbedderInfo(self._info.kind, self._info.model, len(rows[0]))
        return unit_rows(rows) if rows else unit_rows([[0.0] * (self._info.dimension or 1)])[:0]

    async def _batch(self, texts: Sequence[str], model: str, timeout: float) -> list[list[float]]:
        async with self._gate:
            return await self._endpoint.embed_batch(texts, model, timeout=timeout)

    async def aclose(self) -> None:
        await self._endpoint.aclose()


def build_provider_embedder(
    options: ProviderEmbedderConfig, providers: Sequence[ProviderConfig], where: str
) -> ProviderEmbedder:
    config = next((p for p in providers if p.name == options.provider), None)
    if config is None:
        raise ProviderSetupError(f"{where}.provider: no provider named {options.provider!r}")
    if not isinstance(config, HttpProviderBase) or config.kind not in EMBEDDING_KINDS:
        raise ProviderSetupError(
            f"{where}.provider: {config.name} is of kind {config.kind!r}, which has no "
            f"embedding endpoint here (kinds with one: {', '.join(EMBEDDING_KINDS)})"
        )
    key = api_key(config, f"{where} (provider {config.name})")
    endpoint: EmbeddingEndpoint
    if isinstance(config, OpenAIProviderConfig | AzureOpenAIProviderConfig):
        endpoint = OpenAIEmbeddings(config, key, options.dimensions)
    elif isinstance(config, GigaChatProviderConfig):
        endpoint = GigaChatEmbeddings(config, key)
    elif isinstance(config, OllamaProviderConfig):
        endpoint = OllamaEmbeddings(config, key, options.dimensions)
    else:
        assert isinstance(config, YandexGptProviderConfig)
        endpoint = YandexEmbeddings(config, key, options.dimensions)
    return ProviderEmbedder(endpoint, config.kind, options)


def indexed_data(data: Any, expected: int) -> list[list[float]]:
    """`{"data": [{"index": i, "embedding": [...]}, ...]}`, put back in input order."""
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ProviderError(ErrorKind.MALFORMED_RESPONSE, "embedding reply has no data list")
    try:
        ordered = sorted(items, key=lambda item: int(item.get("index", 0)))
        rows = [item["embedding"] for item in ordered]
    except (AttributeError, KeyError, TypeError, ValueError):
        raise ProviderError(
            ErrorKind.MALFORMED_RESPONSE, "embedding reply has an item without an embedding"
        ) from None
    return vector_rows(rows, expected)


def vector_rows(rows: Any, expected: int) -> list[list[float]]:
    """A list of `expected` lists of numbers. Numbers sent as strings are accepted: Yandex's
    REST reference types them so (UNVERIFIED whether real replies do)."""
    if not isinstance(rows, list) or len(rows) != expected:
        raise ProviderError(
            ErrorKind.MALFORMED_RESPONSE, f"expected {expected} embeddings in the reply"
        )
    try:
        out = [[float(x) for x in row] for row in rows]
    except (TypeError, ValueError):
        raise ProviderError(ErrorKind.MALFORMED_RESPONSE, "an embedding is not numbers") from None
    if any(not row for row in out):
        raise ProviderError(ErrorKind.MALFORMED_RESPONSE, "an embedding is empty")
    return out
