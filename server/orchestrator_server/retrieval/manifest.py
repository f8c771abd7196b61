"""What an index folder holds, and the manifest that says how it was built."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator_server.retrieval.embedders.base import EmbedderInfo

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
INDEX_FILE = "index.faiss"  # faiss.write_index of the vectors
STATE_FILE = "embedder.json"  # what a fitted embedder learnt from the collection (its IDF)
DOCUMENTS_FILE = "documents.jsonl"  # one {"id", "content", "metadata"} per vector, in order
METRIC = "cosine"  # unit vectors, inner product: score = cosine similarity


class IndexLoadError(Exception):
    """An index that cannot be used: missing, unreadable, or built by another embedder."""


class IndexMissing(IndexLoadError):
    """There is no index at the path at all (as opposed to a broken one)."""


class EmbedderMismatch(IndexLoadError):
    """The configured embedder is not the one that built the index."""


@dataclass(frozen=True, slots=True)
class Manifest:
    collection: str
    embedder: EmbedderInfo
    index_type: str  # flat | hnsw | ivf
    chunks: int  # vectors in the index
    documents: int  # source documents they came from
    build_seconds: float
    built_at: str  # ISO 8601, UTC
    index_params: dict[str, Any] = field(default_factory=dict)
    chunking: dict[str, Any] = field(default_factory=dict)
    metric: str = METRIC
    format_version: int = FORMAT_VERSION

    @property
    def dimension(self) -> int:
        assert self.embedder.dimension is not None  # a built index always knows it
        return self.embedder.dimension

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "collection": self.collection,
            "embedder": self.embedder.to_json(),
            "dimension": self.embedder.dimension,
            "metric": self.metric,
            "index": {"type": self.index_type, **self.index_params},
            "chunks": self.chunks,
            "documents": self.documents,
            "chunking": self.chunking,
            "build_seconds": round(self.build_seconds, 3),
            "built_at": self.built_at,
        }

    def write(self, folder: Path) -> None:
        text = json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"
        (folder / MANIFEST_FILE).write_text(text, encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise IndexMissing(f"no index at {folder} ({MANIFEST_FILE} is missing)") from None
        except (OSError, ValueError) as exc:
            raise IndexLoadError(f"{path} is unreadable: {exc}") from None
        try:
            if data["format_version"] != FORMAT_VERSION:
                raise IndexLoadError(
                    f"{path}: index format {data['format_version']}, this server reads "
                    f"{FORMAT_VERSION}; rebuild the index"
                )
            index = dict(data["index"])
            embedder = EmbedderInfo.from_json(data["embedder"])
            if embedder.dimension is None:
                raise IndexLoadError(f"{path}: the embedder's dimension is missing")
            return cls(
                collection=str(data["collection"]),
                embedder=embedder,
                index_type=str(index.pop("type")),
                chunks=int(data["chunks"]),
                documents=int(data["documents"]),
                build_seconds=float(data["build_seconds"]),
                built_at=str(data["built_at"]),
                index_params=index,
                chunking=dict(data.get("chunking") or {}),
                metric=str(data.get("metric", METRIC)),
                format_version=int(data["format_version"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexLoadError(f"{path} is not a valid manifest ({exc!r})") from None


def check_embedder(manifest: Manifest, embedder: EmbedderInfo) -> None:
    """Refuses an embedder other than the one that built the index: its vectors would live
    in another space, and every answer would be silently wrong."""
    built = manifest.embedder
    same_model = (built.kind, built.model) == (embedder.kind, embedder.model)
    same_size = embedder.dimension is None or embedder.dimension == built.dimension
    if not (same_model and same_size):
        raise EmbedderMismatch(
            f"the index was built with {built.describe()}, "
            f"but the configured embedder is {embedder.describe()}; rebuild the index "
            "or configure the embedder that built it"
        )
