"""The client commands as a person runs them: a subprocess against a real server."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator

import pytest
from google.protobuf import struct_pb2

from orchestrator.v1 import retrieve_pb2, validate_key_pb2
from tests.helpers import Running, demo_collection, make_config, mock_provider, running
from tests.scripted import scripted_server


@pytest.fixture
async def server() -> AsyncIterator[Running]:
    config = make_config(
        mock_provider("alpha", "m-1", reply="hello from alpha", words_per_chunk=1),
        mock_provider("beta", "m-2", mode="unhealthy"),
    )
    async with running(config) as running_server:
        yield running_server


async def orchestrator(*args: str, stdin: bytes = b"", **env: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator_server",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_generate_prints_the_text(server: Running) -> None:
    code, out, err = await orchestrator("generate", "hi", "--address", server.target, "-v")
    assert code == 0, err
    assert out == "hello from alpha\n"
    assert "alpha/m-1" in err


async def test_generate_stream_prints_deltas_and_json_events(server: Running) -> None:
    code, out, err = await orchestrator(
        "generate", "hi", "--stream", "--model", "alpha/m-1", "--address", server.target
    )
    assert code == 0, err
    assert out == "hello from alpha\n"
    code, out, err = await orchestrator(
        "generate", "hi", "--stream", "--json", "--address", server.target
    )
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert list(events[0]) == ["start"]
    assert "".join(e["delta"]["text"] for e in events if "delta" in e) == "hello from alpha"
    assert events[-1]["end"]["finishReason"] == "FINISH_REASON_STOP"


async def test_metrics_prints_a_table(server: Running) -> None:
    code, out, err = await orchestrator("metrics", "--address", server.target)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("strategy first-available")
    assert lines[1].split()[:3] == ["PROVIDER", "KIND", "MODEL"]
    assert [line.split()[0] for line in lines[2:]] == ["alpha", "beta"]
    # Never called: no health verdict and no success rate, rather than "healthy 100%".
    assert lines[2].split()[3:9] == ["no-data", "closed", "0", "0", "0", "-"]


async def test_models_prints_provider_model_names(server: Running) -> None:
    code, out, err = await orchestrator("models", "--address", server.target)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["MODEL", "PROVIDER", "DEFAULT", "CONFIGURED"]
    assert {"alpha/m-1", "beta/m-2"} <= {line.split()[0] for line in lines[1:]}
    assert any(line.startswith("alpha: listed by") for line in lines)


async def test_server_error_exits_1_with_status_and_fields(server: Running) -> None:
    code, _, err = await orchestrator(
        "generate", "hi", "--temperature", "9", "--address", server.target
    )
    assert code == 1
    assert "INVALID_ARGUMENT" in err
    assert "params.temperature" in err
    code, _, err = await orchestrator(
        "generate", "hi", "--provider", "beta", "--address", server.target
    )
    assert code == 1
    assert "UNAVAILABLE" in err
    assert "tried beta/m-2: failed unavailable" in err
    code, _, err = await orchestrator(
        "generate", "hi", "--model", "nope", "--address", server.target
    )
    assert code == 1
    assert "NOT_FOUND" in err
    assert "models: alpha/m-1, beta/m-2; aliases: none" in err


async def test_no_server_exits_3(server: Running) -> None:
    code, _, err = await orchestrator("metrics", "--address", "127.0.0.1:1", "--timeout", "5")
    assert code == 3
    assert "cannot reach the server at 127.0.0.1:1" in err


async def test_usage_errors_exit_2(server: Running) -> None:
    code, _, err = await orchestrator("generate", "--address", server.target)
    assert code == 2
    assert "required: prompt" in err
    code, _, err = await orchestrator(
        "generate", "hi", "--strategy", "fastest", "--address", server.target
    )
    assert code == 2
    assert "unknown routing strategy" in err
    code, _, err = await orchestrator(
        "validate-key", "--provider", "mock", "--key-env", "UNSET_KEY_VAR_XYZ"
    )
    assert code == 2
    assert "UNSET_KEY_VAR_XYZ is not set" in err


async def test_validate_key_and_retrieve_against_a_scripted_server() -> None:
    async with scripted_server() as server:
        server.script(
            "ValidateKey",
            validate_key_pb2.ValidateKeyResponse(valid=True, message="key accepted"),
            validate_key_pb2.ValidateKeyResponse(
                valid=False,
                error_code=validate_key_pb2.VALIDATION_ERROR_CODE_INVALID_API_KEY,
                message="rejected (401)",
            ),
        )
        document = retrieve_pb2.RetrievedDocument(
            id="a.md#0",
            content="Breakers open after failures.",
            score=0.8,
            metadata=struct_pb2.Struct(fields={"source": struct_pb2.Value(string_value="a.md")}),
        )
        server.script("Retrieve", retrieve_pb2.RetrieveResponse(documents=[document]))
        address = ["--address", server.target]
        ok = await orchestrator(
            "validate-key", "--provider", "gigachat", "--key-stdin", *address, stdin=b"k1\n"
        )
        rejected = await orchestrator(
            "validate-key", "--provider", "openai", "--key-env", "MY_KEY", *address, MY_KEY="k2"
        )
        found = await orchestrator("retrieve", "docs", "breakers", "-k", "2", "--mmr", *address)
    assert ok[0] == 0, ok[2]
    assert "gigachat key valid: key accepted" in ok[1]
    assert rejected[0] == 4
    assert "openai key REJECTED (INVALID_API_KEY): rejected (401)" in rejected[1]
    assert found[0] == 0, found[2]
    assert "a.md#0" in found[1]
    assert "Breakers open after failures." in found[1]
    keys = [c.request.api_key for c in server.calls if c.method == "ValidateKey"]
    assert keys == ["k1", "k2"]
    retrieve = next(c.request for c in server.calls if c.method == "Retrieve")
    assert (retrieve.k, retrieve.search_type) == (2, retrieve_pb2.SEARCH_TYPE_MMR)


async def test_validate_key_and_retrieve_against_the_real_server() -> None:
    config = make_config(
        mock_provider("alpha"),
        retrieval={"collections": [demo_collection()]},
    )
    async with running(config) as server:
        address = ["--address", server.target]
        ok = await orchestrator(
            "validate-key", "--provider", "mock", "--key-stdin", *address, stdin=b"sk-fine\n"
        )
        bad = await orchestrator(
            "validate-key", "--provider", "mock", "--key-stdin", *address, stdin=b"invalid-1\n"
        )
        found = await orchestrator("retrieve", "docs", "graceful shutdown", "-k", "2", *address)
        missing = await orchestrator("retrieve", "nope", "anything", *address)
    assert ok[0] == 0, ok[2]
    assert bad[0] == 4
    assert "invalid-1" not in bad[1] + bad[2]
    assert found[0] == 0, found[2]
    assert found[1].count(".md#") >= 2
    assert missing[0] == 1
    assert "NOT_FOUND" in missing[2]


async def test_validate_key_that_cannot_reach_the_provider_is_not_a_rejection() -> None:
    """Exit 5 and NOT CHECKED when the provider gave no verdict (here: nothing listens at
    the allowed base URL), 4 only when it rejected the key; azure-openai is named and
    explained rather than missing."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/v1"  # free again once closed
    config = make_config(
        mock_provider("alpha"),
        validate_key={"official_endpoints": False, "allowed_base_urls": {"openai": [closed]}},
    )
    async with running(config) as server:
        address = ["--address", server.target]
        unreachable = await orchestrator(
            "validate-key", "--provider", "openai", "--base-url", closed, "--key-stdin",
            *address, stdin=b"sk-test\n",
        )  # fmt: skip
        failing = await orchestrator(
            "validate-key", "--provider", "mock", "--key-stdin", *address, stdin=b"error-key\n"
        )
        azure = await orchestrator(
            "validate-key", "--provider", "azure-openai", "--key-stdin", *address, stdin=b"k\n"
        )
    assert unreachable[0] == 5, unreachable
    assert "openai key NOT CHECKED (" in unreachable[1]
    assert "REJECTED" not in unreachable[1]
    assert failing[0] == 5, failing
    assert "NOT CHECKED (PROVIDER_ERROR)" in failing[1]
    assert azure[0] == 2
    assert "cannot check Azure OpenAI keys" in azure[2]
    assert "check-providers" in azure[2]


async def test_a_stream_failing_part_way_ends_the_partial_line_before_the_error() -> None:
    config = make_config(
        mock_provider("a", mode="fail-after-n-chunks", fail_after_chunks=2, reply="a b c d"),
    )
    async with running(config) as server:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "orchestrator_server", "generate", "hi", "--stream",
            "--address", server.target,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    first, second, *_ = out.decode().splitlines()
    assert first == "a b"  # the partial text, on a line of its own
    assert second.startswith("orchestrator: the server answered UNAVAILABLE")
