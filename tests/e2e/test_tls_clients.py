"""Real clients over TLS and mTLS with caller keys: grpcurl (-cacert, -cert, -key), the Node
client, and the CLI (generate, health-check). Plaintext on the TLS port and a client without
its certificate under mTLS are refused."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from tests.certs import Certs, make_certs
from tests.e2e.test_grpcurl import grpcurl, json_objects
from tests.e2e.test_node_client import NODE_CLIENT, node_modules_installed
from tests.helpers import Running, caller_key, make_config, mock_provider, require_tool, running
from tests.integration.client.test_cli import orchestrator

pytestmark = pytest.mark.e2e
KEY = "orch_e2e-caller-key-0123456789abc"
REPLY = "hello over tls"
GENERATE = "orchestrator.v1.OrchestratorService/Generate"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("pki"))


@pytest.fixture(params=[False, True], ids=["tls", "mtls"])
async def server(request: pytest.FixtureRequest, certs: Certs) -> AsyncIterator[Running]:
    config = make_config(
        mock_provider("alpha", reply=REPLY),
        server={"address": "127.0.0.1:0", "tls": certs.tls(mutual=request.param)},
        auth={"keys": [caller_key("e2e", KEY)]},
    )
    async with running(config) as running_server:
        yield running_server


def mutual(server: Running) -> bool:
    return server.app.tls is not None and server.app.tls.mutual


def identity(server: Running, certs: Certs) -> list[str]:
    return (
        ["-cert", str(certs.client_cert), "-key", str(certs.client_key)] if mutual(server) else []
    )


async def test_grpcurl(server: Running, certs: Certs) -> None:
    tls = ["-cacert", str(certs.ca), *identity(server, certs)]
    code, out = await grpcurl(server, "list", flags=tls)
    assert code == 0, out
    assert "orchestrator.v1.OrchestratorService" in out.split()

    keyed = [*tls, "-H", f"authorization: Bearer {KEY}"]
    code, out = await grpcurl(server, GENERATE, data='{"prompt": "hi"}', flags=keyed)
    assert code == 0, out
    assert json_objects(out)[0]["text"] == REPLY

    code, out = await grpcurl(server, GENERATE, data='{"prompt": "hi"}', flags=tls)
    assert code != 0
    assert "Unauthenticated" in out

    code, out = await grpcurl(server, "list", flags=["-plaintext"])
    assert code != 0
    if mutual(server):
        code, out = await grpcurl(server, "list", flags=["-cacert", str(certs.ca)])
        assert code != 0


async def test_node_client(server: Running, certs: Certs) -> None:
    node = require_tool("node")
    node_modules_installed()
    env = {
        **os.environ,
        "ORCHESTRATOR_ADDRESS": server.target,
        "ORCHESTRATOR_CA": str(certs.ca),
        "ORCHESTRATOR_API_KEY": KEY,
    }
    if mutual(server):
        env |= {
            "ORCHESTRATOR_CERT": str(certs.client_cert),
            "ORCHESTRATOR_KEY": str(certs.client_key),
        }
    process = await asyncio.create_subprocess_exec(
        node,
        "--test",
        "test/tls.test.js",
        cwd=NODE_CLIENT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    report = out.decode()
    assert process.returncode == 0, report
    assert "# pass 3" in report, report


async def test_cli(server: Running, certs: Certs) -> None:
    options = ["--address", server.target, "--ca-file", str(certs.ca)]
    if mutual(server):
        options += ["--cert-file", str(certs.client_cert), "--key-file", str(certs.client_key)]
    code, out, err = await orchestrator("generate", "hi", *options, ORCHESTRATOR_API_KEY=KEY)
    assert code == 0, err
    assert out == f"{REPLY}\n"
    code, out, err = await orchestrator("health-check", *options)
    assert (code, out.strip()) == (0, "SERVING"), err
    code, out, err = await orchestrator("health-check", "--address", server.target)
    assert code == 1
