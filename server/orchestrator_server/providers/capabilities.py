"""What each provider kind supports beyond text chat (the feature matrix of docs/tools.md).

A provider's own `capabilities:` config narrows or widens its kind's row: one kind covers
many servers (vLLM, OpenRouter, Ollama's /v1 behind `openai`) and models differ.
"""

from __future__ import annotations

from orchestrator_server.config.providers import ProviderConfig
from orchestrator_server.domain.capabilities import ALL, NONE, Capabilities

KIND_CAPABILITIES: dict[str, Capabilities] = {
    "mock": ALL,
    "openai": ALL,
    "azure-openai": ALL,
    # Native /api/chat: no tool_choice at all; images only as base64 (no URL fetching).
    "ollama": Capabilities(
        tools=True,
        parallel_tools=True,
        json_object=True,
        json_schema=True,
        images=True,
        embeddings=True,
    ),
    # No JSON mode (only schemas) and no embeddings endpoint.
    "anthropic": Capabilities(
        tools=True,
        parallel_tools=True,
        tool_choice=True,
        json_schema=True,
        images=True,
        image_urls=True,
    ),
    # Images inline only: fileData takes Files API URIs, not arbitrary URLs.
    "gemini": Capabilities(
        tools=True,
        parallel_tools=True,
        tool_choice=True,
        json_object=True,
        json_schema=True,
        images=True,
        embeddings=True,
    ),
    # One function call per message; forcing one named function (REQUIRED only with a single
    # function); schemas but no documented JSON mode; images uploaded, not fetched by URL.
    "gigachat": Capabilities(
        tools=True,
        tool_choice=True,
        json_schema=True,
        images=True,
        embeddings=True,
    ),
    # No image input on the completion API (its vision models are batch-only).
    "yandexgpt": Capabilities(
        tools=True,
        parallel_tools=True,
        tool_choice=True,
        json_object=True,
        json_schema=True,
        embeddings=True,
    ),
}


def capabilities_of(config: ProviderConfig) -> Capabilities:
    base = KIND_CAPABILITIES.get(config.kind, NONE)
    overrides = config.capabilities.overrides()
    return base.with_overrides(overrides) if overrides else base
