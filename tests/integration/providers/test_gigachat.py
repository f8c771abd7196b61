"""The GigaChat adapter against its emulator (OAuth host and API in one), through the real
gRPC server: OAuth, token refresh, GigaChat's parameters. The scenarios every provider shares
are in test_provider_contract.py."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from orchestrator.v1 import common_pb2, generate_pb2
from orchestrator_server.providers.gigachat import GigaChatProvider
from tests.emulators.gigachat import CHAT, MODELS, GigaChatEmulator
from tests.helpers import Running, make_config, mock_provider, running, stream_text, trail
from tests.integration.providers.contract import GIGACHAT, emulator_fixture

KEY = GIGACHAT.key  # base64("client-id:client-secret-0123456789"), like a real one
REQUEST = generate_pb2.GenerateRequest(
    messages=[
        generate_pb2.ChatMessage(role=generate_pb2.ROLE_SYSTEM, content="Будь краток."),
        generate_pb2.ChatMessage(role=generate_pb2.ROLE_USER, content="Say hello"),
    ],
    params=generate_pb2.GenerationParams(
        temperature=0.2, top_p=0.9, max_tokens=50, repetition_penalty=1.1, stop=["END"], seed=7
    ),
)


class FakeClock:
    """Epoch seconds that move only when told; shared by the adapter and the emulator."""

    def __init__(self) -> None:
        self.now = 1_768_996_174.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


emulator = emulator_fixture(GIGACHAT)
gigachat = GIGACHAT.entry


def adapter_of(server: Running) -> GigaChatProvider:
    provider = next(p for p in server.app.providers if p.spec.name == "giga")
    assert isinstance(provider, GigaChatProvider)
    return provider


def attempts_of(error: grpc.aio.AioRpcError) -> list[common_pb2.Attempt]:
    found = trail(error)
    assert found is not None
    return list(found.attempts)


def secret_free(error: grpc.aio.AioRpcError, emulator: GigaChatEmulator) -> bool:
    shown = f"{error.trailing_metadata()} {error.details()}"
    return KEY not in shown and not any(token in shown for token in emulator.tokens)


async def test_unary_request_headers_body_and_reply(emulator: GigaChatEmulator) -> None:
    emulator.set(text="Hello there, friend")
    async with running(make_config(gigachat(emulator))) as server:
        reply = await server.stub.Generate(REQUEST)
    assert (reply.text, reply.provider, reply.model) == (
        "Hello there, friend",
        "giga",
        "GigaChat:2.0.28.2",
    )
    assert reply.finish_reason == generate_pb2.FINISH_REASON_STOP
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (17, 3)
    assert not reply.usage.estimated

    [oauth] = emulator.oauth_calls
    assert oauth.method == "POST"
    assert oauth.headers["authorization"] == f"Basic {KEY}"
    assert uuid.UUID(oauth.headers["rquid"]).version == 4
    assert oauth.headers["content-type"] == "application/x-www-form-urlencoded"
    assert oauth.headers["accept"] == "application/json"
    assert oauth.body == b"scope=GIGACHAT_API_PERS"

    [call] = emulator.calls(CHAT)
    [token] = emulator.tokens
    assert call.headers["authorization"] == f"Bearer {token}"
    assert call.headers["content-type"].startswith("application/json")
    assert call.headers["accept"] == "application/json"
    assert "rquid" not in call.headers
    # No `stop` (not in GigaChat's schema) and no `seed` (no equivalent).
    assert call.json() == {
        "model": "GigaChat",
        "messages": [
            {"role": "system", "content": "Будь краток."},
            {"role": "user", "content": "Say hello"},
        ],
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 50,
        "repetition_penalty": 1.1,
    }


async def test_temperature_zero_is_sent_as_the_deterministic_minimum(
    emulator: GigaChatEmulator,
) -> None:
    params = generate_pb2.GenerationParams(temperature=0.0)
    async with running(make_config(gigachat(emulator))) as server:
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi", params=params))
    [call] = emulator.calls(CHAT)
    assert call.json()["temperature"] == 0.001


async def test_stop_sequence_is_applied_by_the_adapter(emulator: GigaChatEmulator) -> None:
    emulator.set(text="alpha beta END gamma")
    params = generate_pb2.GenerationParams(stop=["END"])
    async with running(make_config(gigachat(emulator))) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="x", params=params))
    assert reply.text == "alpha beta "
    assert reply.finish_reason == generate_pb2.FINISH_REASON_STOP
    assert not reply.usage.estimated  # what GigaChat generated (and bills) is still reported


async def test_stream_stop_sequence_across_chunks_ends_the_stream(
    emulator: GigaChatEmulator,
) -> None:
    emulator.set(text="alpha beta END gamma delta")  # chunks "alpha", " beta", " END", ...
    params = generate_pb2.GenerationParams(stop=[" END g"])
    async with running(make_config(gigachat(emulator))) as server:
        events = [
            e
            async for e in server.stub.GenerateStream(
                generate_pb2.GenerateStreamRequest(prompt="x", params=params)
            )
        ]
    assert stream_text(events) == "alpha beta"
    assert events[-1].end.finish_reason == generate_pb2.FINISH_REASON_STOP
    assert events[-1].end.usage.estimated  # the stream was left before its usage event


async def test_stream_reassembles_text_with_usage(emulator: GigaChatEmulator) -> None:
    emulator.set(text="один два three four five", words_per_chunk=2)
    async with running(make_config(gigachat(emulator))) as server:
        events = [
            e
            async for e in server.stub.GenerateStream(
                generate_pb2.GenerateStreamRequest(prompt="count")
            )
        ]
    assert stream_text(events) == "один два three four five"
    assert events[0].start.model == "GigaChat:2.0.28.2"
    end = events[-1].end
    assert end.finish_reason == generate_pb2.FINISH_REASON_STOP
    assert (end.usage.prompt_tokens, end.usage.completion_tokens) == (17, 5)
    assert not end.usage.estimated
    [call] = emulator.calls(CHAT)
    assert call.json()["stream"] is True
    assert call.headers["accept"] == "text/event-stream"
    assert call.headers["authorization"].startswith("Bearer giga-token-")


@pytest.mark.parametrize(
    ("oauth_error", "code", "error_code", "oauth_calls"),
    [
        ("scope", grpc.StatusCode.UNAVAILABLE, "permission", 1),  # code 7: never retried
        ("credentials", grpc.StatusCode.UNAVAILABLE, "auth", 1),  # code 6
        ("bad_request", grpc.StatusCode.UNAVAILABLE, "auth", 1),  # not the caller's fault
        ("rate", grpc.StatusCode.RESOURCE_EXHAUSTED, "rate_limited", 2),
        ("server", grpc.StatusCode.UNAVAILABLE, "unavailable", 2),
    ],
)
async def test_oauth_errors_are_classified_by_code(
    emulator: GigaChatEmulator,
    oauth_error: str,
    code: grpc.StatusCode,
    error_code: str,
    oauth_calls: int,
) -> None:
    emulator.oauth_error = oauth_error
    emulator.oauth_retry_after = "0"
    config = make_config(gigachat(emulator, retries=1), router={"retry": {"base_delay": 0}})
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert caught.value.code() == code
    assert {a.error_code for a in attempts_of(caught.value)} == {error_code}
    assert len(emulator.oauth_calls) == oauth_calls
    assert emulator.calls(CHAT) == []
    assert secret_free(caught.value, emulator)


async def test_scope_mismatch_is_not_retried_and_falls_back(emulator: GigaChatEmulator) -> None:
    emulator.scope = "GIGACHAT_API_CORP"  # a CORP key, configured with the default PERS scope
    config = make_config(
        gigachat(emulator, retries=1),
        mock_provider("backup", reply="from backup"),
        router={"retry": {"base_delay": 0}},
    )
    async with running(config) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert (reply.provider, reply.text) == ("backup", "from backup")
    assert [a.error_code for a in reply.attempts] == ["permission", ""]
    assert len(emulator.oauth_calls) == 1
    assert emulator.calls(CHAT) == []


async def test_configured_scope_is_sent(emulator: GigaChatEmulator) -> None:
    emulator.scope = "GIGACHAT_API_CORP"
    async with running(make_config(gigachat(emulator, scope="GIGACHAT_API_CORP"))) as server:
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert emulator.oauth_calls[0].body == b"scope=GIGACHAT_API_CORP"


async def test_cold_start_concurrent_calls_fetch_one_token(emulator: GigaChatEmulator) -> None:
    emulator.oauth_delay = 0.2  # holds the first fetch open while the other calls arrive
    async with running(make_config(gigachat(emulator))) as server:
        replies = await asyncio.gather(
            *(server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi")) for _ in range(20))
        )
    assert all(r.provider == "giga" for r in replies)
    assert len(emulator.oauth_calls) == 1
    calls = emulator.calls(CHAT)
    assert len(calls) == 20
    assert len({c.headers["authorization"] for c in calls}) == 1


async def test_token_is_refreshed_before_it_expires(emulator: GigaChatEmulator) -> None:
    clock = FakeClock()
    emulator.clock = clock  # the emulator also rejects tokens past their expiry
    request = generate_pb2.GenerateRequest(prompt="hi")
    async with running(make_config(gigachat(emulator, token_refresh_margin=60))) as server:
        adapter_of(server).tokens.clock = clock
        await server.stub.Generate(request)
        clock.advance(1800 - 61)  # still outside the refresh margin
        await server.stub.Generate(request)
        assert len(emulator.oauth_calls) == 1
        clock.advance(2)  # inside the margin, though not yet expired
        await server.stub.Generate(request)
    assert len(emulator.oauth_calls) == 2
    calls = emulator.calls(CHAT)
    assert len(calls) == 3  # no call was rejected with 401 on the way
    assert calls[1].headers["authorization"] != calls[2].headers["authorization"]
    first, second = (uuid.UUID(c.headers["rquid"]) for c in emulator.oauth_calls)
    assert first != second
    assert first.version == second.version == 4


async def test_api_401_refreshes_the_token_and_retries_once(emulator: GigaChatEmulator) -> None:
    emulator.reject_next = 1  # the token was revoked or expired early
    async with running(make_config(gigachat(emulator))) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert reply.provider == "giga"
    assert [a.error_code for a in reply.attempts] == [""]
    assert len(emulator.oauth_calls) == 2
    first, second = emulator.calls(CHAT)
    assert first.headers["authorization"] != second.headers["authorization"]


async def test_second_api_401_fails_as_auth(emulator: GigaChatEmulator) -> None:
    emulator.reject_next = 2
    config = make_config(gigachat(emulator, retries=1), router={"retry": {"base_delay": 0}})
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert [a.error_code for a in attempts_of(caught.value)] == ["auth"]
    assert (len(emulator.calls(CHAT)), len(emulator.oauth_calls)) == (2, 2)
    assert secret_free(caught.value, emulator)


async def test_stream_401_refreshes_the_token_and_retries_once(
    emulator: GigaChatEmulator,
) -> None:
    emulator.reject_next = 1
    emulator.set(text="after refresh")
    async with running(make_config(gigachat(emulator))) as server:
        events = [
            e
            async for e in server.stub.GenerateStream(
                generate_pb2.GenerateStreamRequest(prompt="x")
            )
        ]
    assert stream_text(events) == "after refresh"
    assert (len(emulator.calls(CHAT)), len(emulator.oauth_calls)) == (2, 2)


@pytest.mark.parametrize(("shape", "unit"), [("access_token", "ms"), ("tok", "s"), ("tok", "ms")])
async def test_token_reply_forms_are_cached_until_expiry(
    emulator: GigaChatEmulator, shape: str, unit: str
) -> None:
    emulator.token_shape, emulator.expiry_unit = shape, unit
    async with running(make_config(gigachat(emulator))) as server:
        for _ in range(3):
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert len(emulator.oauth_calls) == 1
    assert len(emulator.calls(CHAT)) == 3


async def test_check_health_lists_models(emulator: GigaChatEmulator) -> None:
    async with running(make_config(gigachat(emulator))) as server:
        await adapter_of(server).check_health()
    [call] = emulator.requests[1:]  # after the token
    assert (call.method, call.path) == ("GET", MODELS)
    assert call.headers["authorization"].startswith("Bearer giga-token-")
    assert emulator.calls(CHAT) == []
