"""The optional capability of listing a provider's models, and tolerant readers for the
listing bodies (their shapes are documented loosely, so anything odd is skipped, not fatal)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

# Paginated listings (Anthropic, Gemini) stop after this many pages: a provider with more
# models than that is listed in part rather than walked for ever.
MAX_PAGES = 20


@runtime_checkable
class ModelLister(Protocol):
    """A provider that can say which models it serves, at no cost."""

    async def list_models(self, *, timeout: float) -> list[str]:
        """Model ids as the provider names them (what goes into its requests' `model`).
        Raises ProviderError when the listing fails."""
        ...


def ids_of(
    items: Any,
    key: str = "id",
    *,
    keep: Callable[[dict[str, Any]], bool] | None = None,
    strip_prefix: str = "",
) -> list[str]:
    """The `key` of each object in `items` that `keep` accepts, in order, without repeats."""
    if not isinstance(items, list):
        return []
    found: dict[str, None] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        value = item.get(key)
        if not isinstance(value, str) or not value:
            continue
        if keep is not None and not keep(item):
            continue
        found[value.removeprefix(strip_prefix)] = None
    return list(found)
