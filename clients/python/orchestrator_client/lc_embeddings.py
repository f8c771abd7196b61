"""LangChain Embeddings over the gateway's Embed RPC: usable wherever LangChain takes an
embedder (vector stores, retrievers), and as the embedder of a collection indexed for the
gateway's Retrieve (`orchestrator index build` with a `gateway` embedder uses it)."""

from __future__ import annotations

from langchain_core.embeddings import Embeddings
from pydantic import Field

from orchestrator_client.lc_connection import Connected
from orchestrator_client.requests import EmbedOptions


class OrchestratorEmbeddings(Connected, Embeddings):
    """Vectors from the gateway. `model` is "provider/model", an alias or an embedding model
    name (empty: the gateway's default); `dimensions` asks for shorter vectors. Documents
    and queries are sent as such (`input_type`), for models that embed them differently.
    Batches of `batch_size` texts per call."""

    model: str = ""
    provider: str = ""
    dimensions: int | None = None
    batch_size: int = Field(256, ge=1)
    tenant: str = ""
    user: str = ""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        client = self.sync_client()
        out: list[list[float]] = []
        for batch in self._batches(texts):
            reply = client.embed(batch, **self._options("document"))
            out += [list(e.values) for e in reply.embeddings]
        return out

    def embed_query(self, text: str) -> list[float]:
        reply = self.sync_client().embed([text], **self._options("query"))
        return list(reply.embeddings[0].values)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        client = self.async_client()
        out: list[list[float]] = []
        for batch in self._batches(texts):
            reply = await client.embed(batch, **self._options("document"))
            out += [list(e.values) for e in reply.embeddings]
        return out

    async def aembed_query(self, text: str) -> list[float]:
        reply = await self.async_client().embed([text], **self._options("query"))
        return list(reply.embeddings[0].values)

    def _batches(self, texts: list[str]) -> list[list[str]]:
        size = self.batch_size
        return [texts[i : i + size] for i in range(0, len(texts), size)]

    def _options(self, input_type: str) -> EmbedOptions:
        options = EmbedOptions(
            input_type=input_type,
            model=self.model,
            provider=self.provider,
            tenant=self.tenant,
            user=self.user,
        )
        if self.dimensions is not None:
            options["dimensions"] = self.dimensions
        return options
