"""A collection's vectors and passages: langchain-community's FAISS vector store over an
exact (flat) or approximate (HNSW, IVF) faiss index of unit vectors, inner-product metric,
so every score is the cosine similarity of query and passage (higher is closer).

Saved as plain files (manifest.json, index.faiss, documents.jsonl) rather than
FAISS.save_local's pickle, which runs code when loaded. Everything here is synchronous and
CPU-bound: callers run it in the retrieval thread pool.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from orchestrator_server.config.retrieval import IndexOptions
from orchestrator_server.retrieval.embedders.base import Vectors
from orchestrator_server.retrieval.filters import Predicate
from orchestrator_server.retrieval.manifest import (
    DOCUMENTS_FILE,
    INDEX_FILE,
    IndexLoadError,
    Manifest,
)
from orchestrator_server.retrieval.types import FETCH_K_FACTOR, Passage, RetrieveQuery, SearchType

with warnings.catch_warnings():
    # langchain-community announces its sunset on import; FAISS still lives there.
    warnings.simplefilter("ignore", DeprecationWarning)
    from langchain_community.docstore.in_memory import InMemoryDocstore
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy

# With a filter, this many nearest passages (at least) are fetched, then filtered.
FILTER_FETCH_MIN = 256
FILTER_FETCH_FACTOR = 16


@dataclass(frozen=True, slots=True)
class StoredDocument:
    id: str
    content: str
    metadata: Mapping[str, Any]


class _QueriesAreEmbeddedElsewhere(Embeddings):
    """The store is only ever searched by vector: embedding happens before, batched."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError("the store is searched by vector")

    def embed_query(self, text: str) -> list[float]:
        raise NotImplementedError("the store is searched by vector")


def new_index(dimension: int, options: IndexOptions, vectors: Vectors) -> Any:
    """An empty (or, for IVF, trained) faiss index of the configured type."""
    if options.type == "flat":
        return faiss.IndexFlatIP(dimension)
    if options.type == "hnsw":
        hnsw = faiss.IndexHNSWFlat(dimension, options.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = options.ef_construction
        return hnsw
    nlist = ivf_lists(options, len(vectors))
    quantizer = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIVFFlat(quantizer, dimension, nlist, faiss.METRIC_INNER_PRODUCT)
    # k-means on a sample: faiss uses at most 256 points per list anyway.
    sample = vectors if len(vectors) <= nlist * 256 else _sample(vectors, nlist * 256)
    index.train(sample)
    return index


def ivf_lists(options: IndexOptions, size: int) -> int:
    nlist = options.nlist or max(1, int(4 * math.sqrt(size)))
    return max(1, min(nlist, size))


def index_params(options: IndexOptions, size: int) -> dict[str, Any]:
    if options.type == "hnsw":
        return {"hnsw_m": options.hnsw_m, "ef_construction": options.ef_construction}
    if options.type == "ivf":
        return {"nlist": ivf_lists(options, size)}
    return {}


def _sample(vectors: Vectors, n: int) -> Vectors:
    rows = np.random.default_rng(0).choice(len(vectors), size=n, replace=False)
    return np.ascontiguousarray(vectors[np.sort(rows)])


class Store:
    def __init__(self, index: Any, documents: Sequence[StoredDocument]) -> None:
        if index.ntotal != len(documents):
            raise IndexLoadError(
                f"the index holds {index.ntotal} vectors but {len(documents)} passages"
            )
        if len({d.id for d in documents}) != len(documents):
            raise IndexLoadError("passage ids are not unique")
        self.documents = documents
        docstore = InMemoryDocstore(
            {
                d.id: Document(id=d.id, page_content=d.content, metadata=dict(d.metadata))
                for d in documents
            }
        )

        self._positions = {d.id: i for i, d in enumerate(documents)}
        self.vectorstore = FAISS(
            embedding_function=_QueriesAreEmbeddedElsewhere(),
            index=index,
            docstore=docstore,
            index_to_docstore_id={i: d.id for i, d in enumerate(documents)},
            distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
        )

    @property
    def index(self) -> Any:
        return self.vectorstore.index

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(
        cls, vectors: Vectors, documents: Sequence[StoredDocument], options: IndexOptions
    ) -> Store:
        index = new_index(vectors.shape[1], options, vectors)
        index.add(vectors)
        store = cls(index, documents)
        store.tune(options)
        return store

    def tune(self, options: IndexOptions) -> None:
        """Query-time settings, which need no rebuild."""
        index = self.index
        if isinstance(index, faiss.IndexHNSW):
            index.hnsw.efSearch = options.ef_search
        elif isinstance(index, faiss.IndexIVF):
            index.nprobe = options.nprobe
            index.make_direct_map()  # MMR reconstructs candidate vectors

    def save(self, folder: Path) -> None:
        faiss.write_index(self.index, str(folder / INDEX_FILE))
        with (folder / DOCUMENTS_FILE).open("w", encoding="utf-8") as out:
            for d in self.documents:
                line = {"id": d.id, "content": d.content, "metadata": dict(d.metadata)}
                out.write(json.dumps(line, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, folder: Path, manifest: Manifest, options: IndexOptions) -> Store:
        try:
            index = faiss.read_index(str(folder / INDEX_FILE))
        except RuntimeError as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
            raise IndexLoadError(f"{folder / INDEX_FILE} is not a faiss index ({reason})") from None
        if index.d != manifest.dimension:
            raise IndexLoadError(
                f"{folder / INDEX_FILE} has {index.d} dimensions, the manifest says "
                f"{manifest.dimension}"
            )
        store = cls(index, list(read_documents(folder / DOCUMENTS_FILE)))
        store.tune(options)
        return store

    def search(
        self, vector: Vectors, query: RetrieveQuery, predicate: Predicate | None
    ) -> list[Passage]:
        """`vector` is the query's unit vector (1-D). Most relevant first."""
        k = query.k
        vs = self.vectorstore
        embedding: Any = vector  # langchain wraps it in np.array([...]) itself
        if query.search_type is SearchType.MMR:
            fetch_k = min(query.fetch_k or FETCH_K_FACTOR * k, max(self.size, 1))
            found = vs.max_marginal_relevance_search_with_score_by_vector(
                embedding, k=k, fetch_k=fetch_k, lambda_mult=query.lambda_mult, filter=predicate
            )
            # langchain pairs filtered MMR picks with unfiltered scores; score them again.
            scored = [(doc, self._score(doc, vector)) for doc, _ in found]
        else:
            fetch_k = k
            if predicate is not None:
                fetch_k = query.fetch_k or max(FILTER_FETCH_MIN, FILTER_FETCH_FACTOR * k)
            found = vs.similarity_search_with_score_by_vector(
                embedding, k=k, filter=predicate, fetch_k=min(fetch_k, max(self.size, 1))
            )
            scored = [(doc, float(score)) for doc, score in found]
        if query.score_threshold is not None:
            scored = [(d, s) for d, s in scored if s >= query.score_threshold]
        return [
            Passage(id=str(doc.id), content=doc.page_content, score=s, metadata=doc.metadata)
            for doc, s in scored
        ]

    def _score(self, doc: Document, vector: Vectors) -> float:
        stored = self.index.reconstruct(self._positions[str(doc.id)])
        return float(np.dot(stored, vector))


def read_documents(path: Path) -> Iterable[StoredDocument]:
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                try:
                    row = json.loads(line)
                    yield StoredDocument(str(row["id"]), str(row["content"]), row["metadata"])
                except (ValueError, KeyError, TypeError):
                    raise IndexLoadError(f"{path}:{number}: not a passage record") from None
    except OSError as exc:
        raise IndexLoadError(f"{path} is unreadable ({exc.strerror})") from None
