"""The response cache: replies of completed calls, found again by an exact match on the
normalised request, its resolved provider and model, and the caller's scope.

Only a completed reply can be stored: `put` takes a CachedResponse (made from a Completion),
and a stream is stored by its recorder's `complete()`, which a failed or cut stream never
reaches. Backend failures are misses, never errors: the cache only ever saves work."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator_server.config.state import CacheConfig
from orchestrator_server.domain.chat import ChatRequest, FinishReason, Usage
from orchestrator_server.state.backend import CacheStore
from orchestrator_server.state.cached import CachedResponse
from orchestrator_server.state.guard import BackendFailed, Guard

KEY_FORMAT = 1  # part of every key, so a change of normal form never matches old entries
ALL_MODELS = "*"
# Who asked and how the request is traced do not change the reply.
_NOT_REQUEST = frozenset({"request_id", "meta"})


@dataclass(slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0
    stores: int = 0
    uncacheable: int = 0  # requests the configuration keeps out (temperature > 0)
    failed: int = 0  # gets and puts the backend did not answer (counted as misses/skips)


def cache_scope(models: Iterable[str] | None) -> str:
    """The scope of a caller whose key may use `models` (patterns, aliases; None: anything).
    Keys allowed the same models share entries; any difference separates them."""
    if models is None:
        return ALL_MODELS
    text = "\n".join(sorted(set(models)))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


_SCALARS = (str, int, float, bool, type(None))
_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(cls: type) -> tuple[str, ...] | None:
    names = _FIELDS.get(cls)
    if names is None and dataclasses.is_dataclass(cls):
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _normal(value: Any) -> Any:
    """A JSON form that is equal for equal values: a dataclass as its type's name and its
    fields in order, a mapping sorted by key, bytes by their digest."""
    cls = type(value)
    if cls in _SCALARS:
        return value
    if cls is tuple or cls is list:
        return [_normal(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    names = _fields(cls)
    if names is not None:
        return [cls.__name__, *(_normal(getattr(value, name)) for name in names)]
    if isinstance(value, Mapping):
        return [[str(k), _normal(v)] for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))]
    if isinstance(value, bytes | bytearray | memoryview):
        return {"sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, _SCALARS):  # subclasses of str, int, float
        return value
    raise TypeError(f"no normal form for {cls.__name__}")


def request_key(request: ChatRequest, *, provider: str, model: str, scope: str) -> str:
    """Every field of the request (messages, params, and whatever it gains: tools, formats,
    images) except who sent it and its id, with the resolved provider and model."""
    names = _fields(type(request))
    assert names is not None
    fields = [[name, _normal(getattr(request, name))] for name in names if name not in _NOT_REQUEST]
    body = [KEY_FORMAT, scope, provider, model, fields]
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class ResponseCache:
    def __init__(self, config: CacheConfig, store: CacheStore, *, guard: Guard | None = None):
        self._config = config
        self._store = store
        self._guard = guard if guard is not None else Guard(0.1) if store.remote else None
        self.stats = CacheStats()

    @property
    def enabled(self) -> bool:
        return self._config.enabled

    def key(self, request: ChatRequest, *, provider: str, model: str, scope: str) -> str | None:
        """The request's cache key, or None when it must not be cached (the cache is off, or
        temperature > 0 without `cache_nonzero_temperature`). An unset temperature counts as
        cacheable: set one above 0 (or opt out per request) to always get a fresh reply."""
        if not self._config.enabled:
            return None
        temperature = request.params.temperature
        if (
            temperature is not None
            and temperature > 0
            and not self._config.cache_nonzero_temperature
        ):
            self.stats.uncacheable += 1
            return None
        return request_key(request, provider=provider, model=model, scope=scope)

    async def get(self, key: str, *, time_left: float | None = None) -> CachedResponse | None:
        try:
            if self._guard is None:
                found = await self._store.get(key)
            else:
                found = await self._guard.run("cache get", lambda: self._store.get(key), time_left)
        except BackendFailed:
            self.stats.failed += 1
            found = None
        if found is None:
            self.stats.misses += 1
        else:
            self.stats.hits += 1
        return found

    async def put(self, key: str, response: CachedResponse) -> None:
        ttl = self._config.ttl
        try:
            if self._guard is None:
                await self._store.put(key, response, ttl)
            else:
                await self._guard.run("cache put", lambda: self._store.put(key, response, ttl))
        except BackendFailed:
            self.stats.failed += 1
            return
        self.stats.stores += 1

    def recorder(self, key: str) -> StreamRecorder:
        return StreamRecorder(self, key)

    async def aclose(self) -> None:
        await self._store.aclose()


class StreamRecorder:
    """Collects a stream's text deltas; `complete()` stores them once the stream ended well."""

    __slots__ = ("_cache", "_done", "_key", "_parts")

    def __init__(self, cache: ResponseCache, key: str) -> None:
        self._cache = cache
        self._key = key
        self._parts: list[str] = []
        self._done = False

    def add(self, text: str) -> None:
        if text:
            self._parts.append(text)

    async def complete(
        self,
        *,
        provider: str,
        model: str,
        finish_reason: FinishReason,
        usage: Usage,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Stores the stream as it was sent (pieces and all). Call it only for a stream that
        ended with its end event; once."""
        if self._done:
            return
        self._done = True
        response = CachedResponse(
            "".join(self._parts),
            finish_reason,
            usage,
            provider,
            model,
            tuple(len(p) for p in self._parts),
            dict(extra or {}),
        )
        await self._cache.put(self._key, response)
