"""The built-in price table, keyed by provider kind and model, and how a provider's prices
are resolved from it and from its configuration.

Figures are per 1,000 tokens (prompt and completion alike) in the provider's own currency.
They are defaults, not facts kept current: set `price` or `prices` on a provider to override.
Local (ollama) and mock models are free; kinds not listed have no built-in price.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from orchestrator_server.config.base import PriceConfig
from orchestrator_server.providers.base import Price


def _flat(per_1k: float, currency: str) -> Price:
    return Price(per_1k, per_1k, currency)


# kind -> lower-cased model -> price.
DEFAULT_PRICES: Mapping[str, Mapping[str, Price]] = {
    "gigachat": {
        "gigachat": _flat(1.00, "RUB"),
        "gigachat-pro": _flat(2.00, "RUB"),
        "gigachat-plus": _flat(1.50, "RUB"),
    },
    "yandexgpt": {
        "yandexgpt": _flat(1.50, "RUB"),
        "yandexgpt-lite": _flat(0.75, "RUB"),
    },
}
FREE = Price()


def default_price(kind: str, model: str) -> Price | None:
    """The table's price for a model, or None when the table does not know it. YandexGPT
    models match by name inside a gpt://folder/NAME/branch URI too."""
    table = DEFAULT_PRICES.get(kind)
    if table is None:
        return None
    name = model.lower()
    if name.startswith("gpt://"):
        parts = name[len("gpt://") :].split("/")
        name = parts[1] if len(parts) > 1 else name
    return table.get(name)


def to_price(config: PriceConfig) -> Price:
    return Price(config.prompt_per_1k, config.completion_per_1k, config.currency)


def resolve_prices(
    kind: str,
    model: str,
    models: Iterable[str],
    price: PriceConfig | None,
    prices: Mapping[str, PriceConfig],
) -> tuple[Price, tuple[tuple[str, Price], ...]]:
    """A provider's default price and its per-model prices. For each model: its entry in
    `prices`, else the provider's `price`, else the built-in table, else free."""

    def one(name: str) -> Price:
        if name in prices:
            return to_price(prices[name])
        if price is not None:
            return to_price(price)
        return default_price(kind, name) or FREE

    default = one(model)
    others = tuple((m, p) for m in dict.fromkeys(models) if m != model and (p := one(m)) != default)
    return default, others
