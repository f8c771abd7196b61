"""The embedder protocol, and the identity an index records of the embedder that built it."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]  # shape (n, dimension), each row of unit length


class Purpose(enum.Enum):
    """Some models embed documents and queries differently (YandexGPT's doc/query models)."""

    DOCUMENT = "document"
    QUERY = "query"


@dataclass(frozen=True, slots=True)
class EmbedderInfo:
    """Who makes the vectors. Two embedders with equal kind and model make comparable vectors;
    dimension is None until a provider's first reply tells it."""

    kind: str  # "hashing", "sentence-transformers", or a provider kind ("openai", ...)
    model: str
    dimension: int | None

    def describe(self) -> str:
        size = f", {self.dimension} dimensions" if self.dimension else ""
        return f"{self.kind} {self.model}{size}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model, "dimension": self.dimension}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EmbedderInfo:
        dimension = data.get("dimension")
        return cls(
            str(data["kind"]), str(data["model"]), None if dimension is None else int(dimension)
        )


class Embedder(Protocol):
    @property
    def info(self) -> EmbedderInfo: ...

    async def embed(self, texts: Sequence[str], purpose: Purpose, *, timeout: float) -> Vectors:
        """One unit-length float32 row per text. Never blocks the event loop: CPU-bound
        embedders run in the executor they were given. Raises ProviderError on failure."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class FittedEmbedder(Protocol):
    """An embedder that learns from the collection it indexes (the hashing embedder's IDF):
    `fit` at build time returns the state stored with the index, `load_state` takes it back
    when the index is loaded; `fitted` says whether it can embed yet."""

    @property
    def fitted(self) -> bool: ...

    def fit(self, texts: Sequence[str]) -> dict[str, Any] | None: ...

    def load_state(self, state: dict[str, Any]) -> None: ...


class SyncEmbedder:
    """Base of embedders that compute in-process: the work goes to the shared thread pool."""

    def __init__(self, executor: Executor | None) -> None:
        self._executor = executor

    @property
    def info(self) -> EmbedderInfo:
        raise NotImplementedError

    def embed_sync(self, texts: Sequence[str], purpose: Purpose) -> Vectors:
        raise NotImplementedError

    async def embed(self, texts: Sequence[str], purpose: Purpose, *, timeout: float) -> Vectors:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.embed_sync, list(texts), purpose)

    async def aclose(self) -> None:
        return None


def unit_rows(matrix: npt.ArrayLike) -> Vectors:
    """float32 rows scaled to unit length (zero rows stay zero), so inner product is cosine."""
    rows = np.asarray(matrix, dtype=np.float32)
    if rows.ndim != 2:
        raise ValueError("embeddings must be a 2-D array")
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(rows / norms, dtype=np.float32)
