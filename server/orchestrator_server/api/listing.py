"""ListProviders and ListModels: the gateway's views (already limited to what the caller's key
may use) to proto."""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from orchestrator.v1 import common_pb2, listing_pb2
from orchestrator_server.api.convert import CIRCUIT, PROVIDER_KINDS, health_status
from orchestrator_server.gateway import ModelListing, ModelsView, ProvidersView
from orchestrator_server.providers.catalog import ModelSource

SOURCE = {
    ModelSource.PROVIDER: listing_pb2.MODEL_SOURCE_PROVIDER,
    ModelSource.CONFIG: listing_pb2.MODEL_SOURCE_CONFIG,
}


def _kind(kind: str) -> common_pb2.ProviderKind:
    return PROVIDER_KINDS.get(kind, common_pb2.PROVIDER_KIND_UNSPECIFIED)


def providers_response(view: ProvidersView) -> listing_pb2.ListProvidersResponse:
    return listing_pb2.ListProvidersResponse(
        providers=[
            listing_pb2.ProviderInfo(
                name=entry.spec.name,
                kind=_kind(entry.spec.kind),
                model=entry.spec.model,
                models=entry.spec.models,
                health=health_status(entry.snapshot),
                circuit_state=CIRCUIT[entry.snapshot.circuit_state],
                weight=entry.spec.weight,
            )
            for entry in view.providers
        ],
        config_generation=view.generation,
    )


def models_response(view: ModelsView) -> listing_pb2.ListModelsResponse:
    response = listing_pb2.ListModelsResponse(
        aliases=[listing_pb2.ModelAlias(name=a.name, targets=a.targets) for a in view.aliases]
    )
    for entry in view.listings:
        response.providers.append(_provider_listing(entry))
        response.models.extend(
            listing_pb2.ListedModel(
                name=m.name,
                provider=m.provider,
                model=m.model,
                is_default=m.is_default,
                configured=m.configured,
                source=SOURCE[m.source],
            )
            for m in entry.models
        )
    return response


def _provider_listing(entry: ModelListing) -> listing_pb2.ProviderModelListing:
    listing = entry.listing
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
