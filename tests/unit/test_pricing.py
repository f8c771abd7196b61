"""Prices: the built-in table by kind and model, and the config's `price` / `prices`."""

from __future__ import annotations

import pytest

from orchestrator_server.config.base import PriceConfig
from orchestrator_server.providers.base import Price
from orchestrator_server.providers.pricing import default_price, resolve_prices
from orchestrator_server.providers.registry import spec_of
from tests.helpers import make_config


@pytest.mark.parametrize(
    ("kind", "model", "per_1k"),
    [
        ("gigachat", "GigaChat", 1.00),
        ("gigachat", "GigaChat-Pro", 2.00),
        ("gigachat", "GigaChat-Plus", 1.50),
        ("yandexgpt", "yandexgpt", 1.50),
        ("yandexgpt", "yandexgpt-lite", 0.75),
        ("yandexgpt", "gpt://b1gfolder/yandexgpt-lite/latest", 0.75),
    ],
)
def test_built_in_table(kind: str, model: str, per_1k: float) -> None:
    assert default_price(kind, model) == Price(per_1k, per_1k, "RUB")


@pytest.mark.parametrize(("kind", "model"), [("ollama", "llama3"), ("mock", "m"), ("openai", "x")])
def test_local_mock_and_unknown_models_have_no_built_in_price(kind: str, model: str) -> None:
    assert default_price(kind, model) is None


def test_prices_per_model_then_price_then_table() -> None:
    rub = PriceConfig(prompt_per_1k=3, completion_per_1k=4, currency="RUB")
    eur = PriceConfig(prompt_per_1k=1, completion_per_1k=1, currency="EUR")
    price, others = resolve_prices(
        "gigachat", "GigaChat", ["GigaChat-Pro", "GigaChat-Max"], None, {"GigaChat-Max": eur}
    )
    assert price == Price(1, 1, "RUB")
    assert dict(others) == {"GigaChat-Pro": Price(2, 2, "RUB"), "GigaChat-Max": Price(1, 1, "EUR")}
    price, others = resolve_prices("gigachat", "GigaChat", ["GigaChat-Pro"], rub, {})
    assert (price, others) == (Price(3, 4, "RUB"), ())


def test_a_configured_provider_gets_its_per_model_prices() -> None:
    config = make_config(
        {
            "name": "giga",
            "kind": "gigachat",
            "model": "GigaChat",
            "models": ["GigaChat-Pro"],
            "api_key_env": "GIGACHAT_KEY",
        }
    )
    spec = spec_of(config.providers[0])
    assert spec.price_for("GigaChat").per_1k == 2.0
    assert spec.price_for("GigaChat-Pro") == Price(2.0, 2.0, "RUB")
    assert spec.price_for("GigaChat-Pro").cost(1000, 500) == 3.0
