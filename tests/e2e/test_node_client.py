"""The Node client (clients/node, @grpc/grpc-js) against a real server: its own node:test
suite calls Generate (with a tool round trip), streams GenerateStream, calls Embed, reads
GetMetrics and decodes error details."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.helpers import make_config, mock_provider, require_tool, running

pytestmark = pytest.mark.e2e
NODE_CLIENT = Path(__file__).resolve().parents[2] / "clients" / "node"


def node_modules_installed() -> None:
    if (NODE_CLIENT / "node_modules" / "@grpc" / "grpc-js").is_dir():
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("clients/node/node_modules is missing in CI: run `make node-deps`")
    pytest.skip("clients/node dependencies not installed (`make node-deps`)")


async def test_node_client_suite() -> None:
    node = require_tool("node")
    node_modules_installed()
    config = make_config(
        {
            **mock_provider("alpha", "m-1", reply="hello from node", words_per_chunk=1),
            "embedding_model": "mock-embedding",
        },
        mock_provider("beta", "m-2", mode="unhealthy"),
    )
    async with running(config) as server:
        process = await asyncio.create_subprocess_exec(
            node,
            "--test",
            "test/client.test.js",
            cwd=NODE_CLIENT,
            env={**os.environ, "ORCHESTRATOR_ADDRESS": server.target},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    report = out.decode()
    assert process.returncode == 0, report
    assert "# pass 6" in report, report
    assert "# fail 0" in report, report
