"""AsyncOrchestratorClient against the real server on port 0: every method, errors, retries."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from orchestrator.v1 import common_pb2, generate_pb2, validate_key_pb2
from orchestrator_client import (
    AsyncOrchestratorClient,
    ConnectError,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    RateLimited,
    RetryPolicy,
    StreamInterrupted,
    Unavailable,
)
from orchestrator_server.config.providers import MockMode
from tests.helpers import make_config, mock_provider, running


def no_retries(provider: dict[str, Any]) -> dict[str, Any]:
    return {**provider, "retries": 0}  # so provider calls count client calls


async def test_generate_with_messages_params_and_request_id() -> None:
    config = make_config(mock_provider("alpha", "m-1", reply="one two three four"))
    async with running(config) as server, AsyncOrchestratorClient(server.target) as client:
        reply = await client.generate(
            messages=[("system", "be brief"), {"role": "user", "content": "hi"}],
            max_tokens=3,
            temperature=0.2,
            model="alpha/m-1",
            request_id="req-7",
        )
    assert reply.text == "one two three"
    assert reply.finish_reason == generate_pb2.FINISH_REASON_LENGTH
    assert (reply.provider, reply.model, reply.request_id) == ("alpha", "m-1", "req-7")
    assert reply.usage.completion_tokens == 3


async def test_stream_yields_deltas_then_holds_usage() -> None:
    config = make_config(mock_provider("alpha", reply="a b c d", words_per_chunk=1))
    async with running(config) as server, AsyncOrchestratorClient(server.target) as client:
        stream = client.stream("hi")
        deltas = [text async for text in stream]
    assert deltas == ["a", " b", " c", " d"]
    assert stream.text == "a b c d"
    assert stream.provider == "alpha"
    assert stream.usage is not None
    assert stream.usage.completion_tokens == 4
    assert stream.finish_reason == generate_pb2.FINISH_REASON_STOP
    assert [a.outcome for a in stream.attempts] == [common_pb2.ATTEMPT_OUTCOME_SUCCESS]


async def test_stream_closed_early_cancels_the_upstream() -> None:
    config = make_config(mock_provider("alpha", reply="a b c d e f", chunk_delay_ms=50))
    async with running(config) as server, AsyncOrchestratorClient(server.target) as client:
        async with client.stream("hi") as stream:
            assert await anext(stream) == "a"
        await server.mock("alpha").stream_abandoned.wait()
    assert server.mock("alpha").abandoned_streams == 1


async def test_metrics_lists_providers() -> None:
    config = make_config(mock_provider("alpha"), mock_provider("beta"))
    async with running(config) as server, AsyncOrchestratorClient(server.target) as client:
        await client.generate("hi")
        everything = await client.metrics()
        only_beta = await client.metrics(["beta"])
    assert [p.name for p in everything.providers] == ["alpha", "beta"]
    assert everything.providers[0].requests_ok == 1
    assert [p.name for p in only_beta.providers] == ["beta"]


async def test_list_providers_and_models() -> None:
    config = make_config(mock_provider("alpha", "m-1"), mock_provider("beta", "m-2"))
    async with running(config) as server, AsyncOrchestratorClient(server.target) as client:
        providers = await client.list_providers()
        models = await client.list_models(["beta"], refresh=True)
    assert [(p.name, p.model) for p in providers.providers] == [("alpha", "m-1"), ("beta", "m-2")]
    assert "beta/m-2" in [m.name for m in models.models]
    assert {m.provider for m in models.models} == {"beta"}


async def test_validate_key_on_the_real_server_mock_rules() -> None:
    config = make_config(mock_provider("alpha"))
    async with running(config) as server, AsyncOrchestratorClient(server.target) as client:
        good = await client.validate_key("mock", "sk-anything")
        bad = await client.validate_key("mock", "invalid-key")
    assert good.valid
    assert not bad.valid
    assert bad.error_code == validate_key_pb2.VALIDATION_ERROR_CODE_INVALID_API_KEY


async def test_failure_carries_status_reason_and_attempt_trail() -> None:
    config = make_config(
        mock_provider("a", mode="unhealthy"), mock_provider("b", mode="auth-error")
    )
    async with running(config) as server, AsyncOrchestratorClient(server.target) as client:
        with pytest.raises(Unavailable) as caught:
            await client.generate("hi", request_id="trail-1")
    error = caught.value
    assert error.code is grpc.StatusCode.UNAVAILABLE
    assert error.reason == "ALL_PROVIDERS_FAILED"
    assert error.request_id == "trail-1"
    assert {(a.provider, a.error_code) for a in error.attempts} == {
        ("a", "unavailable"),
        ("b", "auth"),
    }
    assert "tried a/" in error.describe()


async def test_bad_request_names_the_field() -> None:
    config = make_config(mock_provider("a"))
    async with running(config) as server, AsyncOrchestratorClient(server.target) as client:
        with pytest.raises(InvalidArgument) as caught:
            await client.generate("hi", temperature=9.0)
    assert [v.field for v in caught.value.violations] == ["params.temperature"]


async def test_unknown_model_is_not_found_with_resource() -> None:
    config = make_config(mock_provider("a"))
    async with running(config) as server, AsyncOrchestratorClient(server.target) as client:
        with pytest.raises(NotFound) as caught:
            await client.generate("hi", model="nobody/x")
    assert caught.value.resource is not None
    assert caught.value.resource[1] == "nobody"


async def test_rate_limited_carries_retry_info() -> None:
    config = make_config(mock_provider("a", mode="ratelimit", retry_after_s=30))
    async with running(config) as server, AsyncOrchestratorClient(server.target) as client:
        with pytest.raises(RateLimited) as caught:
            await client.generate("hi")
    assert caught.value.retry_after == 30


async def test_deadline_exceeded() -> None:
    config = make_config(mock_provider("slow", mode="timeout"))
    async with running(config) as server, AsyncOrchestratorClient(server.target) as client:
        with pytest.raises(DeadlineExceeded) as caught:
            await client.generate("hi", timeout=0.3)
    assert caught.value.code is grpc.StatusCode.DEADLINE_EXCEEDED


async def test_stream_cut_mid_way_is_partial() -> None:
    config = make_config(
        mock_provider("a", mode="fail-after-n-chunks", fail_after_chunks=2, reply="a b c d")
    )
    retry = RetryPolicy(max_attempts=3)
    async with running(config) as server:
        async with AsyncOrchestratorClient(server.target, retry=retry) as client:
            stream = client.stream("hi")
            received = []
            with pytest.raises(StreamInterrupted) as caught:
                async for text in stream:
                    received.append(text)
        assert server.mock("a").calls == 1  # a partial stream is never retried
    assert received == ["a", " b"]
    assert caught.value.partial_output
    assert caught.value.reason == "STREAM_INTERRUPTED"


async def test_retry_on_unavailable_then_success() -> None:
    config = make_config(no_retries(mock_provider("a", mode="unhealthy", reply="recovered")))
    waits: list[float] = []
    async with running(config) as server:
        provider = server.mock("a")

        async def heal_while_waiting(delay: float) -> None:
            waits.append(delay)
            provider.options = provider.options.model_copy(update={"mode": MockMode.NORMAL})

        client = AsyncOrchestratorClient(
            server.target, retry=RetryPolicy(max_attempts=3), sleep=heal_while_waiting
        )
        async with client:
            reply = await client.generate("hi")
    assert reply.text == "recovered"
    assert provider.calls == 2
    assert len(waits) == 1


async def test_retry_gives_up_after_max_attempts() -> None:
    config = make_config(no_retries(mock_provider("a", mode="unhealthy")))

    async def no_wait(delay: float) -> None:
        pass

    async with running(config) as server:
        client = AsyncOrchestratorClient(
            server.target, retry=RetryPolicy(max_attempts=3), sleep=no_wait
        )
        async with client:
            with pytest.raises(Unavailable) as caught:
                await client.generate("hi")
        assert server.mock("a").calls == 3
    assert caught.value.calls == 3
    assert caught.value.attempts[0].provider == "a"


async def test_no_server_is_a_connect_error() -> None:
    async with running(make_config(mock_provider("a"))) as server:
        target = server.target
    async with AsyncOrchestratorClient(target) as client:
        with pytest.raises(ConnectError) as caught:
            await client.metrics(timeout=5)
    assert caught.value.code is grpc.StatusCode.UNAVAILABLE
