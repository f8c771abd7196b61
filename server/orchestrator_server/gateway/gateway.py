"""The call layer both doors go through: what a call does between the door's conversion of
its wire shapes into domain objects and the conversion of the answer back.

    door: wire -> (Caller, ChatRequest | EmbeddingRequest, RouteOptions, deadline)
      -> Gateway: lease the current generation (released when the call or stream ends),
         authorize the caller against what the route reaches (refusals counted),
         the router, inside the lease
      -> door: domain result -> wire

It is domain code: no grpc, no aiohttp, no generated code. The Caller comes from the door
(which authenticated it), passed in explicitly; deadlines are absolute monotonic times
(`deadline` makes one from the time a caller has left, less a margin for the answer); errors
are domain errors, which each door maps with its own single table.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import TypeVar

from orchestrator_server.auth.failures import AuthFailures
from orchestrator_server.auth.scope import (
    Target,
    authorize_route,
    may_use_model,
    visible_providers,
)
from orchestrator_server.domain.caller import Caller
from orchestrator_server.domain.chat import ChatRequest
from orchestrator_server.domain.embeddings import EmbeddingRequest
from orchestrator_server.domain.errors import NotFound, PermissionDenied
from orchestrator_server.gateway.views import (
    MetricsView,
    ModelListing,
    ModelsView,
    ProviderEntry,
    ProvidersView,
    chosen,
    provider_name,
    snapshot_name,
    usable_aliases,
)
from orchestrator_server.providers.catalog import CatalogModel, ModelCatalog, ProviderModels
from orchestrator_server.reload.generation import Generation, Generations
from orchestrator_server.routing.types import (
    RoutedCompletion,
    RoutedEmbeddings,
    RouteOptions,
    StreamEvent,
)

T = TypeVar("T")

# A door's own reading of the route against the generation the call runs on (the HTTP
# door's `ext-<provider>-<model>` names), applied inside the lease, before authorization.
RouteResolver = Callable[[RouteOptions, Generation], RouteOptions]

# The router's work ends this much before the caller's deadline, so the answer (the
# attempts, a stream's partial-output trailer) reaches the caller before its own timer
# fires: a twentieth of the time left, within these bounds.
REPLY_MARGIN_MIN_S = 0.005
REPLY_MARGIN_MAX_S = 0.05


class Gateway:
    def __init__(
        self,
        generations: Generations,
        *,
        catalog: ModelCatalog,
        auth_failures: AuthFailures,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._generations = generations
        self._catalog = catalog
        self._failures = auth_failures
        self._clock = clock
        self._started = clock()

    def deadline(self, remaining: float | None) -> float | None:
        """The absolute deadline for a call whose caller has `remaining` seconds left (None:
        no deadline), less the reply margin."""
        if remaining is None:
            return None
        margin = min(REPLY_MARGIN_MAX_S, max(REPLY_MARGIN_MIN_S, remaining / 20))
        return self._clock() + max(0.0, remaining - margin)

    # -- calls ------------------------------------------------------------------------------

    async def generate(
        self,
        caller: Caller,
        request: ChatRequest,
        route: RouteOptions,
        *,
        deadline: float | None,
        resolve: RouteResolver | None = None,
    ) -> RoutedCompletion:
        generations = self._generations
        generation = generations.acquire()
        try:
            route = self._admit(caller, route, generation, resolve, embed=False)
            return await generation.router.generate(request, route, deadline=deadline)
        except NotFound as exc:
            raise _as_seen_by(caller, exc) from None
        finally:
            generations.release(generation)

    async def stream(
        self,
        caller: Caller,
        request: ChatRequest,
        route: RouteOptions,
        *,
        deadline: float | None,
        resolve: RouteResolver | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """The events of one streamed generation; every error is raised from iteration.
        The lease and the authorization happen on the first step; close the generator
        (aclosing) when done early: that aborts the upstream call and ends the lease."""
        generations = self._generations
        generation = generations.acquire()
        try:
            route = self._admit(caller, route, generation, resolve, embed=False)
            events = generation.router.stream(request, route, deadline=deadline)
            async with aclosing(events):
                async for event in events:
                    yield event
        except NotFound as exc:
            raise _as_seen_by(caller, exc) from None
        finally:
            generations.release(generation)

    async def embed(
        self,
        caller: Caller,
        request: EmbeddingRequest,
        route: RouteOptions,
        *,
        deadline: float | None,
        resolve: RouteResolver | None = None,
    ) -> RoutedEmbeddings:
        generations = self._generations
        generation = generations.acquire()
        try:
            route = self._admit(caller, route, generation, resolve, embed=True)
            return await generation.router.embed(request, route, deadline=deadline)
        except NotFound as exc:
            raise _as_seen_by(caller, exc) from None
        finally:
            generations.release(generation)

    def _admit(
        self,
        caller: Caller,
        route: RouteOptions,
        generation: Generation,
        resolve: RouteResolver | None,
        *,
        embed: bool,
    ) -> RouteOptions:
        """The route the call takes; PermissionDenied (counted) unless the caller's key may
        use what it names and every (provider, model) it may reach."""
        if resolve is not None:
            route = resolve(route, generation)
        if caller.unrestricted:
            return route
        router = generation.router
        resolver = router.embedding_targets if embed else router.targets

        def targets() -> list[Target]:
            return resolver(route)

        try:
            authorize_route(
                caller,
                model=route.model,
                provider=route.provider,
                targets=targets,
                aliases=generation.config.aliases,
            )
        except PermissionDenied as exc:
            self._failures.add(exc)
            raise
        return route

    # -- what the caller may see of the gateway ---------------------------------------------

    def metrics(self, caller: Caller, providers: Sequence[str] = ()) -> MetricsView:
        """Health and figures of the providers named (all the caller may see when none)."""
        generation = self._generations.current
        router = generation.router
        snapshots = self._chosen(
            router.snapshot(), providers, snapshot_name, caller, generation.config.aliases
        )
        return MetricsView(tuple(snapshots), router.strategy, self._clock() - self._started)

    def list_providers(self, caller: Caller) -> ProvidersView:
        """The providers the caller may reach (directly or through an alias it may use)."""
        generation = self._generations.current
        slots = generation.router.slots
        names = [slot.name for slot in slots]
        visible = set(visible_providers(caller, names, generation.config.aliases))
        entries = (ProviderEntry(s.spec, s.snapshot()) for s in slots if s.name in visible)
        return ProvidersView(tuple(entries), generation.number)

    async def list_models(
        self, caller: Caller, providers: Sequence[str] = (), *, refresh: bool = False
    ) -> ModelsView:
        """The models of the providers named (all the caller may use when none), from each
        provider's own listing where it has one, and the aliases the caller may use."""
        generations = self._generations
        generation = generations.acquire()
        try:
            config = generation.config
            listed = self._chosen(
                generation.providers, providers, provider_name, caller, config.aliases
            )
            listings = await asyncio.gather(
                *(self._catalog.models(p, config.listing, refresh=refresh) for p in listed)
            )
            return ModelsView(
                tuple(ModelListing(listing, _usable(caller, listing)) for listing in listings),
                usable_aliases(generation, caller),
            )
        finally:
            generations.release(generation)

    def _chosen(
        self,
        items: Sequence[T],
        names: Sequence[str],
        name: Callable[[T], str],
        caller: Caller,
        aliases: Mapping[str, Sequence[str]],
    ) -> list[T]:
        try:
            return chosen(items, names, name=name, caller=caller, aliases=aliases)
        except PermissionDenied as exc:
            self._failures.add(exc)
            raise


def _usable(caller: Caller, listing: ProviderModels) -> tuple[CatalogModel, ...]:
    return tuple(m for m in listing.models() if may_use_model(caller, m.provider, m.model))


def _as_seen_by(caller: Caller, error: NotFound) -> NotFound:
    """What exists, listed for a key that may use everything, is more than a limited key may
    see (ListModels shows it its own share): it gets the answer without the list."""
    return error if caller.unrestricted else error.unlisted()
