"""The mock provider's modes, which the router and integration tests rely on."""

from __future__ import annotations

import pytest

from orchestrator_server.config import MockOptions
from orchestrator_server.domain.chat import (
    ChatMessage,
    ChatRequest,
    FinishReason,
    GenerationParams,
    Role,
)
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.providers.base import ProviderSpec
from orchestrator_server.providers.mock import MockProvider

REQUEST = ChatRequest((ChatMessage(Role.USER, "ping pong"),))


def provider(**options: object) -> MockProvider:
    return MockProvider(ProviderSpec(name="m", kind="mock", model="mm"), MockOptions(**options))  # type: ignore[arg-type]


async def test_normal_reply_and_exact_usage() -> None:
    result = await provider(reply="a b c {prompt}").generate(REQUEST, timeout=1)
    assert result.text == "a b c ping pong"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (2, 5)
    assert result.finish_reason is FinishReason.STOP


async def test_stop_and_max_tokens() -> None:
    params = GenerationParams(max_tokens=2, stop=("END",))
    request = ChatRequest(REQUEST.messages, params)
    result = await provider(reply="one END two").generate(request, timeout=1)
    assert (result.text, result.finish_reason) == ("one", FinishReason.STOP)
    result = await provider(reply="one two three").generate(request, timeout=1)
    assert (result.text, result.finish_reason) == ("one two", FinishReason.LENGTH)


async def test_stream_chunks_join_to_the_reply() -> None:
    chunks = [
        c async for c in provider(reply="a b c d e", words_per_chunk=2).stream(REQUEST, timeout=1)
    ]
    assert "".join(c.text for c in chunks) == "a b c d e"
    assert chunks[-1].usage is not None
    assert chunks[-1].finish_reason is FinishReason.STOP


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        ("unhealthy", ErrorKind.UNAVAILABLE),
        ("ratelimit", ErrorKind.RATE_LIMITED),
        ("auth-error", ErrorKind.AUTH),
        ("invalid-request", ErrorKind.INVALID_REQUEST),
        ("fail-after-n-chunks", ErrorKind.UNAVAILABLE),
    ],
)
async def test_failure_modes(mode: str, kind: ErrorKind) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider(mode=mode, retry_after_s=7).generate(REQUEST, timeout=1)
    assert caught.value.kind is kind
    if kind is ErrorKind.RATE_LIMITED:
        assert caught.value.retry_after == 7


async def test_stream_fails_after_n_chunks() -> None:
    mock = provider(mode="fail-after-n-chunks", fail_after_chunks=2, reply="a b c d")
    texts: list[str] = []
    with pytest.raises(ProviderError):
        async for chunk in mock.stream(REQUEST, timeout=1):
            texts.append(chunk.text)
    assert texts == ["a", " b"]
    assert mock.abandoned_streams == 0  # it failed; nobody walked away from it


async def test_closing_a_stream_early_counts_as_abandoned() -> None:
    mock = provider(reply="a b c d")
    stream = mock.stream(REQUEST, timeout=1)
    assert (await anext(stream)).text == "a"
    await stream.aclose()  # type: ignore[attr-defined]
    assert (mock.abandoned_streams, mock.active_streams) == (1, 0)
    assert mock.stream_abandoned.is_set()


async def test_error_rate_is_reproducible_with_a_seed() -> None:
    async def outcomes() -> list[bool]:
        mock = provider(error_rate=0.5, seed=7)
        results = []
        for _ in range(20):
            try:
                await mock.generate(REQUEST, timeout=1)
                results.append(True)
            except ProviderError:
                results.append(False)
        return results

    first = await outcomes()
    assert first == await outcomes()
    assert 0 < first.count(False) < 20
