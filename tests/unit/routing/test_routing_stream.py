"""Router.stream: events, fallback before the first text, interruption after it, and closing
the provider's stream when the consumer goes away."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from orchestrator_server.domain.attempts import AttemptOutcome
from orchestrator_server.domain.chat import FinishReason, StreamChunk, Usage, estimate_usage
from orchestrator_server.domain.errors import (
    AllProvidersFailed,
    DeadlineExceeded,
    ErrorKind,
    NotFound,
    ProviderError,
    ProviderRejectedRequest,
    ServerShuttingDown,
    StreamInterrupted,
)
from orchestrator_server.providers.base import Price
from orchestrator_server.routing.router import Router
from orchestrator_server.routing.types import (
    RouteOptions,
    StreamEvent,
    StreamFinished,
    StreamStarted,
    StreamText,
)

from .fakes import HANG, REQUEST, FakeClock, FakeSleep, ScriptedProvider, mock, router

ANY = RouteOptions()
FAILED, CANCELLED, SUCCESS = (
    AttemptOutcome.FAILED,
    AttemptOutcome.CANCELLED,
    AttemptOutcome.SUCCESS,
)


def down(kind: ErrorKind = ErrorKind.UNAVAILABLE) -> ProviderError:
    return ProviderError(kind, f"upstream says {kind.value}")


async def collect(
    r: Router, route: RouteOptions = ANY, deadline: float | None = None
) -> list[StreamEvent]:
    return [event async for event in r.stream(REQUEST, route, deadline=deadline)]


async def collect_until_error(r: Router) -> tuple[list[StreamEvent], BaseException]:
    events: list[StreamEvent] = []
    try:
        async for event in r.stream(REQUEST, ANY):
            events.append(event)
    except Exception as exc:
        return events, exc
    raise AssertionError("the stream ended cleanly")


def text(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, StreamText))


def finished(events: list[StreamEvent]) -> StreamFinished:
    last = events[-1]
    assert isinstance(last, StreamFinished)
    return last


async def test_stream_events_in_order() -> None:
    clock = FakeClock()
    a = ScriptedProvider("a", clock=clock, takes=0.2, price=Price(1.0, 1.0, "USD"))
    r = router(a, clock=clock)
    events = await collect(r)
    assert events[:3] == [StreamStarted("a", "a-model"), StreamText("Hello"), StreamText(" world")]
    end = finished(events)
    assert end.finish_reason is FinishReason.STOP
    assert end.usage == Usage.of(3, 2)
    assert end.cost == pytest.approx(5 / 1000)
    assert end.currency == "USD"
    assert end.time_to_first_token == pytest.approx(0.2)
    assert end.latency == pytest.approx(0.2)
    assert [(x.provider, x.outcome) for x in end.attempts] == [("a", SUCCESS)]
    snap = r.snapshot()[0]
    assert (snap.requests_ok, snap.in_flight) == (1, 0)
    assert snap.time_to_first_token == pytest.approx(0.2)
    assert a.streams_closed == 1


async def test_mock_stream_matches_its_unary_answer() -> None:
    r = router(mock("m", words_per_chunk=2))
    events = await collect(r)
    assert text(events) == (await r.generate(REQUEST, ANY)).text
    assert finished(events).usage.estimated is False


async def test_failure_before_the_first_text_falls_back() -> None:
    r = router(mock("a", mode="unhealthy", spec={"retries": 0}), mock("b"))
    events = await collect(r)
    assert events[0] == StreamStarted("b", "mock-model")
    assert [(x.provider, x.outcome, x.error_code) for x in finished(events).attempts] == [
        ("a", FAILED, "unavailable"),
        ("b", SUCCESS, ""),
    ]


async def test_empty_chunks_do_not_commit_the_stream() -> None:
    a = ScriptedProvider("a")
    a.stream_scripts.append([StreamChunk(model="role-header"), StreamChunk(""), down()])
    b = ScriptedProvider("b")
    events = await collect(router(a, b))
    assert events[0] == StreamStarted("b", "b-model")
    assert text(events) == "Hello world"
    assert a.streams_closed == 1


async def test_failure_after_the_first_text_interrupts_without_switching_providers() -> None:
    a = mock("a", mode="fail-after-n-chunks", fail_after_chunks=2, spec={"retries": 0})
    b = mock("b")
    events, error = await collect_until_error(router(a, b))
    assert isinstance(error, StreamInterrupted)
    assert events[0] == StreamStarted("a", "mock-model")
    assert len([e for e in events if isinstance(e, StreamText)]) == 2
    assert not any(isinstance(e, StreamFinished) for e in events)
    assert b.calls == 0
    assert [(x.provider, x.outcome, x.error_code) for x in error.attempts] == [
        ("a", FAILED, "unavailable")
    ]


async def test_chunk_timeout_after_the_first_text_interrupts() -> None:
    a = ScriptedProvider("a", timeout=0.01)
    a.stream_scripts.append([StreamChunk("hi"), HANG])
    events, error = await collect_until_error(router(a, ScriptedProvider("b")))
    assert isinstance(error, StreamInterrupted)
    assert text(events) == "hi"
    assert [(x.outcome, x.error_code) for x in error.attempts] == [(FAILED, "timeout")]
    assert a.streams_closed == 1


async def test_a_slow_consumer_is_not_a_provider_timeout() -> None:
    # The chunk timer bounds only the waits on the provider: a consumer that holds an event
    # past the chunk timeout (gRPC flow control) does not time the provider out.
    a = ScriptedProvider("a", timeout=0.01)
    events: list[StreamEvent] = []
    async with contextlib.aclosing(router(a).stream(REQUEST, ANY)) as stream:
        async for event in stream:
            events.append(event)
            if isinstance(event, StreamText):
                held = asyncio.Event()
                asyncio.get_running_loop().call_later(0.05, held.set)
                await held.wait()
    assert text(events) == "Hello world"
    assert finished(events).attempts[0].outcome is SUCCESS


async def test_the_chunk_timer_leaves_the_task_uncancelled() -> None:
    a = ScriptedProvider("a", timeout=0.01)
    a.stream_scripts.append([StreamChunk("hi"), HANG])
    await collect_until_error(router(a, ScriptedProvider("b")))
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


async def test_first_token_timeout_falls_back() -> None:
    a = ScriptedProvider("a", timeout=30.0, first_token_timeout=0.01)
    a.stream_scripts.append([StreamChunk(""), HANG])
    events = await collect(router(a, ScriptedProvider("b")))
    assert [(x.provider, x.error_code) for x in finished(events).attempts] == [
        ("a", "timeout"),
        ("b", ""),
    ]
    assert a.timeouts == [30.0]  # the provider's own read timeout is the larger of the two


async def test_deadline_mid_stream_is_a_deadline_not_a_provider_failure() -> None:
    clock = FakeClock()
    a = ScriptedProvider("a", timeout=30.0)
    a.stream_scripts.append([StreamChunk("hi"), HANG])
    r = router(a, clock=clock)
    events: list[StreamEvent] = []
    with pytest.raises(DeadlineExceeded) as caught:
        async for event in r.stream(REQUEST, ANY, deadline=clock.now + 0.01):
            events.append(event)
    assert text(events) == "hi"
    assert [(x.outcome, x.error_code) for x in caught.value.attempts] == [
        (CANCELLED, "deadline_exceeded")
    ]
    assert caught.value.partial  # "hi" was sent: the caller holds part of an answer
    assert r.snapshot()[0].requests_failed == 0


async def test_closing_the_consumer_iterator_closes_the_provider_stream() -> None:
    a = mock("a", reply="one two three four five")
    r = router(a)
    async with contextlib.aclosing(r.stream(REQUEST, ANY)) as events:
        async for event in events:
            if isinstance(event, StreamText):
                break
    assert a.stream_abandoned.is_set()
    assert (a.abandoned_streams, a.active_streams) == (1, 0)
    snap = r.snapshot()[0]
    assert (snap.requests_total, snap.requests_ok, snap.requests_failed, snap.in_flight) == (
        1,
        0,
        0,
        0,
    )


async def test_cancelling_the_consumer_aborts_the_upstream_and_records_no_blame() -> None:
    a = ScriptedProvider("a")
    a.stream_scripts.append([StreamChunk("hi"), HANG])
    r = router(a)
    got_text = asyncio.Event()

    async def consume() -> None:
        async with contextlib.aclosing(r.stream(REQUEST, ANY)) as events:
            async for event in events:
                if isinstance(event, StreamText):
                    got_text.set()

    task = asyncio.create_task(consume())
    await got_text.wait()  # the consumer now waits for a chunk that never comes
    assert r.snapshot()[0].in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert a.streams_closed == 1
    snap = r.snapshot()[0]
    assert (snap.requests_total, snap.requests_failed, snap.in_flight) == (1, 0, 0)
    assert snap.consecutive_failures == 0


async def test_a_stream_that_ends_without_saying_why_it_finished_is_broken() -> None:
    # Adapters render their provider's end marker as finish_reason; a stream that just stops
    # before one was cut upstream, whichever adapter it came through.
    a = ScriptedProvider("a")
    a.stream_scripts.append([StreamChunk("half an"), StreamChunk(" answer")])
    events, error = await collect_until_error(router(a, ScriptedProvider("b")))
    assert isinstance(error, StreamInterrupted)
    assert text(events) == "half an answer"
    assert [(x.outcome, x.error_code) for x in error.attempts] == [(FAILED, "unavailable")]


async def test_a_stream_that_ends_before_text_and_its_end_falls_back() -> None:
    a = ScriptedProvider("a")
    a.stream_scripts.append([StreamChunk("", model="a-model")])
    events = await collect(router(a, ScriptedProvider("b")))
    assert [(x.provider, x.error_code) for x in finished(events).attempts] == [
        ("a", "unavailable"),
        ("b", ""),
    ]


async def test_missing_usage_is_estimated() -> None:
    a = ScriptedProvider("a")
    a.stream_scripts.append(
        [StreamChunk("abcd efgh"), StreamChunk(finish_reason=FinishReason.LENGTH)]
    )
    end = finished(await collect(router(a)))
    assert end.usage == estimate_usage(REQUEST.messages, "abcd efgh")
    assert end.usage.estimated
    assert end.finish_reason is FinishReason.LENGTH


async def test_a_stream_without_text_still_starts_and_finishes() -> None:
    a = ScriptedProvider("a")
    a.stream_scripts.append([StreamChunk(finish_reason=FinishReason.CONTENT_FILTER)])
    events = await collect(router(a))
    assert events[0] == StreamStarted("a", "a-model")
    assert len(events) == 2
    end = finished(events)
    assert end.finish_reason is FinishReason.CONTENT_FILTER
    assert end.time_to_first_token == 0.0


async def test_stream_retries_with_the_injected_sleep() -> None:
    clock = FakeClock()
    sleep = FakeSleep(clock)
    a = ScriptedProvider("a", down(), retries=1)
    events = await collect(router(a, clock=clock, sleep=sleep))
    assert len(sleep.calls) == 1
    assert [(x.outcome, x.retry) for x in finished(events).attempts] == [(FAILED, 0), (SUCCESS, 1)]


@pytest.mark.parametrize(
    ("providers", "error"),
    [
        ([{"mode": "invalid-request"}, {}], ProviderRejectedRequest),
        ([{"mode": "unhealthy"}, {"mode": "auth-error"}], AllProvidersFailed),
    ],
)
async def test_stream_errors_before_text(providers: list[dict[str, Any]], error: type) -> None:
    mocks = [mock(f"p{i}", spec={"retries": 0}, **o) for i, o in enumerate(providers)]
    events, raised = await collect_until_error(router(*mocks))
    assert events == []
    assert isinstance(raised, error)
    if error is ProviderRejectedRequest:
        assert mocks[1].calls == 0


async def test_unknown_model_is_raised_from_iteration() -> None:
    stream = router(ScriptedProvider("a")).stream(REQUEST, RouteOptions(model="nope"))
    with pytest.raises(NotFound):
        await anext(stream)


async def test_a_cut_while_the_consumer_holds_an_event_ends_with_the_trail() -> None:
    # The shutdown cut cancels the request's task; when that lands outside the router (the
    # consumer writing an event), closing the stream gives the router's answer instead.
    a = ScriptedProvider("a")
    a.stream_scripts.append([StreamChunk("hi"), HANG])
    r = router(a)
    events = r.stream(REQUEST, ANY)
    assert isinstance(await anext(events), StreamStarted)
    assert isinstance(await anext(events), StreamText)
    assert r.interrupt() == 1
    with pytest.raises(ServerShuttingDown) as caught:
        try:
            await asyncio.sleep(0)  # the consumer's write, where the cancellation lands
        except asyncio.CancelledError:
            await events.aclose()
    task = asyncio.current_task()
    assert task is not None
    task.uncancel()  # as the border does, to send the answer
    assert caught.value.partial
    assert [(x.outcome, x.error_code) for x in caught.value.attempts] == [(CANCELLED, "shutdown")]
    assert a.streams_closed == 1
    assert r.snapshot()[0].in_flight == 0
