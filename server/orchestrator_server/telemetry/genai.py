"""Names from the OpenTelemetry GenAI semantic conventions that metrics and spans share."""

from __future__ import annotations

from orchestrator_server.config.providers import KINDS

# Provider kind -> gen_ai.provider.name, from the registry (config/providers.py KINDS).
_PROVIDER_NAMES = {kind.name: kind.genai_name for kind in KINDS}

OPERATION = "gen_ai.operation.name"
PROVIDER_NAME = "gen_ai.provider.name"
SYSTEM = "gen_ai.system"  # the older name of gen_ai.provider.name; spans carry both
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
FINISH_REASONS = "gen_ai.response.finish_reasons"
ERROR_TYPE = "error.type"


def genai_provider_name(kind: str) -> str:
    return _PROVIDER_NAMES.get(kind, kind)
