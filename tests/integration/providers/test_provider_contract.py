"""The provider contract: every scenario that is the same for all HTTP adapters, run against
each provider's emulator (the table of providers is in `contract.py`), through the real gRPC
server. What only one provider does stays in its own `test_<kind>.py`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from orchestrator.v1 import common_pb2, generate_pb2
from orchestrator_server.app import App, StartupError
from orchestrator_server.config import Config
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.providers.base import Provider
from orchestrator_server.providers.registry import build_provider
from tests.helpers import (
    Running,
    detail,
    error_reason,
    make_config,
    mock_provider,
    running,
    stream_text,
    trail,
)
from tests.integration.providers.contract import PROVIDERS, ErrorCase, ProviderCase, Upstream

BACKUP = "from backup"  # what the mock provider behind each one answers


def kind_of(case: ProviderCase[Any]) -> str:
    return case.kind


@pytest.fixture(params=PROVIDERS, ids=kind_of)
async def upstream(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Upstream[Any]]:
    """Each provider with its emulator running; tests parametrize it by case, indirectly."""
    case: ProviderCase[Any] = request.param
    async with case.running(monkeypatch) as emulator:
        yield Upstream(case, emulator)


def error_cases() -> list[Any]:
    """(provider, error, streaming): every error in the table, as a unary call and as a
    stream."""
    return [
        pytest.param(
            case,
            error,
            streaming,
            id=f"{case.kind}-{error.id}-{'stream' if streaming else 'unary'}",
        )
        for case in PROVIDERS
        for error in case.errors
        for streaming in (False, True)
    ]


def fallback_cases() -> list[Any]:
    """(provider, error): each provider's `fallback_on`."""
    return [
        pytest.param(case, case.error(id), id=f"{case.kind}-{id}")
        for case in PROVIDERS
        for id in case.fallback_on
    ]


def invalid_request_cases() -> list[Any]:
    """(provider, error): every error in the table that is the caller's fault."""
    return [
        pytest.param(case, error, id=f"{case.kind}-{error.id}")
        for case in PROVIDERS
        for error in case.errors
        if not error.falls_back
    ]


def with_backup(upstream: Upstream[Any], **fields: Any) -> Config:
    """The provider (`fields` added to its entry), then a mock one to fall back on."""
    return make_config(upstream.entry(**fields), mock_provider("backup", reply=BACKUP))


def attempts(error: grpc.aio.AioRpcError) -> list[common_pb2.Attempt]:
    found = trail(error)
    assert found is not None
    return list(found.attempts)


def shown(error: grpc.aio.AioRpcError) -> str:
    """All the caller sees of a failed call."""
    return f"{error.trailing_metadata()} {error.details()}"


async def stream_all(server: Running) -> list[generate_pb2.GenerateStreamResponse]:
    request = generate_pb2.GenerateStreamRequest(prompt="hi")
    return [event async for event in server.stub.GenerateStream(request)]


async def interrupted_stream(upstream: Upstream[Any]) -> tuple[list[str], grpc.aio.AioRpcError]:
    """Streams with a backup configured, expecting the call to fail after some text: the
    texts the caller got and the error. The backup must not be asked (text was sent)."""
    texts: list[str] = []
    async with running(with_backup(upstream)) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            request = generate_pb2.GenerateStreamRequest(prompt="hi")
            async for event in server.stub.GenerateStream(request):
                if event.HasField("delta"):
                    texts.append(event.delta.text)
        assert server.mock("backup").calls == 0
    return texts, caught.value


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(("upstream", "error", "streaming"), error_cases(), indirect=["upstream"])
async def test_error_classes(upstream: Upstream[Any], error: ErrorCase, streaming: bool) -> None:
    upstream.emulator.set(**error.behaviour)
    config = make_config(upstream.entry(retries=1), router={"retry": {"base_delay": 0}})
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            if streaming:
                await stream_all(server)
            else:
                await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert caught.value.code() == error.code
    assert {a.error_code for a in attempts(caught.value)} == {error.error_code}
    assert len(upstream.calls(streaming=streaming)) == error.calls  # retried when worth it
    if upstream.case.token_path is not None:
        assert len(upstream.token_calls()) == error.token_calls
    assert upstream.shows_no_secret(shown(caught.value))


@pytest.mark.parametrize(("upstream", "error"), fallback_cases(), indirect=["upstream"])
async def test_failure_falls_back_to_the_next_provider(
    upstream: Upstream[Any], error: ErrorCase
) -> None:
    upstream.emulator.set(**error.behaviour)
    async with running(with_backup(upstream)) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert (reply.provider, reply.text) == ("backup", BACKUP)
    assert [a.error_code for a in reply.attempts] == [error.error_code, ""]


@pytest.mark.parametrize(("upstream", "error"), invalid_request_cases(), indirect=["upstream"])
async def test_invalid_request_does_not_fall_back(
    upstream: Upstream[Any], error: ErrorCase
) -> None:
    upstream.emulator.set(**error.behaviour)
    async with running(with_backup(upstream)) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
        assert server.mock("backup").calls == 0
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [a.error_code for a in attempts(caught.value)] == [error.error_code]


@pytest.mark.parametrize(
    ("header", "seconds", "nanos"),
    [({"retry_after": "30"}, 30, 0), ({"retry_after_ms": "1500"}, 1, 500_000_000)],
    ids=["retry-after", "retry-after-ms"],
)
async def test_retry_after_is_reported(
    upstream: Upstream[Any], header: dict[str, str], seconds: int, nanos: int
) -> None:
    upstream.emulator.set(mode="error", status=429, **header)
    async with running(make_config(upstream.entry())) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    delay = detail(caught.value, error_details_pb2.RetryInfo).retry_delay
    assert (delay.seconds, delay.nanos) == (seconds, nanos)


# --- streams -----------------------------------------------------------------------------


async def test_stream_cut_after_first_chunk_is_partial(upstream: Upstream[Any]) -> None:
    cut_after = upstream.case.frames_before_text + 1
    upstream.emulator.set(mode="cut", cut_after=cut_after, text="alpha beta gamma")
    texts, error = await interrupted_stream(upstream)
    assert texts == ["alpha"]
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(error) == "STREAM_INTERRUPTED"


@pytest.mark.parametrize("chunks", [1, 2], ids=["after-one-chunk", "after-two-chunks"])
async def test_in_stream_error_after_text_is_partial(upstream: Upstream[Any], chunks: int) -> None:
    cut_after = upstream.case.frames_before_text + chunks
    upstream.emulator.set(mode="stream_error", cut_after=cut_after, text="alpha beta gamma")
    texts, error = await interrupted_stream(upstream)
    assert texts == ["alpha", " beta"][:chunks]
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(error) == "STREAM_INTERRUPTED"
    [attempt] = attempts(error)
    assert attempt.error_code == "unavailable"
    assert attempt.message.endswith(upstream.case.stream_error)  # the upstream's own words


@pytest.mark.parametrize(
    "upstream", [case for case in PROVIDERS if case.unterminated], ids=kind_of, indirect=True
)
async def test_stream_ending_without_its_final_frame_is_interrupted(
    upstream: Upstream[Any],
) -> None:
    unterminated = upstream.case.unterminated
    assert unterminated is not None
    unterminated.apply(upstream.emulator)
    upstream.emulator.set(text="alpha beta gamma")
    texts, error = await interrupted_stream(upstream)
    assert "".join(texts) == "alpha beta gamma"
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(error) == "STREAM_INTERRUPTED"
    assert [a.error_code for a in attempts(error)] == [unterminated.error_code]


async def test_stream_ending_cleanly_before_its_end_marker_is_interrupted(
    upstream: Upstream[Any],
) -> None:
    # Two frames of text, then the body simply ends: no [DONE], finish_reason, done line,
    # final status or message_stop. One rule for every adapter: the stream was cut.
    cut_after = upstream.case.frames_before_text + 2
    upstream.emulator.set(mode="truncate", cut_after=cut_after, text="alpha beta gamma")
    texts, error = await interrupted_stream(upstream)
    assert texts == ["alpha", " beta"]
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(error) == "STREAM_INTERRUPTED"
    assert [a.error_code for a in attempts(error)] == ["unavailable"]


async def test_stream_ending_cleanly_before_any_text_falls_back(upstream: Upstream[Any]) -> None:
    upstream.emulator.set(mode="truncate", cut_after=upstream.case.frames_before_text)
    async with running(with_backup(upstream)) as server:
        events = await stream_all(server)
    assert events[0].start.provider == "backup"
    assert [a.error_code for a in events[-1].end.attempts] == ["unavailable", ""]


async def test_in_stream_error_before_text_falls_back(upstream: Upstream[Any]) -> None:
    upstream.emulator.set(mode="stream_error", cut_after=upstream.case.error_before_text_at)
    async with running(with_backup(upstream)) as server:
        events = await stream_all(server)
    assert events[0].start.provider == "backup"
    assert stream_text(events) == BACKUP
    assert [a.error_code for a in events[-1].end.attempts] == ["unavailable", ""]


async def test_slow_first_byte_times_out_and_falls_back(upstream: Upstream[Any]) -> None:
    upstream.emulator.set(first_byte_delay=5)
    async with running(with_backup(upstream, first_token_timeout=0.05)) as server:
        events = await stream_all(server)
    assert events[0].start.provider == "backup"
    assert [a.error_code for a in events[-1].end.attempts] == ["timeout", ""]


async def test_cancelled_stream_closes_the_upstream_connection(upstream: Upstream[Any]) -> None:
    upstream.emulator.set(text=" ".join(f"w{i}" for i in range(200)), chunk_delay=0.02)
    async with running(make_config(upstream.entry())) as server:
        call = server.stub.GenerateStream(generate_pb2.GenerateStreamRequest(prompt="go"))
        async for event in call:
            if event.HasField("delta"):
                break
        call.cancel()
        await asyncio.wait_for(upstream.emulator.disconnected.wait(), timeout=5)
    assert upstream.emulator.disconnects == 1


# --- replies and requests ----------------------------------------------------------------


async def test_missing_usage_is_estimated(upstream: Upstream[Any]) -> None:
    upstream.emulator.set(text="a b c", usage=False)
    async with running(make_config(upstream.entry())) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
        events = await stream_all(server)
    assert reply.text == "a b c"
    assert reply.usage.estimated
    assert reply.usage.completion_tokens > 0
    assert stream_text(events) == "a b c"
    end = events[-1].end
    assert end.usage.estimated
    assert end.usage.completion_tokens > 0


async def test_non_ascii_prompts_travel_as_raw_utf8(upstream: Upstream[Any]) -> None:
    async with running(make_config(upstream.entry())) as server:
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt="Привет, мир"))
    [call] = upstream.calls()
    assert "Привет, мир".encode() in call.body
    assert b"\\u041f" not in call.body


# --- the adapter on its own --------------------------------------------------------------


def adapter(upstream: Upstream[Any]) -> Provider:
    return build_provider(make_config(upstream.entry()).providers[0])


async def test_check_health_never_generates(upstream: Upstream[Any]) -> None:
    provider = adapter(upstream)
    try:
        await provider.check_health()
    finally:
        await provider.aclose()
    method, path = upstream.case.health
    [call] = upstream.emulator.calls(path)
    assert call.method == method
    assert upstream.calls() == upstream.calls(streaming=True) == []


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, ErrorKind.AUTH), (502, ErrorKind.UNAVAILABLE), (503, ErrorKind.UNAVAILABLE)],
)
async def test_check_health_failure_is_classified(
    upstream: Upstream[Any], status: int, kind: ErrorKind
) -> None:
    upstream.emulator.set(mode="error", status=status)
    provider = adapter(upstream)
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.check_health()
    finally:
        await provider.aclose()
    assert caught.value.kind is kind
    assert caught.value.http_status == status
    assert upstream.shows_no_secret(caught.value.message)
    assert upstream.emulator.calls(upstream.case.health[1])
    assert upstream.calls() == upstream.calls(streaming=True) == []


async def test_missing_key_variable_is_a_startup_error(upstream: Upstream[Any]) -> None:
    config = make_config(upstream.entry(api_key_env="SURELY_UNSET_TEST_VARIABLE"))
    with pytest.raises(StartupError, match=r"providers\[0\]\.api_key_env"):
        App(config)


async def test_adapter_satisfies_the_provider_protocol(upstream: Upstream[Any]) -> None:
    provider = adapter(upstream)
    try:
        assert isinstance(provider, Provider)
    finally:
        await provider.aclose()
