"""A collection whose embedder is the gateway's own Embed routing: indexed by `orchestrator
index build` against a running gateway (the Python client's Embed), then served by a server
that embeds queries through its router, with fallback between interchangeable providers."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import grpc
import pytest
import yaml

from orchestrator.v1 import retrieve_pb2
from orchestrator_server.config.providers import MockMode
from tests.helpers import error_reason, make_config, mock_provider, running, trail

TEXTS = ["red apples and pears", "blue ocean waves", "green forest trees"]


def embedding_provider(name: str, **mock: object) -> dict[str, object]:
    return {**mock_provider(name, **mock), "embedding_model": "mock-embedding", "retries": 0}


async def index_build(config_path: Path, source: Path, out: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator_server",
        "index",
        "build",
        "--collection",
        "colors",
        "--from",
        str(source),
        "--config",
        str(config_path),
        "--out",
        str(out),
        "--quiet",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(os.environ),
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_index_through_the_gateway_then_retrieve_through_the_router(tmp_path: Path) -> None:
    source = tmp_path / "docs"
    source.mkdir()
    for i, text in enumerate(TEXTS):
        (source / f"{i}.txt").write_text(text)
    out = tmp_path / "index"
    embedder = {"kind": "gateway", "model": "mock-embedding", "dimensions": 64}
    async with running(make_config(embedding_provider("indexer"))) as gateway:
        build_config = {
            "providers": [mock_provider("unused")],
            "retrieval": {
                "collections": [
                    {
                        "name": "colors",
                        "path": str(out),
                        "embedder": {**embedder, "address": gateway.target},
                    }
                ]
            },
        }
        config_path = tmp_path / "build.yaml"
        config_path.write_text(yaml.safe_dump(build_config))
        code, output = await index_build(config_path, source, out)
        assert code == 0, output
        assert gateway.mock("indexer").calls == 1  # one batch of three chunks
    assert "gateway mock-embedding, 64 dimensions" in output

    collection = {"name": "colors", "path": str(out), "embedder": embedder}
    config = make_config(
        embedding_provider("first", mode="unhealthy"),
        embedding_provider("second"),
        retrieval={"collections": [collection]},
    )
    request = retrieve_pb2.RetrieveRequest(collection="colors", query="ocean waves", k=1)
    async with running(config) as server:
        reply = await server.stub.Retrieve(request)
        assert server.mock("first").calls == 1  # failed, and the router fell back
        assert server.mock("second").calls == 1
    assert [d.content for d in reply.documents] == ["blue ocean waves"]


async def test_when_no_provider_can_embed_the_query_the_trail_says_why(tmp_path: Path) -> None:
    from orchestrator_server.config.retrieval import (
        ChunkingConfig,
        GatewayEmbedderConfig,
        IndexOptions,
    )
    from orchestrator_server.domain.embeddings import EmbeddingRequest
    from orchestrator_server.providers.mock_replies import vectors
    from orchestrator_server.retrieval.build import build_index
    from orchestrator_server.retrieval.embedders.gateway import GatewayEmbedder

    async def as_the_mock_would(request: EmbeddingRequest, timeout: float) -> list[list[float]]:
        return vectors(request.inputs, 384)

    source = tmp_path / "docs"
    source.mkdir()
    (source / "a.txt").write_text("anything at all")
    embedder = {"kind": "gateway", "model": "mock-embedding"}
    await build_index(
        name="colors",
        sources=[source],
        embedder=GatewayEmbedder(GatewayEmbedderConfig.model_validate(embedder), as_the_mock_would),
        options=IndexOptions(),
        chunking=ChunkingConfig(),
        out=tmp_path / "index",
    )
    collection = {"name": "colors", "path": str(tmp_path / "index"), "embedder": embedder}
    config = make_config(
        embedding_provider("down", mode="unhealthy"),
        embedding_provider("up"),
        retrieval={"collections": [collection]},
    )
    request = retrieve_pb2.RetrieveRequest(collection="colors", query="anything", k=1)
    async with running(config) as server:
        found = await server.stub.Retrieve(request)
        up = server.mock("up")
        up.options = up.options.model_copy(update={"mode": MockMode.UNHEALTHY})
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Retrieve(request)
    assert [d.content for d in found.documents] == ["anything at all"]
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(caught.value) == "ALL_PROVIDERS_FAILED"
    attempts = trail(caught.value)
    assert attempts is not None
    assert {(a.provider, a.error_code) for a in attempts.attempts} == {
        ("down", "unavailable"),
        ("up", "unavailable"),
    }
