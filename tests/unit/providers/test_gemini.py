"""Gemini parsing and error classification that the emulator tests do not reach."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from orchestrator_server.config.providers import GeminiProviderConfig
from orchestrator_server.domain.chat import (
    ChatMessage,
    ChatRequest,
    FinishReason,
    GenerationParams,
    Role,
    Usage,
)
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.providers.gemini import (
    GeminiProvider,
    SseLines,
    parse_chunk,
    parse_usage,
)
from orchestrator_server.providers.http.streams import read_sse
from orchestrator_server.providers.registry import spec_of

KEY = "AIzaSyUnit0123456789abcdefghijklmnopqrs"


def provider(model: str = "gemini-2.0-flash", **fields: Any) -> GeminiProvider:
    config = GeminiProviderConfig(
        name="g", kind="gemini", model=model, api_key_env="GEMINI_KEY", **fields
    )
    return GeminiProvider(spec_of(config), config, KEY)


def google_error(code: int, status: str, message: str = "m", **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "status": status, "message": message, **extra}}


ROOT = "https://generativelanguage.googleapis.com/v1beta"


@pytest.mark.parametrize(
    ("model", "url"),
    [
        ("gemini-2.0-flash", f"{ROOT}/models/gemini-2.0-flash:generateContent"),
        ("models/gemini-2.0-flash", f"{ROOT}/models/gemini-2.0-flash:generateContent"),
        ("tunedModels/my-tune", f"{ROOT}/tunedModels/my-tune:generateContent"),
    ],
)
def test_url_never_doubles_the_models_prefix(model: str, url: str) -> None:
    assert provider().url(model, "generateContent") == url


def test_url_uses_the_default_model_base_url_and_version() -> None:
    adapter = provider("m", base_url="http://proxy:8080/", api_version="v1")
    assert adapter.url(None, "streamGenerateContent") == (
        "http://proxy:8080/v1/models/m:streamGenerateContent"
    )


def test_body_keeps_consecutive_turns_apart_and_drops_repetition_penalty() -> None:
    request = ChatRequest(
        (
            ChatMessage(Role.SYSTEM, "sys"),
            ChatMessage(Role.USER, "a"),
            ChatMessage(Role.USER, "b"),
            ChatMessage(Role.ASSISTANT, "c"),
        ),
        GenerationParams(repetition_penalty=1.2, max_tokens=5),
    )
    assert provider().body(request) == {
        "contents": [
            {"role": "user", "parts": [{"text": "a"}]},
            {"role": "user", "parts": [{"text": "b"}]},
            {"role": "model", "parts": [{"text": "c"}]},
        ],
        "systemInstruction": {"parts": [{"text": "sys"}]},
        "generationConfig": {"maxOutputTokens": 5},
    }


def test_chunk_joins_text_parts_and_skips_thoughts_and_takes_calls_apart() -> None:
    chunk = parse_chunk(
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [
                            {"text": "thinking...", "thought": True},
                            {"text": "Hel"},
                            {"functionCall": {"name": "f", "args": {}}},
                            {"text": "lo"},
                        ],
                    },
                    "finishReason": "STOP",
                }
            ],
            "modelVersion": "gemini-2.5-flash",
        }
    )
    assert (chunk.text, chunk.finish_reason, chunk.model) == (
        "Hello",
        FinishReason.TOOL_CALL,  # a call was made, though Gemini says STOP
        "gemini-2.5-flash",
    )
    [made] = chunk.tool_calls
    assert (made.index, made.name, made.arguments) == (0, "f", "{}")
    assert chunk.usage is None


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("STOP", FinishReason.STOP),
        ("MAX_TOKENS", FinishReason.LENGTH),
        ("SAFETY", FinishReason.CONTENT_FILTER),
        ("RECITATION", FinishReason.CONTENT_FILTER),
        ("BLOCKLIST", FinishReason.CONTENT_FILTER),
        ("PROHIBITED_CONTENT", FinishReason.CONTENT_FILTER),
        ("SPII", FinishReason.CONTENT_FILTER),
        ("MALFORMED_FUNCTION_CALL", FinishReason.OTHER),
        ("LANGUAGE", FinishReason.OTHER),
        ("OTHER", FinishReason.OTHER),
        ("SOMETHING_NEW", FinishReason.OTHER),
    ],
)
def test_finish_reasons(reason: str, finish: FinishReason) -> None:
    assert parse_chunk({"candidates": [{"finishReason": reason}]}).finish_reason is finish


def test_safety_stop_without_content_is_empty_text() -> None:
    chunk = parse_chunk({"candidates": [{"finishReason": "SAFETY", "index": 0}]})
    assert (chunk.text, chunk.finish_reason) == ("", FinishReason.CONTENT_FILTER)


def test_blocked_prompt_is_content_filter() -> None:
    chunk = parse_chunk({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})
    assert (chunk.text, chunk.finish_reason) == ("", FinishReason.CONTENT_FILTER)


def test_frame_without_candidates_or_block_is_not_final() -> None:
    chunk = parse_chunk({"usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}})
    assert (chunk.text, chunk.finish_reason, chunk.usage) == ("", None, Usage(3, 0, 3))


@pytest.mark.parametrize("candidates", ["oops", [1], {"content": {}}])
def test_bad_candidates_are_malformed(candidates: Any) -> None:
    with pytest.raises(ProviderError) as caught:
        parse_chunk({"candidates": candidates})
    assert caught.value.kind is ErrorKind.MALFORMED_RESPONSE


@pytest.mark.parametrize(
    ("raw", "usage"),
    [
        (
            {"promptTokenCount": 4, "candidatesTokenCount": 6, "totalTokenCount": 10},
            Usage(4, 6, 10),
        ),
        (
            {
                "promptTokenCount": 4,
                "candidatesTokenCount": 6,
                "thoughtsTokenCount": 20,
                "totalTokenCount": 30,
            },
            Usage(4, 26, 30),
        ),
        ({"promptTokenCount": 4, "candidatesTokenCount": 6}, Usage(4, 6, 10)),
        ({"promptTokenCount": 4, "totalTokenCount": 4}, Usage(4, 0, 4)),
        ({}, None),
        (None, None),
        ({"promptTokenCount": "many"}, None),
    ],
)
def test_usage(raw: Any, usage: Usage | None) -> None:
    assert parse_usage(raw) == usage


INVALID_KEY = google_error(
    400,
    "INVALID_ARGUMENT",
    "API key not valid.",
    details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
)


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, google_error(400, "INVALID_ARGUMENT"), ErrorKind.INVALID_REQUEST),
        (400, INVALID_KEY, ErrorKind.AUTH),
        (400, google_error(400, "FAILED_PRECONDITION"), ErrorKind.PERMISSION),
        (401, google_error(401, "UNAUTHENTICATED"), ErrorKind.AUTH),
        (403, google_error(403, "PERMISSION_DENIED"), ErrorKind.PERMISSION),
        (404, google_error(404, "NOT_FOUND"), ErrorKind.NOT_FOUND),
        (429, google_error(429, "RESOURCE_EXHAUSTED"), ErrorKind.RATE_LIMITED),
        (500, google_error(500, "INTERNAL"), ErrorKind.UNAVAILABLE),
        (503, google_error(503, "UNAVAILABLE"), ErrorKind.UNAVAILABLE),
        (504, google_error(504, "DEADLINE_EXCEEDED"), ErrorKind.TIMEOUT),
        (502, "<html>Bad Gateway</html>", ErrorKind.UNAVAILABLE),
        (400, [INVALID_KEY], ErrorKind.AUTH),  # list-wrapped, as some Google endpoints send
        # In-stream (no HTTP status): the body's code, else its status name.
        (None, google_error(429, "RESOURCE_EXHAUSTED"), ErrorKind.RATE_LIMITED),
        (None, google_error(500, "INTERNAL"), ErrorKind.UNAVAILABLE),
        (None, {"error": {"status": "DEADLINE_EXCEEDED", "message": "m"}}, ErrorKind.TIMEOUT),
        (None, {"error": {"message": "m"}}, ErrorKind.UNAVAILABLE),
        (None, INVALID_KEY, ErrorKind.AUTH),
    ],
)
def test_error_table(status: int | None, body: Any, kind: ErrorKind) -> None:
    error = GeminiProvider.error(status, {}, body)
    assert error.kind is kind
    assert error.http_status == status


def test_error_message_is_the_upstream_message_without_the_key() -> None:
    body = google_error(403, "PERMISSION_DENIED", f"Consumer 'api_key:{KEY}' has been suspended.")
    error = GeminiProvider.error(403, {}, body)
    assert "has been suspended" in error.message
    assert KEY not in error.message


def test_retry_after_header_wins_over_retry_info() -> None:
    body = google_error(
        429,
        "RESOURCE_EXHAUSTED",
        details=[{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "19s"}],
    )
    assert GeminiProvider.error(429, {"retry-after": "3"}, body).retry_after == 3.0
    assert GeminiProvider.error(429, {}, body).retry_after == 19.0
    assert (
        GeminiProvider.error(429, {}, google_error(429, "RESOURCE_EXHAUSTED")).retry_after is None
    )


async def _lines(*raw: bytes) -> AsyncIterator[bytes]:
    for line in raw:
        yield line


async def test_sse_lines_keep_bare_json_aside() -> None:
    body = SseLines(
        _lines(
            b'data: {"a": 1}\r\n',
            b"\r\n",
            b": keep-alive\n",
            b"event: x\n",
            b"{\n",
            b'  "error": {"code": 503}\n',
            b"}\n",
        )
    )
    events = [e.data async for e in read_sse(body)]
    assert events == ['{"a": 1}']
    assert bytes(body.stray) == b'{\n  "error": {"code": 503}\n}\n'
    assert GeminiProvider.stray_error(bytes(body.stray)).kind is ErrorKind.UNAVAILABLE
    assert GeminiProvider.stray_error(b"<html>\n").kind is ErrorKind.MALFORMED_RESPONSE
