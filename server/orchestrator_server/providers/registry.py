"""Builds Provider objects from configuration: the adapter each kind's registry entry names
(config/providers.py KINDS), keys from the environment."""

from __future__ import annotations

import os
import ssl
from typing import cast

from orchestrator_server.config.providers import BY_NAME, HttpProviderBase, ProviderConfig
from orchestrator_server.providers.base import Provider, ProviderSpec
from orchestrator_server.providers.http.adapter import HttpAdapter
from orchestrator_server.providers.http.client import HeadersHook
from orchestrator_server.providers.pricing import resolve_prices


class ProviderSetupError(Exception):
    """A provider that cannot be built from its (valid) configuration, e.g. a missing key."""


def spec_of(config: ProviderConfig) -> ProviderSpec:
    price, model_prices = resolve_prices(
        config.kind, config.model, config.models, config.price, config.prices
    )
    return ProviderSpec(
        name=config.name,
        kind=config.kind,
        model=config.model,
        models=tuple(config.models),
        timeout=config.timeout,
        first_token_timeout=config.first_token_timeout,
        retries=config.retries,
        weight=config.weight,
        price=price,
        model_prices=model_prices,
    )


def api_key(config: HttpProviderBase, where: str) -> str | None:
    """The key named by `api_key_env`, read now; a named but unset variable is an error."""
    if config.api_key_env is None:
        return None
    value = os.environ.get(config.api_key_env, "")
    if not value:
        raise ProviderSetupError(
            f"{where}.api_key_env: environment variable {config.api_key_env} is not set"
        )
    return value


def build_provider(
    config: ProviderConfig,
    where: str = "provider",
    *,
    context_headers: HeadersHook | None = None,
) -> Provider:
    """The adapter of the config's kind (its registry entry names it), built as
    factory(spec, config, key). `context_headers` goes to an HTTP adapter's client."""
    spec = spec_of(config)
    try:
        factory = BY_NAME[config.kind].load_adapter()
    except (ModuleNotFoundError, AttributeError):
        raise ProviderSetupError(f"{where}.kind: no adapter for {config.kind!r}") from None
    key = api_key(config, where) if isinstance(config, HttpProviderBase) else None
    try:
        provider = cast(Provider, factory(spec, config, key))
    except ssl.SSLError as exc:
        raise ProviderSetupError(
            f"{where}.ca_bundle: not a usable PEM certificate file ({exc.reason})"
        ) from None
    if isinstance(provider, HttpAdapter):
        provider.client.context_headers = context_headers
    return provider


def build_providers(configs: list[ProviderConfig]) -> list[Provider]:
    return [build_provider(c, f"providers[{i}]") for i, c in enumerate(configs) if c.enabled]
