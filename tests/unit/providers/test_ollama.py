"""Parsing and classification in the Ollama adapter, without a network."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from orchestrator_server.config.providers import OllamaProviderConfig
from orchestrator_server.domain.chat import (
    ChatMessage,
    ChatRequest,
    FinishReason,
    GenerationParams,
    Role,
    StreamChunk,
    Usage,
)
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.providers.ollama import (
    OllamaProvider,
    finish_of,
    parse_stream,
    usage_of,
)
from orchestrator_server.providers.registry import spec_of

MESSAGES = (ChatMessage(Role.USER, "Say hello to everyone here"),)


async def body(*lines: bytes) -> AsyncIterator[bytes]:
    for line in lines:
        yield line


async def chunks(*lines: bytes) -> list[StreamChunk]:
    return [c async for c in parse_stream(body(*lines), MESSAGES)]


async def test_stream_yields_deltas_then_a_final_chunk_with_counts() -> None:
    result = await chunks(
        b'{"model":"m","message":{"role":"assistant","content":"Hel"},"done":false}\n',
        b'{"model":"m","message":{"role":"assistant","content":"lo"},"done":false}\r\n',
        b"\n",
        b'{"model":"m","message":{"role":"assistant","content":""},"done":true,'
        b'"done_reason":"stop","prompt_eval_count":12,"eval_count":2}\n',
    )
    assert [c.text for c in result] == ["Hel", "lo", ""]
    assert all(c.finish_reason is None and c.usage is None for c in result[:-1])
    assert result[-1].finish_reason is FinishReason.STOP
    assert result[-1].usage == Usage(12, 2, 14)
    assert result[-1].model == "m"


async def test_text_on_the_done_line_is_kept() -> None:
    [chunk] = await chunks(b'{"message":{"content":"all at once"},"done":true}\n')
    assert chunk.text == "all at once"
    assert chunk.usage is not None
    assert chunk.usage.estimated
    assert chunk.finish_reason is FinishReason.UNSPECIFIED


async def test_lines_after_done_are_ignored() -> None:
    result = await chunks(
        b'{"message":{"content":"a"},"done":true,"done_reason":"length"}\n',
        b"not json at all\n",
    )
    assert [(c.text, c.finish_reason) for c in result] == [("a", FinishReason.LENGTH)]


async def test_lines_without_a_message_are_empty_chunks() -> None:
    # Thinking models stream `message.thinking` with empty content before any answer.
    result = await chunks(
        b'{"message":{"role":"assistant","content":"","thinking":"hmm"},"done":false}\n',
        b'{"done":false}\n',
        b'{"message":{"content":"ok"},"done":true,"done_reason":"stop"}\n',
    )
    assert [c.text for c in result] == ["", "", "ok"]


async def test_error_line_in_a_200_stream_is_unavailable() -> None:
    with pytest.raises(ProviderError) as caught:
        await chunks(
            b'{"message":{"content":"a"},"done":false}\n',
            b'{"error":"an error was encountered while running the model"}\n',
        )
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert "an error was encountered" in caught.value.message
    assert caught.value.http_status is None


async def test_stream_without_a_done_line_has_no_end_marker() -> None:
    # Whether it ended early is the router's one rule for every adapter: no chunk says why
    # the stream finished.
    got = await chunks(b'{"message":{"content":"a"},"done":false}\n')
    assert [c.text for c in got] == ["a"]
    assert all(c.finish_reason is None for c in got)


async def test_empty_stream_has_no_end_marker() -> None:
    assert await chunks() == []


@pytest.mark.parametrize("line", [b"{not json\n", b"[1, 2]\n", b'"text"\n'])
async def test_unparsable_or_non_object_lines_are_malformed(line: bytes) -> None:
    with pytest.raises(ProviderError) as caught:
        await chunks(line)
    assert caught.value.kind is ErrorKind.MALFORMED_RESPONSE


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"prompt_eval_count": 10, "eval_count": 4}, Usage(10, 4, 14)),
        ({"prompt_eval_count": 0, "eval_count": 0}, Usage(0, 0, 0)),
    ],
)
def test_usage_from_counts(data: dict[str, object], expected: Usage) -> None:
    assert usage_of(data, MESSAGES, "four words of text") == expected


def test_usage_without_counts_is_estimated() -> None:
    usage = usage_of({}, MESSAGES, "four words of text")
    assert usage.estimated
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0


def test_a_missing_prompt_count_is_estimated_and_the_output_count_kept() -> None:
    usage = usage_of({"eval_count": 4}, MESSAGES, "four words of text")
    assert usage.estimated
    assert usage.completion_tokens == 4
    assert usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + 4


@pytest.mark.parametrize("bad", ["12", -1, True, None, 1.5])
def test_counts_that_are_not_counts_are_estimated(bad: object) -> None:
    usage = usage_of({"prompt_eval_count": bad, "eval_count": 3}, MESSAGES, "abc")
    assert usage.estimated
    assert usage.completion_tokens == 3


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("stop", FinishReason.STOP),
        ("length", FinishReason.LENGTH),
        ("unload", FinishReason.OTHER),
        (None, FinishReason.UNSPECIFIED),
        ("", FinishReason.UNSPECIFIED),
    ],
)
def test_finish_reasons(reason: str | None, expected: FinishReason) -> None:
    assert finish_of({"done": True, "done_reason": reason}) is expected


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (400, "invalid options", ErrorKind.INVALID_REQUEST),
        (400, 'model "llama3" not found, try pulling it first', ErrorKind.NOT_FOUND),
        (404, "model 'llama3' not found", ErrorKind.NOT_FOUND),
        (404, "404 page not found", ErrorKind.NOT_FOUND),
        (401, "unauthorized", ErrorKind.AUTH),
        (403, "access to cloud models is disabled", ErrorKind.PERMISSION),
        (429, "too many requests", ErrorKind.RATE_LIMITED),
        (500, "model 'x' not found in registry cache", ErrorKind.UNAVAILABLE),
        (502, "cloud model unreachable", ErrorKind.UNAVAILABLE),
        (503, "server busy", ErrorKind.UNAVAILABLE),
    ],
)
def test_error_table(status: int, message: str, kind: ErrorKind) -> None:
    error = OllamaProvider.error(status, {}, {"error": message})
    assert error.kind is kind
    assert error.http_status == status
    assert message in error.message


def test_retry_after_from_a_proxy_is_reported() -> None:
    error = OllamaProvider.error(429, {"retry-after": "7"}, {"error": "slow down"})
    assert error.retry_after == 7.0


def test_error_messages_are_redacted() -> None:
    key = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789"
    error = OllamaProvider.error(401, {}, {"error": f"invalid key {key}"})
    assert key not in error.message


def provider(**fields: object) -> OllamaProvider:
    config = OllamaProviderConfig.model_validate(
        {"name": "o", "kind": "ollama", "model": "llama3.2", **fields}
    )
    return OllamaProvider(spec_of(config), config, None)


def test_body_maps_every_param_and_the_request_model() -> None:
    request = ChatRequest(
        MESSAGES,
        GenerationParams(
            temperature=0.0, top_p=1.0, max_tokens=1, stop=("x",), repetition_penalty=1.0, seed=0
        ),
        model="qwen2.5:7b",
    )
    assert provider(keep_alive="0").body(request, stream=True) == {
        "model": "qwen2.5:7b",
        "messages": [{"role": "user", "content": "Say hello to everyone here"}],
        "stream": True,
        # Zero values are values: only unset params are left out.
        "options": {
            "temperature": 0.0,
            "top_p": 1.0,
            "num_predict": 1,
            "stop": ["x"],
            "seed": 0,
            "repeat_penalty": 1.0,
        },
        "keep_alive": "0",
    }


def test_base_url_trailing_slash_is_dropped() -> None:
    assert provider(base_url="http://gpu-box:11434/").base_url == "http://gpu-box:11434"
