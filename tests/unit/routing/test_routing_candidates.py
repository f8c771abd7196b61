"""Resolving RouteOptions to (provider, model) candidates, and the errors for bad names."""

from __future__ import annotations

import pytest

from orchestrator_server.config.models import CircuitBreakerConfig, HealthConfig
from orchestrator_server.domain.errors import InvalidRequest, NotFound
from orchestrator_server.routing.candidates import CandidateResolver
from orchestrator_server.routing.slot import Slot
from orchestrator_server.routing.types import RouteOptions

from .fakes import FakeClock, ScriptedProvider

ALIASES = {
    "fast": ["b", "a/a-large"],
    "ghost": ["disabled"],
    "mixed": ["a/a-small", "a/a-large", "c"],
}


@pytest.fixture
def resolver() -> CandidateResolver:
    providers = [
        ScriptedProvider("a", model="a-small", models=("a-large", "shared")),
        ScriptedProvider("b", model="shared"),
        ScriptedProvider("c", model="org/model-x"),
    ]
    clock = FakeClock()
    slots = [Slot(p, HealthConfig(), CircuitBreakerConfig(), clock) for p in providers]
    return CandidateResolver(slots, ALIASES)


def resolved(resolver: CandidateResolver, **route: str) -> list[tuple[str, str | None]]:
    return [(c.name, c.model) for c in resolver.resolve(RouteOptions(**route))]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ({}, [("a", None), ("b", None), ("c", None)]),
        ({"model": "b/custom"}, [("b", "custom")]),
        ({"model": "a/a-large"}, [("a", "a-large")]),
        ({"model": "fast"}, [("b", None), ("a", "a-large")]),
        ({"model": "shared"}, [("a", "shared"), ("b", "shared")]),
        ({"model": "a-large"}, [("a", "a-large")]),
        ({"model": "org/model-x"}, [("c", "org/model-x")]),  # a model name with a slash
        ({"provider": "b"}, [("b", None)]),
        ({"provider": "b", "model": "b/other"}, [("b", "other")]),
        ({"provider": "a", "model": "mixed"}, [("a", "a-small"), ("a", "a-large")]),
        ({"provider": "a", "model": "shared"}, [("a", "shared")]),
        ({"provider": "a", "model": "unlisted"}, [("a", "unlisted")]),
        ({"provider": "c", "model": "org/model-y"}, [("c", "org/model-y")]),
        # "fast" is an alias, not a provider, so "fast/x" is a model name for the pin.
        ({"provider": "a", "model": "fast/x"}, [("a", "fast/x")]),
    ],
)
def test_resolution(
    resolver: CandidateResolver, route: dict[str, str], expected: list[tuple[str, str | None]]
) -> None:
    assert resolved(resolver, **route) == expected


@pytest.mark.parametrize(
    ("route", "field", "resource_type", "name"),
    [
        ({"provider": "nope"}, "provider", "provider", "nope"),
        ({"provider": "nope", "model": "a/a-small"}, "provider", "provider", "nope"),
        ({"model": "nope/some-model"}, "model", "provider", "nope"),
        ({"model": "no-such-model"}, "model", "model", "no-such-model"),
        ({"model": "ghost"}, "model", "alias", "ghost"),
    ],
)
def test_unknown_names(
    resolver: CandidateResolver,
    route: dict[str, str],
    field: str,
    resource_type: str,
    name: str,
) -> None:
    with pytest.raises(NotFound) as caught:
        resolved(resolver, **route)
    assert (caught.value.field, caught.value.resource_type, caught.value.name) == (
        field,
        resource_type,
        name,
    )


def test_an_unknown_model_names_what_exists(resolver: CandidateResolver) -> None:
    with pytest.raises(NotFound) as caught:
        resolved(resolver, model="nope")
    assert str(caught.value) == (
        "no provider serves model or alias 'nope'; "
        "models: a/a-small, a/a-large, a/shared, b/shared, c/org/model-x; "
        "aliases: fast, ghost, mixed; "
        "ListModels (`orchestrator models`) lists the models each provider serves"
    )
    with pytest.raises(NotFound) as caught:
        resolved(resolver, provider="nope")
    assert str(caught.value) == "unknown provider 'nope'; providers: a, b, c"


def test_a_long_list_of_names_is_cut() -> None:
    providers = [ScriptedProvider(f"p{i}", model=f"m{i}") for i in range(30)]
    clock = FakeClock()
    slots = [Slot(p, HealthConfig(), CircuitBreakerConfig(), clock) for p in providers]
    with pytest.raises(NotFound) as caught:
        resolved(CandidateResolver(slots), model="nope")
    assert "p19/m19 and 10 more; aliases: none" in str(caught.value)
    assert "p20/m20" not in str(caught.value)


@pytest.mark.parametrize(
    "route",
    [
        {"provider": "a", "model": "b/shared"},  # pinned to a, model names b
        {"provider": "c", "model": "fast"},  # alias with no target on c
        {"model": "a/"},
    ],
)
def test_contradictions_are_invalid(resolver: CandidateResolver, route: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest) as caught:
        resolved(resolver, **route)
    assert [v.field for v in caught.value.violations] == ["model"]


def test_duplicate_provider_names_are_refused() -> None:
    clock = FakeClock()
    slots = [
        Slot(ScriptedProvider("a"), HealthConfig(), CircuitBreakerConfig(), clock) for _ in range(2)
    ]
    with pytest.raises(ValueError, match="used twice"):
        CandidateResolver(slots)
