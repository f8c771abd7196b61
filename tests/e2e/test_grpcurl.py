"""The real grpcurl binary against a real server: reflection, describe, JSON calls, errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence

import pytest

from tests.helpers import (
    Running,
    embedded_config,
    make_config,
    mock_provider,
    require_tool,
    running,
)

pytestmark = pytest.mark.e2e
SERVICE = "orchestrator.v1.OrchestratorService"


@pytest.fixture
async def server() -> AsyncIterator[Running]:
    config = make_config(
        mock_provider("alpha", "m-1", reply="hello from alpha", words_per_chunk=1),
        mock_provider("beta", "m-2"),
    )
    async with running(config) as running_server:
        yield running_server


async def grpcurl(
    server: Running, *args: str, data: str | None = None, flags: Sequence[str] = ("-plaintext",)
) -> tuple[int, str]:
    """`flags` replace -plaintext: -cacert, -cert, -key, -H for TLS and keys."""
    binary = require_tool("grpcurl")
    argv = [binary, *flags, "-max-time", "20"]
    if data is not None:
        argv += ["-d", data]
    process = await asyncio.create_subprocess_exec(
        *argv,
        server.target,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


def json_objects(text: str) -> list[dict[str, object]]:
    decoder, pos, found = json.JSONDecoder(), 0, []
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        obj, pos = decoder.raw_decode(text, pos)
        found.append(obj)
    return found


async def test_list_shows_service_health_and_reflection(server: Running) -> None:
    code, out = await grpcurl(server, "list")
    assert code == 0, out
    services = set(out.split())
    assert {
        SERVICE,
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= services


async def test_describe_shows_the_rpcs(server: Running) -> None:
    code, out = await grpcurl(server, "describe", SERVICE)
    assert code == 0, out
    for rpc in ("Generate", "GenerateStream", "ValidateKey", "Retrieve", "GetMetrics"):
        assert f"rpc {rpc} (" in out
    assert "returns ( stream .orchestrator.v1.GenerateStreamResponse )" in out


async def test_generate_with_json(server: Running) -> None:
    code, out = await grpcurl(server, f"{SERVICE}/Generate", data='{"prompt": "hi"}')
    assert code == 0, out
    reply = json_objects(out)[0]
    assert reply["text"] == "hello from alpha"
    assert reply["provider"] == "alpha"
    assert reply["finishReason"] == "FINISH_REASON_STOP"


async def test_generate_stream_with_json(server: Running) -> None:
    request = '{"messages": [{"role": "ROLE_USER", "content": "hi"}]}'
    code, out = await grpcurl(server, f"{SERVICE}/GenerateStream", data=request)
    assert code == 0, out
    events = json_objects(out)
    assert list(events[0]) == ["start"]
    assert list(events[-1]) == ["end"]
    deltas = [e["delta"]["text"] for e in events if "delta" in e]  # type: ignore[index]
    assert "".join(deltas) == "hello from alpha"


async def test_health_check(server: Running) -> None:
    code, out = await grpcurl(server, "grpc.health.v1.Health/Check", data="{}")
    assert code == 0, out
    assert json_objects(out)[0] == {"status": "SERVING"}


async def test_bad_request_is_invalid_argument(server: Running) -> None:
    code, out = await grpcurl(server, f"{SERVICE}/Generate", data="{}")
    assert code != 0
    assert "InvalidArgument" in out
    assert "messages" in out


async def test_retrieve_on_the_embedded_demo_collection() -> None:
    request = json.dumps(
        {
            "collection": "docs",
            "query": "when does the gateway fall back to another provider",
            "k": 2,
            "searchType": "SEARCH_TYPE_MMR",
            "filter": {"type": {"$in": ["md"]}},
        }
    )
    async with running(embedded_config()) as demo:
        code, out = await grpcurl(demo, f"{SERVICE}/Retrieve", data=request)
    assert code == 0, out
    documents = json_objects(out)[0]["documents"]
    assert isinstance(documents, list)
    assert len(documents) == 2
    assert all(d["metadata"]["type"] == "md" and d["content"] for d in documents)
