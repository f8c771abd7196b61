"""The Ollama native adapter against the emulator, through the real gRPC server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2

from orchestrator.v1 import generate_pb2
from orchestrator_server.config.providers import OllamaProviderConfig
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.providers.ollama import OllamaProvider
from orchestrator_server.providers.registry import spec_of
from tests.emulators.ollama import PROMPT_EVAL_COUNT, OllamaEmulator
from tests.helpers import (
    Running,
    detail,
    error_reason,
    http_provider,
    make_config,
    mock_provider,
    running,
    stream_text,
    trail,
)

KEY = "ollama-proxy-key-0123456789abcdefghijklmnop"
CHAT = "/api/chat"
TAGS = "/api/tags"
REQUEST = generate_pb2.GenerateRequest(
    messages=[
        generate_pb2.ChatMessage(role=generate_pb2.ROLE_SYSTEM, content="Be brief."),
        generate_pb2.ChatMessage(role=generate_pb2.ROLE_USER, content="Say hello"),
    ],
    params=generate_pb2.GenerationParams(
        temperature=0.2,
        top_p=0.9,
        max_tokens=50,
        stop=["END", "\n\n"],
        repetition_penalty=1.1,
        seed=7,
    ),
)


@pytest.fixture
async def emulator() -> AsyncIterator[OllamaEmulator]:
    async with OllamaEmulator() as running_emulator:
        yield running_emulator  # type: ignore[misc]


def ollama(emulator: OllamaEmulator, **fields: object) -> dict[str, object]:
    return http_provider("ollama", "local", emulator.base_url, **{"model": "llama3.2", **fields})


async def stream_all(
    server: Running, prompt: str = "hi"
) -> list[generate_pb2.GenerateStreamResponse]:
    call = server.stub.GenerateStream(generate_pb2.GenerateStreamRequest(prompt=prompt))
    return [event async for event in call]


async def test_unary_request_headers_body_and_reply(emulator: OllamaEmulator) -> None:
    emulator.set(text="Hello there, friend")
    async with running(make_config(ollama(emulator, keep_alive="5m"))) as server:
        reply = await server.stub.Generate(REQUEST)
    assert (reply.text, reply.provider, reply.model) == ("Hello there, friend", "local", "llama3.2")
    assert reply.finish_reason == generate_pb2.FINISH_REASON_STOP
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (PROMPT_EVAL_COUNT, 3)
    assert reply.usage.total_tokens == PROMPT_EVAL_COUNT + 3
    assert not reply.usage.estimated
    [call] = emulator.calls(CHAT)
    assert call.method == "POST"
    assert call.headers["content-type"].startswith("application/json")
    assert "authorization" not in call.headers  # a local Ollama has no auth
    assert call.json() == {
        "model": "llama3.2",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello"},
        ],
        "stream": False,  # Ollama streams unless told not to
        "options": {
            "temperature": 0.2,
            "top_p": 0.9,
            "num_predict": 50,
            "stop": ["END", "\n\n"],
            "seed": 7,
            "repeat_penalty": 1.1,
        },
        "keep_alive": "5m",
    }


async def test_unary_without_params_sends_no_options(emulator: OllamaEmulator) -> None:
    async with running(make_config(ollama(emulator))) as server:
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    [call] = emulator.calls(CHAT)
    assert call.json() == {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
    }


async def test_a_key_is_sent_as_bearer_for_a_proxied_ollama(
    emulator: OllamaEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_TEST_KEY", KEY)
    emulator.require_key = KEY
    async with running(make_config(ollama(emulator, api_key_env="OLLAMA_TEST_KEY"))) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert reply.provider == "local"
    [call] = emulator.calls(CHAT)
    assert call.headers["authorization"] == f"Bearer {KEY}"


async def test_done_reason_length_is_reported(emulator: OllamaEmulator) -> None:
    emulator.done_reason = "length"
    async with running(make_config(ollama(emulator))) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
        events = await stream_all(server)
    assert reply.finish_reason == generate_pb2.FINISH_REASON_LENGTH
    assert events[-1].end.finish_reason == generate_pb2.FINISH_REASON_LENGTH


async def test_missing_counts_are_estimated(emulator: OllamaEmulator) -> None:
    emulator.set(text="a b c", usage=False)
    async with running(make_config(ollama(emulator))) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
        events = await stream_all(server)
    assert reply.usage.estimated
    assert reply.usage.completion_tokens > 0
    assert events[-1].end.usage.estimated


async def test_stream_reassembles_text_with_usage(emulator: OllamaEmulator) -> None:
    emulator.set(text="one two three four five", words_per_chunk=2)
    async with running(make_config(ollama(emulator))) as server:
        events = await stream_all(server, "count")
    assert stream_text(events) == "one two three four five"
    assert events[0].start.provider == "local"
    end = events[-1].end
    assert end.finish_reason == generate_pb2.FINISH_REASON_STOP
    assert (end.usage.prompt_tokens, end.usage.completion_tokens) == (PROMPT_EVAL_COUNT, 5)
    assert not end.usage.estimated
    [call] = emulator.calls(CHAT)
    assert call.json()["stream"] is True


@pytest.mark.parametrize(
    ("behaviour", "code", "error_code", "calls"),
    [
        ({"mode": "error", "status": 400}, grpc.StatusCode.INVALID_ARGUMENT, "invalid_request", 1),
        ({"mode": "error", "status": 401}, grpc.StatusCode.UNAVAILABLE, "auth", 1),
        ({"mode": "error", "status": 403}, grpc.StatusCode.UNAVAILABLE, "permission", 1),
        ({"mode": "error", "status": 404}, grpc.StatusCode.UNAVAILABLE, "not_found", 1),
        (
            {
                "mode": "error",
                "status": 400,
                "error_body": {"error": 'model "llama3.2" not found, try pulling it first'},
            },
            grpc.StatusCode.UNAVAILABLE,
            "not_found",
            1,
        ),
        (
            {"mode": "error", "status": 429, "retry_after": "0"},
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "rate_limited",
            2,
        ),
        (
            {"mode": "error", "status": 429},
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "rate_limited",
            2,
        ),
        ({"mode": "error", "status": 500}, grpc.StatusCode.UNAVAILABLE, "unavailable", 2),
        ({"mode": "error", "status": 502}, grpc.StatusCode.UNAVAILABLE, "unavailable", 2),
        ({"mode": "error", "status": 503}, grpc.StatusCode.UNAVAILABLE, "unavailable", 2),
        (
            {"mode": "error", "status": 500, "error_body": "<html>Bad gateway</html>"},
            grpc.StatusCode.UNAVAILABLE,
            "unavailable",
            2,
        ),
        ({"mode": "malformed"}, grpc.StatusCode.UNAVAILABLE, "malformed_response", 2),
    ],
)
async def test_error_classes(
    emulator: OllamaEmulator,
    monkeypatch: pytest.MonkeyPatch,
    behaviour: dict[str, object],
    code: grpc.StatusCode,
    error_code: str,
    calls: int,
) -> None:
    monkeypatch.setenv("OLLAMA_TEST_KEY", KEY)
    emulator.set(**behaviour)  # type: ignore[arg-type]
    config = make_config(
        ollama(emulator, retries=1, api_key_env="OLLAMA_TEST_KEY"),
        router={"retry": {"base_delay": 0}},
    )
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert caught.value.code() == code
    assert {a.error_code for a in trail(caught.value).attempts} == {error_code}
    assert len(emulator.calls(CHAT)) == calls  # retried only when worth it
    assert KEY not in str(caught.value.trailing_metadata()) + caught.value.details()


async def test_stream_errors_are_classified_like_unary(emulator: OllamaEmulator) -> None:
    emulator.set(mode="error", status=404)
    async with running(make_config(ollama(emulator))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stream_all(server)
    assert {a.error_code for a in trail(caught.value).attempts} == {"not_found"}


async def test_retry_after_is_reported(emulator: OllamaEmulator) -> None:
    emulator.set(mode="error", status=429, retry_after="30")
    async with running(make_config(ollama(emulator))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert detail(caught.value, error_details_pb2.RetryInfo).retry_delay.seconds == 30


async def test_missing_model_falls_back_to_the_next_provider(emulator: OllamaEmulator) -> None:
    emulator.set(mode="error", status=404)
    config = make_config(ollama(emulator), mock_provider("backup", reply="from backup"))
    async with running(config) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert (reply.provider, reply.text) == ("backup", "from backup")
    assert [a.error_code for a in reply.attempts] == ["not_found", ""]
    assert len(emulator.calls(CHAT)) == 1


async def test_invalid_request_does_not_fall_back(emulator: OllamaEmulator) -> None:
    emulator.set(mode="error", status=400)
    config = make_config(ollama(emulator), mock_provider("backup", reply="from backup"))
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
        assert server.mock("backup").calls == 0
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_stream_cut_after_first_chunk_is_partial(emulator: OllamaEmulator) -> None:
    emulator.set(mode="cut", cut_after=1, text="alpha beta gamma")
    config = make_config(ollama(emulator), mock_provider("backup", reply="bravo"))
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


async def test_stream_ending_without_done_is_partial(emulator: OllamaEmulator) -> None:
    emulator.set(text="alpha beta gamma")
    emulator.send_done = False  # a clean end of body, but no "done": true line
    config = make_config(ollama(emulator), mock_provider("backup", reply="bravo"))
    texts: list[str] = []
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for event in server.stub.GenerateStream(
                generate_pb2.GenerateStreamRequest(prompt="hi")
            ):
                if event.HasField("delta"):
                    texts.append(event.delta.text)
        assert server.mock("backup").calls == 0
    assert "".join(texts) == "alpha beta gamma"
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(caught.value) == "STREAM_INTERRUPTED"


async def test_in_stream_error_before_text_falls_back(emulator: OllamaEmulator) -> None:
    emulator.set(mode="stream_error", cut_after=0)
    config = make_config(ollama(emulator), mock_provider("backup", reply="bravo"))
    async with running(config) as server:
        events = await stream_all(server)
    assert events[0].start.provider == "backup"
    assert stream_text(events) == "bravo"
    assert events[-1].end.attempts[0].error_code == "unavailable"


async def test_in_stream_error_after_text_is_partial(emulator: OllamaEmulator) -> None:
    emulator.set(mode="stream_error", cut_after=2, text="alpha beta gamma")
    config = make_config(ollama(emulator), mock_provider("backup", reply="bravo"))
    texts: list[str] = []
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for event in server.stub.GenerateStream(
                generate_pb2.GenerateStreamRequest(prompt="hi")
            ):
                if event.HasField("delta"):
                    texts.append(event.delta.text)
        assert server.mock("backup").calls == 0
    assert texts == ["alpha", " beta"]
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(caught.value) == "STREAM_INTERRUPTED"


async def test_slow_first_byte_times_out_and_falls_back(emulator: OllamaEmulator) -> None:
    emulator.set(first_byte_delay=5)
    config = make_config(
        ollama(emulator, first_token_timeout=0.05), mock_provider("backup", reply="bravo")
    )
    async with running(config) as server:
        events = await stream_all(server)
    assert events[0].start.provider == "backup"
    assert events[-1].end.attempts[0].error_code == "timeout"


async def test_cancelled_stream_closes_the_upstream_connection(emulator: OllamaEmulator) -> None:
    emulator.set(text=" ".join(f"w{i}" for i in range(200)), chunk_delay=0.02)
    async with running(make_config(ollama(emulator))) as server:
        call = server.stub.GenerateStream(generate_pb2.GenerateStreamRequest(prompt="go"))
        async for event in call:
            if event.HasField("delta"):
                break
        call.cancel()
        await asyncio.wait_for(emulator.disconnected.wait(), timeout=5)
    assert emulator.disconnects == 1


def adapter(emulator: OllamaEmulator, api_key: str | None = None) -> OllamaProvider:
    config = OllamaProviderConfig.model_validate(
        {"name": "local", "kind": "ollama", "model": "llama3.2", "base_url": emulator.base_url}
    )
    return OllamaProvider(spec_of(config), config, api_key)


async def test_check_health_lists_models_and_never_generates(emulator: OllamaEmulator) -> None:
    provider = adapter(emulator, api_key=KEY)
    try:
        await provider.check_health()
    finally:
        await provider.aclose()
    [call] = emulator.requests
    assert (call.method, call.path) == ("GET", TAGS)
    assert call.headers["authorization"] == f"Bearer {KEY}"


async def test_check_health_failure_is_classified(emulator: OllamaEmulator) -> None:
    emulator.set(mode="error", status=502)
    provider = adapter(emulator)
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.check_health()
    finally:
        await provider.aclose()
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert caught.value.http_status == 502
    assert not emulator.calls(CHAT)


def test_default_base_url_is_the_local_server() -> None:
    config = OllamaProviderConfig.model_validate({"name": "o", "kind": "ollama", "model": "m"})
    assert OllamaProvider(spec_of(config), config, None).base_url == "http://localhost:11434"


def test_adapter_satisfies_the_provider_protocol() -> None:
    from orchestrator_server.providers.base import Provider

    config = OllamaProviderConfig.model_validate({"name": "o", "kind": "ollama", "model": "m"})
    provider: Provider = OllamaProvider(spec_of(config), config, None)
    assert isinstance(provider, Provider)
