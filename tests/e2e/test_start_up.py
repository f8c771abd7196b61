"""`orchestrator serve` as a process: a quiet start (no faiss loader chatter, no line per
failed call of the demo's flaky mock), everything when DEBUG is asked for; listen and
metrics addresses from the environment, as the container image sets them."""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import aiohttp
import grpc
import pytest

from orchestrator.v1 import common_pb2, generate_pb2, orchestrator_service_pb2_grpc
from tests.helpers import trail
from tests.serving import serving

pytestmark = pytest.mark.e2e


async def call_flaky(target: str, times: int) -> int:
    """Calls the embedded config's mock-flaky (pinned); returns how many attempts failed."""
    failed = 0
    async with grpc.aio.insecure_channel(target) as channel:
        stub = orchestrator_service_pb2_grpc.OrchestratorServiceStub(channel)
        for _ in range(times):
            request = generate_pb2.GenerateRequest(prompt="hi", provider="mock-flaky")
            try:
                attempts = (await stub.Generate(request, timeout=10)).attempts
            except grpc.aio.AioRpcError as exc:
                found = trail(exc)
                attempts = found.attempts if found is not None else []
            failed += sum(a.outcome == common_pb2.ATTEMPT_OUTCOME_FAILED for a in attempts)
    return failed


async def test_the_default_start_is_quiet() -> None:
    async with serving() as server:
        assert await call_flaky(server.target, 20) > 0
        code = await server.stop()
    assert code == 0
    log = server.log
    assert "faiss" not in log
    assert "ModuleNotFoundError" not in log
    assert "mock-flaky/mock-small failed" not in log
    assert "orchestrator listening on 127.0.0.1:0" in log


async def test_debug_shows_the_loader_and_every_failed_call() -> None:
    async with serving("--log-level", "DEBUG") as server:
        failed = await call_flaky(server.target, 20)
        assert failed > 0
        await server.stop()
    assert "faiss.loader" in server.log
    assert server.log.count("mock-flaky/mock-small failed") == failed


async def test_the_listen_address_from_the_environment_and_a_health_check_that_follows_it() -> None:
    """As the container image runs it: no --address, the variables say where to listen, and
    `orchestrator health-check` (no --address either) finds the server there."""
    env = {
        **os.environ,
        "ORCHESTRATOR_LISTEN_ADDRESS": "127.0.0.1:0",
        "ORCHESTRATOR_METRICS_ADDRESS": "127.0.0.1:0",
    }
    async with serving(env=env, addresses=False) as server:
        metrics = await server.wait_for(r"metrics on http://127\.0\.0\.1:0/metrics \(port (\d+)\)")
        async with aiohttp.ClientSession() as session:
            scrape = await session.get(f"http://127.0.0.1:{metrics.group(1)}/metrics")
            assert scrape.status == 200
        healthy = await health_check({"ORCHESTRATOR_LISTEN_ADDRESS": f"0.0.0.0:{server.port}"})
        closed = free_port()
        down = await health_check({"ORCHESTRATOR_LISTEN_ADDRESS": f"0.0.0.0:{closed}"})
    assert healthy == (0, "SERVING")
    assert down[0] == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def health_check(extra: dict[str, str]) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestrator_server", "health-check", "--timeout", "2",
        env={**env, **extra}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode().strip()
