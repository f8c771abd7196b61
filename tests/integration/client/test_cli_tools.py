"""`orchestrator embed` and `orchestrator generate --tool/--schema` as a person runs them: a
subprocess against a real server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator_server.retrieval.embedders.base import Purpose
from orchestrator_server.retrieval.embedders.hashing import V1, HashingEmbedder
from tests.helpers import Running, make_config, mock_provider, running
from tests.integration.client.test_cli import orchestrator
from tests.integration.providers.tools_common import CITY_SCHEMA, WEATHER_SCHEMA


@pytest.fixture
async def server() -> AsyncIterator[Running]:
    config = make_config({**mock_provider("m"), "embedding_model": "mock-embedding"})
    async with running(config) as running_server:
        yield running_server


async def test_embed_prints_one_vector_per_text(server: Running) -> None:
    code, out, err = await orchestrator(
        "embed",
        "red apples",
        "--dimensions",
        "16",
        "--stdin",
        "-v",
        "--address",
        server.target,
        stdin=b"blue ocean\n\ngreen forest\n",
    )
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    texts = ["red apples", "blue ocean", "green forest"]
    expected = HashingEmbedder(16, model=V1).embed_sync(texts, Purpose.DOCUMENT)
    assert rows == [pytest.approx(list(r), abs=1e-6) for r in expected]
    assert "m mock-embedding: 3 vectors of 16, 6 tokens" in err


async def test_embed_json_and_usage_errors(server: Running) -> None:
    code, out, _ = await orchestrator("embed", "x", "--json", "--address", server.target)
    assert code == 0
    assert json.loads(out)["dimensions"] == 384
    code, _, err = await orchestrator("embed", "--address", server.target)
    assert code == 2
    assert "give texts" in err
    code, _, err = await orchestrator("embed", "x", "--dimensions", "0", "--address", server.target)
    assert code == 1
    assert "dimensions" in err


async def test_generate_with_a_tool_and_a_schema(server: Running, tmp_path: Path) -> None:
    weather = tmp_path / "weather.json"
    weather.write_text(json.dumps({"name": "get_weather", "parameters": WEATHER_SCHEMA}))
    schema = tmp_path / "city.json"
    schema.write_text(json.dumps(CITY_SCHEMA))
    code, out, err = await orchestrator(
        "generate", "Weather in Kyiv", "--tool", str(weather), "--address", server.target
    )
    assert code == 0, err
    assert out.startswith("tool call call_")
    assert out.rstrip().endswith('get_weather({"city": "Kyiv"})')
    code, out, err = await orchestrator(
        "generate", "A city: Kyiv", "--schema", str(schema), "--address", server.target
    )
    assert code == 0, err
    assert json.loads(out) == {"name": "Kyiv", "population": 1}
    code, _, err = await orchestrator(
        "generate", "x", "--schema", str(tmp_path / "missing.json"), "--address", server.target
    )
    assert code == 2
    assert "cannot read --schema" in err
