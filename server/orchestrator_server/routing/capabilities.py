"""Capability filtering of candidates: a request that needs tools, a schema or images keeps
only the providers that can honour it, before the strategy orders them, so no upstream call
is made (and no fallback wasted) on a provider that would ignore or reject the feature."""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator_server.domain.capabilities import Feature
from orchestrator_server.domain.errors import FieldViolation, UnsupportedFeature
from orchestrator_server.routing.candidates import Candidate

# The request field that asks for each feature, for the BadRequest violation.
FEATURE_FIELDS = {
    Feature.TOOLS: "tools",
    Feature.PARALLEL_TOOLS: "parallel_tool_calls",
    Feature.TOOL_CHOICE: "tool_choice",
    Feature.JSON_OBJECT: "response_format.type",
    Feature.JSON_SCHEMA: "response_format.json_schema",
    Feature.IMAGES: "messages",
    Feature.IMAGE_URLS: "messages",
    Feature.EMBEDDINGS: "model",
}
_WORDS = {
    Feature.TOOLS: "tool calling",
    Feature.PARALLEL_TOOLS: "parallel tool calls",
    Feature.TOOL_CHOICE: "a forced tool choice",
    Feature.JSON_OBJECT: "JSON mode (json_object)",
    Feature.JSON_SCHEMA: "JSON-schema output (json_schema)",
    Feature.IMAGES: "image input",
    Feature.IMAGE_URLS: "image input by URL",
    Feature.EMBEDDINGS: "embeddings",
}


def capable(candidates: Sequence[Candidate], features: frozenset[Feature]) -> Sequence[Candidate]:
    """The candidates supporting every feature, in their order. Raises UnsupportedFeature,
    naming each feature no candidate has and the providers considered, when none is left."""
    if not features:
        return candidates
    kept = [c for c in candidates if not c.slot.spec.capabilities.missing(features)]
    if kept:
        return kept if len(kept) < len(candidates) else candidates
    considered = ", ".join(
        f"{c.name} ({c.slot.spec.kind}; lacks "
        + ", ".join(f.value for f in c.slot.spec.capabilities.missing(features))
        + ")"
        for c in candidates
    )
    lacking = [f for f in Feature if f in features and _nobody_has(f, candidates)]
    if not lacking:  # each feature exists somewhere, just never all on one provider
        lacking = [f for f in Feature if f in features]
    violations = [
        FieldViolation(
            FEATURE_FIELDS[f],
            f"no candidate provider supports {_WORDS[f]} ({f.value}); considered: {considered}",
        )
        for f in lacking
    ]
    raise UnsupportedFeature(violations, tuple(f.value for f in lacking))


def _nobody_has(feature: Feature, candidates: Sequence[Candidate]) -> bool:
    return not any(c.slot.spec.capabilities.supports(feature) for c in candidates)
