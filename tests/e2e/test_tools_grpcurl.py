"""Tools, structured output, images and Embed with the real grpcurl binary and plain JSON,
as the docs show them: Struct fields are ordinary JSON objects, bytes are base64."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import pytest

from tests.e2e.test_grpcurl import SERVICE, grpcurl, json_objects
from tests.helpers import Running, make_config, mock_provider, running
from tests.integration.providers.tools_common import PNG, WEATHER_SCHEMA

pytestmark = pytest.mark.e2e
WEATHER = {"name": "get_weather", "description": "Current weather", "parameters": WEATHER_SCHEMA}


@pytest.fixture
async def server() -> AsyncIterator[Running]:
    config = make_config({**mock_provider("alpha", "m-1"), "embedding_model": "mock-embedding"})
    async with running(config) as running_server:
        yield running_server


async def test_a_tool_call_and_its_result(server: Running) -> None:
    ask = {"messages": [{"role": "ROLE_USER", "content": "Weather in Quito?"}], "tools": [WEATHER]}
    code, out = await grpcurl(server, f"{SERVICE}/Generate", data=json.dumps(ask))
    assert code == 0, out
    reply = json_objects(out)[0]
    assert reply["finishReason"] == "FINISH_REASON_TOOL_CALL"
    [call] = reply["toolCalls"]
    assert (call["name"], call["parsedArguments"]) == ("get_weather", {"city": "Quito"})
    assert json.loads(call["arguments"]) == {"city": "Quito"}
    answer_request = {
        "messages": [
            *ask["messages"],
            {"role": "ROLE_ASSISTANT", "toolCalls": [call]},
            {"role": "ROLE_TOOL", "toolCallId": call["id"], "content": "14 degrees"},
        ],
        "tools": [WEATHER],
    }
    code, out = await grpcurl(server, f"{SERVICE}/Generate", data=json.dumps(answer_request))
    assert code == 0, out
    assert json_objects(out)[0]["text"] == "Tool results: get_weather returned 14 degrees"


async def test_a_streamed_tool_call_and_a_forced_choice(server: Running) -> None:
    request = {
        "prompt": "Weather in Lagos?",
        "tools": [WEATHER],
        "toolChoice": {"name": "get_weather"},
    }
    code, out = await grpcurl(server, f"{SERVICE}/GenerateStream", data=json.dumps(request))
    assert code == 0, out
    events = json_objects(out)
    fragments = [f for e in events if "delta" in e for f in e["delta"]["toolCalls"]]
    assert fragments[0]["name"] == "get_weather"
    [call] = events[-1]["end"]["toolCalls"]
    assert call["parsedArguments"] == {"city": "Lagos"}
    assert call["arguments"] == "".join(f.get("arguments", "") for f in fragments)


async def test_json_schema_and_an_image(server: Running) -> None:
    request = {
        "messages": [
            {
                "role": "ROLE_USER",
                "parts": [
                    {"text": "A city: Accra"},
                    {"image": {"data": base64.b64encode(PNG).decode()}},
                ],
            }
        ],
        "responseFormat": {
            "type": "RESPONSE_FORMAT_TYPE_JSON_SCHEMA",
            "jsonSchema": {
                "name": "city",
                "schema": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}},
                    "required": ["name"],
                },
            },
        },
    }
    code, out = await grpcurl(server, f"{SERVICE}/Generate", data=json.dumps(request))
    assert code == 0, out
    assert json.loads(json_objects(out)[0]["text"]) == {"name": "Accra"}


async def test_embed(server: Running) -> None:
    code, out = await grpcurl(
        server,
        f"{SERVICE}/Embed",
        data='{"inputs": ["red apples", "green pears"], "dimensions": 8}',
    )
    assert code == 0, out
    reply = json_objects(out)[0]
    assert [len(e["values"]) for e in reply["embeddings"]] == [8, 8]
    assert (reply["provider"], reply["model"], reply["dimensions"]) == (
        "alpha",
        "mock-embedding",
        8,
    )
    code, out = await grpcurl(server, "describe", SERVICE)
    assert code == 0, out
    assert (
        "rpc Embed ( .orchestrator.v1.EmbedRequest ) returns ( .orchestrator.v1.EmbedResponse )"
        in out
    )


async def test_a_bad_tool_names_the_field(server: Running) -> None:
    request = {"prompt": "x", "tools": [{"name": "bad name"}]}
    code, out = await grpcurl(server, f"{SERVICE}/Generate", data=json.dumps(request))
    assert code != 0
    assert "InvalidArgument" in out
    assert "tools[0].name" in out
