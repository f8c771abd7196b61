"""The Ollama native adapter against the emulator, through the real gRPC server: a local,
keyless Ollama's requests, NDJSON streams and health check. The scenarios every provider
shares (run against an Ollama behind a keyed proxy) are in test_provider_contract.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from orchestrator.v1 import generate_pb2
from orchestrator_server.config.providers import OllamaProviderConfig
from orchestrator_server.providers.ollama import OllamaProvider
from orchestrator_server.providers.registry import spec_of
from tests.emulators.ollama import PROMPT_EVAL_COUNT, OllamaEmulator
from tests.helpers import Running, http_provider, make_config, running, stream_text
from tests.integration.providers.contract import OLLAMA

KEY = OLLAMA.key
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
    monkeypatch.setenv(OLLAMA.key_env, KEY)
    emulator.require_key = KEY
    async with running(make_config(ollama(emulator, api_key_env=OLLAMA.key_env))) as server:
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


def test_default_base_url_is_the_local_server() -> None:
    config = OllamaProviderConfig.model_validate({"name": "o", "kind": "ollama", "model": "m"})
    assert OllamaProvider(spec_of(config), config, None).base_url == "http://localhost:11434"
