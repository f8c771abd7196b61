"""Builds Provider objects from configuration: the adapter each kind's registry entry names
(config/providers.py KINDS), keys from the environment."""

from __future__ import annotations

import logging
import os
import ssl
from typing import cast

from orchestrator_server.config.providers import (
    BY_NAME,
    HttpProviderBase,
    ProviderBase,
    ProviderConfig,
)
from orchestrator_server.domain.redact import register_secret
from orchestrator_server.providers.base import Provider, ProviderSpec
from orchestrator_server.providers.capabilities import capabilities_of
from orchestrator_server.providers.http.adapter import HttpAdapter
from orchestrator_server.providers.http.client import HeadersHook
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
    return [
        build_provider(c, f"providers[{i}]")
        for i, c in enumerate(configs)
        if c.enabled and not skipped_for_missing_key(c, f"providers[{i}]")
    ]
