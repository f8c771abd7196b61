"""What the gateway shows a caller of its own state (GetMetrics, ListProviders, ListModels and
any door's equivalents), limited to what the caller's key may use: domain views that each
door renders in its own wire shape."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from orchestrator_server.auth.scope import may_use_alias, provider_refused, visible_providers
from orchestrator_server.config.models import StrategyName
from orchestrator_server.domain.caller import Caller
from orchestrator_server.domain.errors import GatewayError, NotFound
from orchestrator_server.providers.base import Provider, ProviderSpec
from orchestrator_server.providers.catalog import CatalogModel, ProviderModels
from orchestrator_server.reload.generation import Generation
from orchestrator_server.routing.types import ProviderSnapshot, RouteOptions

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MetricsView:
    providers: tuple[ProviderSnapshot, ...]  # those asked for, else all the caller may see
    strategy: StrategyName
    uptime: float  # seconds since the gateway started


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    spec: ProviderSpec
    snapshot: ProviderSnapshot


@dataclass(frozen=True, slots=True)
class ProvidersView:
    providers: tuple[ProviderEntry, ...]  # in configuration order
    generation: int  # the configuration generation they belong to


@dataclass(frozen=True, slots=True)
class ModelListing:
    """One provider's listing (where it came from, when, why not the provider's own) and
    the models in it the caller may use."""

    listing: ProviderModels
    models: tuple[CatalogModel, ...]


@dataclass(frozen=True, slots=True)
class AliasEntry:
    name: str
    targets: tuple[str, ...]  # as configured: "provider" or "provider/model"
    reaches: tuple[tuple[str, str], ...]  # (provider, model) it routes to now; () if none


@dataclass(frozen=True, slots=True)
class ModelsView:
    listings: tuple[ModelListing, ...]
    aliases: tuple[AliasEntry, ...]  # the aliases the caller may use


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


def usable_aliases(generation: Generation, caller: Caller) -> tuple[AliasEntry, ...]:
    """The aliases the caller may use: ones its key names, or whose every configured target
    (a bare provider meaning its default model) the key allows."""
    defaults = {p.spec.name: p.spec.model for p in generation.providers}
    router = generation.router
    out = []
    for alias, targets in generation.config.aliases.items():
        if not may_use_alias(caller, alias, _resolved(targets, defaults)):
            continue
        try:
            reaches = tuple(router.targets(RouteOptions(model=alias)))
        except GatewayError:
            reaches = ()  # every target disabled
        out.append(AliasEntry(alias, tuple(targets), reaches))
    return tuple(out)


def _resolved(targets: Sequence[str], defaults: Mapping[str, str]) -> list[tuple[str, str]]:
    """An alias's targets as (provider, model). A target on a provider not serving now
    cannot be shown as usable."""
    out = []
    for target in targets:
        provider, _, model = target.partition("/")
        out.append((provider, model or defaults.get(provider, "")))
    return out


def provider_name(provider: Provider) -> str:
    return provider.spec.name


def snapshot_name(snapshot: ProviderSnapshot) -> str:
    return snapshot.name
