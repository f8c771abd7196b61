"""Names from the OpenTelemetry GenAI semantic conventions that metrics and spans share."""

from __future__ import annotations

# Provider kind -> gen_ai.provider.name (the conventions' well-known values where one exists).
_PROVIDER_NAMES = {
    "openai": "openai",
    "azure-openai": "azure.ai.openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
}

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
