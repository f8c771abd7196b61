"""Builds Provider objects from configuration: one factory per `kind`, keys from the
environment."""

from __future__ import annotations

import importlib
import logging
import os
import ssl
from typing import cast

from orchestrator_server.config.providers import (
    HttpProviderBase,
    MockProviderConfig,
    ProviderBase,
    ProviderConfig,
)
from orchestrator_server.domain.redact import register_secret
from orchestrator_server.providers.base import Provider, ProviderSpec
from orchestrator_server.providers.capabilities import capabilities_of
from orchestrator_server.providers.mock import MockProvider
from orchestrator_server.providers.pricing import resolve_prices

log = logging.getLogger(__name__)


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
        capabilities=capabilities_of(config),
        embedding_model=config.embedding_model,
        embedding_models=tuple(config.embedding_models),
    )


def missing_key(config: ProviderBase) -> str | None:
    """The variable `api_key_env` names when it is unset (or empty) now, else None."""
    if not isinstance(config, HttpProviderBase) or config.api_key_env is None:
        return None
    return None if os.environ.get(config.api_key_env) else config.api_key_env


def missing_key_problem(config: ProviderBase, where: str) -> str | None:
    """What `serve` says about an unset key variable (check-config says the same)."""
    env = missing_key(config)
    if env is None:
        return None
    return f"{where}.api_key_env: environment variable {env} is not set"


def api_key(config: HttpProviderBase, where: str) -> str | None:
    """The key named by `api_key_env`, read now; a named but unset variable is an error.
    The value is registered as a secret, so no provider text shows it from now on."""
    problem = missing_key_problem(config, where)
    if problem is not None:
        raise ProviderSetupError(problem)
    if config.api_key_env is None:
        return None
    value = os.environ[config.api_key_env]
    register_secret(value)
    return value


def skipped_for_missing_key(config: ProviderBase, where: str) -> bool:
    """True, with a warning, for an enabled provider whose key variable is unset and whose
    config says `on_missing_key: disable`: it is left out rather than stopping everything."""
    if not isinstance(config, HttpProviderBase) or config.on_missing_key != "disable":
        return False
    problem = missing_key_problem(config, where)
    if problem is None:
        return False
    log.warning(
        "provider %s is DISABLED: %s (on_missing_key: disable); it serves nothing until the "
        "variable is set and the configuration reloaded",
        config.name,
        problem,
    )
    return True


# kind -> (module under orchestrator_server.providers, class). Each class is built as
# Class(spec, config, api_key); modules are imported on use, so a deployment loads only the
# adapters it configures.
ADAPTERS: dict[str, tuple[str, str]] = {
    "openai": ("openai", "OpenAIProvider"),
    "azure-openai": ("openai", "OpenAIProvider"),
    "gigachat": ("gigachat", "GigaChatProvider"),
    "yandexgpt": ("yandexgpt", "YandexGptProvider"),
    "ollama": ("ollama", "OllamaProvider"),
    "anthropic": ("anthropic", "AnthropicProvider"),
    "gemini": ("gemini", "GeminiProvider"),
}


def build_provider(config: ProviderConfig, where: str = "provider") -> Provider:
    spec = spec_of(config)
    if isinstance(config, MockProviderConfig):
        return MockProvider(spec, config.mock)
    module_name, class_name = ADAPTERS[config.kind]
    try:
        module = importlib.import_module(f"orchestrator_server.providers.{module_name}")
    except ModuleNotFoundError:
        raise ProviderSetupError(f"{where}.kind: no adapter for {config.kind!r}") from None
    factory = getattr(module, class_name)
    try:
        return cast(Provider, factory(spec, config, api_key(config, where)))
    except ssl.SSLError as exc:
        raise ProviderSetupError(
            f"{where}.ca_bundle: not a usable PEM certificate file ({exc.reason})"
        ) from None


def build_providers(configs: list[ProviderConfig]) -> list[Provider]:
    return [
        build_provider(c, f"providers[{i}]")
        for i, c in enumerate(configs)
        if c.enabled and not skipped_for_missing_key(c, f"providers[{i}]")
    ]
