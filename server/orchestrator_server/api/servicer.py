"""OrchestratorService: converts messages, calls the domain, maps errors. Nothing else.

Every method runs behind api/auth.py: with `auth` configured, `current_caller` is the
authenticated key, and what a method answers or routes to is limited to what it may use."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing

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
from orchestrator_server.api.auth import current_caller
from orchestrator_server.api.calls import Context, abort, caller_ids, caller_request_id
from orchestrator_server.api.validation import STRATEGY_ENUM, to_domain
from orchestrator_server.auth.failures import AuthFailures
from orchestrator_server.auth.scope import authorize_route, provider_refused, visible_providers
from orchestrator_server.config.models import LimitsConfig
from orchestrator_server.domain.caller import Caller
from orchestrator_server.domain.errors import NotFound, PermissionDenied
from orchestrator_server.providers.catalog import ModelCatalog
from orchestrator_server.reload.generation import Generation, Generations
from orchestrator_server.retrieval.collections import Collections
from orchestrator_server.routing.types import RouteOptions, StreamStarted, StreamText
from orchestrator_server.validation.service import KeyValidationService


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
        request_id, key_id = caller_ids(context)
        caller = current_caller(key_id)
        try:
            chat, route = to_domain(request, self._limits, request_id, caller)
            generation = self._generations.acquire()
            try:
                self._authorize(caller, route, generation)
                result = await generation.router.generate(
                    chat, route, deadline=self._deadline(context)
                )
            finally:
                self._generations.release(generation)
            return convert.generate_response(result, request_id)
        except Exception as exc:  # every failure becomes a status
            await abort(context, exc, request_id)

    async def GenerateStream(
        self, request: generate_pb2.GenerateStreamRequest, context: Context
    ) -> AsyncIterator[generate_pb2.GenerateStreamResponse]:
        request_id, key_id = caller_ids(context)
        caller = current_caller(key_id)
        try:
            chat, route = to_domain(request, self._limits, request_id, caller)
            generation = self._generations.acquire()
            try:
                self._authorize(caller, route, generation)
                events = generation.router.stream(chat, route, deadline=self._deadline(context))
                async with aclosing(events):
                    async for event in events:
                        if type(event) is StreamText:
                            yield convert.stream_delta(event.text, event.tool_calls)
                        elif type(event) is StreamStarted:
                            yield convert.stream_start(event.provider, event.model, request_id)
                        else:
                            yield convert.stream_end(event)  # type: ignore[arg-type]
            finally:
                self._generations.release(generation)
        except Exception as exc:  # every failure becomes a status
            await abort(context, exc, request_id)

    async def Embed(
        self, request: embed_pb2.EmbedRequest, context: Context
    ) -> embed_pb2.EmbedResponse:
        request_id, key_id = caller_ids(context)
        caller = current_caller(key_id)
        try:
            embedding, route = embed.to_domain(request, self._limits, request_id, caller)
            generation = self._generations.acquire()
            try:
                self._authorize(caller, route, generation)
                result = await generation.router.embed(
                    embedding, route, deadline=self._deadline(context)
                )
            finally:
                self._generations.release(generation)
            return embed.to_response(result, request_id)
        except Exception as exc:  # every failure becomes a status
            await abort(context, exc, request_id)

    async def ValidateKey(
        self, request: validate_key_pb2.ValidateKeyRequest, context: Context
    ) -> validate_key_pb2.ValidateKeyResponse:
        """A rejected key is an answer (valid=false); only a bad request, the rate limit or
        a bug become a status."""
        try:
            verdict = await self._key_validation.validate(
                validate_key.to_check(request), time_left=context.time_remaining()
            )
            return validate_key.to_response(verdict)
        except Exception as exc:  # every failure becomes a status
            await abort(context, exc, caller_request_id(context))

    async def Retrieve(
        self, request: retrieve_pb2.RetrieveRequest, context: Context
    ) -> retrieve_pb2.RetrieveResponse:
        try:
            query = retrieve.to_query(request)
            return retrieve.to_response(await self._collections.retrieve(query))
        except Exception as exc:  # every failure becomes a status
            await abort(context, exc, caller_request_id(context))

    async def GetMetrics(
        self, request: metrics_pb2.GetMetricsRequest, context: Context
    ) -> metrics_pb2.GetMetricsResponse:
        generation = self._generations.current
        router = generation.router
        caller = current_caller()
        snapshots = router.snapshot()
        visible = set(
            visible_providers(caller, [s.name for s in snapshots], generation.config.aliases)
        )
        if request.providers:
            by_name = {s.name: s for s in snapshots}
            for i, name in enumerate(request.providers):
                if name not in by_name:
                    error = NotFound(
                        f"no provider named {name!r}",
                        field=f"providers[{i}]",
                        resource_type="provider",
                        name=name,
                    )
                    await abort(context, error, caller_request_id(context))
                if name not in visible:
                    refused = provider_refused(caller, name)
                    self._auth_failures.add(refused)
                    await abort(context, refused, caller_request_id(context))
            snapshots = [by_name[name] for name in dict.fromkeys(request.providers)]
        else:
            snapshots = [s for s in snapshots if s.name in visible]
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
        return listing.list_providers(self._generations.current, current_caller())

    async def ListModels(
        self, request: listing_pb2.ListModelsRequest, context: Context
    ) -> listing_pb2.ListModelsResponse:
        request_id = caller_request_id(context)
        try:
            generation = self._generations.acquire()
            try:
                config = generation.config
                caller = current_caller()
                try:
                    chosen = listing.chosen(
                        generation.providers, request.providers, caller, config.aliases
                    )
                except PermissionDenied as exc:
                    self._auth_failures.add(exc)
                    raise
                return await listing.list_models(
                    self._catalog,
                    chosen,
                    config.listing,
                    config.aliases,
                    caller,
                    refresh=request.refresh,
                )
            finally:
                self._generations.release(generation)
        except Exception as exc:  # every failure becomes a status
            await abort(context, exc, request_id)

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
        remaining = context.time_remaining()
        return None if remaining is None else self._clock() + remaining
