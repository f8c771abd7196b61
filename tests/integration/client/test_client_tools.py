"""The Python clients against the real server: a tool round trip with the helpers, a stream's
assembled calls, a pydantic schema as the response format, and Embed (async and sync)."""

from __future__ import annotations

import asyncio
import json

from pydantic import BaseModel

from orchestrator_client import (
    AsyncOrchestratorClient,
    OrchestratorClient,
    arguments,
    tool,
    tool_result,
)
from tests.helpers import make_config, mock_provider, running

CONFIG = make_config({**mock_provider("m"), "embedding_model": "mock-embedding"})


class GetWeather(BaseModel):
    """Current weather in a city."""

    city: str


class City(BaseModel):
    name: str
    population: int


async def test_round_trip_with_the_helpers() -> None:
    async with running(CONFIG) as server, AsyncOrchestratorClient(server.target) as client:
        question = ("user", "Weather in Vienna?")
        reply = await client.generate(messages=[question], tools=[GetWeather])
        [call] = reply.tool_calls
        assert (call.name, arguments(call)) == ("GetWeather", {"city": "Vienna"})
        answer = await client.generate(
            messages=[question, reply, tool_result(call.id, {"temp_c": 21})],
            tools=[tool(GetWeather)],
        )
    assert answer.text == 'Tool results: GetWeather returned {"temp_c": 21}'


async def test_stream_assembles_calls_and_schemas_parse() -> None:
    async with running(CONFIG) as server, AsyncOrchestratorClient(server.target) as client:
        stream = client.stream("Weather in Bern", tools=[GetWeather])
        text = await stream.collect()
        city = await client.generate("A city: Bern", response_format=City)
    assert text == ""
    assert [(c.name, arguments(c)) for c in stream.tool_calls] == [("GetWeather", {"city": "Bern"})]
    assert len(stream.tool_call_deltas) == 3
    assert City.model_validate(json.loads(city.text)) == City(name="Bern", population=1)


async def test_embed_async_and_sync() -> None:
    async with running(CONFIG) as server:
        async with AsyncOrchestratorClient(server.target) as client:
            reply = await client.embed(["a b", "c d"], dimensions=32, input_type="query")

        def sync_embed() -> list[float]:
            with OrchestratorClient(server.target) as sync_client:
                return list(sync_client.embed(["a b"], dimensions=32).embeddings[0].values)

        again = await asyncio.to_thread(sync_embed)
    assert (len(reply.embeddings), reply.dimensions, reply.model) == (2, 32, "mock-embedding")
    assert again == list(reply.embeddings[0].values)
