"""A real Prometheus server scrapes the gateway's metrics endpoint; a PromQL query over its
HTTP API returns the number of calls made."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import aiohttp
import pytest

from orchestrator.v1 import generate_pb2
from tests.helpers import make_config, mock_provider, require_tool, running

pytestmark = pytest.mark.e2e
CALLS = 7
QUERY = 'sum(llm_requests_total{provider="alpha",status="success"})'
WAIT_S = 60  # bound on Prometheus starting and scraping; it normally takes 1-2 s
POLL_S = 0.2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def query(session: aiohttp.ClientSession, base: str) -> float | None:
    try:
        async with session.get(f"{base}/api/v1/query", params={"query": QUERY}) as response:
            if response.status != 200:
                return None
            body = await response.json()
    except aiohttp.ClientError:
        return None  # not listening yet
    result = body["data"]["result"]
    return float(result[0]["value"][1]) if result else None


async def test_prometheus_counts_the_calls(tmp_path: Path) -> None:
    binary = require_tool("prometheus")
    config = make_config(
        mock_provider("alpha", "m-1"), telemetry={"metrics": {"address": "127.0.0.1:0"}}
    )
    async with running(config) as server:
        for _ in range(CALLS):
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="count me"))
        metrics_port = server.app.telemetry.metrics_port
        (tmp_path / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: orchestrator\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]\n"
        )
        web_port = free_port()
        process = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{web_port}",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=(tmp_path / "prometheus.log").open("wb"),
        )
        try:
            base = f"http://127.0.0.1:{web_port}"
            seen: float | None = None
            deadline = time.monotonic() + WAIT_S
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
                while time.monotonic() < deadline and process.returncode is None:
                    seen = await query(session, base)
                    if seen == CALLS:
                        break
                    await asyncio.sleep(POLL_S)  # polling another process's API
        finally:
            if process.returncode is None:
                process.terminate()
            await process.wait()
    log = (tmp_path / "prometheus.log").read_text(errors="replace")[-2000:]
    assert seen == CALLS, f"Prometheus answered {seen}; its log ends:\n{log}"
