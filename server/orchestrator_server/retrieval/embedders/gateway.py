"""An embedder that goes through the gateway's Embed routing (config kind `gateway`).

Inside the server, `embed` is the router's own Embed path, so a collection's queries get
the same providers, fallback and attempt trail as an Embed call. Outside it (`orchestrator
index build`), `embed` calls the running gateway with the Python client. Either way the
index records kind `gateway` with the model and size, and the two must agree."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from orchestrator_server.config.retrieval import GatewayEmbedderConfig
from orchestrator_server.domain.embeddings import EmbeddingRequest, InputType
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.retrieval.embedders.base import EmbedderInfo, Purpose, Vectors, unit_rows

# (request with `model` set, seconds) -> one vector per input.
EmbedFunction = Callable[[EmbeddingRequest, float], Awaitable[list[list[float]]]]
_INPUT_TYPES = {Purpose.DOCUMENT: InputType.DOCUMENT, Purpose.QUERY: InputType.QUERY}


class GatewayEmbedder:
    def __init__(
        self,
        config: GatewayEmbedderConfig,
        embed: EmbedFunction,
        close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._config = config
        self._embed = embed
        self._close = close
        self._info = EmbedderInfo("gateway", config.model, config.dimensions)

    @property
    def info(self) -> EmbedderInfo:
        return self._info

    async def embed(self, texts: Sequence[str], purpose: Purpose, *, timeout: float) -> Vectors:
        size = self._config.batch_size
        batches = [tuple(texts[i : i + size]) for i in range(0, len(texts), size)]
        parts = await asyncio.gather(*(self._batch(b, purpose, timeout) for b in batches))
        rows = [row for part in parts for row in part]
        if len({len(r) for r in rows}) > 1:
            raise ProviderError(ErrorKind.MALFORMED_RESPONSE, "embeddings of unequal length")
        if rows and self._info.dimension is None:
            self._info = EmbedderInfo("gateway", self._config.model, len(rows[0]))
        return unit_rows(rows) if rows else unit_rows([[0.0] * (self._info.dimension or 1)])[:0]

    async def _batch(
        self, texts: tuple[str, ...], purpose: Purpose, timeout: float
    ) -> list[list[float]]:
        request = EmbeddingRequest(
            texts, self._config.model, self._config.dimensions, _INPUT_TYPES[purpose]
        )
        return await self._embed(request, min(timeout, self._config.timeout))

    async def aclose(self) -> None:
        if self._close is not None:
            await self._close()


def client_embedder(config: GatewayEmbedderConfig) -> GatewayEmbedder:
    """The gateway at `config.address`, through the Python client (for index build)."""
    from orchestrator_client import AsyncOrchestratorClient, OrchestratorError
    from orchestrator_client.requests import EmbedOptions

    client = AsyncOrchestratorClient(config.address)

    async def embed(request: EmbeddingRequest, timeout: float) -> list[list[float]]:
        options = EmbedOptions(
            model=request.model or "",
            input_type="query" if request.input_type is InputType.QUERY else "document",
        )
        if request.dimensions is not None:
            options["dimensions"] = request.dimensions
        try:
            reply = await client.embed(list(request.inputs), timeout=timeout, **options)
        except OrchestratorError as exc:
            raise ProviderError(
                ErrorKind.UNAVAILABLE, f"the gateway at {config.address} answered {exc.describe()}"
            ) from None
        return [list(e.values) for e in reply.embeddings]

    return GatewayEmbedder(config, embed, client.close)
