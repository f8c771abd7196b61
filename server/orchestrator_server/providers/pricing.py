"""The built-in price table (`prices.yaml`, dated, naming its sources), keyed by provider
kind and model, and how a provider's prices are resolved from it and from its
configuration.

Three answers, kept apart: a price (from the config or the table), free (`ollama` and
`mock`, which cost nothing), and no price at all (`UNPRICED`, currency ""): a model the
table does not know and the config does not price. Replies carry no cost for the last
rather than claiming it was free.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from orchestrator_server.config.base import PriceConfig
from orchestrator_server.providers.base import Price

FREE_KINDS = frozenset({"ollama", "mock"})
FREE = Price(0.0, 0.0, "USD")
UNPRICED = Price()
# A dated snapshot of a listed model: gpt-4o-2024-08-06, claude-sonnet-4-5-20250929.
_SNAPSHOT = re.compile(r"^(?P<base>.+?)-(\d{4}-\d{2}-\d{2}|\d{8})$")
_PER = {"1K": 1.0, "1M": 1000.0}


@dataclass(frozen=True, slots=True)
class KindPrices:
    """One kind's section of the table."""

    currency: str
    source: str
    as_of: str
    models: Mapping[str, Price]


def parse_table(data: Mapping[str, Any]) -> dict[str, KindPrices]:
    """The table from its YAML form; prices converted to per 1,000 tokens."""
    table: dict[str, KindPrices] = {}
    for kind, section in data.items():
        divisor = _PER[section["per"]]
        currency = section["currency"]
        models = {
            name.lower(): Price(prompt / divisor, completion / divisor, currency)
            for name, (prompt, completion) in section["models"].items()
        }
        table[kind] = KindPrices(currency, section["source"], str(section["as_of"]), models)
    return table


@cache
def builtin_table() -> dict[str, KindPrices]:
    text = resources.files(__package__).joinpath("prices.yaml").read_text(encoding="utf-8")
    return parse_table(yaml.safe_load(text))


def default_price(kind: str, model: str) -> Price | None:
    """The table's price for a model, or None when the table does not know it. Names match
    case-insensitively, with a dated snapshot suffix, a Gemini `models/` prefix, or (YandexGPT)
    inside a gpt://folder/NAME/branch URI."""
    section = builtin_table().get(kind)
    if section is None:
        return None
    name = model.lower().removeprefix("models/")
    if name.startswith("gpt://"):
        parts = name[len("gpt://") :].split("/")
        name = parts[1] if len(parts) > 1 else name
    price = section.models.get(name)
    if price is None and (snapshot := _SNAPSHOT.match(name)):
        price = section.models.get(snapshot.group("base"))
    return price


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
    `prices`, else the provider's `price`, else free for local kinds, else the built-in
    table, else UNPRICED."""

    def one(name: str) -> Price:
        if name in prices:
            return to_price(prices[name])
        if price is not None:
            return to_price(price)
        if kind in FREE_KINDS:
            return FREE
        return default_price(kind, name) or UNPRICED

    default = one(model)
    others = tuple((m, p) for m in dict.fromkeys(models) if m != model and (p := one(m)) != default)
    return default, others
