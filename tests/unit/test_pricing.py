"""Prices: the built-in table by kind and model, and the config's `price` / `prices`."""

from __future__ import annotations

import datetime

import pytest

from orchestrator_server.config.base import PriceConfig
from orchestrator_server.providers.base import Price
from orchestrator_server.providers.pricing import (
    FREE,
    UNPRICED,
    builtin_table,
    default_price,
    resolve_prices,
)
from orchestrator_server.providers.registry import spec_of
from tests.helpers import make_config


@pytest.mark.parametrize(
    ("kind", "model", "prompt_per_1k", "completion_per_1k", "currency"),
    [
        ("openai", "gpt-4o-mini", 0.00015, 0.0006, "USD"),
        ("openai", "GPT-4o-mini-2024-07-18", 0.00015, 0.0006, "USD"),  # a dated snapshot
        ("anthropic", "claude-sonnet-4-5-20250929", 0.003, 0.015, "USD"),
        ("anthropic", "claude-haiku-4-5", 0.001, 0.005, "USD"),
        ("gemini", "models/gemini-2.5-flash", 0.0003, 0.0025, "USD"),
        ("gigachat", "GigaChat-2-Max", 1.95, 1.95, "RUB"),
        ("gigachat", "GigaChat-2", 0.20, 0.20, "RUB"),
        ("yandexgpt", "yandexgpt", 1.20, 1.20, "RUB"),
        ("yandexgpt", "gpt://b1gfolder/yandexgpt-lite/latest", 0.20, 0.20, "RUB"),
    ],
)
def test_built_in_table(
    kind: str, model: str, prompt_per_1k: float, completion_per_1k: float, currency: str
) -> None:
    price = default_price(kind, model)
    assert price is not None
    assert price.prompt_per_1k == pytest.approx(prompt_per_1k)
    assert price.completion_per_1k == pytest.approx(completion_per_1k)
    assert price.currency == currency


def test_every_section_names_its_source_date_and_currency() -> None:
    table = builtin_table()
    assert {"openai", "anthropic", "gemini", "gigachat", "yandexgpt"} <= set(table)
    for kind, section in table.items():
        assert section.source.startswith("https://"), kind
        assert datetime.date.fromisoformat(section.as_of) <= datetime.date.today(), kind
        assert section.models, kind
        assert {p.currency for p in section.models.values()} == {section.currency}, kind


@pytest.mark.parametrize(
    ("kind", "model"),
    [("openai", "my-finetune"), ("openai", "gpt-4o-audio-preview"), ("anthropic", "claude-9")],
)
def test_unknown_models_have_no_built_in_price(kind: str, model: str) -> None:
    assert default_price(kind, model) is None


def test_local_and_mock_models_are_free_and_unknown_ones_unpriced() -> None:
    assert resolve_prices("ollama", "llama3", [], None, {})[0] == FREE
    assert resolve_prices("mock", "m", [], None, {})[0] == FREE
    assert resolve_prices("openai", "my-finetune", [], None, {})[0] == UNPRICED
    assert UNPRICED.currency == ""


def test_prices_per_model_then_price_then_table() -> None:
    rub = PriceConfig(prompt_per_1k=3, completion_per_1k=4, currency="RUB")
    eur = PriceConfig(prompt_per_1k=1, completion_per_1k=1, currency="EUR")
    price, others = resolve_prices(
        "gigachat",
        "GigaChat-2",
        ["GigaChat-2-Pro", "GigaChat-2-Max"],
        None,
        {"GigaChat-2-Max": eur},
    )
    assert price == default_price("gigachat", "GigaChat-2")
    assert dict(others) == {
        "GigaChat-2-Pro": default_price("gigachat", "GigaChat-2-Pro"),
        "GigaChat-2-Max": Price(1, 1, "EUR"),  # the config wins over the table
    }
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
    assert spec.price_for("GigaChat").per_1k == pytest.approx(0.4)
    assert spec.price_for("GigaChat-Pro") == Price(1.5, 1.5, "RUB")
    assert spec.price_for("GigaChat-Pro").cost(1000, 500) == pytest.approx(2.25)
