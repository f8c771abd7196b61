"""The Anthropic Messages adapter against the emulator, through the real gRPC server: its
headers, turn merging, named SSE events and stop reasons. The scenarios every provider shares
are in test_provider_contract.py."""

from __future__ import annotations

import aiohttp
import pytest

from orchestrator.v1 import generate_pb2
from orchestrator_server.providers.registry import build_provider
from tests.emulators.anthropic import AnthropicEmulator
from tests.helpers import Running, make_config, running, stream_text
from tests.integration.providers.contract import ANTHROPIC, emulator_fixture

KEY = ANTHROPIC.key
MESSAGES = ANTHROPIC.chat_path
MODEL = ANTHROPIC.fields["model"]
REQUEST = generate_pb2.GenerateRequest(
    messages=[
        generate_pb2.ChatMessage(role=generate_pb2.ROLE_SYSTEM, content="Be brief."),
        generate_pb2.ChatMessage(role=generate_pb2.ROLE_USER, content="Say hello"),
    ],
    params=generate_pb2.GenerationParams(
        temperature=0.2, top_p=0.9, max_tokens=50, stop=["END"], seed=7, repetition_penalty=1.1
    ),
)


emulator = emulator_fixture(ANTHROPIC)
anthropic = ANTHROPIC.entry


async def collect(
    server: Running, request: generate_pb2.GenerateStreamRequest
) -> list[generate_pb2.GenerateStreamResponse]:
    return [e async for e in server.stub.GenerateStream(request)]


async def test_unary_request_headers_body_and_reply(emulator: AnthropicEmulator) -> None:
    emulator.set(text="Hello there, friend")
    async with running(make_config(anthropic(emulator))) as server:
        reply = await server.stub.Generate(REQUEST)
    assert (reply.text, reply.provider, reply.model) == ("Hello there, friend", "claude", MODEL)
    assert reply.finish_reason == generate_pb2.FINISH_REASON_STOP
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (11, 3)
    assert not reply.usage.estimated
    [call] = emulator.calls(MESSAGES)
    assert call.headers["x-api-key"] == KEY
    assert call.headers["anthropic-version"] == "2023-06-01"
    assert call.headers["content-type"] == "application/json"
    assert "authorization" not in call.headers
    # The system prompt is top-level; seed and repetition_penalty have no equivalent.
    assert call.json() == {
        "model": MODEL,
        "max_tokens": 50,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Say hello"}],
        "temperature": 0.2,
        "top_p": 0.9,
        "stop_sequences": ["END"],
    }


@pytest.mark.parametrize(("fields", "expected"), [({}, 1024), ({"default_max_tokens": 256}, 256)])
async def test_max_tokens_defaults_from_config(
    emulator: AnthropicEmulator, fields: dict[str, object], expected: int
) -> None:
    async with running(make_config(anthropic(emulator, **fields))) as server:
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    [call] = emulator.calls(MESSAGES)
    assert call.json() == {
        "model": MODEL,
        "max_tokens": expected,
        "messages": [{"role": "user", "content": "hi"}],
    }


async def test_anthropic_version_is_configurable(emulator: AnthropicEmulator) -> None:
    config = make_config(anthropic(emulator, anthropic_version="2099-01-01"))
    async with running(config) as server:
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert emulator.calls(MESSAGES)[0].headers["anthropic-version"] == "2099-01-01"


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        (
            [
                (generate_pb2.ROLE_SYSTEM, "sys"),
                (generate_pb2.ROLE_USER, "a"),
                (generate_pb2.ROLE_USER, "b"),
                (generate_pb2.ROLE_ASSISTANT, "c"),
                (generate_pb2.ROLE_ASSISTANT, "d"),
                (generate_pb2.ROLE_USER, "e"),
            ],
            [
                {"role": "user", "content": "a\n\nb"},
                {"role": "assistant", "content": "c\n\nd"},
                {"role": "user", "content": "e"},
            ],
        ),
        (  # an OpenAI-style history that opens with the assistant's greeting
            [
                (generate_pb2.ROLE_SYSTEM, "sys"),
                (generate_pb2.ROLE_ASSISTANT, "Ahoy!"),
                (generate_pb2.ROLE_USER, "hi"),
            ],
            [
                {"role": "user", "content": "."},
                {"role": "assistant", "content": "Ahoy!"},
                {"role": "user", "content": "hi"},
            ],
        ),
    ],
)
async def test_turns_start_with_the_user_and_alternate(
    emulator: AnthropicEmulator,
    messages: list[tuple[int, str]],
    expected: list[dict[str, str]],
) -> None:
    # The emulator rejects what the real API rejects, so success is part of the proof.
    request = generate_pb2.GenerateRequest(
        messages=[generate_pb2.ChatMessage(role=r, content=c) for r, c in messages]  # type: ignore[arg-type]
    )
    async with running(make_config(anthropic(emulator))) as server:
        reply = await server.stub.Generate(request)
    assert reply.provider == "claude"
    body = emulator.calls(MESSAGES)[0].json()
    assert body["system"] == "sys"
    assert body["messages"] == expected


async def test_stream_reassembles_text_with_usage(emulator: AnthropicEmulator) -> None:
    emulator.set(text="one two three four five", words_per_chunk=2)
    async with running(make_config(anthropic(emulator))) as server:
        events = await collect(server, generate_pb2.GenerateStreamRequest(prompt="count"))
    assert stream_text(events) == "one two three four five"
    assert events[0].start.model == MODEL
    end = events[-1].end
    assert end.finish_reason == generate_pb2.FINISH_REASON_STOP
    # message_start says 1 output token, message_delta the running total of 5: not 6.
    assert (end.usage.prompt_tokens, end.usage.completion_tokens) == (11, 5)
    assert not end.usage.estimated
    [call] = emulator.calls(MESSAGES)
    assert call.json()["stream"] is True
    assert call.json()["max_tokens"] == 1024


async def test_ping_events_are_ignored(emulator: AnthropicEmulator) -> None:
    emulator.set(text="a b c d")
    emulator.ping_every = 1
    async with running(make_config(anthropic(emulator))) as server:
        events = await collect(server, generate_pb2.GenerateStreamRequest(prompt="x"))
    deltas = [e.delta.text for e in events if e.HasField("delta")]
    assert deltas == ["a", " b", " c", " d"]
    assert events[-1].end.finish_reason == generate_pb2.FINISH_REASON_STOP


async def test_thinking_blocks_are_not_text(emulator: AnthropicEmulator) -> None:
    emulator.set(text="the answer")
    emulator.thinking = True
    async with running(make_config(anthropic(emulator))) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="x"))
        events = await collect(server, generate_pb2.GenerateStreamRequest(prompt="x"))
    assert reply.text == "the answer"
    assert stream_text(events) == "the answer"


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", generate_pb2.FINISH_REASON_STOP),
        ("stop_sequence", generate_pb2.FINISH_REASON_STOP),
        ("max_tokens", generate_pb2.FINISH_REASON_LENGTH),
        ("tool_use", generate_pb2.FINISH_REASON_TOOL_CALL),
        ("refusal", generate_pb2.FINISH_REASON_CONTENT_FILTER),
        ("pause_turn", generate_pb2.FINISH_REASON_OTHER),
    ],
)
async def test_stop_reasons(emulator: AnthropicEmulator, stop_reason: str, finish: int) -> None:
    emulator.stop_reason = stop_reason
    async with running(make_config(anthropic(emulator))) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="x"))
        events = await collect(server, generate_pb2.GenerateStreamRequest(prompt="x"))
    assert reply.finish_reason == finish
    assert events[-1].end.finish_reason == finish


async def test_overloaded_once_is_retried_to_success(emulator: AnthropicEmulator) -> None:
    emulator.set(mode="error", status=529, times=1)
    config = make_config(anthropic(emulator, retries=1), router={"retry": {"base_delay": 0}})
    async with running(config) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert reply.text == "Hello from the emulator"
    assert [a.error_code for a in reply.attempts] == ["unavailable", ""]
    assert len(emulator.calls(MESSAGES)) == 2


async def test_check_health_lists_models(emulator: AnthropicEmulator) -> None:
    provider = build_provider(make_config(anthropic(emulator)).providers[0])
    try:
        await provider.check_health()
    finally:
        await provider.aclose()
    [call] = emulator.requests
    assert (call.method, call.path) == ("GET", "/v1/models")
    assert call.headers["x-api-key"] == KEY
    assert call.headers["anthropic-version"] == "2023-06-01"


@pytest.mark.parametrize(
    ("headers", "body", "status", "message"),
    [
        ({"anthropic-version": "2023-06-01"}, {}, 401, "x-api-key header is required"),
        ({"x-api-key": KEY}, {}, 400, "anthropic-version: header is required"),
        (
            {"x-api-key": KEY, "anthropic-version": "2023-06-01"},
            {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
            400,
            "max_tokens: Field required",
        ),
        (
            {"x-api-key": KEY, "anthropic-version": "2023-06-01"},
            {
                "model": MODEL,
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
            },
            400,
            "roles must alternate",
        ),
        (
            {"x-api-key": KEY, "anthropic-version": "2023-06-01"},
            {"model": MODEL, "max_tokens": 5, "messages": [{"role": "system", "content": "s"}]},
            400,
            "role",
        ),
    ],
)
async def test_emulator_rejects_what_the_real_api_rejects(
    emulator: AnthropicEmulator,
    headers: dict[str, str],
    body: dict[str, object],
    status: int,
    message: str,
) -> None:
    # The success of the tests above proves the adapter's requests valid only if this holds.
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{emulator.base_url}{MESSAGES}", json=body, headers=headers) as response,
    ):
        reply = await response.json()
    assert response.status == status
    assert reply["type"] == "error"
    assert message in reply["error"]["message"]
