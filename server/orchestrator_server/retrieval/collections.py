"""The configured collections: loaded at start, searched per Retrieve, closed at stop.

Embedding and search never run on the event loop: in-process embedders and every faiss call
go to one bounded thread pool; provider embedders are plain async HTTP.
"""

from __future__ import annotations

import asyncio
import json
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
    BUILTIN_PREFIX,
    CollectionConfig,
    GatewayEmbedderConfig,
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
from orchestrator_server.retrieval.batching import Batcher
from orchestrator_server.retrieval.embedders.base import (
    Embedder,
    FittedEmbedder,
    Purpose,
    SyncEmbedder,
    Vectors,
)
from orchestrator_server.retrieval.embedders.factory import build_embedder
from orchestrator_server.retrieval.embedders.gateway import EmbedFunction
from orchestrator_server.retrieval.filters import Predicate, compile_filter
from orchestrator_server.retrieval.manifest import (
    STATE_FILE,
    IndexLoadError,
    IndexMissing,
    Manifest,
    check_embedder,
)
from orchestrator_server.retrieval.types import Passage, RetrieveQuery, RetrieveResult

if TYPE_CHECKING:
    from orchestrator_server.retrieval.store import Store

log = logging.getLogger(__name__)

DEFAULT_EMBED_TIMEOUT = 30.0


class CollectionLoadError(Exception):
    """A required collection could not be loaded; the message names it."""


def resolve_path(path: str) -> Path:
    """An index folder, absolute; 'builtin:NAME' is one shipped inside this package
    (read-only). A config file's relative paths are already relative to its folder
    (config.load_config); others (the embedded config, ApplyConfig) to the working one."""
    if path.startswith(BUILTIN_PREFIX):
        name = path.removeprefix(BUILTIN_PREFIX)
        return Path(str(resources.files("orchestrator_server.retrieval") / "builtin" / name))
    return Path(path).expanduser().absolute()


Search = tuple[RetrieveQuery, Predicate | None]


@dataclass
class Collection:
    name: str
    config: CollectionConfig
    embedder: Embedder | None = None
    store: Store | None = None
    manifest: Manifest | None = None
    batcher: Batcher[Search, list[Passage]] | None = None
    problem: str | None = None  # why it cannot serve, when it cannot
    embed_timeout: float = DEFAULT_EMBED_TIMEOUT

    async def search_batch(
        self, searches: list[Search], executor: ThreadPoolExecutor
    ) -> list[list[Passage]]:
        """Embeds the queries together, then searches: in-process embedders do both in one
        trip to the pool; provider embedders call out first."""
        assert self.embedder is not None
        loop = asyncio.get_running_loop()
        texts = [query.query for query, _ in searches]
        embedder = self.embedder
        if isinstance(embedder, SyncEmbedder):

            def embed_and_search() -> list[list[Passage]]:
                return self._search_all(embedder.embed_sync(texts, Purpose.QUERY), searches)

            return await loop.run_in_executor(executor, embed_and_search)
        try:
            vectors = await embedder.embed(texts, Purpose.QUERY, timeout=self.embed_timeout)
        except ProviderError as exc:
            raise _embedding_failed(self, exc) from None
        return await loop.run_in_executor(executor, self._search_all, vectors, searches)

    def _search_all(self, vectors: Vectors, searches: list[Search]) -> list[list[Passage]]:
        store = self.store
        assert store is not None
        if vectors.shape != (len(searches), store.dimension):
            raise CollectionUnavailable(
                f"collection {self.name!r}: the embedder returned vectors of shape "
                f"{vectors.shape} for {len(searches)} queries, and the index has "
                f"{store.dimension} dimensions; rebuild the index",
                name=self.name,
            )
        return [store.search(v, q, p) for v, (q, p) in zip(vectors, searches, strict=True)]


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

    @classmethod
    async def load(
        cls,
        config: RetrievalConfig,
        providers: Sequence[ProviderConfig],
        gateway: EmbedFunction | None = None,
        *,
        config_path: str | None = None,
    ) -> Collections:
        """Loads every collection. A required one that fails raises CollectionLoadError;
        an optional one is kept, unavailable, with the reason logged. `gateway` is the
        server's Embed path, for collections with a `gateway` embedder. A missing index's
        message says how to build it (with `config_path` in the command, if known)."""
        executor = ThreadPoolExecutor(config.workers, thread_name_prefix="retrieval")
        loaded: list[Collection] = []
        try:
            for i, c in enumerate(config.collections):
                collection = Collection(c.name, c)
                loaded.append(collection)
                try:
                    await _load_one(collection, config, providers, executor, i, gateway)
                except (IndexLoadError, ProviderSetupError, ImportError, OSError) as exc:
                    problem = f"collection {c.name!r}: {exc}"
                    if isinstance(exc, IndexMissing):
                        problem += "; " + build_hint(c.name, config_path)
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
        predicate = compile_filter(query.filter) if query.filter else None
        started = time.perf_counter()
        passages = await collection.batcher.submit((query, predicate))
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
    gateway: EmbedFunction | None,
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
        embedder = build_embedder(c.embedder, providers, executor, where, gateway)
    collection.embedder = embedder
    check_embedder(manifest, embedder.info)
    if isinstance(embedder, FittedEmbedder):
        await loop.run_in_executor(executor, _load_state, embedder, folder)
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
    if isinstance(c.embedder, ProviderEmbedderConfig):
        name = c.embedder.provider
        collection.embed_timeout = next(p.timeout for p in providers if p.name == name)
    elif isinstance(c.embedder, GatewayEmbedderConfig):
        collection.embed_timeout = c.embedder.timeout

    async def run(searches: list[Search]) -> list[list[Passage]]:
        return await collection.search_batch(searches, executor)

    collection.batcher = Batcher(run, max_batch=config.max_batch, concurrency=config.workers)
    log.info(
        "collection %r: %d passages, %s index, %s",
        c.name,
        manifest.chunks,
        manifest.index_type,
        manifest.embedder.describe(),
    )


def _load_state(embedder: FittedEmbedder, folder: Path) -> None:
    path = folder / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if embedder.fitted:
            return  # an embedder that learns nothing (hashing-v1)
        raise IndexLoadError(f"{path} is missing; rebuild the index") from None
    except (OSError, ValueError) as exc:
        raise IndexLoadError(f"{path} is unreadable: {exc}") from None
    try:
        embedder.load_state(state)
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexLoadError(f"{path}: {exc}; rebuild the index") from None


def build_hint(name: str, config_path: str | None) -> str:
    config = config_path or "YOUR-CONFIG.yaml"
    return (
        f"build it with: orchestrator index build --collection {name} --from DOCUMENTS "
        f"--config {config}"
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
