"""Parsing details of the Anthropic adapter that the emulator tests do not pin down."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator_server.config.providers import AnthropicProviderConfig
from orchestrator_server.domain.chat import (
    ChatMessage,
    ChatRequest,
    FinishReason,
    GenerationParams,
    Role,
    Usage,
)
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.providers.anthropic import AnthropicProvider, StreamState, conversation
from orchestrator_server.providers.http.client import HttpReply
from orchestrator_server.providers.registry import spec_of

KEY = "sk-ant-api03-unit-0123456789abcdefghijklmnopqrstuvwxyz"


def provider(**fields: Any) -> AnthropicProvider:
    config = AnthropicProviderConfig.model_validate(
        {"name": "a", "kind": "anthropic", "model": "claude-m", "api_key_env": "K", **fields}
    )
    return AnthropicProvider(spec_of(config), config, KEY)


def user(text: str) -> ChatMessage:
    return ChatMessage(Role.USER, text)


def assistant(text: str) -> ChatMessage:
    return ChatMessage(Role.ASSISTANT, text)


# conversation() ------------------------------------------------------------------------


def test_system_goes_top_level_and_same_role_turns_merge() -> None:
    system, turns = conversation(
        (
            ChatMessage(Role.SYSTEM, "one"),
            ChatMessage(Role.SYSTEM, "two"),
            user("a"),
            user("b"),
            assistant("c"),
            user("d"),
            user("e"),
        )
    )
    assert system == "one\n\ntwo"
    assert turns == [
        {"role": "user", "content": "a\n\nb"},
        {"role": "assistant", "content": "c"},
        {"role": "user", "content": "d\n\ne"},
    ]


def test_a_conversation_opening_with_the_assistant_gets_a_user_turn_first() -> None:
    system, turns = conversation((assistant("Ahoy"), assistant("again"), user("hi")))
    assert system == ""
    assert turns == [
        {"role": "user", "content": "."},
        {"role": "assistant", "content": "Ahoy\n\nagain"},
        {"role": "user", "content": "hi"},
    ]


def test_body_maps_params_and_drops_the_unsupported() -> None:
    request = ChatRequest(
        (user("hi"),),
        GenerationParams(
            temperature=0.0, top_p=1.0, stop=("x", "y"), seed=3, repetition_penalty=1.2
        ),
        model="claude-other",
    )
    assert provider(default_max_tokens=77).body(request, stream=True) == {
        "model": "claude-other",
        "max_tokens": 77,
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.0,
        "top_p": 1.0,
        "stop_sequences": ["x", "y"],
        "stream": True,
    }


# StreamState ---------------------------------------------------------------------------


def feed_all(state: StreamState, events: list[tuple[str, Any]]) -> list[Any]:
    return [c for name, data in events if (c := state.feed(name, data)) is not None]


def test_stream_transcript_with_pings_everywhere() -> None:
    state = StreamState()
    ping = ("ping", {"type": "ping"})
    chunks = feed_all(
        state,
        [
            ping,
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {"model": "claude-x", "usage": {"input_tokens": 7}},
                },
            ),
            ping,
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
            ),
            ("content_block_delta", {"delta": {"type": "text_delta", "text": "Hel"}}),
            ping,
            ("content_block_delta", {"delta": {"type": "text_delta", "text": "lo"}}),
            ("content_block_delta", {"delta": {"type": "input_json_delta", "partial_json": "{"}}),
            ("content_block_delta", {"delta": {"type": "citations_delta", "citation": {}}}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("some_future_event", {"type": "some_future_event", "x": 1}),
            (
                "message_delta",
                {"delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 4}},
            ),
            ping,
        ],
    )
    done_before_stop = state.done
    final = state.feed("message_stop", {"type": "message_stop"})
    assert (done_before_stop, state.done) == (False, True)
    assert [c.model for c in chunks[:1]] == ["claude-x"]
    assert "".join(c.text for c in chunks) == "Hello"
    assert final is not None
    assert final.finish_reason is FinishReason.LENGTH
    assert final.usage == Usage.of(7, 4)


def test_output_tokens_are_running_totals_not_increments() -> None:
    state = StreamState()
    feed_all(
        state,
        [
            ("message_start", {"message": {"usage": {"input_tokens": 10, "output_tokens": 1}}}),
            ("message_delta", {"delta": {}, "usage": {"output_tokens": 5}}),
            (
                "message_delta",
                {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}},
            ),
        ],
    )
    final = state.feed("message_stop", {})
    assert final is not None
    assert final.usage == Usage.of(10, 9)
    assert final.finish_reason is FinishReason.STOP


def test_message_delta_may_restate_input_and_cache_tokens() -> None:
    state = StreamState()
    feed_all(
        state,
        [
            ("message_start", {"message": {"usage": {"input_tokens": 3, "output_tokens": 1}}}),
            (
                "message_delta",
                {
                    "delta": {"stop_reason": "end_turn"},
                    "usage": {
                        "input_tokens": 3,
                        "cache_read_input_tokens": 100,
                        "cache_creation_input_tokens": None,
                        "output_tokens": 2,
                    },
                },
            ),
        ],
    )
    final = state.feed("message_stop", {})
    assert final is not None
    assert final.usage == Usage.of(103, 2)


def test_unnamed_events_are_known_by_their_type() -> None:
    state = StreamState()
    chunk = state.feed(
        "", {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "x"}}
    )
    assert chunk is not None
    assert chunk.text == "x"
    state.feed("", {"type": "message_stop"})
    assert state.done


def test_a_stream_without_usage_leaves_it_to_the_router() -> None:
    state = StreamState()
    state.feed("message_start", {"message": {"model": "m"}})
    final = state.feed("message_stop", {})
    assert final is not None
    # message_stop is the end marker: it carries a finish reason, even one it cannot name.
    assert (final.usage, final.finish_reason) == (None, FinishReason.UNSPECIFIED)


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        (
            "error",
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            ErrorKind.UNAVAILABLE,
        ),
        (
            "error",
            {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}},
            ErrorKind.RATE_LIMITED,
        ),
        (
            "error",
            {"type": "error", "error": {"type": "api_error", "message": "boom"}},
            ErrorKind.UNAVAILABLE,
        ),
        (
            "error",
            {"type": "error", "error": {"type": "brand_new_error", "message": "?"}},
            ErrorKind.UNAVAILABLE,
        ),
        (
            "",
            {"type": "error", "error": {"type": "timeout_error", "message": "late"}},
            ErrorKind.TIMEOUT,
        ),
        (
            "message_delta",
            {"error": {"type": "overloaded_error", "message": "x"}},
            ErrorKind.UNAVAILABLE,
        ),
    ],
)
def test_in_stream_errors_raise(name: str, data: Any, kind: ErrorKind) -> None:
    with pytest.raises(ProviderError) as caught:
        StreamState().feed(name, data)
    assert caught.value.kind is kind
    assert caught.value.http_status is None


# error table ---------------------------------------------------------------------------


def body(kind: str, message: str = "m") -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"}


@pytest.mark.parametrize(
    ("status", "error_type", "kind"),
    [
        (400, "invalid_request_error", ErrorKind.INVALID_REQUEST),
        (401, "authentication_error", ErrorKind.AUTH),
        (402, "billing_error", ErrorKind.QUOTA),
        (403, "permission_error", ErrorKind.PERMISSION),
        (403, "billing_error", ErrorKind.QUOTA),
        (404, "not_found_error", ErrorKind.NOT_FOUND),
        (413, "request_too_large", ErrorKind.INVALID_REQUEST),
        (429, "rate_limit_error", ErrorKind.RATE_LIMITED),
        (500, "api_error", ErrorKind.UNAVAILABLE),
        (504, "timeout_error", ErrorKind.TIMEOUT),
        (529, "overloaded_error", ErrorKind.UNAVAILABLE),
    ],
)
def test_status_table(status: int, error_type: str, kind: ErrorKind) -> None:
    error = AnthropicProvider.error(status, {}, body(error_type))
    assert (error.kind, error.http_status) == (kind, status)


def test_overloaded_is_retryable() -> None:
    assert AnthropicProvider.error(529, {}, body("overloaded_error")).policy.retry


def test_an_empty_credit_balance_is_a_quota_not_a_bad_request() -> None:
    error = AnthropicProvider.error(
        400, {}, body("invalid_request_error", "Your credit balance is too low to access ...")
    )
    assert error.kind is ErrorKind.QUOTA


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [({"retry-after": "7"}, 7.0), ({"retry-after-ms": "250"}, 0.25), ({}, None)],
)
def test_retry_after_headers(headers: dict[str, str], seconds: float | None) -> None:
    assert AnthropicProvider.error(429, headers, body("rate_limit_error")).retry_after == seconds


def test_error_messages_carry_the_upstream_message_but_no_key() -> None:
    error = AnthropicProvider.error(
        401, {}, body("authentication_error", f"invalid x-api-key: {KEY}")
    )
    assert "invalid x-api-key" in error.message
    assert KEY not in error.message
    assert "req_1" not in error.message  # the raw body is not quoted


def test_a_non_json_error_body_is_classified_by_status() -> None:
    error = AnthropicProvider.error(502, {}, "<html>Bad gateway</html>")
    assert error.kind is ErrorKind.UNAVAILABLE


# unary replies -------------------------------------------------------------------------


async def generate_with(monkeypatch: pytest.MonkeyPatch, reply: HttpReply) -> Any:
    adapter = provider()

    async def fake_request(*args: Any, **kwargs: Any) -> HttpReply:
        return reply

    monkeypatch.setattr(adapter.client, "request", fake_request)
    return await adapter.generate(ChatRequest((user("hi"),)), timeout=1.0)


def ok(obj: Any) -> HttpReply:
    return HttpReply(200, {}, json.dumps(obj).encode())


async def test_text_blocks_are_joined_and_others_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    completion = await generate_with(
        monkeypatch,
        ok(
            {
                "type": "message",
                "model": "claude-x",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "text", "text": "Hello, "},
                    {"type": "tool_use", "id": "t", "name": "f", "input": {}},
                    {"type": "text", "text": "world"},
                ],
                "stop_reason": "tool_use",
                "usage": {"input_tokens": 5, "output_tokens": 2, "cache_read_input_tokens": 20},
            }
        ),
    )
    assert completion.text == "Hello, world"
    assert completion.model == "claude-x"
    assert completion.finish_reason is FinishReason.TOOL_CALL
    assert completion.usage == Usage.of(25, 2)


async def test_a_reply_without_usage_is_estimated(monkeypatch: pytest.MonkeyPatch) -> None:
    completion = await generate_with(
        monkeypatch, ok({"content": [{"type": "text", "text": "abcd"}], "stop_reason": "end_turn"})
    )
    assert completion.usage.estimated
    assert completion.model == "claude-m"


@pytest.mark.parametrize(
    "raw",
    [b'{"content": [', b'{"type": "message"}', b'{"content": "text"}', b"[]", b""],
)
async def test_unparsable_replies_are_malformed(
    monkeypatch: pytest.MonkeyPatch, raw: bytes
) -> None:
    with pytest.raises(ProviderError) as caught:
        await generate_with(monkeypatch, HttpReply(200, {}, raw))
    assert caught.value.kind is ErrorKind.MALFORMED_RESPONSE


async def test_an_error_object_in_a_200_reply_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ProviderError) as caught:
        await generate_with(monkeypatch, ok(body("overloaded_error", "Overloaded")))
    assert caught.value.kind is ErrorKind.UNAVAILABLE


def test_a_restated_input_count_keeps_the_cache_counts_from_message_start() -> None:
    state = StreamState()
    start_usage = {"input_tokens": 3, "cache_read_input_tokens": 50, "output_tokens": 1}
    state.feed("message_start", {"message": {"usage": start_usage}})
    state.feed("message_delta", {"delta": {}, "usage": {"input_tokens": 3, "output_tokens": 8}})
    final = state.feed("message_stop", {})
    assert final is not None
    assert final.usage == Usage.of(53, 8)
