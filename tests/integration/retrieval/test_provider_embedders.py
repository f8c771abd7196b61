"""Each provider embedder against its emulator: the wire format (URL, body, auth), replies
put in input order, the provider's error table, and a Retrieve served through one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from orchestrator.v1 import retrieve_pb2
from orchestrator_server.config import Config
from orchestrator_server.config.retrieval import (
    ChunkingConfig,
    IndexOptions,
    ProviderEmbedderConfig,
)
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.providers.registry import ProviderSetupError
from orchestrator_server.retrieval.build import build_index
from orchestrator_server.retrieval.embedders.base import Purpose, unit_rows
from orchestrator_server.retrieval.embedders.remote import (
    ProviderEmbedder,
    build_provider_embedder,
)
from tests.emulators.embeddings import (
    DIMENSION,
    EMBEDDINGS_PATH,
    GIGACHAT_EMBEDDINGS_PATH,
    OLLAMA_EMBED_PATH,
    YANDEX_EMBEDDING_PATH,
    GigaChatEmbeddingsEmulator,
    OllamaEmbeddingsEmulator,
    OpenAIEmbeddingsEmulator,
    YandexEmbeddingsEmulator,
    vector,
)
from tests.emulators.gigachat import OAUTH
from tests.helpers import error_reason, http_provider, make_config, running, trail

TEXTS = ["red apples and pears", "blue ocean waves", "green forest trees"]
OPENAI_KEY = "sk-test-embeddings-0123456789"
GIGA_KEY = "Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQ="
YANDEX_KEY = "AQVN-yandex-embeddings-key"


def expected(texts: list[str]) -> np.ndarray[Any, Any]:
    return unit_rows([vector(t) for t in texts])


def embedder(provider: dict[str, Any], **options: Any) -> ProviderEmbedder:
    config = Config.model_validate({"providers": [provider]})
    settings = ProviderEmbedderConfig.model_validate(
        {"kind": "provider", "provider": provider["name"], **options}
    )
    return build_provider_embedder(settings, config.providers, "embedder")


@pytest.fixture
async def openai_emulator() -> AsyncIterator[OpenAIEmbeddingsEmulator]:
    async with OpenAIEmbeddingsEmulator() as emulator:
        yield emulator  # type: ignore[misc]


def openai_provider(emulator: OpenAIEmbeddingsEmulator) -> dict[str, Any]:
    return http_provider(
        "openai",
        "oa",
        emulator.base_url + "/v1",
        model="gpt-4o-mini",
        api_key_env="EMBED_OPENAI_KEY",
        enabled=False,  # embeddings only: no chat traffic is routed to it
    )


async def test_openai_batches_in_input_order_with_key_and_dimensions(
    openai_emulator: OpenAIEmbeddingsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMBED_OPENAI_KEY", OPENAI_KEY)
    e = embedder(openai_provider(openai_emulator), model="text-embedding-3-small", batch_size=2)
    try:
        vectors = await e.embed(TEXTS, Purpose.DOCUMENT, timeout=5)
    finally:
        await e.aclose()
    np.testing.assert_allclose(vectors, expected(TEXTS), atol=1e-6)
    calls = openai_emulator.calls(EMBEDDINGS_PATH)
    assert [c.json()["input"] for c in calls] in (
        [TEXTS[:2], TEXTS[2:]],
        [TEXTS[2:], TEXTS[:2]],
    )
    assert calls[0].json()["model"] == "text-embedding-3-small"
    assert calls[0].json()["encoding_format"] == "float"
    assert calls[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert e.info.dimension == DIMENSION  # learnt from the first reply


async def test_openai_errors_go_through_its_error_table(
    openai_emulator: OpenAIEmbeddingsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMBED_OPENAI_KEY", OPENAI_KEY)
    e = embedder(openai_provider(openai_emulator), model="text-embedding-3-small")
    try:
        openai_emulator.set(mode="error", status=429, retry_after="7")
        with pytest.raises(ProviderError) as limited:
            await e.embed(TEXTS, Purpose.QUERY, timeout=5)
        openai_emulator.set(mode="malformed")
        with pytest.raises(ProviderError) as malformed:
            await e.embed(TEXTS, Purpose.QUERY, timeout=5)
    finally:
        await e.aclose()
    assert (limited.value.kind, limited.value.retry_after) == (ErrorKind.RATE_LIMITED, 7.0)
    assert malformed.value.kind is ErrorKind.MALFORMED_RESPONSE
    assert OPENAI_KEY not in limited.value.message


async def test_azure_uses_the_deployment_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBED_AZURE_KEY", "azure-embedding-key")
    async with OpenAIEmbeddingsEmulator() as emulator:
        provider = http_provider(
            "azure-openai",
            "az",
            emulator.base_url,
            model="gpt-4o",
            api_key_env="EMBED_AZURE_KEY",
            api_version="2024-10-21",
        )
        e = embedder(provider, model="embed-deployment")
        try:
            await e.embed(TEXTS[:1], Purpose.DOCUMENT, timeout=5)
        finally:
            await e.aclose()
        (call,) = emulator.calls("/openai/deployments/embed-deployment/embeddings")
    assert call.query == {"api-version": "2024-10-21"}
    assert call.headers["api-key"] == "azure-embedding-key"


async def test_ollama_api_embed() -> None:
    async with OllamaEmbeddingsEmulator() as emulator:
        provider = http_provider("ollama", "local", emulator.base_url, model="llama3.2")
        e = embedder(provider, model="nomic-embed-text", dimensions=32)
        try:
            vectors = await e.embed(TEXTS, Purpose.DOCUMENT, timeout=5)
            missing = embedder(provider, model="missing")
            with pytest.raises(ProviderError) as caught:
                await missing.embed(TEXTS, Purpose.QUERY, timeout=5)
            await missing.aclose()
        finally:
            await e.aclose()
        body = emulator.calls(OLLAMA_EMBED_PATH)[0].json()
    np.testing.assert_allclose(vectors, unit_rows([vector(t, 32) for t in TEXTS]), atol=1e-6)
    assert body == {
        "model": "nomic-embed-text",
        "input": TEXTS,
        "truncate": True,
        "dimensions": 32,
    }
    assert caught.value.kind is ErrorKind.NOT_FOUND


async def test_gigachat_embeddings_with_an_oauth_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBED_GIGA_KEY", GIGA_KEY)
    async with GigaChatEmbeddingsEmulator(GIGA_KEY) as emulator:
        provider = http_provider(
            "gigachat",
            "giga",
            emulator.base_url + "/api/v1",
            model="GigaChat",
            api_key_env="EMBED_GIGA_KEY",
            auth_url=emulator.base_url + OAUTH,
        )
        e = embedder(provider, model="Embeddings")
        try:
            vectors = await e.embed(TEXTS, Purpose.DOCUMENT, timeout=5)
            emulator.reject_next = 1  # an expired token: refreshed, and the call retried
            again = await e.embed(TEXTS[:1], Purpose.QUERY, timeout=5)
        finally:
            await e.aclose()
        calls = emulator.calls(GIGACHAT_EMBEDDINGS_PATH)
    np.testing.assert_allclose(vectors, expected(TEXTS), atol=1e-6)
    np.testing.assert_allclose(again, expected(TEXTS[:1]), atol=1e-6)
    assert calls[0].json() == {"model": "Embeddings", "input": TEXTS}
    assert calls[0].headers["authorization"].startswith("Bearer giga-token-")
    assert len(emulator.oauth_calls) == 2


@pytest.mark.parametrize("quoted", [False, True])
async def test_yandex_text_embedding_doc_and_query_models(
    quoted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMBED_YANDEX_KEY", YANDEX_KEY)
    async with YandexEmbeddingsEmulator() as emulator:
        emulator.quote_numbers = quoted
        provider = http_provider(
            "yandexgpt",
            "ya",
            emulator.base_url,
            model="yandexgpt-lite",
            api_key_env="EMBED_YANDEX_KEY",
            folder_id="b1gfolder",
        )
        e = embedder(provider, model="text-search-doc", query_model="text-search-query")
        try:
            docs = await e.embed(TEXTS, Purpose.DOCUMENT, timeout=5)
            query = await e.embed(["ocean"], Purpose.QUERY, timeout=5)
        finally:
            await e.aclose()
        calls = emulator.calls(YANDEX_EMBEDDING_PATH)
    np.testing.assert_allclose(docs, expected(TEXTS), atol=1e-6)
    np.testing.assert_allclose(query, expected(["ocean"]), atol=1e-6)
    uris = [c.json()["modelUri"] for c in calls]
    assert sorted(uris[:3]) == ["emb://b1gfolder/text-search-doc/latest"] * 3  # one per text
    assert uris[3] == "emb://b1gfolder/text-search-query/latest"
    assert calls[0].headers["authorization"] == f"Api-Key {YANDEX_KEY}"
    assert e.info.model == "text-search-doc+text-search-query"


def test_a_provider_without_an_embedding_endpoint_is_refused() -> None:
    provider = http_provider("anthropic", "claude", "http://127.0.0.1:1", model="claude")
    provider["api_key_env"] = "UNUSED_KEY"
    with pytest.raises(ProviderSetupError, match="no embedding endpoint"):
        embedder(provider, model="x")
    with pytest.raises(ProviderSetupError, match="no provider named"):
        build_provider_embedder(
            ProviderEmbedderConfig(kind="provider", provider="ghost", model="m"), [], "embedder"
        )


async def test_retrieve_through_an_openai_embedder(
    openai_emulator: OpenAIEmbeddingsEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EMBED_OPENAI_KEY", OPENAI_KEY)
    source = tmp_path / "docs"
    source.mkdir()
    for i, text in enumerate(TEXTS):
        (source / f"{i}.txt").write_text(text)
    provider = openai_provider(openai_emulator)
    options = {"model": "text-embedding-3-small"}
    builder = embedder(provider, **options)
    try:
        await build_index(
            name="colors",
            sources=[source],
            embedder=builder,
            options=IndexOptions(),
            chunking=ChunkingConfig(),
            out=tmp_path / "index",
        )
    finally:
        await builder.aclose()
    collection = {
        "name": "colors",
        "path": str(tmp_path / "index"),
        "embedder": {"kind": "provider", "provider": "oa", **options},
    }
    config = make_config(
        {"name": "m", "kind": "mock", "model": "m"},
        provider,
        retrieval={"collections": [collection]},
    )
    request = retrieve_pb2.RetrieveRequest(collection="colors", query="ocean waves", k=1)
    async with running(config) as server:
        reply = await server.stub.Retrieve(request)
        openai_emulator.set(mode="error", status=503)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Retrieve(request)
    assert [d.content for d in reply.documents] == ["blue ocean waves"]
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(caught.value) == "ALL_PROVIDERS_FAILED"
    (attempt,) = trail(caught.value).attempts
    assert (attempt.provider, attempt.error_code) == ("oa", "unavailable")
