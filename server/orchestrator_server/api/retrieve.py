"""Retrieve's messages to domain objects and back; every bad field is named."""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import struct_pb2

from orchestrator.v1 import retrieve_pb2
from orchestrator_server.api.convert import duration
from orchestrator_server.domain.errors import FieldViolation, InvalidRequest
from orchestrator_server.retrieval.types import (
    DEFAULT_LAMBDA_MULT,
    RetrieveQuery,
    RetrieveResult,
    SearchType,
)

MAX_K = 1000
MAX_FETCH_K = 10_000
MAX_QUERY_CHARS = 32_000
MAX_COLLECTION_CHARS = 256

_SEARCH_TYPES = {
    retrieve_pb2.SEARCH_TYPE_UNSPECIFIED: SearchType.SIMILARITY,
    retrieve_pb2.SEARCH_TYPE_SIMILARITY: SearchType.SIMILARITY,
    retrieve_pb2.SEARCH_TYPE_MMR: SearchType.MMR,
}


def to_query(request: retrieve_pb2.RetrieveRequest) -> RetrieveQuery:
    problems: list[FieldViolation] = []
    if not request.collection.strip() or len(request.collection) > MAX_COLLECTION_CHARS:
        problems.append(
            FieldViolation("collection", f"must be a collection name (1 to {MAX_COLLECTION_CHARS})")
        )
    if not request.query.strip():
        problems.append(FieldViolation("query", "must not be empty"))
    elif len(request.query) > MAX_QUERY_CHARS:
        problems.append(
            FieldViolation(
                "query", f"{len(request.query)} characters; the limit is {MAX_QUERY_CHARS}"
            )
        )
    if not 1 <= request.k <= MAX_K:
        problems.append(FieldViolation("k", f"must be in [1, {MAX_K}]"))
    search_type = _SEARCH_TYPES.get(request.search_type)
    if search_type is None:
        problems.append(FieldViolation("search_type", f"unknown search type {request.search_type}"))
    fetch_k = None
    if request.HasField("fetch_k"):
        fetch_k = request.fetch_k
        if fetch_k < request.k or fetch_k > MAX_FETCH_K:
            problems.append(
                FieldViolation(
                    "fetch_k", f"must be at least k ({request.k}) and at most {MAX_FETCH_K}"
                )
            )
    lambda_mult = DEFAULT_LAMBDA_MULT
    if request.HasField("lambda_mult"):
        lambda_mult = request.lambda_mult
        if not (math.isfinite(lambda_mult) and 0.0 <= lambda_mult <= 1.0):
            problems.append(FieldViolation("lambda_mult", "must be in [0, 1]"))
    threshold = None
    if request.HasField("score_threshold"):
        threshold = request.score_threshold
        if not math.isfinite(threshold):
            problems.append(FieldViolation("score_threshold", "must be a finite number"))
    flt = _struct(request.filter, "filter", problems) if request.HasField("filter") else None
    if problems:
        raise InvalidRequest(problems)
    return RetrieveQuery(
        collection=request.collection,
        query=request.query,
        k=request.k,
        search_type=search_type or SearchType.SIMILARITY,
        fetch_k=fetch_k,
        lambda_mult=lambda_mult,
        filter=flt,
        score_threshold=threshold,
    )


def to_response(result: RetrieveResult) -> retrieve_pb2.RetrieveResponse:
    response = retrieve_pb2.RetrieveResponse(latency=duration(result.latency))
    for p in result.passages:
        document = response.documents.add(id=p.id, content=p.content, score=p.score)
        if p.metadata:
            document.metadata.update(_jsonable(p.metadata))
    return response


def _struct(value: struct_pb2.Struct, at: str, problems: list[FieldViolation]) -> dict[str, Any]:
    return {key: _value(item, f"{at}.{key}", problems) for key, item in value.fields.items()}


def _value(value: struct_pb2.Value, at: str, problems: list[FieldViolation]) -> Any:
    """A Struct value as plain Python. A number that is not finite (protobuf carries NaN and
    Infinity, JSON has neither) is named as the caller's mistake."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        if not math.isfinite(value.number_value):
            problems.append(FieldViolation(at, "must be a finite number (no NaN or Infinity)"))
        return value.number_value
    if kind == "struct_value":
        return _struct(value.struct_value, at, problems)
    if kind == "list_value":
        return [_value(v, f"{at}[{i}]", problems) for i, v in enumerate(value.list_value.values)]
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None


def _jsonable(metadata: Any) -> dict[str, Any]:
    # Struct holds only JSON values; anything else (never written by `index build`) as text.
    return {str(k): v if _is_json(v) else str(v) for k, v in dict(metadata).items()}


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, str | bool | int | float):
        return True
    if isinstance(value, list):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False
