"""Metric label values come only from the configuration, and /metrics renders off the loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import aiohttp
from prometheus_client.registry import Collector

from orchestrator.v1 import generate_pb2
from tests.helpers import make_config, mock_provider, running
from tests.integration.telemetry.test_metrics import METRICS, scrape

INVENTED = 1000


async def test_invented_model_names_count_as_other_and_the_series_stay_bounded() -> None:
    config = make_config(
        mock_provider("m", "mock-model", reply="ok"),
        aliases={"fast": ["m/alias-model"]},
        telemetry=METRICS,
    )
    async with running(config) as server:
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi", model="m/mock-model"))
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi", model="fast"))
        _, before = await scrape(server.app.telemetry.metrics_port)
        names = [f"m/invented-{i}" for i in range(INVENTED)]
        for start in range(0, INVENTED, 100):
            await asyncio.gather(
                *(
                    server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi", model=name))
                    for name in names[start : start + 100]
                )
            )
        text, after = await scrape(server.app.telemetry.metrics_port)

    assert "invented" not in text
    models = {labels["model"] for labels, _ in after["llm_requests_total"]}
    assert models == {"mock-model", "alias-model", "other"}
    genai = after["gen_ai_client_operation_duration_seconds_count"]
    assert {labels["gen_ai_request_model"] for labels, _ in genai} == models
    assert {labels["gen_ai_response_model"] for labels, _ in genai} <= models
    other = [v for labels, v in after["llm_requests_total"] if labels["model"] == "other"]
    assert other == [INVENTED]
    # Two model values before (mock-model, alias-model), three after (and `other`): each
    # family grows by half at most, however many names were sent.
    for name, samples in after.items():
        assert len(series(samples)) * 2 <= len(series(before.get(name, []))) * 3, name


def series(samples: list[tuple[dict[str, str], float]]) -> set[frozenset[tuple[str, str]]]:
    """Distinct label sets, buckets of one histogram counted once."""
    return {frozenset((k, v) for k, v in labels.items() if k != "le") for labels, _ in samples}


class _ThreadProbe(Collector):
    """A collector that notes which thread renders the scrape."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def collect(self) -> Iterator[object]:
        self.threads.append(threading.current_thread())
        return iter(())


async def test_metrics_render_in_a_worker_thread() -> None:
    config = make_config(mock_provider("m"), telemetry=METRICS)
    async with running(config) as server:
        endpoint = server.app.telemetry.endpoint
        assert endpoint is not None
        probe = _ThreadProbe()
        endpoint.registry.register(probe)  # type: ignore[arg-type]
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{server.app.telemetry.metrics_port}/metrics") as reply,
        ):
            assert reply.status == 200
    assert probe.threads
    assert all(t is not threading.main_thread() for t in probe.threads)
