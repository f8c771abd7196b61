"""The Embed RPC through the real server: routing by model, fallback only between providers
of the same embedding model, validation, and the mock's deterministic vectors."""

from __future__ import annotations

import math
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from orchestrator.v1 import embed_pb2, generate_pb2
from orchestrator_server.retrieval.embedders.base import Purpose
from orchestrator_server.retrieval.embedders.hashing import V1, HashingEmbedder
from tests.helpers import (
    detail,
    embedded_config,
    error_reason,
    make_config,
    mock_provider,
    running,
)
from tests.integration.providers.tools_common import embed_request


def embedder(name: str, model: str | None = "mock-embedding", **mock: Any) -> dict[str, Any]:
    entry = mock_provider(name, **mock)
    if model is not None:
        entry["embedding_model"] = model
    return entry


async def test_vectors_are_the_hashing_embedders() -> None:
    texts = ["red apples and pears", "blue ocean waves"]
    async with running(make_config(embedder("m"))) as server:
        reply = await server.stub.Embed(embed_request(*texts))
    expected = HashingEmbedder(384, model=V1).embed_sync(texts, Purpose.DOCUMENT)
    assert [list(e.values) for e in reply.embeddings] == [
        pytest.approx(list(row), abs=1e-6) for row in expected
    ]
    assert (reply.provider, reply.model, reply.dimensions) == ("m", "mock-embedding", 384)
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (7, 0)
    assert [a.provider for a in reply.attempts] == ["m"]
    norms = [math.sqrt(sum(v * v for v in e.values)) for e in reply.embeddings]
    assert norms == pytest.approx([1.0, 1.0])


async def test_dimensions_and_pinned_models() -> None:
    config = make_config(
        embedder("a"), {**embedder("b", "other-embedding"), "embedding_models": ["extra"]}
    )
    async with running(config) as server:
        small = await server.stub.Embed(embed_request("hello", dimensions=16))
        pinned = await server.stub.Embed(embed_request("hello", model="b/extra"))
        by_name = await server.stub.Embed(embed_request("hello", model="other-embedding"))
        by_provider = await server.stub.Embed(embed_request("hello", provider="b"))
    assert (small.provider, small.dimensions, len(small.embeddings[0].values)) == ("a", 16, 16)
    assert (pinned.provider, pinned.model) == ("b", "extra")
    assert (by_name.provider, by_name.model) == ("b", "other-embedding")
    assert (by_provider.provider, by_provider.model) == ("b", "other-embedding")


async def test_fallback_only_between_interchangeable_providers() -> None:
    config = make_config(
        {**embedder("a", mode="unhealthy"), "retries": 0},
        embedder("other", "different-embedding"),
        embedder("b"),
    )
    async with running(config) as server:
        reply = await server.stub.Embed(embed_request("hello"))
        assert server.mock("other").calls == 0
    assert reply.provider == "b"
    assert [(a.provider, a.error_code) for a in reply.attempts] == [
        ("a", "unavailable"),
        ("b", ""),
    ]


async def test_no_interchangeable_provider_left_fails() -> None:
    config = make_config(embedder("a", mode="unhealthy"), embedder("other", "different-embedding"))
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Embed(embed_request("hello"))
        assert server.mock("other").calls == 0
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_providers_without_embeddings_are_skipped_or_named() -> None:
    no_embed = {**embedder("plain"), "capabilities": {"embeddings": False}}
    async with running(make_config(no_embed, embedder("b"))) as server:
        reply = await server.stub.Embed(embed_request("x", model="mock-embedding"))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Embed(embed_request("x", provider="plain"))
    assert reply.provider == "b"
    assert error_reason(caught.value) == "UNSUPPORTED_FEATURE"
    bad = detail(caught.value, error_details_pb2.BadRequest)
    assert "plain (mock; lacks embeddings)" in bad.field_violations[0].description


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (embed_pb2.EmbedRequest(), "inputs"),
        (embed_request("ok", " "), "inputs[1]"),
        (embed_request("ok", dimensions=0), "dimensions"),
        (embed_request("ok", input_type=9), "input_type"),  # type: ignore[arg-type]
        (embed_request("ok", model=" padded "), "model"),
        (
            embed_request(
                "ok",
                routing=generate_pb2.RoutingOptions(strategy=42),  # type: ignore[arg-type]
            ),
            "routing.strategy",
        ),
    ],
)
async def test_bad_requests_name_the_field(request_: embed_pb2.EmbedRequest, field: str) -> None:
    async with running(make_config(embedder("m"))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Embed(request_)
        assert server.mock("m").calls == 0
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = detail(caught.value, error_details_pb2.BadRequest)
    assert field in {v.field for v in bad.field_violations}


async def test_unknown_models_and_missing_defaults() -> None:
    config = make_config(embedder("m"), embedder("chat-only", None))
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await server.stub.Embed(embed_request("x", model="no-such-embedding"))
        with pytest.raises(grpc.aio.AioRpcError) as no_default:
            await server.stub.Embed(embed_request("x", provider="chat-only"))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert no_default.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "embedding_model" in no_default.value.details()


async def test_too_many_inputs() -> None:
    config = make_config(
        embedder("m"), server={"address": "127.0.0.1:0", "limits": {"max_embed_inputs": 2}}
    )
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Embed(embed_request("a", "b", "c"))
    assert "3 texts; the limit is 2" in caught.value.details()


async def test_the_default_config_serves_embed() -> None:
    async with running(embedded_config()) as server:
        reply = await server.stub.Embed(embed_request("routing and fallback"))
    assert reply.model == "mock-embedding"
    assert reply.provider in ("mock-fast", "mock-flaky")
    assert reply.dimensions == 384
