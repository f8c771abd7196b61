"""OrchestratorService: converts a request into domain objects, calls the gateway
(gateway/, the call layer every door shares), converts the answer back. Nothing else: errors
become statuses at the border (api/border.py), around every method, which also
authenticated the caller (`current_call`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
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
from orchestrator_server.api.border import Context, current_call
from orchestrator_server.api.validation import STRATEGY_ENUM, to_domain
from orchestrator_server.config.models import LimitsConfig
from orchestrator_server.gateway import Gateway
from orchestrator_server.retrieval.collections import Collections
from orchestrator_server.routing.types import StreamStarted, StreamText
from orchestrator_server.validation.service import KeyValidationService


class OrchestratorServicer(orchestrator_service_pb2_grpc.OrchestratorServiceServicer):
    def __init__(
        self,
        gateway: Gateway,
        limits: LimitsConfig,
        *,
        key_validation: KeyValidationService,
        collections: Collections | None = None,
    ) -> None:
        self._gateway = gateway
        self._collections = Collections.empty() if collections is None else collections
        self._limits = limits
        self._key_validation = key_validation

    async def Generate(
        self, request: generate_pb2.GenerateRequest, context: Context
    ) -> generate_pb2.GenerateResponse:
        ids = current_call(context)
        chat, route = to_domain(request, self._limits, ids.request_id, ids.caller)
        gateway = self._gateway
        deadline = gateway.deadline(context.time_remaining())
        result = await gateway.generate(ids.caller, chat, route, deadline=deadline)
        return convert.generate_response(result, ids.request_id)

    async def GenerateStream(
        self, request: generate_pb2.GenerateStreamRequest, context: Context
    ) -> AsyncIterator[generate_pb2.GenerateStreamResponse]:
        ids = current_call(context)
        chat, route = to_domain(request, self._limits, ids.request_id, ids.caller)
        gateway = self._gateway
        deadline = gateway.deadline(context.time_remaining())
        events = gateway.stream(ids.caller, chat, route, deadline=deadline)
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
        gateway = self._gateway
        deadline = gateway.deadline(context.time_remaining())
        result = await gateway.embed(ids.caller, embedding, route, deadline=deadline)
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
        view = self._gateway.metrics(current_call(context).caller, request.providers)
        now = timestamp_pb2.Timestamp()
        now.GetCurrentTime()
        return metrics_pb2.GetMetricsResponse(
            providers=[convert.provider_metrics(s) for s in view.providers],
            strategy=STRATEGY_ENUM[view.strategy],
            uptime=convert.duration(view.uptime),
            generated_at=now,
        )

    async def ListProviders(
        self, request: listing_pb2.ListProvidersRequest, context: Context
    ) -> listing_pb2.ListProvidersResponse:
        return listing.providers_response(
            self._gateway.list_providers(current_call(context).caller)
        )

    async def ListModels(
        self, request: listing_pb2.ListModelsRequest, context: Context
    ) -> listing_pb2.ListModelsResponse:
        view = await self._gateway.list_models(
            current_call(context).caller, request.providers, refresh=request.refresh
        )
        return listing.models_response(view)
