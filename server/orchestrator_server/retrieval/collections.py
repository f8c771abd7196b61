"""The configured collections: loaded at start, searched per Retrieve, closed at stop.

Embedding and search never run on the event loop: in-process embedders and every faiss call
go to one bounded thread pool; provider embedders are plain async HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator_server.config.providers import ProviderConfig
from orchestrator_server.config.retrieval import (
    CollectionConfig,
    LocalEmbedderConfig,
    ProviderEmbedderConfig,
    RetrievalConfig,
)
from orchestrator_server.domain.attempts import Attempt, AttemptOutcome
from orchestrator_server.domain.errors import (
    AllProvidersFailed,
    AllRateLimited,
    CollectionUnavailable,
    ErrorKind,
    GatewayError,
    NotFound,
    ProviderError,
)
from orchestrator_server.providers.registry import ProviderSetupError
from orchestrator_server.retrieval.batching import QueryBatcher
from orchestrator_server.retrieval.embedders.base import Embedder
from orchestrator_server.retrieval.embedders.factory import build_embedder
from orchestrator_server.retrieval.filters import compile_filter
from orchestrator_server.retrieval.manifest import IndexLoadError, Manifest, check_embedder
from orchestrator_server.retrieval.types import RetrieveQuery, RetrieveResult

if TYPE_CHECKING:
    from orchestrator_server.retrieval.store import Store

log = logging.getLogger(__name__)

BUILTIN_PREFIX = "builtin:"
DEFAULT_EMBED_TIMEOUT = 30.0


class CollectionLoadError(Exception):
    """A required collection could not be loaded; the message names it."""


def resolve_path(path: str) -> Path:
    """An index folder; 'builtin:NAME' is one shipped inside this package (read-only)."""
    if path.startswith(BUILTIN_PREFIX):
        name = path.removeprefix(BUILTIN_PREFIX)
        return Path(str(resources.files("orchestrator_server.retrieval") / "builtin" / name))
    return Path(path).expanduser()


@dataclass
class Collection:
    name: str
    config: CollectionConfig
    embedder: Embedder | None = None
    store: Store | None = None
    manifest: Manifest | None = None
    batcher: QueryBatcher | None = None
    problem: str | None = None  # why it cannot serve, when it cannot


class Collections:
    def __init__(self, collections: Sequence[Collection], executor: ThreadPoolExecutor) -> None:
        self._by_name = {c.name: c for c in collections}
        self._executor = executor

    @classmethod
    def empty(cls) -> Collections:
        return cls((), ThreadPoolExecutor(1, thread_name_prefix="retrieval"))

    @property
    def executor(self) -> ThreadPoolExecutor:
        return self._executor

    def get(self, name: str) -> Collection | None:
        return self._by_name.get(name)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_name.values())

    @classmethod
    async def load(
        cls, config: RetrievalConfig, providers: Sequence[ProviderConfig]
    ) -> Collections:
        """Loads every collection. A required one that fails raises CollectionLoadError;
        an optional one is kept, unavailable, with the reason logged."""
        executor = ThreadPoolExecutor(config.workers, thread_name_prefix="retrieval")
        loaded: list[Collection] = []
        try:
            for i, c in enumerate(config.collections):
                collection = Collection(c.name, c)
                loaded.append(collection)
                try:
                    await _load_one(collection, config, providers, executor, i)
                except (IndexLoadError, ProviderSetupError, ImportError, OSError) as exc:
                    problem = f"collection {c.name!r}: {exc}"
                    if c.required:
                        raise CollectionLoadError(problem) from None
                    collection.problem = problem
                    log.error("%s; it is unavailable (required: false)", problem)
        except BaseException:
            await cls(loaded, executor).aclose()
            raise
        return cls(loaded, executor)

    async def retrieve(self, query: RetrieveQuery) -> RetrieveResult:
        collection = self._by_name.get(query.collection)
        if collection is None:
            raise NotFound(
                f"no collection named {query.collection!r}",
                field="collection",
                resource_type="collection",
                name=query.collection,
            )
        if collection.problem is not None:
            raise CollectionUnavailable(collection.problem, name=collection.name)
        assert collection.batcher is not None
        assert collection.store is not None
        predicate = compile_filter(query.filter) if query.filter else None
        started = time.perf_counter()
        try:
            vector = await collection.batcher.embed(query.query)
        except ProviderError as exc:
            raise _embedding_failed(collection, exc) from None
        store = collection.store
        if vector.shape[0] != store.dimension:
            raise CollectionUnavailable(
                f"collection {collection.name!r}: the embedder now returns {vector.shape[0]} "
                f"dimensions but the index has {store.dimension}; rebuild the index",
                name=collection.name,
            )
        loop = asyncio.get_running_loop()
        passages = await loop.run_in_executor(
            self._executor, store.search, vector, query, predicate
        )
        return RetrieveResult(tuple(passages), time.perf_counter() - started)

    async def aclose(self) -> None:
        for c in self._by_name.values():
            if c.batcher is not None:
                await c.batcher.aclose()
            if c.embedder is not None:
                await c.embedder.aclose()
        self._executor.shutdown(wait=False, cancel_futures=True)


async def _load_one(
    collection: Collection,
    config: RetrievalConfig,
    providers: Sequence[ProviderConfig],
    executor: ThreadPoolExecutor,
    i: int,
) -> None:
    from orchestrator_server.retrieval.store import Store

    c = collection.config
    loop = asyncio.get_running_loop()
    folder = resolve_path(c.path)
    manifest = await loop.run_in_executor(executor, Manifest.read, folder)
    where = f"retrieval.collections[{i}].embedder"
    if isinstance(c.embedder, LocalEmbedderConfig):  # loading a model takes seconds
        embedder = await loop.run_in_executor(
            executor, build_embedder, c.embedder, providers, executor, where
        )
    else:
        embedder = build_embedder(c.embedder, providers, executor, where)
    collection.embedder = embedder
    check_embedder(manifest, embedder.info)
    if manifest.index_type != c.index.type:
        log.warning(
            "collection %r: configured as %s but the index on disk is %s; it is served as "
            "built (rebuild to change it)",
            c.name,
            c.index.type,
            manifest.index_type,
        )
    collection.store = await loop.run_in_executor(executor, Store.load, folder, manifest, c.index)
    collection.manifest = manifest
    timeout = DEFAULT_EMBED_TIMEOUT
    if isinstance(c.embedder, ProviderEmbedderConfig):
        timeout = next((p.timeout for p in providers if p.name == c.embedder.provider), timeout)
    collection.batcher = QueryBatcher(
        embedder, max_batch=config.max_batch, concurrency=config.workers, timeout=timeout
    )
    log.info(
        "collection %r: %d passages, %s index, %s",
        c.name,
        manifest.chunks,
        manifest.index_type,
        manifest.embedder.describe(),
    )


def _embedding_failed(collection: Collection, error: ProviderError) -> GatewayError:
    assert collection.embedder is not None
    info = collection.embedder.info
    config = collection.config.embedder
    name = config.provider if isinstance(config, ProviderEmbedderConfig) else info.kind
    attempt = Attempt(name, info.model, AttemptOutcome.FAILED, error.kind.value, error.message)
    message = f"embedding the query for collection {collection.name!r} failed: {error.message}"
    if error.kind in (ErrorKind.RATE_LIMITED, ErrorKind.QUOTA):
        return AllRateLimited(message, (attempt,), retry_after=error.retry_after)
    return AllProvidersFailed(message, (attempt,), retry_after=error.retry_after)
