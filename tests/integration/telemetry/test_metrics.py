"""The Prometheus endpoint through a real server: request counts, GenAI and RPC series, and
series of a removed provider disappearing."""

from __future__ import annotations

import aiohttp
import grpc
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.v1 import generate_pb2
from orchestrator_server.app import App, StartupError
from orchestrator_server.domain.errors import ConfigRejected
from tests.helpers import make_config, mock_provider, running

METRICS = {"metrics": {"address": "127.0.0.1:0"}}
GENERATE = "Generate"


async def scrape(port: int) -> tuple[str, dict[str, list[tuple[dict[str, str], float]]]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return text, samples


def value(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    return sum(
        v for ls, v in samples.get(name, []) if all(ls.get(k) == x for k, x in labels.items())
    )


async def test_counts_requests_tokens_and_rpcs_after_n_calls() -> None:
    config = make_config(mock_provider("alpha", "m-1", reply="one two three"), telemetry=METRICS)
    async with running(config) as server:
        for _ in range(3):
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="count me please"))
        with pytest.raises(grpc.aio.AioRpcError):
            await server.stub.Generate(generate_pb2.GenerateRequest())
        _, samples = await scrape(server.app.telemetry.metrics_port)

    assert (
        value(samples, "llm_requests_total", provider="alpha", model="m-1", status="success") == 3
    )
    assert value(samples, "llm_tokens_total", provider="alpha", type="completion") == 9
    assert value(samples, "llm_tokens_total", provider="alpha", type="prompt") == 9
    assert value(samples, "llm_request_latency_seconds_count", provider="alpha") == 3
    assert value(samples, "llm_provider_health", provider="alpha") == 1.0
    genai = {"gen_ai_provider_name": "mock", "gen_ai_request_model": "m-1"}
    assert value(samples, "gen_ai_client_operation_duration_seconds_count", **genai) == 3
    assert value(samples, "gen_ai_client_token_usage_sum", gen_ai_token_type="output", **genai) == 9
    ok = {"rpc_method": GENERATE, "rpc_response_status_code": "OK"}
    assert value(samples, "rpc_server_call_duration_seconds_count", **ok) == 3
    bad = {"rpc_method": GENERATE, "rpc_response_status_code": "INVALID_ARGUMENT"}
    assert value(samples, "rpc_server_call_duration_seconds_count", **bad) == 1
    assert value(samples, "orchestrator_gateway_overhead_seconds_count", rpc_method=GENERATE) == 4


async def test_stream_reports_time_to_first_chunk_and_failures_by_error_kind() -> None:
    config = make_config(
        mock_provider("broken", mode="unhealthy"),
        mock_provider("backup", "m-2", reply="a b c"),
        telemetry=METRICS,
    )
    async with running(config) as server:
        events = server.stub.GenerateStream(generate_pb2.GenerateStreamRequest(prompt="hi"))
        assert [e async for e in events][-1].HasField("end")
        _, samples = await scrape(server.app.telemetry.metrics_port)
    assert value(samples, "llm_requests_total", provider="broken", status="unavailable") == 2
    assert value(samples, "llm_requests_total", provider="backup", status="success") == 1
    assert (
        value(
            samples,
            "gen_ai_client_operation_duration_seconds_count",
            orchestrator_provider="broken",
            error_type="unavailable",
        )
        == 2
    )
    ttft = "gen_ai_client_operation_time_to_first_chunk_seconds_count"
    assert value(samples, ttft, orchestrator_provider="backup") == 1


async def test_removed_provider_series_disappear_from_the_scrape() -> None:
    config = make_config(mock_provider("alpha"), mock_provider("beta"), telemetry=METRICS)
    async with running(config) as server:
        for name in ("alpha", "beta"):
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="x", provider=name))
        text, _ = await scrape(server.app.telemetry.metrics_port)
        assert 'provider="beta"' in text
        assert 'orchestrator_provider="beta"' in text

        server.app.telemetry.retain_providers(["alpha"])
        text, samples = await scrape(server.app.telemetry.metrics_port)
        # A late call to the removed provider (in flight during a reload) brings none back.
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt="x", provider="beta"))
        late, _ = await scrape(server.app.telemetry.metrics_port)
    assert value(samples, "llm_requests_total", provider="alpha") == 1
    assert '"beta"' not in text
    assert '"beta"' not in late


async def test_a_reload_drops_removed_series_keeps_recording_and_is_counted() -> None:
    config = make_config(mock_provider("alpha"), mock_provider("beta"), telemetry=METRICS)
    async with running(config) as server:
        for name in ("alpha", "beta"):
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="x", provider=name))
        new = make_config(mock_provider("alpha"), mock_provider("gamma"), telemetry=METRICS)
        await server.app.reloader.apply_text(
            yaml.safe_dump(new.model_dump(mode="json", by_alias=True)), preserve_metrics=True
        )
        with pytest.raises(ConfigRejected):
            await server.app.reloader.apply_text("providers: []", preserve_metrics=True)
        # The new generation's router reports to the same metrics.
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt="x", provider="gamma"))
        text, samples = await scrape(server.app.telemetry.metrics_port)
    assert '"beta"' not in text
    assert value(samples, "llm_requests_total", provider="gamma") == 1
    assert value(samples, "llm_requests_total", provider="alpha") == 1
    assert value(samples, "orchestrator_config_reloads_total", result="ok") == 1
    assert value(samples, "orchestrator_config_reloads_total", result="rejected") == 1


async def test_metrics_off_by_default_and_a_taken_port_fails_startup() -> None:
    async with running(make_config(mock_provider("alpha"))) as server:
        assert server.app.telemetry.metrics is None
        assert server.app.telemetry.metrics_port == 0
        config = make_config(
            mock_provider("alpha"),
            telemetry={"metrics": {"address": f"127.0.0.1:{server.app.port}"}},
        )
        with pytest.raises(StartupError, match="cannot serve metrics"):
            await App(config).start()
