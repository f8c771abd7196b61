"""A model name the providers do not know is the caller's mistake, not an outage: when every
attempt failed because its provider does not know the model, the answer is NOT_FOUND naming
the model and where to list models, and the Python client's RetryPolicy does not retry it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2

from orchestrator.v1 import generate_pb2
from orchestrator_client import AsyncOrchestratorClient, NotFound, RetryPolicy
from tests.emulators.openai import OpenAIEmulator
from tests.helpers import detail, error_reason, http_provider, make_config, mock_provider, running
from tests.helpers import trail as attempt_trail

CHAT = "/v1/chat/completions"


@pytest.fixture
async def emulator() -> AsyncIterator[OpenAIEmulator]:
    async with OpenAIEmulator() as em:
        em.set(mode="error", status=404)  # OpenAI's model_not_found
        yield em


def openai(emulator: OpenAIEmulator, name: str = "oai") -> dict[str, object]:
    return http_provider(
        "openai", name, f"{emulator.base_url}/v1", model="gpt-4o-mini", models=["shared"]
    )


def assert_unknown_model(error: grpc.aio.AioRpcError, model: str) -> None:
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error_reason(error) == "NOT_FOUND"
    assert model in error.details()
    assert "ListModels" in error.details()
    bad = detail(error, error_details_pb2.BadRequest)
    assert [v.field for v in bad.field_violations] == ["model"]
    resource = detail(error, error_details_pb2.ResourceInfo)
    assert (resource.resource_type, resource.resource_name) == ("model", model)
    found = attempt_trail(error)
    assert found is not None
    assert {a.error_code for a in found.attempts} == {"not_found"}


async def test_a_model_typo_is_not_found(emulator: OpenAIEmulator) -> None:
    async with running(make_config(openai(emulator))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(
                generate_pb2.GenerateRequest(prompt="hi", model="oai/gpt-4o-minii")
            )
    assert_unknown_model(caught.value, "oai/gpt-4o-minii")


async def test_a_model_no_provider_knows_is_not_found_in_a_stream(
    emulator: OpenAIEmulator,
) -> None:
    config = make_config(openai(emulator, "one"), openai(emulator, "two"))
    async with running(config) as server:
        request = generate_pb2.GenerateStreamRequest(prompt="hi", model="shared")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in server.stub.GenerateStream(request):
                pass
    assert_unknown_model(caught.value, "shared")
    assert len(emulator.calls(CHAT)) == 2  # both were asked: neither knows it


async def test_the_python_client_does_not_retry_it(emulator: OpenAIEmulator) -> None:
    async with running(make_config(openai(emulator))) as server:
        client = AsyncOrchestratorClient(server.target, retry=RetryPolicy(max_attempts=3))
        async with client:
            with pytest.raises(NotFound) as caught:
                await client.generate("hi", model="oai/gpt-4o-minii")
    assert caught.value.calls == 1
    assert caught.value.resource == ("model", "oai/gpt-4o-minii")
    assert len(emulator.calls(CHAT)) == 1


async def test_an_outage_among_the_attempts_is_still_unavailable(
    emulator: OpenAIEmulator,
) -> None:
    # One provider does not know the model, the other is down: the model may well exist.
    config = make_config(
        openai(emulator),
        {**mock_provider("down", "shared", mode="unhealthy"), "retries": 0},
    )
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi", model="shared"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(caught.value) == "ALL_PROVIDERS_FAILED"


async def test_a_default_model_the_provider_lost_is_not_the_callers_fault(
    emulator: OpenAIEmulator,
) -> None:
    # The caller named no model: the configured one is gone, which only the operator can fix.
    async with running(make_config(openai(emulator))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
