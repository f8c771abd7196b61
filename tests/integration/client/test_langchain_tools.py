"""LangChain over the real server: an agent-style loop (bind_tools, the model's call, the
tool run, a ToolMessage, the answer), structured output, image content blocks, streamed
tool calls, and embeddings that a LangChain vector store and Retrieve share."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from orchestrator_client.langchain import ChatOrchestrator, OrchestratorEmbeddings
from orchestrator_server.retrieval.embedders.base import Purpose
from orchestrator_server.retrieval.embedders.hashing import V1, HashingEmbedder
from tests.emulators.openai import OpenAIEmulator
from tests.helpers import make_config, mock_provider, running
from tests.integration.providers.contract import OPENAI
from tests.integration.providers.tools_common import PNG

CONFIG = make_config({**mock_provider("agent"), "embedding_model": "mock-embedding"})


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return json.dumps({"city": city, "temp_c": 18})


@tool
def get_time(zone: str) -> str:
    """Current time in a time zone."""
    return "12:00"


class City(BaseModel):
    """A city and how many people live there."""

    name: str = Field(description="The city's name")
    population: int = Field(ge=0)


async def test_agent_loop_bind_tools_tool_message_answer() -> None:
    tools = {"get_weather": get_weather, "get_time": get_time}
    async with running(CONFIG) as server:
        llm = ChatOrchestrator(target=server.target).bind_tools(list(tools.values()))
        messages: list[BaseMessage] = [HumanMessage("What is the weather in Paris?")]
        for _ in range(4):  # an agent's loop: call tools until the model answers
            reply = await llm.ainvoke(messages)
            assert isinstance(reply, AIMessage)
            messages.append(reply)
            if not reply.tool_calls:
                break
            for call in reply.tool_calls:
                result = tools[call["name"]].invoke(call["args"])
                messages.append(ToolMessage(result, tool_call_id=call["id"]))
    first = messages[1]
    assert isinstance(first, AIMessage)
    assert [(c["name"], c["args"]) for c in first.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert first.response_metadata["finish_reason"] == "tool_call"
    assert isinstance(messages[2], ToolMessage)
    answer = messages[-1]
    assert len(messages) == 4
    assert answer.content == ('Tool results: get_weather returned {"city": "Paris", "temp_c": 18}')


async def test_tool_choice_and_parallel_calls() -> None:
    async with running(CONFIG) as server:
        llm = ChatOrchestrator(target=server.target)
        named = await llm.bind_tools([get_weather, get_time], tool_choice="get_time").ainvoke(
            "time in UTC"
        )
        both = await llm.bind_tools([get_weather, get_time], parallel_tool_calls=True).ainvoke(
            "weather and time in Oslo"
        )
        forced = await llm.bind_tools([get_time], tool_choice=True).ainvoke("now in UTC")
        await llm.aclose()
    assert [c["name"] for c in named.tool_calls] == ["get_time"]  # type: ignore[attr-defined]
    assert [c["args"] for c in both.tool_calls] == [{"city": "Oslo"}, {"zone": "Oslo"}]  # type: ignore[attr-defined]
    assert forced.tool_calls[0]["args"] == {"zone": "UTC"}  # type: ignore[attr-defined]


async def test_streamed_tool_calls_merge_into_one_call() -> None:
    async with running(CONFIG) as server:
        llm = ChatOrchestrator(target=server.target).bind_tools([get_weather])
        chunks = [c async for c in llm.astream("Weather in Rome")]
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert [(c["name"], c["args"]) for c in total.tool_calls] == [  # type: ignore[attr-defined]
        ("get_weather", {"city": "Rome"})
    ]


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
async def test_structured_output_into_a_pydantic_class(method: str) -> None:
    async with running(CONFIG) as server:
        llm = ChatOrchestrator(target=server.target)
        city = await llm.with_structured_output(City, method=method).ainvoke(  # type: ignore[arg-type]
            "A city: Lisbon"
        )
        await llm.aclose()
    assert city == City(name="Lisbon", population=1)


async def test_structured_output_dicts_raw_and_json_mode() -> None:
    schema = {
        "title": "answer",
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
    }
    async with running(CONFIG) as server:
        llm = ChatOrchestrator(target=server.target)
        as_dict = await llm.with_structured_output(schema).ainvoke("ok?")
        raw = await llm.with_structured_output(City, include_raw=True).ainvoke("A city: Oslo")
        mode = await llm.with_structured_output(schema, method="json_mode").ainvoke("hi")
        await llm.aclose()
    assert as_dict == {"ok": True}
    assert isinstance(raw, dict)
    assert raw["parsed"] == City(name="Oslo", population=1)
    assert raw["parsing_error"] is None
    assert isinstance(raw["raw"], AIMessage)
    assert mode == {"answer": "This is agent (mock-model) answering: hi"}


@pytest.fixture
async def openai_emulator(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[OpenAIEmulator]:
    async with OPENAI.running(monkeypatch) as emulator:
        yield emulator


async def test_image_content_blocks_reach_the_provider(openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.set(text="A pixel.")
    data = base64.b64encode(PNG).decode()
    message = HumanMessage(
        content=[
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
            {"type": "image", "source_type": "url", "url": "https://example.com/b.png"},
            {"type": "image", "base64": data, "mime_type": "image/png"},
        ]
    )
    async with running(make_config(OPENAI.entry(openai_emulator))) as server:
        llm = ChatOrchestrator(target=server.target)
        reply = await llm.ainvoke([message])
        await llm.aclose()
    assert reply.content == "A pixel."
    [sent] = openai_emulator.calls(OPENAI.chat_path)
    data_url = f"data:image/png;base64,{data}"
    assert sent.json()["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": data_url}},
        {"type": "image_url", "image_url": {"url": "https://example.com/b.png"}},
        {"type": "image_url", "image_url": {"url": data_url}},
    ]


async def test_embeddings_documents_queries_and_a_vector_store() -> None:
    from langchain_community.vectorstores import FAISS

    texts = ["red apples and pears", "blue ocean waves", "green forest trees"]
    async with running(CONFIG) as server:
        embeddings = OrchestratorEmbeddings(target=server.target, batch_size=2)
        documents = await embeddings.aembed_documents(texts)
        query = await embeddings.aembed_query("ocean")

        def search() -> Any:
            store = FAISS.from_texts(texts, embeddings)
            found = store.similarity_search("waves of the ocean", k=1)
            embeddings.close()
            return found

        found = await asyncio.to_thread(search)
    expected = HashingEmbedder(384, model=V1).embed_sync(texts, Purpose.DOCUMENT)
    assert [pytest.approx(list(row), abs=1e-6) for row in expected] == documents
    assert len(query) == 384
    assert found[0].page_content == "blue ocean waves"
