"""A real Prometheus server scrapes the gateway's metrics endpoint; a PromQL query over its
HTTP API returns the number of calls made."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.v1 import generate_pb2
from tests.e2e.prometheus import scraping
from tests.helpers import make_config, mock_provider, running

pytestmark = pytest.mark.e2e
CALLS = 7
QUERY = 'sum(llm_requests_total{provider="alpha",status="success"})'


async def test_prometheus_counts_the_calls(tmp_path: Path) -> None:
    config = make_config(
        mock_provider("alpha", "m-1"), telemetry={"metrics": {"address": "127.0.0.1:0"}}
    )
    async with running(config) as server:
        for _ in range(CALLS):
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="count me"))
        async with scraping(tmp_path, server.app.telemetry.metrics_port) as prometheus:
            seen = await prometheus.wait_for(QUERY, CALLS)
            log = prometheus.log_tail()
    assert seen == CALLS, f"Prometheus answered {seen}; its log ends:\n{log}"
