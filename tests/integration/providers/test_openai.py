"""The OpenAI-compatible adapter (and its Azure variant) against the emulator, through the
real gRPC server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2

from orchestrator.v1 import generate_pb2
from tests.emulators.openai import QUOTA_ERROR, OpenAIEmulator
from tests.helpers import (
    detail,
    error_reason,
    http_provider,
    make_config,
    mock_provider,
    running,
    stream_text,
    trail,
)

KEY = "sk-test-0123456789abcdefghijklmnopqrstuv"
CHAT = "/v1/chat/completions"
REQUEST = generate_pb2.GenerateRequest(
    messages=[
        generate_pb2.ChatMessage(role=generate_pb2.ROLE_SYSTEM, content="Be brief."),
        generate_pb2.ChatMessage(role=generate_pb2.ROLE_USER, content="Say hello"),
    ],
    params=generate_pb2.GenerationParams(temperature=0.2, max_tokens=50, stop=["END"], seed=7),
)


@pytest.fixture
async def emulator(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[OpenAIEmulator]:
    monkeypatch.setenv("OPENAI_TEST_KEY", KEY)
    async with OpenAIEmulator() as running_emulator:
        yield running_emulator


def openai(emulator: OpenAIEmulator, **fields: object) -> dict[str, object]:
    defaults: dict[str, object] = {
        "model": "gpt-4o-mini",
        "api_key_env": "OPENAI_TEST_KEY",
        "organization": "org-1",
    }
    return http_provider("openai", "oai", f"{emulator.base_url}/v1", **{**defaults, **fields})


async def test_unary_request_headers_body_and_reply(emulator: OpenAIEmulator) -> None:
    emulator.set(text="Hello there, friend")
    async with running(make_config(openai(emulator))) as server:
        reply = await server.stub.Generate(REQUEST)
    assert (reply.text, reply.provider, reply.model) == (
        "Hello there, friend",
        "oai",
        "gpt-4o-mini",
    )
    assert reply.finish_reason == generate_pb2.FINISH_REASON_STOP
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (9, 3)
    assert not reply.usage.estimated
    [call] = emulator.calls(CHAT)
    assert call.headers["authorization"] == f"Bearer {KEY}"
    assert call.headers["openai-organization"] == "org-1"
    assert call.headers["content-type"].startswith("application/json")
    assert call.json() == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello"},
        ],
        "temperature": 0.2,
        "max_tokens": 50,
        "stop": ["END"],
        "seed": 7,
    }


async def test_stream_reassembles_text_with_usage(emulator: OpenAIEmulator) -> None:
    emulator.set(text="one two three four five", words_per_chunk=2)
    async with running(make_config(openai(emulator))) as server:
        events = [
            e
            async for e in server.stub.GenerateStream(
                generate_pb2.GenerateStreamRequest(prompt="count")
            )
        ]
    assert stream_text(events) == "one two three four five"
    end = events[-1].end
    assert end.finish_reason == generate_pb2.FINISH_REASON_STOP
    assert (end.usage.completion_tokens, end.usage.estimated) == (5, False)
    [call] = emulator.calls(CHAT)
    assert call.json()["stream"] is True
    assert call.json()["stream_options"] == {"include_usage": True}


async def test_stream_without_usage_is_estimated(emulator: OpenAIEmulator) -> None:
    emulator.set(text="a b c", usage=False)
    async with running(make_config(openai(emulator))) as server:
        events = [
            e
            async for e in server.stub.GenerateStream(
                generate_pb2.GenerateStreamRequest(prompt="x")
            )
        ]
    assert events[-1].end.usage.estimated


@pytest.mark.parametrize(
    ("behaviour", "code", "error_code", "calls"),
    [
        ({"mode": "error", "status": 401}, grpc.StatusCode.UNAVAILABLE, "auth", 1),
        ({"mode": "error", "status": 403}, grpc.StatusCode.UNAVAILABLE, "permission", 1),
        ({"mode": "error", "status": 404}, grpc.StatusCode.UNAVAILABLE, "not_found", 1),
        ({"mode": "error", "status": 500}, grpc.StatusCode.UNAVAILABLE, "unavailable", 2),
        ({"mode": "error", "status": 503}, grpc.StatusCode.UNAVAILABLE, "unavailable", 2),
        (
            {"mode": "error", "status": 429, "retry_after": "0"},
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "rate_limited",
            2,
        ),
        (
            {"mode": "error", "status": 429, "error_body": QUOTA_ERROR},
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "quota",
            1,
        ),
        ({"mode": "error", "status": 400}, grpc.StatusCode.INVALID_ARGUMENT, "invalid_request", 1),
        ({"mode": "malformed"}, grpc.StatusCode.UNAVAILABLE, "malformed_response", 2),
    ],
)
async def test_error_classes(
    emulator: OpenAIEmulator,
    behaviour: dict[str, object],
    code: grpc.StatusCode,
    error_code: str,
    calls: int,
) -> None:
    emulator.set(**behaviour)  # type: ignore[arg-type]
    config = make_config(openai(emulator, retries=1), router={"retry": {"base_delay": 0}})
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert caught.value.code() == code
    assert {a.error_code for a in trail(caught.value).attempts} == {error_code}
    assert len(emulator.calls(CHAT)) == calls  # retried only when worth it
    assert KEY not in str(caught.value.trailing_metadata()) + caught.value.details()


async def test_retry_after_is_reported(emulator: OpenAIEmulator) -> None:
    emulator.set(mode="error", status=429, retry_after="30")
    async with running(make_config(openai(emulator))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert detail(caught.value, error_details_pb2.RetryInfo).retry_delay.seconds == 30


async def test_failure_falls_back_to_the_next_provider(emulator: OpenAIEmulator) -> None:
    emulator.set(mode="error", status=401)
    config = make_config(openai(emulator), mock_provider("backup", reply="from backup"))
    async with running(config) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert (reply.provider, reply.text) == ("backup", "from backup")
    assert [a.error_code for a in reply.attempts] == ["auth", ""]


async def test_stream_cut_after_first_chunk_is_partial(emulator: OpenAIEmulator) -> None:
    emulator.set(mode="cut", cut_after=2, text="alpha beta gamma")  # role frame + "alpha"
    config = make_config(openai(emulator), mock_provider("backup", reply="bravo"))
    texts: list[str] = []
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for event in server.stub.GenerateStream(
                generate_pb2.GenerateStreamRequest(prompt="hi")
            ):
                if event.HasField("delta"):
                    texts.append(event.delta.text)
        assert server.mock("backup").calls == 0
    assert texts == ["alpha"]
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(caught.value) == "STREAM_INTERRUPTED"


async def test_in_stream_error_before_text_falls_back(emulator: OpenAIEmulator) -> None:
    emulator.set(mode="stream_error", cut_after=1)
    config = make_config(openai(emulator), mock_provider("backup", reply="bravo"))
    async with running(config) as server:
        events = [
            e
            async for e in server.stub.GenerateStream(
                generate_pb2.GenerateStreamRequest(prompt="hi")
            )
        ]
    assert events[0].start.provider == "backup"
    assert events[-1].end.attempts[0].error_code == "unavailable"


async def test_slow_first_byte_times_out_and_falls_back(emulator: OpenAIEmulator) -> None:
    emulator.set(first_byte_delay=5)
    config = make_config(
        openai(emulator, first_token_timeout=0.05), mock_provider("backup", reply="bravo")
    )
    async with running(config) as server:
        events = [
            e
            async for e in server.stub.GenerateStream(
                generate_pb2.GenerateStreamRequest(prompt="hi")
            )
        ]
    assert events[0].start.provider == "backup"
    assert events[-1].end.attempts[0].error_code == "timeout"


async def test_cancelled_stream_closes_the_upstream_connection(emulator: OpenAIEmulator) -> None:
    emulator.set(text=" ".join(f"w{i}" for i in range(200)), chunk_delay=0.02)
    async with running(make_config(openai(emulator))) as server:
        call = server.stub.GenerateStream(generate_pb2.GenerateStreamRequest(prompt="go"))
        async for event in call:
            if event.HasField("delta"):
                break
        call.cancel()
        await asyncio.wait_for(emulator.disconnected.wait(), timeout=5)
    assert emulator.disconnects == 1


async def test_azure_url_shape_and_key_header(
    emulator: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_TEST_KEY", "azure-key-1")
    azure = http_provider(
        "azure-openai",
        "az",
        emulator.base_url,
        model="gpt-4o",
        deployment="prod-gpt4o",
        api_version="2024-10-21",
        api_key_env="AZURE_TEST_KEY",
    )
    async with running(make_config(azure)) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert reply.provider == "az"
    [call] = emulator.requests
    assert call.path == "/openai/deployments/prod-gpt4o/chat/completions"
    assert call.query == {"api-version": "2024-10-21"}
    assert call.headers["api-key"] == "azure-key-1"
    assert "authorization" not in call.headers


async def test_missing_key_variable_is_a_startup_error(emulator: OpenAIEmulator) -> None:
    from orchestrator_server.app import App, StartupError

    config = make_config(openai(emulator, api_key_env="SURELY_UNSET_TEST_VARIABLE"))
    with pytest.raises(StartupError, match=r"providers\[0\]\.api_key_env"):
        App(config)


def test_adapter_satisfies_the_provider_protocol() -> None:
    from orchestrator_server.config.providers import OpenAIProviderConfig
    from orchestrator_server.providers.base import Provider
    from orchestrator_server.providers.openai import OpenAIProvider
    from orchestrator_server.providers.registry import spec_of

    config = OpenAIProviderConfig(name="o", kind="openai", model="m")
    adapter: Provider = OpenAIProvider(spec_of(config), config, None)
    assert isinstance(adapter, Provider)


async def test_non_ascii_prompts_travel_as_raw_utf8(emulator: OpenAIEmulator) -> None:
    async with running(make_config(openai(emulator))) as server:
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt="Привет, мир"))
    [call] = emulator.calls(CHAT)
    assert "Привет, мир".encode() in call.body
    assert b"\\u041f" not in call.body
