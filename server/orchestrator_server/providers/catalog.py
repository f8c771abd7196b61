"""ListModels' source of truth: each provider's own listing, cached with a TTL and fetched once
for concurrent callers; the configured models when a provider has no listing or it fails."""

from __future__ import annotations

import asyncio
import enum
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator_server.config.reload import ListingConfig
from orchestrator_server.domain.errors import ProviderError
from orchestrator_server.providers.base import Provider, ProviderSpec
from orchestrator_server.providers.listing import ModelLister

log = logging.getLogger(__name__)


class ModelSource(enum.Enum):
    PROVIDER = "provider"
    CONFIG = "config"


@dataclass(frozen=True, slots=True)
class CatalogModel:
    provider: str
    model: str
    is_default: bool
    configured: bool
    source: ModelSource

    @property
    def name(self) -> str:
        """What a caller puts in GenerateRequest.model to reach exactly this model."""
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class ProviderModels:
    spec: ProviderSpec
    source: ModelSource
    listed: tuple[str, ...]  # from the provider; () when source is CONFIG
    error: str | None = None  # why the provider's listing was not used
    fetched_at: float | None = None  # wall-clock time of the provider's listing

    def models(self) -> list[CatalogModel]:
        """The default model first, then the other configured ones, then the rest the
        provider lists. A configured model the listing lacks is still offered (a deployment
        or alias name the endpoint does not list), marked as coming from the config."""
        spec = self.spec
        configured = dict.fromkeys((spec.model, *spec.models))
        listed = set(self.listed)
        out = [
            CatalogModel(
                spec.name,
                model,
                model == spec.model,
                True,
                ModelSource.PROVIDER if model in listed else ModelSource.CONFIG,
            )
            for model in configured
        ]
        out += [
            CatalogModel(spec.name, model, False, False, ModelSource.PROVIDER)
            for model in self.listed
            if model not in configured
        ]
        return out


@dataclass(frozen=True, slots=True)
class _Entry:
    result: ProviderModels
    expires: float


class ModelCatalog:
    """Keyed by the Provider object, so a reload that keeps a provider keeps its cache, and
    a rebuilt provider (new key, new URL) is asked again."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._wall = wall
        self._cache: weakref.WeakKeyDictionary[Provider, _Entry] = weakref.WeakKeyDictionary()
        self._fetching: weakref.WeakKeyDictionary[Provider, asyncio.Task[ProviderModels]] = (
            weakref.WeakKeyDictionary()
        )

    async def models(
        self, provider: Provider, config: ListingConfig, *, refresh: bool = False
    ) -> ProviderModels:
        if not isinstance(provider, ModelLister):
            return ProviderModels(provider.spec, ModelSource.CONFIG, ())
        entry = self._cache.get(provider)
        if entry is not None and not refresh and self._clock() < entry.expires:
            return entry.result
        task = self._fetching.get(provider)
        if task is None:
            task = asyncio.ensure_future(self._fetch(provider, config))
            self._fetching[provider] = task
            task.add_done_callback(lambda _: self._fetching.pop(provider, None))
        # A caller that gives up does not cancel the fetch others may be waiting for.
        return await asyncio.shield(task)

    async def _fetch(self, provider: ModelLister, config: ListingConfig) -> ProviderModels:
        spec = provider.spec  # type: ignore[attr-defined]
        try:
            async with asyncio.timeout(config.timeout):
                listed = await provider.list_models(timeout=config.timeout)
        except TimeoutError:
            error = f"no listing within {config.timeout:.3g} s"
        except ProviderError as exc:
            error = f"{exc.kind.value}: {exc.message}"
        except Exception as exc:  # an adapter bug must not fail ListModels
            log.error("listing the models of %s failed", spec.name, exc_info=exc)
            error = f"listing failed ({type(exc).__name__})"
        else:
            result = ProviderModels(spec, ModelSource.PROVIDER, tuple(listed), None, self._wall())
            self._cache[provider] = _Entry(result, self._clock() + config.ttl)  # type: ignore[index]
            return result
        log.warning("provider %s: model listing failed, using the config (%s)", spec.name, error)
        result = ProviderModels(spec, ModelSource.CONFIG, (), error)
        self._cache[provider] = _Entry(result, self._clock() + config.error_ttl)  # type: ignore[index]
        return result
