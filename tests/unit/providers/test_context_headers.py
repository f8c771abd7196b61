"""The HTTP clients' context-headers hook is injected where providers are built (no module
global): the first generation's HTTP providers get it, and so do those a reload builds."""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator_server.config import Config
from orchestrator_server.providers.http.adapter import HttpAdapter
from orchestrator_server.reload.build import first_generation, next_generation


def trace_headers() -> Mapping[str, str] | None:
    return {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}


def config(model: str) -> Config:
    return Config.model_validate(
        {
            "providers": [
                {"name": "oai", "kind": "openai", "model": model, "base_url": "http://x.test"},
                {"name": "m", "kind": "mock", "model": "mock-model"},
            ]
        }
    )


async def test_providers_built_at_start_and_on_reload_get_the_hook() -> None:
    first = first_generation(config("a"), context_headers=trace_headers)
    second, changes, _built = await next_generation(first, config("b"), preserve_metrics=True)
    assert changes.changed == ["oai"]
    for generation in (first, second):
        adapter = generation.providers[0]
        assert isinstance(adapter, HttpAdapter)
        assert adapter.client.context_headers is trace_headers
    for generation in (first, second):
        for provider in generation.providers:
            await provider.aclose()


async def test_without_a_hook_nothing_is_added() -> None:
    generation = first_generation(config("a"))
    adapter = generation.providers[0]
    assert isinstance(adapter, HttpAdapter)
    assert adapter.client.context_headers is None
    await adapter.aclose()
