"""The protocol every provider adapter implements; the router depends on nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from orchestrator_server.domain.capabilities import NONE, Capabilities
from orchestrator_server.domain.chat import ChatRequest, Completion, StreamChunk
from orchestrator_server.domain.embeddings import EmbeddingRequest, Embeddings


@dataclass(frozen=True, slots=True)
class Price:
    """Price per 1,000 tokens."""

    prompt_per_1k: float = 0.0
    completion_per_1k: float = 0.0
    currency: str = ""

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * self.prompt_per_1k + completion_tokens * self.completion_per_1k
        ) / 1000.0

    @property
    def per_1k(self) -> float:
        """A single figure to rank providers by price (prompt and completion weighted equally)."""
        return self.prompt_per_1k + self.completion_per_1k


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """What the router needs to know about a provider, from its configuration."""

    name: str
    kind: str  # "mock", "gigachat", "openai", ... (config `kind`)
    model: str  # default model
    models: tuple[str, ...] = ()  # further models this provider serves
    timeout: float = 30.0  # seconds per unary attempt
    first_token_timeout: float | None = None  # streams: time to first chunk; None = timeout
    retries: int = 1  # extra attempts after the first, for retryable errors
    weight: float = 1.0
    price: Price = Price()  # of the default model, and of any model not in model_prices
    model_prices: tuple[tuple[str, Price], ...] = ()  # (model, price) where it differs
    # What it does beyond text chat: its kind's table, adjusted by its config.
    capabilities: Capabilities = NONE
    embedding_model: str | None = None  # default embedding model; None: none configured
    embedding_models: tuple[str, ...] = ()  # further embedding models it serves

    def serves(self, model: str) -> bool:
        return model == self.model or model in self.models

    def serves_embeddings(self, model: str) -> bool:
        return model == self.embedding_model or model in self.embedding_models

    def price_for(self, model: str) -> Price:
        for name, price in self.model_prices:
            if name == model:
                return price
        return self.price


@runtime_checkable
class Provider(Protocol):
    """A configured LLM provider.

    Implementations raise orchestrator_server.domain.errors.ProviderError for every failure
    they can classify. They must stop work promptly when cancelled: the router cancels the
    task (or closes the stream iterator) when the caller goes away or the deadline runs out.
    """

    @property
    def spec(self) -> ProviderSpec: ...

    async def generate(self, request: ChatRequest, *, timeout: float) -> Completion:
        """One unary completion. `timeout` is the time left for this attempt, in seconds."""
        ...

    def stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamChunk]:
        """An async iterator of chunks. `timeout` bounds the wait for each chunk."""
        ...

    async def embed(self, request: EmbeddingRequest, *, timeout: float) -> Embeddings:
        """Vectors for a batch of texts. The router calls it only on providers whose
        spec.capabilities.embeddings is set; others raise ProviderError(INVALID_REQUEST)."""
        ...

    async def check_health(self) -> None:
        """A free reachability check (no paid completion); raises ProviderError if unhealthy."""
        ...

    async def aclose(self) -> None:
        """Release sessions and connections. Called once, on shutdown or removal."""
        ...
