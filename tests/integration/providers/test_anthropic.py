"""The Anthropic Messages adapter against the emulator, through the real gRPC server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import grpc
import pytest
from google.rpc import error_details_pb2

from orchestrator.v1 import generate_pb2
from tests.emulators.anthropic import CREDIT_ERROR, FRAMES_BEFORE_TEXT, AnthropicEmulator
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

KEY = "sk-ant-api03-test-0123456789abcdefghijklmnopqrstuvwxyz"
MESSAGES = "/v1/messages"
MODEL = "claude-sonnet-4-5"
REQUEST = generate_pb2.GenerateRequest(
    messages=[
        generate_pb2.ChatMessage(role=generate_pb2.ROLE_SYSTEM, content="Be brief."),
        generate_pb2.ChatMessage(role=generate_pb2.ROLE_USER, content="Say hello"),
    ],
    params=generate_pb2.GenerationParams(
        temperature=0.2, top_p=0.9, max_tokens=50, stop=["END"], seed=7, repetition_penalty=1.1
    ),
)


@pytest.fixture
async def emulator(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AnthropicEmulator]:
    monkeypatch.setenv("ANTHROPIC_TEST_KEY", KEY)
    emulator = AnthropicEmulator()
    emulator.expected_key = KEY
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


def anthropic(emulator: AnthropicEmulator, **fields: object) -> dict[str, object]:
    defaults: dict[str, object] = {"model": MODEL, "api_key_env": "ANTHROPIC_TEST_KEY"}
    return http_provider("anthropic", "claude", emulator.base_url, **{**defaults, **fields})


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


async def test_missing_usage_is_estimated(emulator: AnthropicEmulator) -> None:
    emulator.set(text="a b c", usage=False)
    async with running(make_config(anthropic(emulator))) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="x"))
        events = await collect(server, generate_pb2.GenerateStreamRequest(prompt="x"))
    assert reply.usage.estimated
    assert events[-1].end.usage.estimated


ERROR_CASES = [
    ({"mode": "error", "status": 400}, grpc.StatusCode.INVALID_ARGUMENT, "invalid_request", 1),
    ({"mode": "error", "status": 401}, grpc.StatusCode.UNAVAILABLE, "auth", 1),
    ({"mode": "error", "status": 402}, grpc.StatusCode.RESOURCE_EXHAUSTED, "quota", 1),
    (
        {"mode": "error", "status": 400, "error_body": CREDIT_ERROR},
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "quota",
        1,
    ),
    ({"mode": "error", "status": 403}, grpc.StatusCode.UNAVAILABLE, "permission", 1),
    ({"mode": "error", "status": 404}, grpc.StatusCode.UNAVAILABLE, "not_found", 1),
    ({"mode": "error", "status": 413}, grpc.StatusCode.INVALID_ARGUMENT, "invalid_request", 1),
    (
        {"mode": "error", "status": 429, "retry_after": "0"},
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "rate_limited",
        2,
    ),
    ({"mode": "error", "status": 429}, grpc.StatusCode.RESOURCE_EXHAUSTED, "rate_limited", 2),
    ({"mode": "error", "status": 500}, grpc.StatusCode.UNAVAILABLE, "unavailable", 2),
    ({"mode": "error", "status": 504}, grpc.StatusCode.UNAVAILABLE, "timeout", 2),
    ({"mode": "error", "status": 529}, grpc.StatusCode.UNAVAILABLE, "unavailable", 2),
    ({"mode": "malformed"}, grpc.StatusCode.UNAVAILABLE, "malformed_response", 2),
]


@pytest.mark.parametrize(("behaviour", "code", "error_code", "calls"), ERROR_CASES)
async def test_error_classes(
    emulator: AnthropicEmulator,
    behaviour: dict[str, object],
    code: grpc.StatusCode,
    error_code: str,
    calls: int,
) -> None:
    emulator.set(**behaviour)
    config = make_config(anthropic(emulator, retries=1), router={"retry": {"base_delay": 0}})
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert caught.value.code() == code
    assert {a.error_code for a in trail(caught.value).attempts} == {error_code}  # type: ignore[union-attr]
    assert len(emulator.calls(MESSAGES)) == calls  # retried only when worth it
    assert KEY not in str(caught.value.trailing_metadata()) + str(caught.value.details())


@pytest.mark.parametrize(
    ("behaviour", "error_code", "calls"),
    [
        ({"mode": "error", "status": 529}, "unavailable", 2),
        ({"mode": "error", "status": 401}, "auth", 1),
        ({"mode": "error", "status": 402}, "quota", 1),
        ({"mode": "malformed"}, "malformed_response", 2),
    ],
)
async def test_stream_error_classes(
    emulator: AnthropicEmulator, behaviour: dict[str, object], error_code: str, calls: int
) -> None:
    emulator.set(**behaviour)
    config = make_config(anthropic(emulator, retries=1), router={"retry": {"base_delay": 0}})
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await collect(server, generate_pb2.GenerateStreamRequest(prompt="hi"))
    assert {a.error_code for a in trail(caught.value).attempts} == {error_code}  # type: ignore[union-attr]
    assert len(emulator.calls(MESSAGES)) == calls
    assert KEY not in str(caught.value.trailing_metadata()) + str(caught.value.details())


async def test_overloaded_once_is_retried_to_success(emulator: AnthropicEmulator) -> None:
    emulator.set(mode="error", status=529, times=1)
    config = make_config(anthropic(emulator, retries=1), router={"retry": {"base_delay": 0}})
    async with running(config) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert reply.text == "Hello from the emulator"
    assert [a.error_code for a in reply.attempts] == ["unavailable", ""]
    assert len(emulator.calls(MESSAGES)) == 2


@pytest.mark.parametrize(
    ("headers", "seconds", "nanos"),
    [({"retry_after": "30"}, 30, 0), ({"retry_after_ms": "1500"}, 1, 500_000_000)],
)
async def test_retry_after_is_reported(
    emulator: AnthropicEmulator, headers: dict[str, str], seconds: int, nanos: int
) -> None:
    emulator.set(mode="error", status=429, **headers)
    async with running(make_config(anthropic(emulator))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    delay = detail(caught.value, error_details_pb2.RetryInfo).retry_delay
    assert (delay.seconds, delay.nanos) == (seconds, nanos)


@pytest.mark.parametrize(("status", "error_code"), [(401, "auth"), (529, "unavailable")])
async def test_failure_falls_back_to_the_next_provider(
    emulator: AnthropicEmulator, status: int, error_code: str
) -> None:
    emulator.set(mode="error", status=status)
    config = make_config(anthropic(emulator), mock_provider("backup", reply="from backup"))
    async with running(config) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert (reply.provider, reply.text) == ("backup", "from backup")
    assert [a.error_code for a in reply.attempts] == [error_code, ""]


async def test_stream_cut_after_first_chunk_is_partial(emulator: AnthropicEmulator) -> None:
    emulator.set(mode="cut", cut_after=FRAMES_BEFORE_TEXT + 1, text="alpha beta gamma")
    config = make_config(anthropic(emulator), mock_provider("backup", reply="bravo"))
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


async def test_stream_without_message_stop_is_broken(emulator: AnthropicEmulator) -> None:
    emulator.set(text="alpha beta")
    emulator.send_message_stop = False
    config = make_config(anthropic(emulator), mock_provider("backup", reply="bravo"))
    texts: list[str] = []
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for event in server.stub.GenerateStream(
                generate_pb2.GenerateStreamRequest(prompt="hi")
            ):
                if event.HasField("delta"):
                    texts.append(event.delta.text)
        assert server.mock("backup").calls == 0
    assert "".join(texts) == "alpha beta"
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(caught.value) == "STREAM_INTERRUPTED"
    assert [a.error_code for a in trail(caught.value).attempts] == ["unavailable"]  # type: ignore[union-attr]


async def test_in_stream_error_before_text_falls_back(emulator: AnthropicEmulator) -> None:
    emulator.set(mode="stream_error", cut_after=1)  # after message_start: `event: error`
    config = make_config(anthropic(emulator), mock_provider("backup", reply="bravo"))
    async with running(config) as server:
        events = await collect(server, generate_pb2.GenerateStreamRequest(prompt="hi"))
    assert events[0].start.provider == "backup"
    assert stream_text(events) == "bravo"
    assert events[-1].end.attempts[0].error_code == "unavailable"


async def test_in_stream_error_after_text_is_partial(emulator: AnthropicEmulator) -> None:
    emulator.set(mode="stream_error", cut_after=FRAMES_BEFORE_TEXT + 1, text="alpha beta")
    config = make_config(anthropic(emulator), mock_provider("backup", reply="bravo"))
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await collect(server, generate_pb2.GenerateStreamRequest(prompt="hi"))
        assert server.mock("backup").calls == 0
    assert error_reason(caught.value) == "STREAM_INTERRUPTED"


async def test_slow_first_byte_times_out_and_falls_back(emulator: AnthropicEmulator) -> None:
    emulator.set(first_byte_delay=5)
    config = make_config(
        anthropic(emulator, first_token_timeout=0.05), mock_provider("backup", reply="bravo")
    )
    async with running(config) as server:
        events = await collect(server, generate_pb2.GenerateStreamRequest(prompt="hi"))
    assert events[0].start.provider == "backup"
    assert events[-1].end.attempts[0].error_code == "timeout"


async def test_cancelled_stream_closes_the_upstream_connection(
    emulator: AnthropicEmulator,
) -> None:
    emulator.set(text=" ".join(f"w{i}" for i in range(200)), chunk_delay=0.02)
    async with running(make_config(anthropic(emulator))) as server:
        call = server.stub.GenerateStream(generate_pb2.GenerateStreamRequest(prompt="go"))
        async for event in call:
            if event.HasField("delta"):
                break
        call.cancel()
        await asyncio.wait_for(emulator.disconnected.wait(), timeout=5)
    assert emulator.disconnects == 1


async def test_check_health_lists_models(emulator: AnthropicEmulator) -> None:
    from orchestrator_server.domain.errors import ErrorKind, ProviderError
    from orchestrator_server.providers.registry import build_provider

    provider = build_provider(make_config(anthropic(emulator)).providers[0])
    try:
        await provider.check_health()
        emulator.set(mode="error", status=401)
        with pytest.raises(ProviderError) as caught:
            await provider.check_health()
    finally:
        await provider.aclose()
    assert caught.value.kind is ErrorKind.AUTH
    assert KEY not in caught.value.message
    assert [(r.method, r.path) for r in emulator.requests] == [
        ("GET", "/v1/models"),
        ("GET", "/v1/models"),
    ]
    assert emulator.requests[0].headers["x-api-key"] == KEY
    assert emulator.requests[0].headers["anthropic-version"] == "2023-06-01"


async def test_missing_key_variable_is_a_startup_error(emulator: AnthropicEmulator) -> None:
    from orchestrator_server.app import App, StartupError

    config = make_config(anthropic(emulator, api_key_env="SURELY_UNSET_TEST_VARIABLE"))
    with pytest.raises(StartupError, match=r"providers\[0\]\.api_key_env"):
        App(config)


def test_adapter_satisfies_the_provider_protocol() -> None:
    from orchestrator_server.config.providers import AnthropicProviderConfig
    from orchestrator_server.providers.anthropic import AnthropicProvider
    from orchestrator_server.providers.base import Provider
    from orchestrator_server.providers.registry import spec_of

    config = AnthropicProviderConfig.model_validate(
        {"name": "a", "kind": "anthropic", "model": "m", "api_key_env": "K"}
    )
    adapter: Provider = AnthropicProvider(spec_of(config), config, None)
    assert isinstance(adapter, Provider)


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
