"""Generate, GenerateStream and GetMetrics through a real grpc.aio server on port 0."""

from __future__ import annotations

import pytest

from orchestrator.v1 import common_pb2, generate_pb2, metrics_pb2
from tests.helpers import make_config, mock_provider, running

PROMPT = "tell me about routers"


async def test_generate_returns_text_usage_and_trail() -> None:
    config = make_config(mock_provider("alpha", "m-1", reply="one two three"))
    async with running(config) as server:
        reply = await server.stub.Generate(
            generate_pb2.GenerateRequest(prompt=PROMPT),
            metadata=(("x-request-id", "req-42"),),
        )
    assert reply.text == "one two three"
    assert (reply.provider, reply.model) == ("alpha", "m-1")
    assert reply.finish_reason == generate_pb2.FINISH_REASON_STOP
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (4, 3)
    assert reply.usage.total_tokens == 7
    assert not reply.usage.estimated
    assert reply.request_id == "req-42"
    assert [(a.provider, a.outcome) for a in reply.attempts] == [
        ("alpha", common_pb2.ATTEMPT_OUTCOME_SUCCESS)
    ]


async def test_generate_with_messages_and_params() -> None:
    config = make_config(mock_provider("alpha", reply="a b c d e f"))
    request = generate_pb2.GenerateRequest(
        messages=[
            generate_pb2.ChatMessage(role=generate_pb2.ROLE_SYSTEM, content="be brief"),
            generate_pb2.ChatMessage(role=generate_pb2.ROLE_USER, content="hi"),
        ],
        params=generate_pb2.GenerationParams(max_tokens=2, temperature=0.2),
    )
    async with running(config) as server:
        reply = await server.stub.Generate(request)
    assert reply.text == "a b"
    assert reply.finish_reason == generate_pb2.FINISH_REASON_LENGTH


async def test_fallback_trail_names_the_failed_provider() -> None:
    config = make_config(
        mock_provider("broken", mode="unhealthy"),
        mock_provider("backup", reply="saved"),
        router={"strategy": "first-available"},
    )
    async with running(config) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt=PROMPT))
    assert (reply.text, reply.provider) == ("saved", "backup")
    outcomes = [(a.provider, a.outcome, a.error_code) for a in reply.attempts]
    assert outcomes[0] == ("broken", common_pb2.ATTEMPT_OUTCOME_FAILED, "unavailable")
    assert outcomes[-1] == ("backup", common_pb2.ATTEMPT_OUTCOME_SUCCESS, "")


async def test_stream_events_reassemble_the_unary_text() -> None:
    config = make_config(mock_provider("alpha", "m-1", reply="w1 w2 w3 w4 w5", words_per_chunk=2))
    async with running(config) as server:
        unary = await server.stub.Generate(generate_pb2.GenerateRequest(prompt=PROMPT))
        events = [
            e
            async for e in server.stub.GenerateStream(
                generate_pb2.GenerateStreamRequest(prompt=PROMPT)
            )
        ]
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds == ["start", "delta", "delta", "delta", "end"]
    assert (events[0].start.provider, events[0].start.model) == ("alpha", "m-1")
    assert events[0].start.request_id
    assert "".join(e.delta.text for e in events if e.HasField("delta")) == unary.text
    end = events[-1].end
    assert end.finish_reason == generate_pb2.FINISH_REASON_STOP
    assert end.usage.completion_tokens == 5
    assert [a.provider for a in end.attempts] == ["alpha"]


async def test_stream_falls_back_before_the_first_delta() -> None:
    config = make_config(
        mock_provider("limited", mode="ratelimit", retry_after_s=30),
        mock_provider("backup", reply="from backup"),
    )
    async with running(config) as server:
        events = [
            e
            async for e in server.stub.GenerateStream(
                generate_pb2.GenerateStreamRequest(prompt=PROMPT)
            )
        ]
    assert events[0].start.provider == "backup"
    assert "".join(e.delta.text for e in events if e.HasField("delta")) == "from backup"
    codes = [a.error_code for a in events[-1].end.attempts]
    assert codes[0] == "rate_limited"


async def test_get_metrics_reports_every_provider() -> None:
    config = make_config(
        mock_provider("alpha", reply="x y"),
        mock_provider("beta", mode="auth-error"),
        router={"strategy": "round-robin"},
    )
    async with running(config) as server:
        for _ in range(4):
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt=PROMPT))
        metrics = await server.stub.GetMetrics(metrics_pb2.GetMetricsRequest())
        only_beta = await server.stub.GetMetrics(metrics_pb2.GetMetricsRequest(providers=["beta"]))
    assert metrics.strategy == common_pb2.ROUTING_STRATEGY_ROUND_ROBIN
    assert metrics.uptime.ToNanoseconds() > 0
    by_name = {p.name: p for p in metrics.providers}
    assert list(by_name) == ["alpha", "beta"]
    alpha, beta = by_name["alpha"], by_name["beta"]
    assert alpha.kind == common_pb2.PROVIDER_KIND_MOCK
    assert alpha.requests_ok == 4
    assert alpha.requests_failed == 0
    assert alpha.success_rate == 1.0
    assert alpha.health == metrics_pb2.HEALTH_STATUS_HEALTHY
    assert alpha.circuit_state == metrics_pb2.CIRCUIT_STATE_CLOSED
    assert alpha.completion_tokens == 8
    assert alpha.average_latency.ToNanoseconds() > 0
    assert alpha.p95_latency.ToNanoseconds() >= alpha.p50_latency.ToNanoseconds() > 0
    assert beta.requests_failed >= 1
    assert beta.requests_ok == 0
    assert beta.last_error.code == "auth"
    assert beta.last_error.occurred_at.seconds > 0
    assert beta.consecutive_failures == beta.requests_failed
    assert [p.name for p in only_beta.providers] == ["beta"]


async def test_a_provider_with_no_calls_reports_no_data() -> None:
    async with running(make_config(mock_provider("used"), mock_provider("idle"))) as server:
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt=PROMPT))
        metrics = await server.stub.GetMetrics(metrics_pb2.GetMetricsRequest())
    used, idle = metrics.providers
    assert (used.health, used.success_rate) == (metrics_pb2.HEALTH_STATUS_HEALTHY, 1.0)
    assert (idle.health, idle.success_rate) == (metrics_pb2.HEALTH_STATUS_NO_DATA, 0.0)
    assert idle.requests_total == 0


async def test_cost_follows_the_configured_price() -> None:
    priced = mock_provider("paid", reply="one two three")
    priced["price"] = {"prompt_per_1k": 1.0, "completion_per_1k": 2.0, "currency": "EUR"}
    async with running(make_config(priced, mock_provider("free"))) as server:
        paid = await server.stub.Generate(generate_pb2.GenerateRequest(prompt=PROMPT))
        free = await server.stub.Generate(
            generate_pb2.GenerateRequest(prompt=PROMPT, provider="free")
        )
        metrics = await server.stub.GetMetrics(metrics_pb2.GetMetricsRequest(providers=["paid"]))
    assert paid.cost.currency == "EUR"
    assert paid.cost.amount == pytest.approx((4 * 1.0 + 3 * 2.0) / 1000)
    assert metrics.providers[0].cost.amount == pytest.approx(paid.cost.amount)
    assert free.HasField("cost")  # the mock is free: a cost of 0, not an unknown one
    assert (free.cost.amount, free.cost.currency) == (0.0, "USD")
