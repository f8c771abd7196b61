"""The configuration is swapped (a key rotated, a provider removed, one added) while 200
unary calls and 20 streams are in flight: none fails, every stream ends whole on the provider
it started with, and the calls after the swap use the new set."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from orchestrator.v1 import generate_pb2
from tests.emulators.gated import Gate, GatedOpenAIEmulator
from tests.helpers import mock_provider, running
from tests.integration.reload.common import (
    KEY_ENV,
    apply,
    as_config,
    config_data,
    openai_entry,
    session_open,
)

STREAMS = 20
UNARY_BEFORE = 100
UNARY_AFTER = 100
LIMIT = 30  # seconds: a generous "does not hang" bound, never a timing claim


async def test_swap_under_load_fails_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate()
    monkeypatch.setenv(KEY_ENV, "key-1")
    steady = GatedOpenAIEmulator("steady", gate, keys={"key-1", "key-2"})
    leaving = GatedOpenAIEmulator("leaving", gate)
    async with steady, leaving:
        before = config_data(
            openai_entry("steady", steady.base_url, api_key_env=KEY_ENV),
            openai_entry("leaving", leaving.base_url),
        )
        after = config_data(
            openai_entry("steady", steady.base_url, api_key_env=KEY_ENV),
            mock_provider("arriving", reply="arriving answers in several words"),
        )
        async with running(as_config(before)) as server:
            stub = server.stub
            first = server.app.generations.current
            old_providers = first.providers

            async def one_stream() -> list[generate_pb2.GenerateStreamResponse]:
                call = stub.GenerateStream(generate_pb2.GenerateStreamRequest(prompt="go"))
                return [event async for event in call]

            async def one_call() -> generate_pb2.GenerateResponse:
                return await stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))

            streams = [asyncio.ensure_future(one_stream()) for _ in range(STREAMS)]
            early = [asyncio.ensure_future(one_call()) for _ in range(UNARY_BEFORE)]
            # Every stream has sent its first text and every early call reached a provider.
            await asyncio.wait_for(gate.until_held(STREAMS + UNARY_BEFORE), LIMIT)

            monkeypatch.setenv(KEY_ENV, "key-2")  # the key is rotated with the swap
            result = await apply(server, after)
            assert (result.added, result.removed, result.changed) == (
                ["arriving"],
                ["leaving"],
                ["steady"],
            )
            assert result.generation == 2
            late = [asyncio.ensure_future(one_call()) for _ in range(UNARY_AFTER)]
            # The old generation's providers stay open while its calls run.
            assert all(session_open(p) for p in old_providers)
            assert not first.ended.is_set()

            gate.open()
            outcomes = await asyncio.wait_for(
                asyncio.gather(*streams, *early, *late, return_exceptions=True), LIMIT
            )
            failures = [o for o in outcomes if isinstance(o, BaseException)]
            assert failures == []

            stream_results: list[list[generate_pb2.GenerateStreamResponse]] = outcomes[:STREAMS]
            early_replies: list[generate_pb2.GenerateResponse] = outcomes[
                STREAMS : STREAMS + UNARY_BEFORE
            ]
            late_replies: list[generate_pb2.GenerateResponse] = outcomes[STREAMS + UNARY_BEFORE :]
            texts = {"steady": steady.reply, "leaving": leaving.reply}
            for events in stream_results:
                assert events[0].HasField("start")
                assert events[-1].HasField("end")
                served_by = events[0].start.provider
                deltas = "".join(e.delta.text for e in events if e.HasField("delta"))
                assert deltas == texts[served_by]  # whole, and all from one provider
                assert events[-1].end.attempts[-1].provider == served_by
            assert {r.provider for r in early_replies} == {"steady", "leaving"}
            late_by = Counter(r.provider for r in late_replies)
            assert set(late_by) == {"steady", "arriving"}

            # The rotated key: calls that started before the swap used the old one, later
            # calls the new one.
            old_on_steady = sum(r.provider == "steady" for r in early_replies) + sum(
                e[0].start.provider == "steady" for e in stream_results
            )
            assert Counter(steady.keys_seen()) == {
                "key-1": old_on_steady,
                "key-2": late_by["steady"],
            }

            # Drained: the old generation ends and closes the providers it alone used.
            await asyncio.wait_for(first.ended.wait(), LIMIT)
            assert not any(session_open(p) for p in old_providers)

            # The next calls use the new set only.
            more = await asyncio.gather(*(one_call() for _ in range(10)))
            assert {r.provider for r in more} == {"steady", "arriving"}
            assert len(leaving.calls("/v1/chat/completions")) == (
                STREAMS + UNARY_BEFORE - old_on_steady
            )
            assert server.app.reloader.counts == {"ok": 1, "rejected": 0}
