"""What a provider supports beyond text chat (the feature matrix of docs/tools.md): its kind's
row, from the kind registry (config/providers.py KINDS), narrowed or widened by the
provider's own `capabilities:` config, since one kind covers many servers (vLLM, OpenRouter,
Ollama's /v1 behind `openai`) and models differ.
"""

from __future__ import annotations

from orchestrator_server.config.providers import BY_NAME, ProviderConfig
from orchestrator_server.domain.capabilities import Capabilities


def capabilities_of(config: ProviderConfig) -> Capabilities:
    base = BY_NAME[config.kind].capabilities
    overrides = config.capabilities.overrides()
    return base.with_overrides(overrides) if overrides else base
