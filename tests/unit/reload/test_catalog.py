"""The model catalog: cached per provider object for its TTL, fetched once for concurrent
callers, the configuration when a provider cannot list."""

from __future__ import annotations

import asyncio

from orchestrator_server.config.reload import ListingConfig
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.providers.base import ProviderSpec
from orchestrator_server.providers.catalog import ModelCatalog, ModelSource
from tests.unit.routing.fakes import FakeClock

SPEC = ProviderSpec(name="p", kind="openai", model="m-default", models=("m-extra",))
CONFIG = ListingConfig(ttl=60, error_ttl=5, timeout=1)


class Lister:
    def __init__(self, models: list[str]) -> None:
        self.models = models
        self.calls = 0
        self.release = asyncio.Event()
        self.release.set()
        self.fail: ProviderError | None = None

    @property
    def spec(self) -> ProviderSpec:
        return SPEC

    async def list_models(self, *, timeout: float) -> list[str]:
        self.calls += 1
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return self.models


class NoLister:
    spec = SPEC


async def test_cached_for_the_ttl_then_fetched_again() -> None:
    clock = FakeClock()
    catalog = ModelCatalog(clock=clock, wall=lambda: 1.0)
    lister = Lister(["m-default", "m-other"])
    first = await catalog.models(lister, CONFIG)  # type: ignore[arg-type]
    await catalog.models(lister, CONFIG)  # type: ignore[arg-type]
    assert lister.calls == 1
    clock.advance(61)
    await catalog.models(lister, CONFIG)  # type: ignore[arg-type]
    assert lister.calls == 2
    assert first.source is ModelSource.PROVIDER
    assert [(m.name, m.source, m.is_default, m.configured) for m in first.models()] == [
        ("p/m-default", ModelSource.PROVIDER, True, True),
        ("p/m-extra", ModelSource.CONFIG, False, True),
        ("p/m-other", ModelSource.PROVIDER, False, False),
    ]


async def test_concurrent_callers_share_one_fetch() -> None:
    catalog = ModelCatalog()
    lister = Lister(["x"])
    lister.release.clear()
    waiting = [
        asyncio.ensure_future(catalog.models(lister, CONFIG))  # type: ignore[arg-type]
        for _ in range(5)
    ]
    await asyncio.sleep(0)
    lister.release.set()
    results = await asyncio.gather(*waiting)
    assert lister.calls == 1
    assert {r.listed for r in results} == {("x",)}


async def test_failure_falls_back_to_config_for_the_error_ttl() -> None:
    clock = FakeClock()
    catalog = ModelCatalog(clock=clock)
    lister = Lister(["x"])
    lister.fail = ProviderError(ErrorKind.AUTH, "upstream rejected the API key (401)")
    failed = await catalog.models(lister, CONFIG)  # type: ignore[arg-type]
    assert failed.source is ModelSource.CONFIG
    assert failed.error == "auth: upstream rejected the API key (401)"
    assert [m.name for m in failed.models()] == ["p/m-default", "p/m-extra"]
    lister.fail = None
    await catalog.models(lister, CONFIG)  # type: ignore[arg-type]
    assert lister.calls == 1
    clock.advance(6)
    assert (await catalog.models(lister, CONFIG)).source is ModelSource.PROVIDER  # type: ignore[arg-type]


async def test_refresh_skips_the_cache_and_no_lister_means_config() -> None:
    catalog = ModelCatalog()
    lister = Lister(["x"])
    await catalog.models(lister, CONFIG)  # type: ignore[arg-type]
    await catalog.models(lister, CONFIG, refresh=True)  # type: ignore[arg-type]
    assert lister.calls == 2
    plain = await catalog.models(NoLister(), CONFIG)  # type: ignore[arg-type]
    assert (plain.source, plain.error) == (ModelSource.CONFIG, None)
