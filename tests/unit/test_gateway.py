"""The call layer both doors share (gateway/), driven as a door drives it: a Caller, a domain
request, a route and an absolute deadline in; domain results, events and errors out. Real
generations, router and mock providers; no grpc."""

from __future__ import annotations

import dataclasses
from contextlib import aclosing

import pytest

from orchestrator_server.auth.failures import AuthFailures
from orchestrator_server.domain.caller import Caller
from orchestrator_server.domain.chat import ChatMessage, ChatRequest, Role
from orchestrator_server.domain.embeddings import EmbeddingRequest
from orchestrator_server.domain.errors import (
    ModelNotAllowed,
    NotFound,
    ProviderNotAllowed,
)
from orchestrator_server.gateway import Gateway
from orchestrator_server.gateway.gateway import REPLY_MARGIN_MAX_S, REPLY_MARGIN_MIN_S
from orchestrator_server.providers.catalog import ModelCatalog
from orchestrator_server.reload.build import first_generation
from orchestrator_server.reload.generation import Generation, Generations
from orchestrator_server.routing.types import RouteOptions, StreamFinished, StreamText
from tests.helpers import make_config, mock_provider

CHAT = ChatRequest((ChatMessage(Role.USER, "hello there"),), request_id="gw-1")
EVERYTHING = Caller(key_id="all", tenant="t", authenticated=True)
ONLY_A = Caller(key_id="only-a", tenant="t", authenticated=True, models=("a/*",))


@dataclasses.dataclass
class Setup:
    gateway: Gateway
    generations: Generations
    failures: AuthFailures

    @property
    def generation(self) -> Generation:
        return self.generations.current


@pytest.fixture
def setup() -> Setup:
    a = {**mock_provider("a", "m-a", words_per_chunk=1), "embedding_model": "emb"}
    b = {**mock_provider("b", "m-b"), "embedding_model": "emb"}
    config = make_config(a, b, aliases={"both": ["a", "b"], "only-a": ["a"]})
    generations = Generations(first_generation(config))
    failures = AuthFailures()
    clock = iter(range(1000, 10**6)).__next__  # one second per reading
    gateway = Gateway(
        generations, catalog=ModelCatalog(), auth_failures=failures, clock=lambda: float(clock())
    )
    return Setup(gateway, generations, failures)


async def test_a_stream_holds_its_lease_until_closed_and_closing_aborts_upstream(
    setup: Setup,
) -> None:
    events = setup.gateway.stream(EVERYTHING, CHAT, RouteOptions(model="a/m-a"), deadline=None)
    assert setup.generation.leases == 0  # nothing happens before the first step
    async with aclosing(events):
        first = await anext(events)
        assert setup.generation.leases == 1
        assert first.provider == "a"  # type: ignore[union-attr]
        assert isinstance(await anext(events), StreamText)
    assert setup.generation.leases == 0
    snapshot = setup.generation.router.snapshot()[0]
    assert (snapshot.in_flight, snapshot.requests_ok) == (0, 0)  # cut short, not a success


async def test_a_whole_stream_ends_with_its_end_event_and_releases_the_lease(
    setup: Setup,
) -> None:
    events = setup.gateway.stream(EVERYTHING, CHAT, RouteOptions(), deadline=None)
    async with aclosing(events):
        seen = [event async for event in events]
    assert isinstance(seen[-1], StreamFinished)
    assert setup.generation.leases == 0


async def test_refusals_are_raised_from_the_stream_and_counted(setup: Setup) -> None:
    events = setup.gateway.stream(ONLY_A, CHAT, RouteOptions(model="b/m-b"), deadline=None)
    with pytest.raises(ProviderNotAllowed):
        async with aclosing(events):
            await anext(events)
    with pytest.raises(ModelNotAllowed):
        await setup.gateway.generate(ONLY_A, CHAT, RouteOptions(), deadline=None)
    assert setup.failures.counts() == {"provider_not_allowed": 1, "model_not_allowed": 1}
    assert setup.generation.leases == 0


async def test_embed_is_authorized_against_embedding_models(setup: Setup) -> None:
    # A bare embedding model name is no chat model: authorized against the chat targets it
    # would be NOT_FOUND for a limited key while an unrestricted one gets vectors.
    embeddings_only = Caller(key_id="e", authenticated=True, models=("*/emb",))
    result = await setup.gateway.embed(
        embeddings_only, EmbeddingRequest(("text",)), RouteOptions(model="emb"), deadline=None
    )
    assert (result.provider, result.model) == ("a", "emb")
    with pytest.raises(ProviderNotAllowed):  # reaches b/emb too, which the key may not use
        await setup.gateway.embed(
            ONLY_A, EmbeddingRequest(("text",)), RouteOptions(model="emb"), deadline=None
        )


async def test_an_unknown_model_lists_what_exists_only_to_an_unrestricted_caller(
    setup: Setup,
) -> None:
    route = RouteOptions(model="nope")
    with pytest.raises(NotFound) as everything:
        await setup.gateway.generate(EVERYTHING, CHAT, route, deadline=None)
    with pytest.raises(NotFound) as limited:
        await setup.gateway.generate(
            dataclasses.replace(ONLY_A, models=("*/nope",)), CHAT, route, deadline=None
        )
    assert "models: a/m-a, b/m-b" in everything.value.message
    assert "models:" not in limited.value.message
    assert "ListModels" in limited.value.message


async def test_a_door_resolver_runs_inside_the_lease_before_authorization(setup: Setup) -> None:
    seen: list[int] = []

    def resolve(route: RouteOptions, generation: Generation) -> RouteOptions:
        seen.append(generation.leases)
        return dataclasses.replace(route, model="a/m-a")

    result = await setup.gateway.generate(
        ONLY_A, CHAT, RouteOptions(model="ext-a"), deadline=None, resolve=resolve
    )
    assert (result.provider, seen) == ("a", [1])


def test_the_deadline_keeps_a_margin_for_the_answer(setup: Setup) -> None:
    gateway = setup.gateway
    assert gateway.deadline(None) is None
    now = 1001.0  # the next clock reading
    assert gateway.deadline(10.0) == pytest.approx(now + 10.0 - REPLY_MARGIN_MAX_S)
    assert gateway.deadline(0.04) == pytest.approx(now + 1 + 0.04 - REPLY_MARGIN_MIN_S)
    assert gateway.deadline(0.001) == pytest.approx(now + 2)  # never in the past of now


async def test_views_show_only_what_the_caller_may_use(setup: Setup) -> None:
    gateway = setup.gateway
    assert [p.spec.name for p in gateway.list_providers(ONLY_A).providers] == ["a"]
    assert [p.spec.name for p in gateway.list_providers(EVERYTHING).providers] == ["a", "b"]
    metrics = gateway.metrics(ONLY_A)
    assert [s.name for s in metrics.providers] == ["a"]
    assert metrics.strategy == "first-available"
    with pytest.raises(ProviderNotAllowed):
        gateway.metrics(ONLY_A, ["b"])
    with pytest.raises(NotFound):
        gateway.metrics(EVERYTHING, ["c"])
    models = await gateway.list_models(ONLY_A)
    assert [m.name for listing in models.listings for m in listing.models] == ["a/m-a"]
    assert [(a.name, a.reaches) for a in models.aliases] == [("only-a", (("a", "m-a"),))]
    assert setup.failures.counts() == {"provider_not_allowed": 1}
    assert setup.generation.leases == 0
