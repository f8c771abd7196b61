"""The router's AttemptObserver calls: one started/ended pair per provider call, with the
outcome, usage, per-model cost, and for a cut stream the usage it consumed."""

from __future__ import annotations

import random

import pytest

from orchestrator_server.config.models import RouterConfig
from orchestrator_server.domain.attempts import AttemptOutcome
from orchestrator_server.domain.chat import StreamChunk
from orchestrator_server.domain.errors import ErrorKind, ProviderError, StreamInterrupted
from orchestrator_server.providers.base import Price, Provider
from orchestrator_server.routing.observer import AttemptRecord
from orchestrator_server.routing.router import Router
from orchestrator_server.routing.types import RouteOptions

from .fakes import REQUEST, FakeClock, FakeSleep, ScriptedProvider


class Recorder:
    def __init__(self) -> None:
        self.started: list[AttemptRecord] = []
        self.ended: list[AttemptRecord] = []

    def attempt_started(self, record: AttemptRecord) -> None:
        assert record.latency == 0.0  # nothing of the outcome is known yet
        self.started.append(record)

    def attempt_ended(self, record: AttemptRecord) -> None:
        self.ended.append(record)


def observed(*providers: Provider) -> tuple[Router, Recorder]:
    recorder = Recorder()
    clock = FakeClock()
    router = Router(
        providers,
        RouterConfig(strategy="first-available"),
        clock=clock,
        rng=random.Random(1),
        sleep=FakeSleep(clock),
        observer=recorder,
    )
    return router, recorder


async def test_one_record_per_attempt_with_outcome_and_per_model_cost() -> None:
    broken = ScriptedProvider("broken", ProviderError(ErrorKind.UNAVAILABLE, "503"))
    paid = ScriptedProvider(
        "paid",
        model="big",
        price=Price(1.0, 1.0, "RUB"),
        model_prices=(("small", Price(0.5, 0.5, "RUB")),),
    )
    router, recorder = observed(broken, paid)
    result = await router.generate(REQUEST, RouteOptions())
    assert recorder.started == recorder.ended
    failed, served = recorder.ended
    assert (failed.provider.name, failed.outcome, failed.error_kind) == (
        "broken",
        AttemptOutcome.FAILED,
        "unavailable",
    )
    assert failed.usage is None
    assert (served.provider.name, served.model, served.outcome) == (
        "paid",
        "big",
        AttemptOutcome.SUCCESS,
    )
    assert served.usage == result.usage
    assert (served.cost, served.currency) == (result.cost, "RUB")
    assert served.request.request_id == "req-1"
    assert not served.streaming

    await router.generate(REQUEST, RouteOptions(model="paid/small"))
    small = recorder.ended[-1]
    assert small.model == "small"
    assert small.cost == pytest.approx(
        Price(0.5, 0.5).cost(small.usage.prompt_tokens, small.usage.completion_tokens)
    )  # type: ignore[union-attr]


async def test_a_stream_cut_mid_way_reports_the_usage_it_consumed() -> None:
    cut = ScriptedProvider("cut")
    cut.stream_scripts.append(
        [
            StreamChunk("one two "),
            StreamChunk("three"),
            ProviderError(ErrorKind.UNAVAILABLE, "reset"),
        ]
    )
    router, recorder = observed(cut)
    with pytest.raises(StreamInterrupted):
        async for _ in router.stream(REQUEST, RouteOptions()):
            pass
    [record] = recorder.ended
    assert record.streaming
    assert (record.outcome, record.error_kind) == (AttemptOutcome.FAILED, "unavailable")
    assert record.usage is not None
    assert record.usage.estimated
    assert record.usage.completion_tokens > 0
    assert record.time_to_first_token is not None
