"""Builds Provider objects from configuration: one factory per `kind`."""

from __future__ import annotations

from orchestrator_server.config.models import MockProviderConfig, ProviderConfig
from orchestrator_server.providers.base import Price, Provider, ProviderSpec
from orchestrator_server.providers.mock import MockProvider


def spec_of(config: ProviderConfig) -> ProviderSpec:
    return ProviderSpec(
        name=config.name,
        kind=config.kind,
        model=config.model,
        models=tuple(config.models),
        timeout=config.timeout,
        first_token_timeout=config.first_token_timeout,
        retries=config.retries,
        weight=config.weight,
        price=Price()
        if config.price is None
        else Price(
            config.price.prompt_per_1k, config.price.completion_per_1k, config.price.currency
        ),
    )


def build_provider(config: ProviderConfig) -> Provider:
    if isinstance(config, MockProviderConfig):
        return MockProvider(spec_of(config), config.mock)
    raise ValueError(f"provider {config.name!r}: kind {config.kind!r} has no adapter")


def build_providers(configs: list[ProviderConfig]) -> list[Provider]:
    return [build_provider(c) for c in configs if c.enabled]
