"""The OpenAI-compatible adapter (and its Azure variant) against the emulator, through the
real gRPC server: what only OpenAI does. The scenarios every provider shares are in
test_provider_contract.py."""

from __future__ import annotations

import pytest

from orchestrator.v1 import generate_pb2
from tests.emulators.openai import OpenAIEmulator
from tests.helpers import make_config, running, stream_text
from tests.integration.providers.contract import AZURE_OPENAI, OPENAI, emulator_fixture

KEY = OPENAI.key
CHAT = OPENAI.chat_path
REQUEST = generate_pb2.GenerateRequest(
    messages=[
        generate_pb2.ChatMessage(role=generate_pb2.ROLE_SYSTEM, content="Be brief."),
        generate_pb2.ChatMessage(role=generate_pb2.ROLE_USER, content="Say hello"),
    ],
    params=generate_pb2.GenerationParams(temperature=0.2, max_tokens=50, stop=["END"], seed=7),
)

emulator = emulator_fixture(OPENAI)
openai = OPENAI.entry


async def test_unary_request_headers_body_and_reply(emulator: OpenAIEmulator) -> None:
    emulator.set(text="Hello there, friend")
    async with running(make_config(openai(emulator))) as server:
        reply = await server.stub.Generate(REQUEST)
    assert (reply.text, reply.provider, reply.model) == (
        "Hello there, friend",
        "oai",
        "gpt-4o-mini",
    )
    assert reply.finish_reason == generate_pb2.FINISH_REASON_STOP
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (9, 3)
    assert not reply.usage.estimated
    [call] = emulator.calls(CHAT)
    assert call.headers["authorization"] == f"Bearer {KEY}"
    assert call.headers["openai-organization"] == "org-1"
    assert call.headers["content-type"].startswith("application/json")
    assert call.json() == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello"},
        ],
        "temperature": 0.2,
        "max_tokens": 50,
        "stop": ["END"],
        "seed": 7,
    }


async def test_stream_reassembles_text_with_usage(emulator: OpenAIEmulator) -> None:
    emulator.set(text="one two three four five", words_per_chunk=2)
    async with running(make_config(openai(emulator))) as server:
        events = [
            e
            async for e in server.stub.GenerateStream(
                generate_pb2.GenerateStreamRequest(prompt="count")
            )
        ]
    assert stream_text(events) == "one two three four five"
    end = events[-1].end
    assert end.finish_reason == generate_pb2.FINISH_REASON_STOP
    assert (end.usage.completion_tokens, end.usage.estimated) == (5, False)
    [call] = emulator.calls(CHAT)
    assert call.json()["stream"] is True
    assert call.json()["stream_options"] == {"include_usage": True}


async def test_azure_url_shape_and_key_header(
    emulator: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AZURE_OPENAI.key_env, AZURE_OPENAI.key)
    async with running(make_config(AZURE_OPENAI.entry(emulator))) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert reply.provider == "az"
    [call] = emulator.requests
    assert call.path == "/openai/deployments/prod-gpt4o/chat/completions"
    assert call.query == {"api-version": "2024-10-21"}
    assert call.headers["api-key"] == AZURE_OPENAI.key
    assert "authorization" not in call.headers


async def test_cost_from_the_price_table_and_none_for_an_unpriced_model(
    emulator: OpenAIEmulator,
) -> None:
    emulator.set(text="Hello there, friend")
    entry = openai(emulator, models=["my-finetune", "gpt-4o-2024-08-06"])
    async with running(make_config(entry)) as server:
        listed = await server.stub.Generate(REQUEST)
        snapshot = await server.stub.Generate(
            generate_pb2.GenerateRequest(prompt="hi", model="oai/gpt-4o-2024-08-06")
        )
        unpriced = await server.stub.Generate(
            generate_pb2.GenerateRequest(prompt="hi", model="oai/my-finetune")
        )
    # gpt-4o-mini: $0.15 / $0.60 per million tokens; 9 prompt and 3 completion tokens.
    assert listed.cost.currency == "USD"
    assert listed.cost.amount == pytest.approx((9 * 0.15 + 3 * 0.60) / 1e6)
    assert snapshot.cost.currency == "USD"  # a dated snapshot of gpt-4o
    assert snapshot.cost.amount > 0
    assert not unpriced.HasField("cost")  # no price: no cost, rather than a cost of 0
