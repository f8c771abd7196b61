"""The Gemini adapter against the emulator, through the real gRPC server: its request shape,
sentinel-free SSE, blocked prompts, odd 200 replies and key handling. The scenarios every
provider shares are in test_provider_contract.py."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from orchestrator.v1 import generate_pb2
from orchestrator_server.config.providers import GeminiProviderConfig
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.providers.gemini import GeminiProvider
from orchestrator_server.providers.registry import spec_of
from tests.emulators.gemini import GeminiEmulator, google_error
from tests.helpers import Running, make_config, mock_provider, running, stream_text, trail
from tests.integration.providers.contract import GEMINI, emulator_fixture

KEY = GEMINI.key
MODEL = GEMINI.fields["model"]
UNARY = GEMINI.chat_path
STREAM = GEMINI.stream_path
REQUEST = generate_pb2.GenerateRequest(
    messages=[
        generate_pb2.ChatMessage(role=generate_pb2.ROLE_SYSTEM, content="Be brief."),
        generate_pb2.ChatMessage(role=generate_pb2.ROLE_USER, content="Say hello"),
        generate_pb2.ChatMessage(role=generate_pb2.ROLE_ASSISTANT, content="Hello!"),
        generate_pb2.ChatMessage(role=generate_pb2.ROLE_USER, content="Again"),
    ],
    params=generate_pb2.GenerationParams(
        temperature=0.2, top_p=0.9, max_tokens=50, stop=["END"], repetition_penalty=1.1, seed=7
    ),
)


emulator = emulator_fixture(GEMINI)  # it checks the key: a wrong one is 400 API_KEY_INVALID
gemini = GEMINI.entry


async def stream_all(server: Running, prompt: str = "hi") -> list[Any]:
    request = generate_pb2.GenerateStreamRequest(prompt=prompt)
    return [e async for e in server.stub.GenerateStream(request)]


async def test_unary_request_headers_body_and_reply(emulator: GeminiEmulator) -> None:
    emulator.model_version = "gemini-2.0-flash-001"
    emulator.set(text="Hello there, friend")
    async with running(make_config(gemini(emulator))) as server:
        reply = await server.stub.Generate(REQUEST)
    assert (reply.text, reply.provider, reply.model) == (
        "Hello there, friend",
        "gem",
        "gemini-2.0-flash-001",
    )
    assert reply.finish_reason == generate_pb2.FINISH_REASON_STOP
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (9, 3)
    assert reply.usage.total_tokens == 12
    assert not reply.usage.estimated
    [call] = emulator.calls(UNARY)
    assert call.method == "POST"
    assert call.query == {}  # the key travels in a header, never as ?key=
    assert call.headers["x-goog-api-key"] == KEY
    assert "authorization" not in call.headers
    assert call.headers["content-type"].startswith("application/json")
    assert call.json() == {
        "contents": [
            {"role": "user", "parts": [{"text": "Say hello"}]},
            {"role": "model", "parts": [{"text": "Hello!"}]},
            {"role": "user", "parts": [{"text": "Again"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.9,
            "maxOutputTokens": 50,
            "stopSequences": ["END"],
            "seed": 7,
        },
    }


async def test_minimal_request_sends_no_generation_config(emulator: GeminiEmulator) -> None:
    async with running(make_config(gemini(emulator))) as server:
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    [call] = emulator.calls(UNARY)
    assert call.json() == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


async def test_model_resource_name_and_api_version(emulator: GeminiEmulator) -> None:
    config = make_config(gemini(emulator, model=f"models/{MODEL}", api_version="v1"))
    async with running(config) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert reply.model == MODEL  # modelVersion, which the emulator echoes from the path
    assert [r.path for r in emulator.requests] == [f"/v1/models/{MODEL}:generateContent"]


async def test_stream_without_sentinel_completes_with_usage(emulator: GeminiEmulator) -> None:
    emulator.set(text="one two three four five", words_per_chunk=2)
    async with running(make_config(gemini(emulator))) as server:
        events = await stream_all(server, "count")
    assert stream_text(events) == "one two three four five"
    assert [e.delta.text for e in events if e.HasField("delta")] == [
        "one two",
        " three four",
        " five",
    ]
    end = events[-1].end
    assert end.finish_reason == generate_pb2.FINISH_REASON_STOP
    assert (end.usage.prompt_tokens, end.usage.completion_tokens) == (9, 5)
    assert not end.usage.estimated
    assert not end.attempts[0].error_code
    [call] = emulator.calls(STREAM)
    assert call.query == {"alt": "sse"}
    assert call.headers["x-goog-api-key"] == KEY
    assert call.json() == {"contents": [{"role": "user", "parts": [{"text": "count"}]}]}


async def test_stream_with_lf_line_ends(emulator: GeminiEmulator) -> None:
    emulator.newline = b"\n"
    emulator.set(text="a b c")
    async with running(make_config(gemini(emulator))) as server:
        events = await stream_all(server)
    assert stream_text(events) == "a b c"
    assert events[-1].end.finish_reason == generate_pb2.FINISH_REASON_STOP


async def test_max_tokens_is_finish_reason_length(emulator: GeminiEmulator) -> None:
    emulator.finish_reason = "MAX_TOKENS"
    emulator.set(text="cut short")
    async with running(make_config(gemini(emulator))) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
        events = await stream_all(server)
    assert (reply.text, reply.finish_reason) == ("cut short", generate_pb2.FINISH_REASON_LENGTH)
    assert stream_text(events) == "cut short"
    assert events[-1].end.finish_reason == generate_pb2.FINISH_REASON_LENGTH


async def test_blocked_prompt_is_an_empty_content_filter_answer(emulator: GeminiEmulator) -> None:
    emulator.block_reason = "SAFETY"
    config = make_config(gemini(emulator), mock_provider("backup", reply="bravo"))
    async with running(config) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
        events = await stream_all(server)
        assert server.mock("backup").calls == 0  # not an error: no fallback
    assert (reply.provider, reply.text) == ("gem", "")
    assert reply.finish_reason == generate_pb2.FINISH_REASON_CONTENT_FILTER
    assert reply.usage.prompt_tokens == 9
    assert events[0].start.provider == "gem"
    assert stream_text(events) == ""
    assert events[-1].end.finish_reason == generate_pb2.FINISH_REASON_CONTENT_FILTER


@pytest.mark.parametrize(
    ("streaming", "body", "error_code"),
    [
        (False, b'{"candidates": []}', "malformed_response"),
        (False, b'{"candidates": "none"}', "malformed_response"),
        (False, b"[]", "malformed_response"),
        (False, b'{"error": {"code": 503, "status": "UNAVAILABLE"}}', "unavailable"),
        # A 200 stream that ends before a frame with a finishReason was cut, like any
        # adapter's stream that ends without its end marker.
        (True, b"", "unavailable"),
        (True, b": keep-alive\r\n\r\n", "unavailable"),
        (True, b"<html>proxy error</html>\n", "malformed_response"),
        (True, b'data: {"candidates": 7}\r\n\r\n', "malformed_response"),
    ],
)
async def test_odd_200_replies_fail_over(
    emulator: GeminiEmulator, streaming: bool, body: bytes, error_code: str
) -> None:
    emulator.reply_body = body
    config = make_config(gemini(emulator), mock_provider("backup", reply="bravo"))
    async with running(config) as server:
        if streaming:
            events = await stream_all(server)
            provider, attempts = events[0].start.provider, events[-1].end.attempts
        else:
            reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
            provider, attempts = reply.provider, reply.attempts
    assert provider == "backup"
    assert attempts[0].error_code == error_code


async def test_key_echoed_by_upstream_is_not_shown(emulator: GeminiEmulator) -> None:
    emulator.set(mode="error", status=403)  # the emulator's 403 message quotes the key
    async with running(make_config(gemini(emulator))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    shown = f"{caught.value.trailing_metadata()} {caught.value.details()}"
    assert "has been suspended" in shown
    assert KEY not in shown
    assert KEY[:20] not in shown


async def test_wrong_key_is_auth_and_not_retried(
    emulator: GeminiEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.api_key = "AIzaSyTheRealOne0000000000000000000000"
    config = make_config(gemini(emulator, retries=3), router={"retry": {"base_delay": 0}})
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    attempts = trail(caught.value)
    assert attempts is not None
    assert [a.error_code for a in attempts.attempts] == ["auth"]
    assert len(emulator.calls(UNARY)) == 1


async def test_bare_json_error_in_a_200_stream_is_classified(emulator: GeminiEmulator) -> None:
    emulator.stream_error_raw = True
    emulator.stream_error_body = google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.")
    emulator.set(mode="stream_error", cut_after=0)
    config = make_config(gemini(emulator), mock_provider("backup", reply="bravo"))
    async with running(config) as server:
        events = await stream_all(server)
    assert events[0].start.provider == "backup"
    assert events[-1].end.attempts[0].error_code == "rate_limited"


def adapter(emulator: GeminiEmulator, api_key: str | None = KEY) -> GeminiProvider:
    config = GeminiProviderConfig.model_validate(
        {
            "name": "gem",
            "kind": "gemini",
            "model": MODEL,
            "base_url": emulator.base_url,
            "api_key_env": "GEMINI_TEST_KEY",
        }
    )
    return GeminiProvider(spec_of(config), config, api_key)


async def test_check_health_lists_models_and_never_generates(emulator: GeminiEmulator) -> None:
    provider = adapter(emulator)
    try:
        await provider.check_health()
    finally:
        await provider.aclose()
    [call] = emulator.requests
    assert (call.method, call.path, call.query) == ("GET", "/v1beta/models", {})
    assert call.headers["x-goog-api-key"] == KEY


async def test_check_health_failure_is_classified(emulator: GeminiEmulator) -> None:
    emulator.api_key = "AIzaSyTheRealOne0000000000000000000000"
    provider = adapter(emulator)
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.check_health()
    finally:
        await provider.aclose()
    assert caught.value.kind is ErrorKind.AUTH
    assert caught.value.http_status == 400
    assert KEY not in caught.value.message
    assert not emulator.calls(UNARY)
