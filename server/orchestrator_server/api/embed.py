"""Embed's messages to domain objects and back; every bad field is named."""

from __future__ import annotations

from orchestrator.v1 import common_pb2, embed_pb2
from orchestrator_server.api.convert import attempts_to_proto, duration, usage_to_proto
from orchestrator_server.api.validation import meta_of, route_of
from orchestrator_server.config.models import LimitsConfig
from orchestrator_server.domain.caller import Caller
from orchestrator_server.domain.embeddings import EmbeddingRequest, InputType
from orchestrator_server.domain.errors import FieldViolation, InvalidRequest
from orchestrator_server.routing.types import RoutedEmbeddings, RouteOptions

MAX_DIMENSIONS = 65_536
_INPUT_TYPES = {
    embed_pb2.EMBED_INPUT_TYPE_UNSPECIFIED: InputType.UNSPECIFIED,
    embed_pb2.EMBED_INPUT_TYPE_DOCUMENT: InputType.DOCUMENT,
    embed_pb2.EMBED_INPUT_TYPE_QUERY: InputType.QUERY,
}


def to_domain(
    request: embed_pb2.EmbedRequest, limits: LimitsConfig, request_id: str, caller: Caller
) -> tuple[EmbeddingRequest, RouteOptions]:
    problems: list[FieldViolation] = []
    if not request.inputs:
        problems.append(FieldViolation("inputs", "give at least one text"))
    elif len(request.inputs) > limits.max_embed_inputs:
        problems.append(
            FieldViolation(
                "inputs", f"{len(request.inputs)} texts; the limit is {limits.max_embed_inputs}"
            )
        )
    for i, text in enumerate(request.inputs):
        if not text.strip():
            problems.append(FieldViolation(f"inputs[{i}]", "must not be empty"))
    total = sum(len(t) for t in request.inputs)
    if total > limits.max_input_chars:
        problems.append(
            FieldViolation(
                "inputs", f"input is {total} characters; the limit is {limits.max_input_chars}"
            )
        )
    dimensions = None
    if request.HasField("dimensions"):
        dimensions = request.dimensions
        if not 1 <= dimensions <= MAX_DIMENSIONS:
            problems.append(FieldViolation("dimensions", f"must be in [1, {MAX_DIMENSIONS}]"))
    input_type = _INPUT_TYPES.get(request.input_type)
    if input_type is None:
        problems.append(FieldViolation("input_type", f"unknown input type {request.input_type}"))
    route = route_of(request, problems)
    meta = meta_of(request, caller, problems)
    if problems:
        raise InvalidRequest(problems)
    embedding = EmbeddingRequest(
        tuple(request.inputs),
        dimensions=dimensions,
        input_type=input_type or InputType.UNSPECIFIED,
        request_id=request_id,
        meta=meta,
    )
    return embedding, route


def to_response(result: RoutedEmbeddings, request_id: str) -> embed_pb2.EmbedResponse:
    return embed_pb2.EmbedResponse(
        embeddings=[
            embed_pb2.Embedding(index=i, values=vector) for i, vector in enumerate(result.vectors)
        ],
        provider=result.provider,
        model=result.model,
        dimensions=result.dimensions,
        usage=usage_to_proto(result.usage),
        cost=common_pb2.Cost(amount=result.cost, currency=result.currency),
        latency=duration(result.latency),
        attempts=attempts_to_proto(result.attempts),
        request_id=request_id,
    )
