"""What a provider can do beyond plain text chat, and what a request needs of it.

Routing compares the two: a request with tools, a schema or images never goes to a provider
that cannot honour it (routing/capabilities.py)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields


class Feature(enum.Enum):
    """A capability a request may need. The value is the name used in configuration
    (`capabilities:`), in docs and in the error that names a missing one."""

    TOOLS = "tools"  # tool definitions and calls
    PARALLEL_TOOLS = "parallel_tools"  # several calls in one reply
    TOOL_CHOICE = "tool_choice"  # forcing a call (required, or one named tool)
    JSON_OBJECT = "json_object"  # JSON mode
    JSON_SCHEMA = "json_schema"  # output constrained to a JSON Schema
    IMAGES = "images"  # image input (bytes)
    IMAGE_URLS = "image_urls"  # image input by URL, fetched by the provider
    EMBEDDINGS = "embeddings"  # the Embed RPC


@dataclass(frozen=True, slots=True)
class Capabilities:
    """One flag per Feature, under the same names."""

    tools: bool = False
    parallel_tools: bool = False
    tool_choice: bool = False
    json_object: bool = False
    json_schema: bool = False
    images: bool = False
    image_urls: bool = False
    embeddings: bool = False

    def supports(self, feature: Feature) -> bool:
        return bool(getattr(self, feature.value))

    def missing(self, needed: frozenset[Feature]) -> tuple[Feature, ...]:
        """The needed features this provider lacks, in Feature order."""
        return tuple(f for f in Feature if f in needed and not self.supports(f))

    def with_overrides(self, overrides: dict[str, bool]) -> Capabilities:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(overrides)
        return Capabilities(**values)

    def names(self) -> tuple[str, ...]:
        return tuple(f.value for f in Feature if self.supports(f))


NONE = Capabilities()
ALL = Capabilities(**{f.value: True for f in Feature})
NO_FEATURES: frozenset[Feature] = frozenset()
