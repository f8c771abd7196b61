"""OrchestratorService: converts messages and calls the domain. Nothing else: errors become
statuses at the border (api/border.py), around every method."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing

from google.protobuf import timestamp_pb2

from orchestrator.v1 import (
    generate_pb2,
    listing_pb2,
    metrics_pb2,
    orchestrator_service_pb2_grpc,
    retrieve_pb2,
    validate_key_pb2,
)
from orchestrator_server.api import convert, listing, retrieve, validate_key
from orchestrator_server.api.border import Context, current_call
from orchestrator_server.api.validation import STRATEGY_ENUM, to_domain
from orchestrator_server.config.models import LimitsConfig
from orchestrator_server.providers.base import Provider
from orchestrator_server.providers.catalog import ModelCatalog
from orchestrator_server.reload.generation import Generations
from orchestrator_server.retrieval.collections import Collections
from orchestrator_server.routing.types import ProviderSnapshot, StreamStarted, StreamText
from orchestrator_server.validation.service import KeyValidationService

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
    ) -> None:
        # Each call leases the generation current when it starts and finishes on it.
        self._generations = generations
        self._catalog = catalog
        self._collections = Collections.empty() if collections is None else collections
        self._limits = limits
        self._key_validation = key_validation
        self._clock = clock
        self._started = clock()

    async def Generate(
        self, request: generate_pb2.GenerateRequest, context: Context
    ) -> generate_pb2.GenerateResponse:
        ids = current_call(context)
        chat, route = to_domain(request, self._limits, ids.request_id, ids.key_id)
        with self._generations.lease() as generation:
            result = await generation.router.generate(chat, route, deadline=self._deadline(context))
        return convert.generate_response(result, ids.request_id)

    async def GenerateStream(
        self, request: generate_pb2.GenerateStreamRequest, context: Context
    ) -> AsyncIterator[generate_pb2.GenerateStreamResponse]:
        ids = current_call(context)
        chat, route = to_domain(request, self._limits, ids.request_id, ids.key_id)
        with self._generations.lease() as generation:
            events = generation.router.stream(chat, route, deadline=self._deadline(context))
            async with aclosing(events):
                async for event in events:
                    if type(event) is StreamText:
                        yield convert.stream_delta(event.text)
                    elif type(event) is StreamStarted:
                        yield convert.stream_start(event.provider, event.model, ids.request_id)
                    else:
                        yield convert.stream_end(event)  # type: ignore[arg-type]

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
        router = self._generations.current.router
        snapshots = listing.chosen(router.snapshot(), request.providers, name=_snapshot_name)
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
        return listing.list_providers(self._generations.current)

    async def ListModels(
        self, request: listing_pb2.ListModelsRequest, context: Context
    ) -> listing_pb2.ListModelsResponse:
        with self._generations.lease() as generation:
            config = generation.config
            return await listing.list_models(
                self._catalog,
                listing.chosen(generation.providers, request.providers, name=_provider_name),
                config.listing,
                config.aliases,
                refresh=request.refresh,
            )

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
