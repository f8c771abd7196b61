"""The Node client (clients/node, @grpc/grpc-js) against a real server: its own node:test
suite calls Generate (with a tool round trip), streams GenerateStream, calls Embed, reads
GetMetrics, ListProviders and ListModels, retries UNAVAILABLE and decodes error details."""

from __future__ import annotations

import asyncio
import json
import os
import tarfile
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
        mock_provider("gamma", "m-3", mode="unhealthy"),
        aliases={"chat": ["alpha", "beta"]},
        router={
            "health": {"consecutive_failures": 1, "min_samples": 1},
            "circuit_breaker": {"cooldown": 0.5},
        },
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
    assert "# pass 8" in report, report
    assert "# fail 0" in report, report


async def test_the_packed_package_ships_its_protos_and_works_outside_the_repo(
    tmp_path: Path,
) -> None:
    """`npm pack` (its prepack copies protos/ in) lists the contract; unpacked far from the
    repository, with only its dependencies beside it, the client loads its own protos and
    calls a real server."""
    node = require_tool("node")
    npm = require_tool("npm")
    node_modules_installed()
    packed = await asyncio.create_subprocess_exec(
        npm, "pack", "--json", "--pack-destination", str(tmp_path), cwd=NODE_CLIENT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(packed.communicate(), timeout=120)
    assert packed.returncode == 0, err.decode()
    (report,) = json.loads(out)
    files = {f["path"] for f in report["files"]}
    protos = {p.name for p in (NODE_CLIENT.parents[1] / "protos/orchestrator/v1").glob("*.proto")}
    assert {f"protos/orchestrator/v1/{name}" for name in protos} <= files
    assert {"package.json", "src/client.js", "README.md"} <= files
    assert not any(f.startswith(("test/", "scripts/", "node_modules/")) for f in files)

    with tarfile.open(tmp_path / report["filename"]) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    package = tmp_path / "unpacked" / "package"
    script = (
        "const { OrchestratorClient, PROTO_ROOT } = require(process.argv[1]);\n"
        "const client = new OrchestratorClient(process.argv[2], { deadlineMs: 20000 });\n"
        "client.listModels().then((reply) => {\n"
        "  console.log(PROTO_ROOT);\n"
        "  console.log(reply.models.map((m) => m.name).join(' '));\n"
        "  client.close();\n"
        "});\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ORCHESTRATOR_PROTOS"}
    env["NODE_PATH"] = str(NODE_CLIENT / "node_modules")  # its dependencies, and nothing else
    async with running(make_config(mock_provider("alpha", "m-1"))) as server:
        process = await asyncio.create_subprocess_exec(
            node, "-e", script, str(package), server.target, cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    proto_root, models = out.decode().splitlines()
    assert proto_root == str(package / "protos")
    assert models == "alpha/m-1"
