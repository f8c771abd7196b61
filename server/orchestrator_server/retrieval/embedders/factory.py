"""An embedder from its configuration."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor

from orchestrator_server.config.providers import ProviderConfig
from orchestrator_server.config.retrieval import (
    EmbedderConfig,
    HashingEmbedderConfig,
    LocalEmbedderConfig,
)
from orchestrator_server.retrieval.embedders.base import Embedder
from orchestrator_server.retrieval.embedders.hashing import HashingEmbedder


def build_embedder(
    config: EmbedderConfig,
    providers: Sequence[ProviderConfig],
    executor: Executor | None,
    where: str,
) -> Embedder:
    """Raises ProviderSetupError (bad provider reference, unset key) or
    LocalEmbedderUnavailable (optional packages missing)."""
    if isinstance(config, HashingEmbedderConfig):
        return HashingEmbedder(config.dimension, executor, model=config.model)
    if isinstance(config, LocalEmbedderConfig):
        from orchestrator_server.retrieval.embedders.local import LocalEmbedder

        return LocalEmbedder(
            config.model, device=config.device, batch_size=config.batch_size, executor=executor
        )
    from orchestrator_server.retrieval.embedders.remote import build_provider_embedder

    return build_provider_embedder(config, providers, where)
