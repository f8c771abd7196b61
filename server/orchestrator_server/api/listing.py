"""ListProviders and ListModels: from the domain's view of the current generation to proto,
limited to what the caller's key may use."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from google.protobuf import timestamp_pb2

from orchestrator.v1 import common_pb2, listing_pb2
from orchestrator_server.api.convert import CIRCUIT, PROVIDER_KINDS, health_status
from orchestrator_server.auth.scope import (
    may_use_alias,
    may_use_model,
    provider_refused,
    visible_providers,
)
from orchestrator_server.config.reload import ListingConfig
from orchestrator_server.domain.caller import Caller
from orchestrator_server.domain.errors import NotFound
from orchestrator_server.providers.base import Provider
from orchestrator_server.providers.catalog import ModelCatalog, ModelSource, ProviderModels
from orchestrator_server.reload.generation import Generation

T = TypeVar("T")

SOURCE = {
    ModelSource.PROVIDER: listing_pb2.MODEL_SOURCE_PROVIDER,
    ModelSource.CONFIG: listing_pb2.MODEL_SOURCE_CONFIG,
}


def _kind(kind: str) -> common_pb2.ProviderKind:
    return PROVIDER_KINDS.get(kind, common_pb2.PROVIDER_KIND_UNSPECIFIED)


def list_providers(generation: Generation, caller: Caller) -> listing_pb2.ListProvidersResponse:
    infos = []
    slots = generation.router.slots
    visible = set(visible_providers(caller, [s.name for s in slots], generation.config.aliases))
    for slot in slots:
        if slot.name not in visible:
            continue
        snap = slot.snapshot()
        infos.append(
            listing_pb2.ProviderInfo(
                name=slot.name,
                kind=_kind(slot.spec.kind),
                model=slot.spec.model,
                models=slot.spec.models,
                health=health_status(snap),
                circuit_state=CIRCUIT[snap.circuit_state],
                weight=slot.spec.weight,
            )
        )
    return listing_pb2.ListProvidersResponse(providers=infos, config_generation=generation.number)


def chosen(
    items: Sequence[T],
    names: Sequence[str],
    *,
    name: Callable[[T], str],
    caller: Caller,
    aliases: Mapping[str, Sequence[str]],
) -> list[T]:
    """The providers (or their snapshots) a request names, all the caller may use when none;
    NotFound names the first unknown one, ProviderNotAllowed one the caller may not use."""
    visible = set(visible_providers(caller, [name(item) for item in items], aliases))
    if not names:
        return [item for item in items if name(item) in visible]
    by_name = {name(item): item for item in items}
    for i, wanted in enumerate(names):
        if wanted not in by_name:
            raise NotFound(
                f"no provider named {wanted!r}",
                field=f"providers[{i}]",
                resource_type="provider",
                name=wanted,
            )
        if wanted not in visible:
            raise provider_refused(caller, wanted)
    return [by_name[n] for n in dict.fromkeys(names)]


async def list_models(
    catalog: ModelCatalog,
    providers: Sequence[Provider],
    config: ListingConfig,
    aliases: Mapping[str, Sequence[str]],
    caller: Caller,
    *,
    refresh: bool,
) -> listing_pb2.ListModelsResponse:
    listings = await asyncio.gather(
        *(catalog.models(p, config, refresh=refresh) for p in providers)
    )
    defaults = {p.spec.name: p.spec.model for p in providers}
    response = listing_pb2.ListModelsResponse(
        aliases=[
            listing_pb2.ModelAlias(name=a, targets=t)
            for a, t in aliases.items()
            if may_use_alias(caller, a, _resolved(t, defaults))
        ]
    )
    for listing in listings:
        response.providers.append(_provider_listing(listing))
        response.models.extend(
            listing_pb2.ListedModel(
                name=m.name,
                provider=m.provider,
                model=m.model,
                is_default=m.is_default,
                configured=m.configured,
                source=SOURCE[m.source],
            )
            for m in listing.models()
            if may_use_model(caller, m.provider, m.model)
        )
    return response


def _resolved(targets: Sequence[str], defaults: Mapping[str, str]) -> list[tuple[str, str]]:
    """An alias's targets as (provider, model); a bare provider means its default model. A
    target on a provider not listed here cannot be shown as usable."""
    out = []
    for target in targets:
        provider, _, model = target.partition("/")
        out.append((provider, model or defaults.get(provider, "")))
    return out


def _provider_listing(listing: ProviderModels) -> listing_pb2.ProviderModelListing:
    out = listing_pb2.ProviderModelListing(
        provider=listing.spec.name,
        kind=_kind(listing.spec.kind),
        source=SOURCE[listing.source],
        error=listing.error or "",
    )
    if listing.fetched_at is not None:
        at = timestamp_pb2.Timestamp()
        at.FromNanoseconds(int(listing.fetched_at * 1e9))
        out.fetched_at.CopyFrom(at)
    return out
