"""`orchestrator serve --config FILE` re-reads the file on SIGHUP: a valid change is applied,
an invalid one is rejected and the running configuration serves on."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from orchestrator.v1 import listing_pb2, orchestrator_service_pb2_grpc
from tests.helpers import mock_provider

pytestmark = pytest.mark.e2e
LIMIT = 30  # seconds: a "does not hang" bound


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def log_line(process: asyncio.subprocess.Process, needle: str) -> str:
    """Reads the server's log until a line contains `needle`."""
    assert process.stderr is not None
    while line := (await process.stderr.readline()).decode():
        if needle in line:
            return line
    raise AssertionError(f"the server exited before logging {needle!r}")


async def test_sighup_reloads_the_file(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "config.yaml"

    def write(*providers: dict[str, Any]) -> None:
        data = {"server": {"address": f"127.0.0.1:{port}"}, "providers": list(providers)}
        path.write_text(yaml.safe_dump(data))

    write(mock_provider("first"))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator_server",
        "serve",
        "--config",
        str(path),
        stderr=asyncio.subprocess.PIPE,
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = orchestrator_service_pb2_grpc.OrchestratorServiceStub(channel)

    async def names() -> list[str]:
        reply = await stub.ListProviders(listing_pb2.ListProvidersRequest())
        return [p.name for p in reply.providers]

    try:
        await asyncio.wait_for(log_line(process, "orchestrator listening"), LIMIT)
        assert await names() == ["first"]

        write(mock_provider("second"), mock_provider("third"))
        process.send_signal(signal.SIGHUP)
        line = await asyncio.wait_for(log_line(process, "configuration reloaded"), LIMIT)
        assert "SIGHUP" in line
        assert "generation 2" in line
        assert await names() == ["second", "third"]

        path.write_text("providers: [")
        process.send_signal(signal.SIGHUP)
        line = await asyncio.wait_for(log_line(process, "rejected"), LIMIT)
        assert "not valid YAML" in line
        assert await names() == ["second", "third"]
    finally:
        await channel.close()
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), LIMIT)
    assert process.returncode == 0
