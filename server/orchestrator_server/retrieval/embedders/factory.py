"""An embedder from its configuration."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor

from orchestrator_server.config.providers import ProviderConfig
from orchestrator_server.config.retrieval import (
    EmbedderConfig,
    GatewayEmbedderConfig,
    HashingEmbedderConfig,
    LocalEmbedderConfig,
)
from orchestrator_server.retrieval.embedders.base import Embedder
from orchestrator_server.retrieval.embedders.gateway import EmbedFunction
from orchestrator_server.retrieval.embedders.hashing import HashingEmbedder


def build_embedder(
    config: EmbedderConfig,
    providers: Sequence[ProviderConfig],
    executor: Executor | None,
    where: str,
    gateway: EmbedFunction | None = None,
) -> Embedder:
    """Raises ProviderSetupError (bad provider reference, unset key) or
    LocalEmbedderUnavailable (optional packages missing). `gateway` is the server's own
    Embed path; without it a `gateway` embedder calls the gateway at its address."""
    if isinstance(config, HashingEmbedderConfig):
        return HashingEmbedder(config.dimension, executor, model=config.model)
    if isinstance(config, GatewayEmbedderConfig):
        from orchestrator_server.retrieval.embedders.gateway import (
            GatewayEmbedder,
            client_embedder,
        )

        return client_embedder(config) if gateway is None else GatewayEmbedder(config, gateway)
    if isinstance(config, LocalEmbedderConfig):
        from orchestrator_server.retrieval.embedders.local import LocalEmbedder

        return LocalEmbedder(
            config.model, device=config.device, batch_size=config.batch_size, executor=executor
        )
    from orchestrator_server.retrieval.embedders.remote import build_provider_embedder

    return build_provider_embedder(config, providers, where)
