"""ListProviders and ListModels through the real server, with every provider's emulator."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from aiohttp import web

from orchestrator.v1 import common_pb2, generate_pb2, listing_pb2, metrics_pb2
from tests.emulators.anthropic import AnthropicEmulator
from tests.emulators.gemini import GeminiEmulator
from tests.emulators.gigachat import GigaChatEmulator
from tests.helpers import make_config, mock_provider, running
from tests.integration.providers.contract import (
    ANTHROPIC,
    GEMINI,
    GIGACHAT,
    PROVIDERS,
    ProviderCase,
)

PROVIDER = listing_pb2.MODEL_SOURCE_PROVIDER
CONFIG = listing_pb2.MODEL_SOURCE_CONFIG

# What each emulator's listing endpoint offers; None: the kind has no listing endpoint.
LISTED: dict[str, list[str] | None] = {
    "openai": ["gpt-4o-mini"],
    "azure-openai": ["gpt-4o-mini"],
    "gigachat": ["GigaChat"],
    "yandexgpt": None,
    "ollama": ["llama3.2:latest"],
    "anthropic": ["claude-sonnet-4-5"],
    "gemini": ["gemini-2.0-flash"],
}


@contextlib.asynccontextmanager
async def started(
    case: ProviderCase[Any], monkeypatch: pytest.MonkeyPatch, emulator: Any = None
) -> AsyncIterator[Any]:
    if emulator is None:
        async with case.running(monkeypatch) as running_emulator:
            yield running_emulator
        return
    monkeypatch.setenv(case.key_env, case.key)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


async def list_models(server: Any, **request: Any) -> listing_pb2.ListModelsResponse:
    return await server.stub.ListModels(listing_pb2.ListModelsRequest(**request))  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", PROVIDERS, ids=[c.kind for c in PROVIDERS])
async def test_list_models_from_each_provider(
    case: ProviderCase[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with started(case, monkeypatch) as emulator:
        entry = case.entry(emulator, models=["extra-model"])
        async with running(make_config(entry)) as server:
            reply = await list_models(server)
    [listing] = reply.providers
    configured = [entry["model"], "extra-model"]
    listed = LISTED[case.kind]
    models = {m.model: m for m in reply.models}
    assert [m.name for m in reply.models][:2] == [f"{case.name}/{m}" for m in configured]
    assert models[entry["model"]].is_default
    assert models["extra-model"].configured
    assert models["extra-model"].source == CONFIG  # configured, but the provider lists none
    if listed is None:
        assert listing.source == CONFIG
        assert not listing.error
        assert list(models) == configured
        return
    assert listing.source == PROVIDER
    assert listing.fetched_at.seconds > 0
    assert set(listed) <= set(models)
    for model in listed:
        assert models[model].source == PROVIDER
        assert models[model].name == f"{case.name}/{model}"


async def test_a_listed_name_routes_to_that_model(monkeypatch: pytest.MonkeyPatch) -> None:
    case = next(c for c in PROVIDERS if c.kind == "ollama")
    async with started(case, monkeypatch) as emulator:
        config = make_config(case.entry(emulator))
        async with running(config) as server:
            reply = await list_models(server)
            name = next(m.name for m in reply.models if m.source == PROVIDER)
            answer = await server.stub.Generate(
                generate_pb2.GenerateRequest(prompt="hi", model=name)
            )
    assert (answer.provider, answer.model) == (case.name, "llama3.2:latest")


async def test_listing_is_cached_refreshed_and_falls_back_to_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = next(c for c in PROVIDERS if c.kind == "openai")
    async with started(case, monkeypatch) as emulator:
        config = make_config(case.entry(emulator), listing={"ttl": 3600, "error_ttl": 3600})
        async with running(config) as server:
            await list_models(server)
            await list_models(server)
            assert len(emulator.calls("/v1/models")) == 1  # the second came from the cache

            emulator.set(mode="error", status=503)
            failed = await list_models(server, refresh=True)
            assert len(emulator.calls("/v1/models")) == 2
            [listing] = failed.providers
            assert listing.source == CONFIG
            assert listing.error.startswith("unavailable: ")
            assert [m.model for m in failed.models] == ["gpt-4o-mini"]
            assert failed.models[0].source == CONFIG

            emulator.set()
            await list_models(server)  # the failure is cached for error_ttl, too
            assert len(emulator.calls("/v1/models")) == 2


async def test_filter_by_provider_and_unknown_provider() -> None:
    config = make_config(
        mock_provider("a", "m-a"),
        mock_provider("b", "m-b"),
        aliases={"fast": ["b", "a/m-a"]},
    )
    async with running(config) as server:
        reply = await list_models(server, providers=["b"])
        assert [m.name for m in reply.models] == ["b/m-b"]
        assert [(a.name, list(a.targets)) for a in reply.aliases] == [("fast", ["b", "a/m-a"])]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await list_models(server, providers=["b", "zz"])
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_failing_mock_falls_back_to_its_config() -> None:
    config = make_config(mock_provider("down", "m-1", mode="unhealthy"))
    async with running(config) as server:
        reply = await list_models(server)
    assert reply.providers[0].source == CONFIG
    assert "503" in reply.providers[0].error
    assert [m.name for m in reply.models] == ["down/m-1"]


async def test_list_providers() -> None:
    config = make_config(
        {**mock_provider("a", "m-a"), "models": ["m-a2"], "weight": 2.5},
        mock_provider("b", mode="unhealthy"),
        router={"health": {"consecutive_failures": 1, "min_samples": 1}},
    )
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError):
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="x", provider="b"))
        reply = await server.stub.ListProviders(listing_pb2.ListProvidersRequest())
    a, b = reply.providers
    assert (a.name, a.kind, a.model, list(a.models), a.weight) == (
        "a",
        common_pb2.PROVIDER_KIND_MOCK,
        "m-a",
        ["m-a2"],
        2.5,
    )
    assert a.health == metrics_pb2.HEALTH_STATUS_NO_DATA  # never called
    assert a.circuit_state == metrics_pb2.CIRCUIT_STATE_CLOSED
    assert b.health == metrics_pb2.HEALTH_STATUS_UNHEALTHY
    assert b.circuit_state == metrics_pb2.CIRCUIT_STATE_OPEN
    assert reply.config_generation == 1


# Listings with more than the emulators' one model: pages, and entries that are not chat models.


class PagedAnthropic(AnthropicEmulator):
    async def models(self, request: web.Request) -> web.Response:
        await self.record(request)
        if request.query.get("after_id") == "claude-b":
            return web.json_response(
                {"data": [{"type": "model", "id": "claude-c"}], "has_more": False}
            )
        return web.json_response(
            {
                "data": [{"type": "model", "id": "claude-a"}, {"type": "model", "id": "claude-b"}],
                "has_more": True,
                "first_id": "claude-a",
                "last_id": "claude-b",
            }
        )


class PagedGemini(GeminiEmulator):
    async def models(self, request: web.Request) -> web.Response:
        await self.record(request)
        if request.query.get("pageToken") == "page-2":
            return web.json_response(
                {
                    "models": [
                        {
                            "name": "models/text-embedding-004",
                            "supportedGenerationMethods": ["embedContent"],
                        },
                        {"name": "models/gemini-2.5-pro"},
                    ]
                }
            )
        return web.json_response(
            {
                "models": [
                    {
                        "name": "models/gemini-2.0-flash",
                        "supportedGenerationMethods": ["generateContent", "countTokens"],
                    }
                ],
                "nextPageToken": "page-2",
            }
        )


class GigaChatWithEmbedders(GigaChatEmulator):
    async def models(self, request: web.Request) -> web.Response:
        await self.record(request)
        if not self._authorized(request):
            return web.json_response({"status": 401, "message": "Unauthorized"}, status=401)
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"id": "GigaChat-2-Max", "object": "model", "type": "chat"},
                    {"id": "Embeddings", "object": "model", "type": "embedder"},
                    {"id": "GigaChat-2", "object": "model", "type": "chat"},
                ],
            }
        )


@pytest.mark.parametrize(
    ("case", "emulator", "listed"),
    [
        (ANTHROPIC, lambda: PagedAnthropic(), ["claude-a", "claude-b", "claude-c"]),
        (GEMINI, lambda: PagedGemini(), ["gemini-2.0-flash", "gemini-2.5-pro"]),
        (GIGACHAT, lambda: GigaChatWithEmbedders(), ["GigaChat-2-Max", "GigaChat-2"]),
    ],
    ids=["anthropic-pages", "gemini-pages-no-embedders", "gigachat-chat-only"],
)
async def test_pages_and_non_chat_models(
    case: ProviderCase[Any], emulator: Any, listed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with started(case, monkeypatch, emulator()) as running_emulator:
        config = make_config(case.entry(running_emulator))
        async with running(config) as server:
            reply = await list_models(server)
    assert reply.providers[0].source == PROVIDER
    assert [m.model for m in reply.models if not m.configured] == [
        m for m in listed if m != case.fields["model"]
    ]
