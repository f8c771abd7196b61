"""Each adapter's parameter table: set values under the provider's names, nothing else."""

from __future__ import annotations

from orchestrator_server.domain.chat import GenerationParams
from orchestrator_server.providers.http.params import wire_params

NAMES = {"temperature": "temp", "max_tokens": "maxOut", "stop": "stopSequences", "seed": "seed"}


def test_only_set_and_supported_parameters_are_sent() -> None:
    params = GenerationParams(temperature=0.0, max_tokens=5, stop=("a", "b"), top_p=0.9)
    assert wire_params(params, NAMES) == {"temp": 0.0, "maxOut": 5, "stopSequences": ["a", "b"]}


def test_nothing_set_gives_nothing() -> None:
    assert wire_params(GenerationParams(), NAMES) == {}
