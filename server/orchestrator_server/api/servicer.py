"""OrchestratorService: converts messages and calls the domain. Nothing else: errors become
statuses at the border (api/border.py), around every method.

Every method runs behind the border's authentication: with `auth` configured, the call's
Caller is the authenticated key, and what a method answers or routes to is limited to what
it may use."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import TypeVar

from google.protobuf import timestamp_pb2

from orchestrator.v1 import (
    embed_pb2,
    generate_pb2,
    listing_pb2,
    metrics_pb2,
    orchestrator_service_pb2_grpc,
    retrieve_pb2,
    validate_key_pb2,
)
from orchestrator_server.api import convert, embed, listing, retrieve, validate_key
from orchestrator_server.api.border import Context, current_call
from orchestrator_server.api.validation import STRATEGY_ENUM, to_domain
from orchestrator_server.auth.failures import AuthFailures
from orchestrator_server.auth.scope import authorize_route
from orchestrator_server.config.models import LimitsConfig
from orchestrator_server.domain.caller import Caller
from orchestrator_server.domain.errors import PermissionDenied
from orchestrator_server.providers.base import Provider
from orchestrator_server.providers.catalog import ModelCatalog
from orchestrator_server.reload.generation import Generation, Generations
from orchestrator_server.retrieval.collections import Collections
from orchestrator_server.routing.types import (
    ProviderSnapshot,
    RouteOptions,
    StreamStarted,
    StreamText,
)
from orchestrator_server.validation.service import KeyValidationService

T = TypeVar("T")

# The router's work ends this much before the caller's deadline: a twentieth of the time
# left, within these bounds.
REPLY_MARGIN_MIN_S = 0.005
REPLY_MARGIN_MAX_S = 0.05


class OrchestratorServicer(orchestrator_service_pb2_grpc.OrchestratorServiceServicer):
    def __init__(
        self,
        generations: Generations,
        limits: LimitsConfig,
        catalog: ModelCatalog,
        *,
        key_validation: KeyValidationService,
        clock: Callable[[], float] = time.monotonic,
        collections: Collections | None = None,
        auth_failures: AuthFailures | None = None,
    ) -> None:
        # Each call leases the generation current when it starts and finishes on it.
        self._generations = generations
        self._catalog = catalog
        self._collections = Collections.empty() if collections is None else collections
        self._limits = limits
        self._key_validation = key_validation
        self._clock = clock
        self._started = clock()
        self._auth_failures = AuthFailures() if auth_failures is None else auth_failures

    async def Generate(
        self, request: generate_pb2.GenerateRequest, context: Context
    ) -> generate_pb2.GenerateResponse:
        ids = current_call(context)
        chat, route = to_domain(request, self._limits, ids.request_id, ids.caller)
        with self._generations.lease() as generation:
            self._authorize(ids.caller, route, generation)
            result = await generation.router.generate(chat, route, deadline=self._deadline(context))
        return convert.generate_response(result, ids.request_id)

    async def GenerateStream(
        self, request: generate_pb2.GenerateStreamRequest, context: Context
    ) -> AsyncIterator[generate_pb2.GenerateStreamResponse]:
        ids = current_call(context)
        chat, route = to_domain(request, self._limits, ids.request_id, ids.caller)
        with self._generations.lease() as generation:
            self._authorize(ids.caller, route, generation)
            events = generation.router.stream(chat, route, deadline=self._deadline(context))
            async with aclosing(events):
                async for event in events:
                    if type(event) is StreamText:
                        yield convert.stream_delta(event.text, event.tool_calls)
                    elif type(event) is StreamStarted:
                        yield convert.stream_start(event.provider, event.model, ids.request_id)
                    else:
                        yield convert.stream_end(event)  # type: ignore[arg-type]

    async def Embed(
        self, request: embed_pb2.EmbedRequest, context: Context
    ) -> embed_pb2.EmbedResponse:
        ids = current_call(context)
        embedding, route = embed.to_domain(request, self._limits, ids.request_id, ids.caller)
        with self._generations.lease() as generation:
            self._authorize(ids.caller, route, generation)
            result = await generation.router.embed(
                embedding, route, deadline=self._deadline(context)
            )
        return embed.to_response(result, ids.request_id)

    async def ValidateKey(
        self, request: validate_key_pb2.ValidateKeyRequest, context: Context
    ) -> validate_key_pb2.ValidateKeyResponse:
        """A rejected key is an answer (valid=false); only a bad request, the rate limit or
        a bug become a status."""
        verdict = await self._key_validation.validate(
            validate_key.to_check(request), time_left=context.time_remaining()
        )
        return validate_key.to_response(verdict)

    async def Retrieve(
        self, request: retrieve_pb2.RetrieveRequest, context: Context
    ) -> retrieve_pb2.RetrieveResponse:
        query = retrieve.to_query(request)
        return retrieve.to_response(await self._collections.retrieve(query))

    async def GetMetrics(
        self, request: metrics_pb2.GetMetricsRequest, context: Context
    ) -> metrics_pb2.GetMetricsResponse:
        generation = self._generations.current
        router = generation.router
        snapshots = self._chosen(
            router.snapshot(),
            request.providers,
            name=_snapshot_name,
            caller=current_call(context).caller,
            aliases=generation.config.aliases,
        )
        now = timestamp_pb2.Timestamp()
        now.GetCurrentTime()
        return metrics_pb2.GetMetricsResponse(
            providers=[convert.provider_metrics(s) for s in snapshots],
            strategy=STRATEGY_ENUM[router.strategy],
            uptime=convert.duration(self._clock() - self._started),
            generated_at=now,
        )

    async def ListProviders(
        self, request: listing_pb2.ListProvidersRequest, context: Context
    ) -> listing_pb2.ListProvidersResponse:
        return listing.list_providers(self._generations.current, current_call(context).caller)

    async def ListModels(
        self, request: listing_pb2.ListModelsRequest, context: Context
    ) -> listing_pb2.ListModelsResponse:
        caller = current_call(context).caller
        with self._generations.lease() as generation:
            config = generation.config
            chosen = self._chosen(
                generation.providers,
                request.providers,
                name=_provider_name,
                caller=caller,
                aliases=config.aliases,
            )
            return await listing.list_models(
                self._catalog,
                chosen,
                config.listing,
                config.aliases,
                caller,
                refresh=request.refresh,
            )

    def _chosen(
        self,
        items: Sequence[T],
        names: Sequence[str],
        *,
        name: Callable[[T], str],
        caller: Caller,
        aliases: Mapping[str, Sequence[str]],
    ) -> list[T]:
        """listing.chosen, its refusals counted."""
        try:
            return listing.chosen(items, names, name=name, caller=caller, aliases=aliases)
        except PermissionDenied as exc:
            self._auth_failures.add(exc)
            raise

    def _authorize(self, caller: Caller, route: RouteOptions, generation: Generation) -> None:
        """PermissionDenied (counted) unless the caller's key may use what the request names."""
        try:
            authorize_route(
                caller,
                model=route.model,
                provider=route.provider,
                targets=lambda: generation.router.targets(route),
                aliases=generation.config.aliases,
            )
        except PermissionDenied as exc:
            self._auth_failures.add(exc)
            raise

    def _deadline(self, context: Context) -> float | None:
        """The router's deadline: the caller's, less a margin for the answer (the attempts,
        a stream's partial-output trailer) to reach the caller before its own timer fires."""
        remaining: float | None = context.time_remaining()  # None: no deadline
        if remaining is None:
            return None
        margin = min(REPLY_MARGIN_MAX_S, max(REPLY_MARGIN_MIN_S, remaining / 20))
        return self._clock() + max(0.0, remaining - margin)


def _snapshot_name(snapshot: ProviderSnapshot) -> str:
    return snapshot.name


def _provider_name(provider: Provider) -> str:
    return provider.spec.name
