"""Retrieve through the real gRPC server on a small collection with known answers: order,
scores, MMR, every filter form, score threshold, and every validation error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2

from orchestrator.v1 import retrieve_pb2
from orchestrator_server.retrieval.embedders.base import Purpose
from orchestrator_server.retrieval.embedders.hashing import HashingEmbedder
from tests.helpers import Running, detail, make_config, mock_provider, running
from tests.integration.retrieval.kb import DIMENSION, MODEL, ROWS, build, collection

QUERY = "apple banana cherry"
MMR = retrieve_pb2.SEARCH_TYPE_MMR


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("kb"))


@pytest.fixture
async def server(index: Path) -> AsyncIterator[Running]:
    config = make_config(mock_provider("a"), retrieval={"collections": [collection(index)]})
    async with running(config) as s:
        yield s  # type: ignore[misc]


def request(query: str = QUERY, k: int = 3, **fields: Any) -> retrieve_pb2.RetrieveRequest:
    flt = fields.pop("filter", None)
    out = retrieve_pb2.RetrieveRequest(collection="kb", query=query, k=k, **fields)
    if flt is not None:
        out.filter.CopyFrom(_struct(flt))
    return out


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


def ids(reply: retrieve_pb2.RetrieveResponse) -> list[str]:
    return [d.id.removesuffix("#0") for d in reply.documents]


def cosine(query: str, text: str) -> float:
    vectors = HashingEmbedder(DIMENSION, model=MODEL).embed_sync([query, text], Purpose.QUERY)
    return float(np.dot(vectors[0], vectors[1]))


async def test_top_k_in_order_with_cosine_scores_and_metadata(server: Running) -> None:
    reply = await server.stub.Retrieve(request(k=4))
    assert ids(reply) == ["fruit-1", "fruit-2", "fruit-3", "tree-1"]
    texts = {row["id"]: row["text"] for row in ROWS}
    for document in reply.documents:
        expected = cosine(QUERY, texts[document.id.removesuffix("#0")])
        assert document.score == pytest.approx(expected, abs=1e-5)
    assert reply.documents[0].score == pytest.approx(1.0, abs=1e-5)  # the same words
    scores = [d.score for d in reply.documents]
    assert scores == sorted(scores, reverse=True)
    first = reply.documents[0]
    assert first.content == "apple banana cherry"
    assert dict(first.metadata) == {
        "source": "kb.jsonl",
        "type": "jsonl",
        "line": 1.0,
        "lang": "en",
        "topic": "fruit",
        "year": 2020.0,
        "chunk": 0.0,
    }
    assert reply.latency.ToNanoseconds() > 0


async def test_k_larger_than_the_collection_returns_everything(server: Running) -> None:
    reply = await server.stub.Retrieve(request(k=50))
    assert sorted(ids(reply)) == sorted(row["id"] for row in ROWS)


async def test_mmr_trades_relevance_for_diversity(server: Running) -> None:
    similar = await server.stub.Retrieve(request(k=2))
    diverse = await server.stub.Retrieve(request(k=2, search_type=MMR, lambda_mult=0.25))
    relevant = await server.stub.Retrieve(request(k=2, search_type=MMR, lambda_mult=1.0))
    assert ids(similar) == ["fruit-1", "fruit-2"]  # two near-duplicates
    assert ids(diverse)[0] == "fruit-1"
    assert not ids(diverse)[1].startswith("fruit")  # the duplicate gave way
    assert ids(relevant) == ids(similar)
    texts = {row["id"]: row["text"] for row in ROWS}
    for document in diverse.documents:  # MMR's scores are still the query's cosine
        expected = cosine(QUERY, texts[document.id.removesuffix("#0")])
        assert document.score == pytest.approx(expected, abs=1e-5)


async def test_mmr_fetch_k_limits_the_candidates(server: Running) -> None:
    reply = await server.stub.Retrieve(request(k=2, search_type=MMR, fetch_k=2, lambda_mult=0.0))
    assert ids(reply) == ["fruit-1", "fruit-2"]  # only the two nearest were candidates


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"lang": "ru"}, {"fruit-3", "sea-1"}),
        ({"year": 2020}, {"fruit-1"}),
        ({"lang": {"$eq": "de"}}, {"sea-2"}),
        ({"lang": {"$in": ["ru", "de"]}}, {"fruit-3", "sea-1", "sea-2"}),
        ({"lang": {"$nin": ["en"]}}, {"fruit-3", "sea-1", "sea-2"}),
        ({"lang": {"$ne": "en"}}, {"fruit-3", "sea-1", "sea-2"}),
        ({"year": {"$gte": 2021}}, {"fruit-2", "fruit-3", "sea-1"}),
        ({"year": {"$gt": 2019, "$lte": 2021}}, {"fruit-1", "fruit-2"}),
        ({"year": {"$lt": 2020}}, {"tree-1", "sea-2"}),
        ({"tags": "water"}, {"sea-1"}),
        ({"tags": {"$in": ["blue", "red"]}}, {"sea-1"}),
        ({"draft": {"$exists": True}}, {"sea-2"}),
        ({"draft": True}, {"sea-2"}),
        ({"draft": 1}, set()),  # a boolean is not a number
        ({"topic": "fruit", "lang": "en"}, {"fruit-1", "fruit-2"}),
        ({"$and": [{"topic": "fruit"}, {"year": {"$gt": 2020}}]}, {"fruit-2", "fruit-3"}),
        ({"$or": [{"topic": "sea"}, {"year": 2019}]}, {"sea-1", "sea-2", "tree-1"}),
        ({"$not": {"topic": "fruit"}}, {"tree-1", "sea-1", "sea-2"}),
        ({"nothing": "here"}, set()),
    ],
)
async def test_filter_forms(server: Running, flt: dict[str, Any], expected: set[str]) -> None:
    reply = await server.stub.Retrieve(request(k=10, filter=flt))
    assert set(ids(reply)) == expected
    mmr = await server.stub.Retrieve(request(k=10, filter=flt, search_type=MMR))
    assert set(ids(mmr)) == expected


async def test_filtered_results_keep_the_similarity_order(server: Running) -> None:
    reply = await server.stub.Retrieve(request(k=2, filter={"lang": {"$in": ["en", "ru"]}}))
    assert ids(reply) == ["fruit-1", "fruit-2"]


async def test_score_threshold_drops_weaker_passages(server: Running) -> None:
    reply = await server.stub.Retrieve(request(k=10, score_threshold=0.5))
    assert ids(reply) == ["fruit-1", "fruit-2", "fruit-3"]
    assert all(d.score >= 0.5 for d in reply.documents)
    mmr = await server.stub.Retrieve(request(k=10, score_threshold=0.5, search_type=MMR))
    assert set(ids(mmr)) == {"fruit-1", "fruit-2", "fruit-3"}
    none = await server.stub.Retrieve(request(k=10, score_threshold=1.01))
    assert list(none.documents) == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({"k": 0}, "k"),
        ({"k": -3}, "k"),
        ({"k": 5, "fetch_k": 4, "search_type": MMR}, "fetch_k"),
        ({"lambda_mult": 1.5, "search_type": MMR}, "lambda_mult"),
        ({"lambda_mult": -0.1, "search_type": MMR}, "lambda_mult"),
        ({"lambda_mult": float("nan"), "search_type": MMR}, "lambda_mult"),
        ({"score_threshold": float("inf")}, "score_threshold"),
        ({"search_type": 7}, "search_type"),
        ({"collection": ""}, "collection"),
        ({"filter": {"lang": {"$regex": "e.*"}}}, "filter.lang.$regex"),
        ({"filter": {"$xor": [{"lang": "en"}]}}, "filter.$xor"),
        ({"filter": {"lang": {"$in": "en"}}}, "filter.lang.$in"),
        ({"filter": {"year": {"$gt": True}}}, "filter.year.$gt"),
        ({"filter": {"$or": []}}, "filter.$or"),
        ({"filter": {"$and": [{"lang": {"$bad": 1}}]}}, "filter.$and[0].lang.$bad"),
        # JSON has no NaN or Infinity: such a value is the caller's, not a server fault.
        ({"filter": {"year": float("nan")}}, "filter.year"),
        ({"filter": {"year": {"$gt": float("inf")}}}, "filter.year.$gt"),
        ({"filter": {"year": {"$in": [2020, float("-inf")]}}}, "filter.year.$in[1]"),
    ],
)
async def test_invalid_requests_name_the_field(
    server: Running, fields: dict[str, Any], field: str
) -> None:
    base: dict[str, Any] = {"query": QUERY, "k": 3}
    base.update(fields)
    query, k = base.pop("query"), base.pop("k")
    message = request(query, k, **{k_: v for k_, v in base.items() if k_ != "collection"})
    if "collection" in base:
        message.collection = base["collection"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await server.stub.Retrieve(message)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = detail(caught.value, error_details_pb2.BadRequest)
    assert field in {v.field for v in bad.field_violations}


async def test_unknown_collection_is_not_found(server: Running) -> None:
    message = retrieve_pb2.RetrieveRequest(collection="nope", query=QUERY, k=1)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await server.stub.Retrieve(message)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    bad = detail(caught.value, error_details_pb2.BadRequest)
    assert [v.field for v in bad.field_violations] == ["collection"]
    resource = detail(caught.value, error_details_pb2.ResourceInfo)
    assert (resource.resource_type, resource.resource_name) == ("collection", "nope")


async def test_concurrent_queries_share_embedding_calls(server: Running) -> None:
    replies = await asyncio.gather(*(server.stub.Retrieve(request(k=1)) for _ in range(64)))
    assert all(ids(r) == ["fruit-1"] for r in replies)
    kb = server.app.collections.get("kb")
    assert kb is not None
    assert kb.batcher is not None
    assert kb.batcher.items == 64
    assert kb.batcher.batches < 64  # queries that arrived together went together
