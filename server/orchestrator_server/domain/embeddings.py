"""An embedding request and its result inside the gateway."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from orchestrator_server.domain.chat import NO_META, RequestMeta, Usage, estimate_tokens


class InputType(enum.Enum):
    """Some models embed documents and queries differently (YandexGPT's doc and query
    models, Gemini's task types). UNSPECIFIED is treated as DOCUMENT where it matters."""

    UNSPECIFIED = "unspecified"
    DOCUMENT = "document"
    QUERY = "query"


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    """A validated batch as a provider sees it. `model` is None for the provider's default
    embedding model."""

    inputs: tuple[str, ...]
    model: str | None = None
    dimensions: int | None = None
    input_type: InputType = InputType.UNSPECIFIED
    request_id: str = ""
    meta: RequestMeta = NO_META

    def with_model(self, model: str | None) -> EmbeddingRequest:
        return self if model == self.model else replace(self, model=model)


@dataclass(frozen=True, slots=True)
class Embeddings:
    """A provider's answer: one vector per input, in input order."""

    vectors: list[list[float]]
    model: str
    usage: Usage

    @property
    def dimensions(self) -> int:
        return len(self.vectors[0]) if self.vectors else 0


def estimate_embedding_usage(inputs: tuple[str, ...]) -> Usage:
    return Usage.of(sum(estimate_tokens(t) for t in inputs), 0, estimated=True)
