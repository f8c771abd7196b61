"""What every HTTP adapter must never do, run against each provider's emulator: follow a
redirect (so a key header could go to another host), show its key when the upstream echoes
it back (in any common encoding, whatever its length), or read an oversized reply whole."""

from __future__ import annotations

import base64
import logging
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from aiohttp import web

from orchestrator.v1 import generate_pb2, metrics_pb2
from orchestrator_server.config.retrieval import ProviderEmbedderConfig
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.providers.base import Provider
from orchestrator_server.providers.listing import ModelLister
from orchestrator_server.providers.registry import build_provider
from orchestrator_server.retrieval.embedders.base import Purpose
from orchestrator_server.retrieval.embedders.remote import EMBEDDING_KINDS, build_provider_embedder
from orchestrator_server.telemetry.logs import TextFormatter
from tests.helpers import make_config, running, trail
from tests.integration.providers.contract import PROVIDERS, ProviderCase, Upstream


class Trap:
    """A second listener a redirect points at: it must receive nothing."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._record)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    async def _record(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path, dict(request.headers)))
        return web.json_response({"choices": [{"message": {"content": "from the trap"}}]})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def trap() -> AsyncIterator[Trap]:
    found = Trap()
    await found.start()
    yield found
    await found.stop()


@pytest.fixture(params=PROVIDERS, ids=lambda case: case.kind)
async def upstream(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Upstream[Any]]:
    case: ProviderCase[Any] = request.param
    async with case.running(monkeypatch) as emulator:
        yield Upstream(case, emulator)


def _request() -> generate_pb2.GenerateRequest:
    return generate_pb2.GenerateRequest(prompt="hello")


# --- redirects ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize("streaming", [False, True], ids=["unary", "stream"])
async def test_generation_never_follows_a_redirect(
    upstream: Upstream[Any], trap: Trap, status: int, streaming: bool
) -> None:
    upstream.emulator.set(mode="redirect", status=status, location=trap.base_url)
    async with running(make_config(upstream.entry())) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            if streaming:
                async for _ in server.stub.GenerateStream(
                    generate_pb2.GenerateStreamRequest(prompt="hello")
                ):
                    pass
            else:
                await server.stub.Generate(_request())
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    found = trail(caught.value)
    assert found is not None
    assert found.attempts
    for attempt in found.attempts:
        assert attempt.error_code == "malformed_response"
        assert f"upstream answered {status}" in attempt.message
    assert trap.requests == []


async def _built(upstream: Upstream[Any]) -> Provider:
    config = make_config(upstream.entry())
    return build_provider(config.providers[0], "providers[0]")


@pytest.mark.parametrize("status", [302, 307])
async def test_health_checks_and_listings_never_follow_a_redirect(
    upstream: Upstream[Any], trap: Trap, status: int
) -> None:
    upstream.emulator.set(mode="redirect", status=status, location=trap.base_url)
    provider = await _built(upstream)
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.check_health()
        assert caught.value.http_status == status
        if isinstance(provider, ModelLister):
            with pytest.raises(ProviderError) as listed:
                await provider.list_models(timeout=5.0)
            assert listed.value.http_status == status
    finally:
        await provider.aclose()
    assert trap.requests == []


EMBEDDING_CASES = [case for case in PROVIDERS if case.kind in EMBEDDING_KINDS]


@pytest.mark.parametrize("case", EMBEDDING_CASES, ids=lambda case: case.kind)
async def test_embeddings_never_follow_a_redirect(
    case: ProviderCase[Any], trap: Trap, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with case.running(monkeypatch) as emulator:
        emulator.set(mode="redirect", status=307, location=trap.base_url)
        config = make_config(case.entry(emulator))
        options = ProviderEmbedderConfig(kind="provider", provider=case.name, model="emb")
        embedder = build_provider_embedder(options, config.providers, "embedder")
        try:
            with pytest.raises(ProviderError) as caught:
                await embedder.embed(["text"], Purpose.DOCUMENT, timeout=5.0)
        finally:
            await embedder.aclose()
    assert caught.value.http_status == 307
    assert trap.requests == []


# --- keys echoed back by the upstream --------------------------------------------------------

# 24 characters: too short for the generic "long opaque run" rule, so only the exact
# removal of the configured value can catch it.
SHORT_KEY = "sk-short-key-24-chars-ab"
# GigaChat's key is base64 of "client_id:client_secret"; this one is 24 characters too.
SHORT_BASIC_KEY = base64.b64encode(b"cli-1:secret-9876ab").decode()


def _short_key(case: ProviderCase[Any]) -> str:
    return SHORT_BASIC_KEY if case.kind == "gigachat" else SHORT_KEY


def _forms(key: str) -> list[str]:
    """The key as an upstream might echo it: as sent, percent-encoded, and in base64 alone
    and as the password of a Basic pair."""
    return [
        key,
        urllib.parse.quote(key, safe=""),
        base64.b64encode(key.encode()).decode(),
        base64.b64encode(f":{key}".encode()).decode(),
    ]


def _echo_body(key: str) -> dict[str, Any]:
    text = "Incorrect API key provided: " + ", ".join(_forms(key)) + "."
    return {"error": {"message": text, "type": "invalid_request_error"}, "message": text}


def _shown(error: grpc.aio.AioRpcError) -> str:
    found = trail(error)
    messages = [a.message for a in found.attempts] if found is not None else []
    return "\n".join([error.details() or "", *messages])


def _leaks(text: str, key: str) -> list[str]:
    leaked = [form for form in _forms(key) if form in text]
    if ":" in (decoded := _decoded(key)):
        leaked += [part for part in (decoded, decoded.partition(":")[2]) if part in text]
    return leaked


def _decoded(key: str) -> str:
    try:
        return base64.b64decode(key, validate=True).decode()
    except ValueError:
        return ""


@pytest.fixture
def short_key(upstream: Upstream[Any], monkeypatch: pytest.MonkeyPatch) -> str:
    """The provider's key replaced by a short one that its emulator accepts."""
    key = _short_key(upstream.case)
    monkeypatch.setenv(upstream.case.key_env, key)
    emulator = upstream.emulator
    for switch in ("key", "expected_key", "api_key", "require_key"):
        if getattr(emulator, switch, None):
            setattr(emulator, switch, key)
    return key


async def test_a_short_key_echoed_in_a_401_is_shown_nowhere(
    upstream: Upstream[Any], short_key: str
) -> None:
    upstream.emulator.set(mode="error", status=401, error_body=_echo_body(short_key))
    lines: list[str] = []
    handler = _Collect(lines)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        async with running(make_config(upstream.entry())) as server:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await server.stub.Generate(_request())
            with pytest.raises(grpc.aio.AioRpcError) as streamed:
                async for _ in server.stub.GenerateStream(
                    generate_pb2.GenerateStreamRequest(prompt="hello")
                ):
                    pass
            metrics = await server.stub.GetMetrics(metrics_pb2.GetMetricsRequest())
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    shown = _shown(caught.value)
    assert "Incorrect API key provided" in shown  # the provider's text is kept...
    assert _leaks(shown, short_key) == []  # ...without the key in any form
    assert _leaks(_shown(streamed.value), short_key) == []
    [provider] = metrics.providers
    assert provider.last_error.message
    assert _leaks(provider.last_error.message, short_key) == []
    assert _leaks("\n".join(lines), short_key) == []


async def test_a_short_key_echoed_in_a_400_is_not_in_the_status_message(
    upstream: Upstream[Any], short_key: str
) -> None:
    upstream.emulator.set(mode="error", status=400, error_body=_echo_body(short_key))
    async with running(make_config(upstream.entry())) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(_request())
    shown = _shown(caught.value)
    assert "Incorrect API key provided" in shown or "upstream answered 400" in shown
    assert _leaks(shown, short_key) == []


class _Collect(logging.Handler):
    """Every log line as the server's own formatter writes it."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(TextFormatter())
        self._lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self._lines.append(self.format(record))


# --- oversized replies --------------------------------------------------------------------


async def test_a_reply_over_the_cap_is_refused(upstream: Upstream[Any]) -> None:
    upstream.emulator.set(text="word " * 3000)  # about 15 kB of answer
    async with running(make_config(upstream.entry(max_reply_bytes=4096))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(_request())
    found = trail(caught.value)
    assert found is not None
    assert {a.error_code for a in found.attempts} == {ErrorKind.MALFORMED_RESPONSE.value}
    assert all("max_reply_bytes" in a.message for a in found.attempts)
